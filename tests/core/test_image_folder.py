"""Your own images as a dataset: ``folder:PATH`` (cnn_gui/core/data/image_folder.py)."""

from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cnn_gui.core.data import image_folder
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.errors import DatasetError, DownloadCancelled
from cnn_gui.core.data.folder_scan import MAX_CLASSES
from cnn_gui.core.data.image_folder import load_image_folder
from cnn_gui.core.data.image_reading import read_image

SHAPES = ("circle", "square", "triangle")


def draw_shapes(root: Path, per_class: int = 60, seed: int = 0, size: int = 48) -> Path:
    """Coloured shapes of random position, size and colours, one folder per shape."""
    rng = random.Random(seed)
    for cls in SHAPES:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            bg = tuple(rng.randrange(256) for _ in range(3))
            fg = tuple((b + rng.randrange(96, 160)) % 256 for b in bg)  # always far from the background
            im = Image.new("RGB", (size, size), bg)
            d = ImageDraw.Draw(im)
            r = rng.uniform(0.2, 0.4) * size
            cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
            if cls == "circle":
                d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
            elif cls == "square":
                d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fg)
            else:
                d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
            im.save(root / cls / f"{i:04d}.png")
    return root


@pytest.fixture(autouse=True)
def fresh_cache():
    image_folder.clear_cache()
    yield
    image_folder.clear_cache()


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory) -> Path:
    return draw_shapes(tmp_path_factory.mktemp("shapes") / "shapes")


def rows(images: torch.Tensor) -> set[bytes]:
    return {bytes(x.numpy().tobytes()) for x in images}


# ----------------------------------------------------------------------------- loading


def test_shapes_load_with_classes_and_a_stratified_split(shapes_dir):
    data = load_dataset(f"folder:{shapes_dir}")
    assert data.name == f"folder:{shapes_dir.resolve()}"
    assert data.classes == SHAPES
    assert data.input_shape == (1, 28, 28)
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape == (144, 1, 28, 28)
    assert data.test_images.shape == (36, 1, 28, 28)
    assert torch.bincount(data.test_labels).tolist() == [12, 12, 12]  # 20 % of each class
    assert torch.bincount(data.train_labels).tolist() == [48, 48, 48]
    assert not rows(data.train_images) & rows(data.test_images)  # no image in both splits
    # Shuffled once: the first images of the training set are not all one class.
    assert len(set(data.train_labels[:12].tolist())) == 3
    x = data.train_images.double() / 255
    assert data.mean == pytest.approx((float(x.mean()),), abs=1e-5)
    assert data.std == pytest.approx((float(x.std(unbiased=False)),), abs=1e-5)
    assert data.skipped == 0 and data.note == ""


def test_the_split_is_deterministic_and_follows_the_seed(shapes_dir):
    a = load_image_folder(shapes_dir)
    image_folder.clear_cache()
    b = load_image_folder(shapes_dir)
    assert torch.equal(a.test_images, b.test_images) and torch.equal(a.train_labels, b.train_labels)
    c = load_image_folder(shapes_dir, seed=1)
    assert rows(c.test_images) != rows(a.test_images)
    assert torch.bincount(c.test_labels).tolist() == [12, 12, 12]


def test_colour_input_and_other_sizes(shapes_dir):
    data = load_dataset(f"folder:{shapes_dir}", input_shape=(3, 32, 32))
    assert data.train_images.shape[1:] == (3, 32, 32) and len(data.mean) == len(data.std) == 3
    # Colour kept: the channels differ (the shapes have random colours).
    assert not torch.equal(data.train_images[:, 0], data.train_images[:, 1])
    grey = load_dataset(f"folder:{shapes_dir}", input_shape=(1, 20, 24))
    assert grey.train_images.shape[1:] == (1, 20, 24)


def test_fit_keeps_the_aspect_on_the_border_colour(tmp_path):
    im = Image.new("RGB", (120, 60), (250, 250, 250))  # wide, light grey paper
    ImageDraw.Draw(im).rectangle([45, 15, 74, 44], fill=(0, 0, 0))  # a 30x30 black square
    im.save(tmp_path / "wide.png")
    x = read_image(tmp_path / "wide.png", (1, 28, 28))[0]
    assert x.shape == (28, 28) and x.dtype == np.uint8
    assert x[0].min() >= 245 and x[-1].min() >= 245  # padding is the paper's colour, not black
    dark = np.argwhere(x < 128)
    h, w = np.ptp(dark[:, 0]) + 1, np.ptp(dark[:, 1]) + 1
    assert abs(h - w) <= 1 and 6 <= h <= 8  # still a square: 30 px of 120 -> 7 px of 28


def test_odd_but_readable_images(tmp_path):
    # 16-bit grey: scaled to 8 bits, not clipped to white.
    a = np.full((10, 10), 30000, dtype=np.uint16)
    Image.fromarray(a).save(tmp_path / "deep.png")
    assert read_image(tmp_path / "deep.png", (1, 4, 4)).max() == round(30000 / 65535 * 255)
    # Transparent background: on white.
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    rgba.putpixel((4, 4), (0, 0, 0, 255))
    rgba.save(tmp_path / "clear.png")
    assert read_image(tmp_path / "clear.png", (1, 8, 8))[0, 0, 0] == 255
    assert read_image(tmp_path / "clear.png", (1, 8, 8))[0, 4, 4] == 0
    # A palette GIF in a colour model.
    Image.new("P", (5, 5), 3).save(tmp_path / "pal.gif")
    assert read_image(tmp_path / "pal.gif", (3, 5, 5)).shape == (3, 5, 5)


def test_train_and_test_folders_are_used_when_present(tmp_path):
    draw_shapes(tmp_path / "train", per_class=10, seed=1)
    draw_shapes(tmp_path / "test", per_class=4, seed=2)
    data = load_dataset(f"folder:{tmp_path}")
    assert data.classes == SHAPES
    assert data.train_size == 30 and data.test_size == 12
    assert torch.bincount(data.test_labels).tolist() == [4, 4, 4]


def test_classes_called_train_and_test_are_classes(tmp_path):
    draw_shapes(tmp_path / "src", per_class=5)
    os.rename(tmp_path / "src" / "circle", tmp_path / "train")
    os.rename(tmp_path / "src" / "square", tmp_path / "test")
    data = load_dataset(f"folder:{tmp_path}")
    assert data.classes == ("src", "test", "train")  # src/ holds triangle/: a class of its own
    assert data.train_size + data.test_size == 15


def test_train_and_test_with_other_classes_are_refused(tmp_path):
    draw_shapes(tmp_path / "train", per_class=2)
    draw_shapes(tmp_path / "test", per_class=2)
    os.rename(tmp_path / "test" / "square", tmp_path / "test" / "box")
    with pytest.raises(DatasetError, match=r"same class folders; only train/ has 'square'; only test/ has 'box'"):
        load_dataset(f"folder:{tmp_path}")


# ----------------------------------------------------------------------------- bad folders


def one_line_error(name: str, **kw) -> str:
    with pytest.raises(DatasetError) as err:
        load_dataset(name, **kw)
    text = str(err.value)
    assert "\n" not in text and len(text) <= 300
    return text


def test_bad_folders_each_say_what_is_wrong(tmp_path):
    assert one_line_error(f"folder:{tmp_path / 'nope'}").startswith("image folder not found:")
    (tmp_path / "file.png").write_bytes(b"x")
    assert "is a file" in one_line_error(f"folder:{tmp_path / 'file.png'}")
    assert "needs a path" in one_line_error("folder:")

    empty = tmp_path / "empty"
    (empty / ".ipynb_checkpoints").mkdir(parents=True)  # hidden: not a class
    assert "has no class folders" in one_line_error(f"folder:{empty}")

    one = tmp_path / "one"
    draw_shapes(one, per_class=3)
    for cls in SHAPES[1:]:
        for f in (one / cls).iterdir():
            f.unlink()
        (one / cls).rmdir()
    assert "one class folder only ('circle')" in one_line_error(f"folder:{one}")

    no_images = tmp_path / "no_images"
    for cls in ("a", "b"):
        (no_images / cls).mkdir(parents=True)
        (no_images / cls / "notes.txt").write_text("not an image")
    assert "has class folders but no images in them" in one_line_error(f"folder:{no_images}")

    many = tmp_path / "many"
    for i in range(MAX_CLASSES + 1):
        (many / f"c{i}").mkdir(parents=True)
    assert f"has {MAX_CLASSES + 1:,} class folders; cnn-gui trains on at most {MAX_CLASSES:,}" in \
        one_line_error(f"folder:{many}")


def test_a_class_without_readable_images_is_named(tmp_path):
    draw_shapes(tmp_path, per_class=5)
    for f in (tmp_path / "square").iterdir():
        f.write_bytes(b"not a png at all")
    text = one_line_error(f"folder:{tmp_path}")
    assert "class 'square'" in text and "none of its 5 files could be read" in text
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "readme.txt").write_text("x")
    for f in (tmp_path / "square").iterdir():
        f.unlink()
    text = one_line_error(f"folder:{tmp_path}")
    assert "class 'extra'" in text and "holds no .png" in text


def test_a_held_out_split_needs_two_images_per_class(tmp_path):
    draw_shapes(tmp_path, per_class=3)
    for f in sorted((tmp_path / "circle").iterdir())[1:]:
        f.unlink()
    assert "class 'circle' has only 1 readable image" in one_line_error(f"folder:{tmp_path}")


def big_png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge image (a decompression bomb's first bytes)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    draw_shapes(tmp_path, per_class=10)
    (tmp_path / "circle" / "bad.png").write_bytes(b"this is not a PNG")
    good = (tmp_path / "square" / "0000.png").read_bytes()
    (tmp_path / "square" / "cut.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "triangle" / "bomb.png").write_bytes(big_png_header(12_000, 12_000))
    (tmp_path / "triangle" / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    # Not images at all, so not counted: macOS resource forks, other extensions, hidden folders.
    (tmp_path / "circle" / "._0000.png").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "circle" / "notes.txt").write_text("hello")
    (tmp_path / ".cache").mkdir()
    data = load_dataset(f"folder:{tmp_path}")
    assert data.classes == SHAPES
    assert data.train_size + data.test_size == 30
    assert data.skipped == 4
    assert [e.split(":")[0] for e in data.skipped_examples] == [
        "circle/bad.png", "square/cut.png", "triangle/bomb.png", "triangle/eps.png"]
    assert "12000x12000 pixels is too large" in data.skipped_examples[2]
    assert data.note.startswith("skipped 4 unreadable images (e.g. circle/bad.png: ")
    # The count survives what the engine and the window do with a dataset.
    assert data.subset(5, 5).note == data.note and data.to("cpu").skipped == 4


def test_cached_in_process_and_refreshed_when_images_change(tmp_path):
    draw_shapes(tmp_path, per_class=5)
    first = load_dataset(f"folder:{tmp_path}")
    first.train_images.zero_()  # a caller's changes never reach the cache
    second = load_dataset(f"folder:{tmp_path}")
    assert second.train_images.any()
    assert len(image_folder._cache) == 1
    Image.new("RGB", (9, 9), (9, 9, 9)).save(tmp_path / "circle" / "new.png")
    third = load_dataset(f"folder:{tmp_path}")
    assert third.train_size + third.test_size == 16
    assert len(image_folder._cache) == 2
    other = load_dataset(f"folder:{tmp_path}", input_shape=(3, 28, 28))
    assert other.input_shape == (3, 28, 28)


def test_cancel_and_input_shapes_that_cannot_be(tmp_path):
    draw_shapes(tmp_path, per_class=3)
    with pytest.raises(DownloadCancelled):
        load_dataset(f"folder:{tmp_path}", cancel=lambda: True)
    assert "1 (grey) or 3 (colour) channels" in one_line_error(f"folder:{tmp_path}", input_shape=(2, 28, 28))


@pytest.mark.slow
def test_thousands_of_small_pngs_load_in_seconds(tmp_path):
    import time

    draw_shapes(tmp_path, per_class=1000, size=32)
    started = time.perf_counter()
    data = load_dataset(f"folder:{tmp_path}")
    seconds = time.perf_counter() - started
    assert data.train_size + data.test_size == 3000
    assert seconds < 15, f"3,000 PNGs took {seconds:.1f} s"


# ----------------------------------------------------------------------------- training


class ShapesNet(torch.nn.Module):
    """A small model of the kind a user writes: three conv blocks, global max pool, 3 classes."""

    input_shape = (1, 28, 28)
    num_classes = 3

    def __init__(self) -> None:
        super().__init__()

        def block(i: int, o: int) -> torch.nn.Module:
            return torch.nn.Sequential(torch.nn.Conv2d(i, o, 3, padding=1), torch.nn.BatchNorm2d(o),
                                       torch.nn.ReLU(), torch.nn.MaxPool2d(2))

        self.features = torch.nn.Sequential(block(1, 16), block(16, 32), block(32, 64))
        self.head = torch.nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).amax(dim=(2, 3)))


@pytest.mark.slow
def test_shapes_train_to_high_accuracy(shapes_dir):
    from cnn_gui.core.training import cpu_threads
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.training.engine import Trainer
    from cnn_gui.core.model.models import ModelSpec

    data = load_dataset(f"folder:{shapes_dir}")
    spec = ModelSpec("user:ShapesNet", "ShapesNet", (1, 28, 28), 3, data.name, ShapesNet)
    config = TrainConfig(model=spec.name, dataset=data.name, epochs=10, batch_size=16, lr=5e-3,
                         schedule="onecycle", device="cpu", amp=False, seed=0)
    trainer = Trainer(config, data=data, spec=spec)
    # One OpenMP thread: for batches of 16 tiny images a second one only waits, and on a
    # busy 2-core machine those waits made this 1-second run take 25-40 s.
    before, torch_before = cpu_threads.training_threads(), torch.get_num_threads()
    cpu_threads.set_training_threads(1)
    try:
        result = trainer.fit()
    finally:
        cpu_threads.set_training_threads(before)
        torch.set_num_threads(torch_before)
    assert result.reason == "completed", trainer.error
    assert trainer.history[-1]["test_accuracy"] > 0.9
    meta = trainer.checkpoint_meta()  # what a checkpoint, the plots and the canvas bars show
    assert meta.classes == list(SHAPES) and meta.dataset == "folder:shapes"  # its name only, never the path
    assert meta.mean == list(data.mean) and meta.std == list(data.std)
