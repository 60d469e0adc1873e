"""Your own images end to end: a network with one output per class, and every image prepared
exactly as the weights' training images were (issue 17)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cnn_gui.cli import main
from cnn_gui.core.data import image_folder
from cnn_gui.core.data.datasets import dataset_classes, load_dataset
from cnn_gui.core.data.image_reading import read_image
from cnn_gui.core.files.checkpoints import load_checkpoint
from cnn_gui.core.inputs.preparation import Preparation, PreparationError, prepare_drawing, prepare_file
from cnn_gui.core.model.models import MODELS, ModelError, ModelSpec, get_spec
from cnn_gui.core.model.structure import build_tree

SHAPES = ("circle", "square", "triangle")


def draw_doodles(root: Path, train: int = 40, test: int = 12, seed: int = 0, size: int = 56) -> Path:
    """Black outlines of shapes on white paper, as a user scans or draws them: train/ and test/."""
    rng = random.Random(seed)
    for split, count in (("train", train), ("test", test)):
        for cls in SHAPES:
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                im = Image.new("L", (size, size), rng.randrange(225, 256))
                d = ImageDraw.Draw(im)
                r = rng.uniform(0.22, 0.4) * size
                cx, cy = rng.uniform(r + 2, size - r - 2), rng.uniform(r + 2, size - r - 2)
                ink, width = rng.randrange(0, 60), rng.randrange(2, 5)
                if cls == "circle":
                    d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=ink, width=width)
                elif cls == "square":
                    d.rectangle([cx - r, cy - r, cx + r, cy + r], outline=ink, width=width)
                else:
                    d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], outline=ink, width=width)
                im.save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def doodles(tmp_path_factory) -> Path:
    return draw_doodles(tmp_path_factory.mktemp("own") / "doodles")


@pytest.fixture(autouse=True)
def fresh_cache():
    image_folder.clear_cache()
    yield
    image_folder.clear_cache()


# ----------------------------------------------------------------------------- one output per class


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_built_in_network_is_built_with_one_output_per_class(name):
    spec = get_spec(name).with_classes(3)
    model = spec.factory().eval()
    with torch.no_grad():
        assert model(torch.zeros(2, *spec.input_shape)).shape == (2, 3)
    last = list(build_tree(model, spec.input_shape).all_params())[-2]
    assert last.name == spec.output_weight and last.shape[0] == 3  # the tree says so
    assert spec.sized_for(model.state_dict()).num_classes == 3  # and a file of these weights opens so
    assert get_spec(name).num_classes == 10  # the registry's stays the tutorial's


def test_your_own_class_of_another_class_count_gets_a_one_line_reason():
    spec = ModelSpec("mine.py:Net", "Net", (1, 28, 28), 10, "mnist", lambda: torch.nn.Linear(784, 10))
    with pytest.raises(ModelError, match=r"Net has 10 outputs but the data has 3 classes: set num_classes = 3"):
        spec.with_classes(3)
    assert spec.with_classes(10) is spec


def test_summary_shows_the_network_built_for_a_folder(doodles, capsys):
    assert dataset_classes(f"folder:{doodles}") == SHAPES
    assert main(["summary", "--dataset", f"folder:{doodles}"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"fc\.3\.weight\s+\[3, 128\]", out) and "[10, 128]" not in out


# ----------------------------------------------------------------------------- the preparation rule


def test_a_folder_knows_whether_its_images_are_drawings(doodles, tmp_path):
    data = load_dataset(f"folder:{doodles}")
    assert (data.info.preparation, data.info.ink) == ("fit", "dark")  # dark strokes on light paper
    photos = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (photos / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(photos / cls / f"{i}.png")
    assert load_dataset(f"folder:{photos}", input_shape=(3, 32, 32)).info.ink == ""


def test_a_drawing_is_prepared_as_a_folder_reads_the_same_picture_from_a_file(tmp_path):
    drawing = np.zeros((280, 280), np.float32)
    drawing[60:220, 100:112] = 1.0  # a white stroke on the canvas's black
    drawing[200:212, 60:200] = 1.0
    prep = Preparation("fit", "dark")
    got = prepare_drawing(drawing, prep, (1, 28, 28))
    # The same picture as a user's file: dark ink on white paper, read by the training path.
    path = tmp_path / "same.png"
    Image.fromarray(((1.0 - drawing) * 255 + 0.5).astype(np.uint8)).save(path)
    expected = read_image(path, (1, 28, 28)).astype(np.float32) / 255
    np.testing.assert_array_equal(got, expected)
    assert got[0, 0, 0] == 1.0 and got.min() < 0.2  # white paper, dark strokes: as the folder's images
    assert prepare_drawing(np.zeros((280, 280), np.float32), prep, (1, 28, 28)) is None
    with pytest.raises(PreparationError, match="open or drop an image file"):
        prepare_drawing(drawing, Preparation("fit", ""), (3, 32, 32))


def test_a_digit_photo_is_still_prepared_the_mnist_way(tmp_path):
    path = tmp_path / "seven.png"
    im = Image.new("L", (200, 200), 235)
    ImageDraw.Draw(im).line([(40, 40), (160, 40), (90, 170)], fill=20, width=14)
    im.save(path)
    digit = prepare_file(path, Preparation("digit", "light"), (1, 28, 28))
    rows = np.flatnonzero(digit[0].max(axis=1) > 0.05)
    assert digit.shape == (1, 28, 28) and rows[-1] - rows[0] + 1 == 20  # scaled into MNIST's 20 px box
    fitted = prepare_file(path, Preparation("fit", "dark"), (1, 28, 28))
    assert fitted[0, 0, 0] > 0.8  # the whole page, paper and all


# ----------------------------------------------------------------------------- end to end, in the CLI


@pytest.mark.slow
def test_a_folder_model_has_three_outputs_and_predict_agrees_with_evaluate(doodles, tmp_path, capsys):
    ckpt = tmp_path / "doodles.safetensors"
    assert main(["train", "--dataset", f"folder:{doodles}", "--epochs", "4", "--batch-size", "16",
                 "--lr", "0.002", "--device", "cpu", "--quiet", "--no-runs", "--out", str(ckpt)]) == 0
    capsys.readouterr()
    file = load_checkpoint(ckpt)
    assert tuple(file.weights["fc.3.weight"].shape) == (3, 128)
    assert file.meta.classes == list(SHAPES)
    assert file.meta.preparation == {"method": "fit", "ink": "dark"}

    assert main(["evaluate", "--checkpoint", str(ckpt)]) == 0
    report = capsys.readouterr().out
    tested, wrong = (int(v.replace(",", "")) for v in re.search(
        r"on the ([\d,]+) .* test images: accuracy [\d.]+%, ([\d,]+) misclassified", report).groups())
    assert tested == 36

    files = sorted((doodles / "test").glob("*/*.png"))
    assert main(["predict", "--checkpoint", str(ckpt), *map(str, files)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(files) == tested
    read = [re.match(r".*: (\w+) \(", line).group(1) for line in lines]
    assert set(read) <= set(SHAPES), lines[:3]  # no class that does not exist, no "#3"
    mistakes = sum(r != f.parent.name for r, f in zip(read, files))
    assert mistakes == wrong  # each file read as evaluate read the same image
    assert wrong <= 12  # and it learned the shapes

    out = tmp_path / "doodles.pt"
    assert main(["export", str(ckpt), "--out", str(out)]) == 0
    from cnn_gui.core.files.export import read_export_metadata

    doc = read_export_metadata(out)
    assert doc["outputs"] == 3 and doc["classes"] == list(SHAPES)
    assert doc["preparation"] == {"method": "fit", "ink": "dark"}


def test_the_explain_overlay_darkens_the_strokes_not_the_paper():
    from cnn_gui.core.analysis.colormaps import overlay_rgb

    image = np.ones((8, 8), np.float32)  # white paper
    image[2:6, 3] = 0.0  # a dark stroke
    flat = np.zeros((8, 8))
    light, dark = overlay_rgb(flat, 1.0, image, "light"), overlay_rgb(flat, 1.0, image, "dark")
    assert dark[0, 0].sum() > dark[3, 3].sum()  # the stroke is drawn, the paper left alone
    assert light[0, 0].sum() < light[3, 3].sum()  # read as light ink, the paper would be the stroke


def test_robustness_thickens_dark_strokes_on_light_paper():
    from cnn_gui.core.analysis.probes import TRANSFORMS, variants

    image = np.ones((1, 28, 28), np.float32)
    image[0, 6:22, 13:15] = 0.0  # a dark stroke, 2 px wide
    thick = [t for t in TRANSFORMS if t.key == "stroke"][0]
    light = variants(image, [thick])
    dark = variants(image, [thick], dark_ink=True)
    widest = int(np.argmax(thick.values))
    assert (dark[widest, 0, 14] < 0.5).sum() > 2  # the stroke grew
    assert (light[widest, 0, 14] < 0.5).sum() <= 2  # as light ink, the paper would have grown instead
    shifted = variants(image, [t for t in TRANSFORMS if t.key == "shift_x"][:1], dark_ink=True)
    assert shifted[:, 0, :, :3].min() > 0.99 or shifted[:, 0, :, -3:].min() > 0.99  # paper comes in, not ink


@pytest.mark.parametrize("method", ["ixg", "ig", "occlusion"])
def test_explaining_dark_strokes_leaves_the_paper_at_zero(method):
    from cnn_gui.core.analysis.attribution import Explainer, captum_available
    from cnn_gui.core.analysis.predictor import Predictor

    if not captum_available() and method != "occlusion":
        pytest.skip("Captum is an optional extra")
    torch.manual_seed(0)
    spec = get_spec("mnist-cnn").with_classes(3)
    predictor = Predictor(spec.factory(), (0.9,), (0.25,), SHAPES, preparation=Preparation("fit", "dark"))
    image = np.ones((28, 28), np.float32)  # paper
    image[6:22, 12:15] = 0.0  # a dark stroke
    result = Explainer(predictor, (1, 28, 28)).explain(image, method)
    paper = image == 1.0
    if method == "occlusion":  # a patch shares its drop with the paper it covers: far from ink only
        paper = np.zeros_like(paper)
        paper[:, :7] = paper[:, 20:] = True
    assert np.abs(result.map[paper]).max() == 0.0  # nothing written there: nothing to attribute
    assert np.abs(result.map[~paper]).max() > 0.0


# ----------------------------------------------------------------------------- files from before, hostile files


def _old_file(path, doodles):
    """A checkpoint from before networks were sized to their data: 10 outputs, 3 classes, no preparation."""
    from cnn_gui.core.files.checkpoints import CheckpointMeta, save_checkpoint

    torch.manual_seed(1)
    meta = CheckpointMeta("mnist-cnn", (1, 28, 28), list(SHAPES), [0.9], [0.25], f"folder:{doodles}")
    save_checkpoint(path, get_spec("mnist-cnn").factory(), meta)
    return path


def test_an_old_ten_output_file_of_three_classes_still_predicts_evaluates_and_exports(doodles, tmp_path, capsys):
    old = _old_file(tmp_path / "old.safetensors", doodles)
    files = [str(p) for p in sorted((doodles / "test" / "circle").glob("*.png"))[:3]]
    assert main(["predict", "--checkpoint", str(old), *files]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["evaluate", "--checkpoint", str(old), "--dataset", f"folder:{doodles}"]) == 0
    report = capsys.readouterr().out
    assert "on the 36 " in report and re.search(r"read as #\d", report)  # outputs without a class are named
    from cnn_gui.core.weights import open_weights

    opened = open_weights(old)
    assert opened.predictor().classes == SHAPES + tuple(f"#{i}" for i in range(3, 10))
    out = tmp_path / "old.pt"
    assert main(["export", str(old), "--out", str(out)]) == 0
    from cnn_gui.core.files.export import read_export_metadata

    doc = read_export_metadata(out)
    assert doc["outputs"] == 10 and doc["classes"] == list(SHAPES) + [f"#{i}" for i in range(3, 10)]


def test_bare_weights_get_one_class_name_per_output(tmp_path):
    from safetensors.torch import save_file

    from cnn_gui.core.session import Session
    from cnn_gui.core.weights import read_checkpoint, weights_from

    spec = get_spec("mnist-cnn").with_classes(3)
    save_file(spec.factory().state_dict(), str(tmp_path / "bare.safetensors"))  # no cnn-gui metadata
    session = Session(get_spec("mnist-cnn"), get_spec("mnist-cnn").factory())
    ckpt = read_checkpoint(tmp_path / "bare.safetensors")
    session.open(weights_from(ckpt, get_spec("mnist-cnn").sized_for(ckpt.weights)))
    assert session.spec.num_classes == 3 and session.predictor().classes == ("0", "1", "2")


def test_a_file_whose_every_module_is_frozen_says_so_when_resumed(tmp_path):
    from cnn_gui.core.config import ConfigError, TrainConfig
    from cnn_gui.core.files.checkpoints import CheckpointMeta, save_checkpoint
    from cnn_gui.core.training.engine import Trainer

    model = get_spec("mnist-cnn").factory()
    meta = CheckpointMeta("mnist-cnn", (1, 28, 28), [str(i) for i in range(10)], [0.5], [0.5], "mnist", epoch=1,
                          history=[dict(epoch=1, train_loss=0.3, train_accuracy=0.9, test_loss=0.3, test_accuracy=0.9,
                                        seconds=1.0, samples_per_sec=100.0, lr=1e-3)],
                          config=TrainConfig(epochs=2, max_batches=1).to_dict(), training={"epoch": 1},
                          frozen=[n for n, _ in model.named_parameters()])
    path = save_checkpoint(tmp_path / "all-frozen.safetensors", model, meta) or tmp_path / "all-frozen.safetensors"
    with pytest.raises(ConfigError, match="every module is frozen"):
        Trainer.from_checkpoint(load_checkpoint(path), data=load_dataset("mnist").subset(50, 50))


def test_a_digit_preparation_must_be_light_ink_on_black():
    from cnn_gui.core.files.checkpoint_meta import CheckpointError, CheckpointMeta

    doc = CheckpointMeta("mnist-cnn", (1, 28, 28), [str(i) for i in range(10)], [0.5], [0.5], "mnist").to_dict()
    CheckpointMeta.from_dict(dict(doc, preparation={"method": "digit", "ink": "light"}))
    with pytest.raises(CheckpointError, match="preparation.ink must be 'light'"):
        CheckpointMeta.from_dict(dict(doc, preparation={"method": "digit", "ink": "dark"}))


def test_a_folder_named_folder_is_not_read_as_image_folder_folder(tmp_path):
    root = draw_doodles(tmp_path / "folder", train=3, test=2)
    assert load_dataset(f"folder:{root}").title == "image folder “folder”"


@pytest.mark.slow
def test_an_export_from_the_window_records_the_folders_identity(doodles, tmp_path):
    """File > Export model after a run describes the weights as the run's checkpoint does."""
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.session import Session
    from cnn_gui.core.training.plan import build_trainer, load_run_data

    session = Session(get_spec("mnist-cnn"), get_spec("mnist-cnn").factory())
    config = TrainConfig(dataset=f"folder:{doodles}", epochs=1, batch_size=16, device="cpu", max_batches=2)
    plan = session.plan_run(config, fresh=True)
    trainer = build_trainer(plan, load_run_data(plan))
    session.run_started(trainer)
    session.finish_run(trainer, trainer.fit(), None)
    meta = session.checkpoint_meta(config)
    assert meta.dataset == "folder:doodles" and meta.dataset_images == 156 and meta.dataset_fingerprint
    assert meta.classes == list(SHAPES) and meta.preparation == {"method": "fit", "ink": "dark"}
