"""Datasets: bundled MNIST, the IDX reader, and the torchvision-backed sets (never online)."""

from __future__ import annotations

import gzip
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn_gui.core.data import datasets as data
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.errors import DatasetError, DownloadCancelled
from cnn_gui.core.data.idx import read_idx
from cnn_gui.core.data.image_dataset import ImageDataset
from cnn_gui.core.data.registry import DATASETS, dataset_names, is_folder_dataset
from cnn_gui.core.data.torchvision_sets import cifar_files, default_data_dir


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield
    data.clear_cache()


@pytest.fixture(scope="module")
def mnist() -> ImageDataset:
    return load_dataset("mnist")


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.tobytes()
    if gz:
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


# --------------------------------------------------------------------------- registry


def test_registry():
    assert dataset_names() == ["mnist", "fashion-mnist", "cifar10"]
    assert set(DATASETS) == set(dataset_names())
    assert DATASETS["mnist"].bundled and not DATASETS["cifar10"].bundled
    assert DATASETS["mnist"].classes == tuple("0123456789")
    assert DATASETS["fashion-mnist"].classes[0] == "T-shirt/top"
    assert DATASETS["cifar10"].classes[0] == "airplane"
    assert DATASETS["cifar10"].input_shape == (3, 32, 32)
    for info in DATASETS.values():
        assert len(info.mean) == len(info.std) == info.input_shape[0]
        assert len(info.classes) == 10


def test_unknown_name_lists_known_ones():
    with pytest.raises(DatasetError) as err:
        load_dataset("imagenet")
    msg = str(err.value)
    assert "imagenet" in msg
    for name in dataset_names():
        assert name in msg
    assert "folder:PATH" in msg  # the user's own images are named too


def test_folder_names_go_to_the_image_folder_loader(tmp_path):
    assert is_folder_dataset("folder:shapes") and not is_folder_dataset("mnist")
    with pytest.raises(DatasetError, match="^image folder not found: "):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    # input_shape is for folders; a named dataset keeps its own shape.
    assert load_dataset("mnist", input_shape=(3, 32, 32)).input_shape == (1, 28, 28)


def test_skipped_images_travel_with_the_dataset(mnist):
    assert mnist.skipped == 0 and mnist.note == ""
    d = ImageDataset(mnist.info, mnist.train_images[:10], mnist.train_labels[:10], mnist.test_images[:10],
                     mnist.test_labels[:10], skipped=2, skipped_examples=("7/a.png: not an image", "7/b.png: cut"))
    assert d.note == "skipped 2 unreadable images (e.g. 7/a.png: not an image)"
    for other in (d.subset(3, 3), d.to("cpu")):
        assert other.skipped == 2 and other.skipped_examples == d.skipped_examples
    one = ImageDataset(mnist.info, mnist.train_images[:2], mnist.train_labels[:2], mnist.test_images[:2],
                       mnist.test_labels[:2], skipped=1)
    assert one.note == "skipped 1 unreadable image"


# --------------------------------------------------------------------------- bundled MNIST


def test_mnist_shapes_and_labels(mnist):
    assert mnist.name == "mnist" and mnist.input_shape == (1, 28, 28)
    assert mnist.train_size == 60000 and mnist.test_size == 10000
    assert mnist.train_images.shape == (60000, 1, 28, 28)
    assert mnist.test_images.shape == (10000, 1, 28, 28)
    for images in (mnist.train_images, mnist.test_images):
        assert images.dtype == torch.uint8 and images.is_contiguous()
    for labels in (mnist.train_labels, mnist.test_labels):
        assert labels.dtype == torch.int64
        assert int(labels.min()) == 0 and int(labels.max()) == 9
    counts = torch.bincount(mnist.train_labels, minlength=10)
    assert int(counts.min()) > 5000 and int(counts.max()) < 7000
    assert int(mnist.train_images.max()) == 255 and int(mnist.train_images.min()) == 0


@pytest.mark.slow
def test_mnist_needs_no_torchvision():
    import subprocess

    code = (
        "import sys\n"
        "from cnn_gui.core.data.datasets import load_dataset\n"
        "assert 'torchvision' not in sys.modules\n"
        "ds = load_dataset('mnist', download=False)\n"
        "assert 'torchvision' not in sys.modules, 'mnist loading imported torchvision'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_mnist_loads_share_their_tensors_while_one_is_alive():
    mnist = load_dataset("mnist")
    again = load_dataset("mnist")
    assert again is not mnist
    assert again.train_images.data_ptr() == mnist.train_images.data_ptr()  # not read nor copied again
    assert torch.equal(again.test_labels, mnist.test_labels)


def test_nothing_stays_in_memory_once_every_loaded_mnist_is_gone():
    import gc
    import weakref

    first = load_dataset("mnist")
    gone = weakref.ref(first.train_images)
    test_only = first.test_only()
    del first
    gc.collect()
    assert gone() is None  # the cache did not keep the 47 MB of training images
    again = load_dataset("mnist")  # read again, equal
    assert again.train_size == 60000 and torch.equal(again.test_labels, test_only.test_labels)
    assert test_only.train_size == 0 and test_only.test_size == 10000


def test_normalize(mnist):
    images = mnist.train_images[:64]
    x = mnist.normalize(images)
    assert x.dtype == torch.float32 and x.shape == images.shape
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    # A known pixel: 0 -> -1, 255 -> 1, v -> (v/255 - 0.5) / 0.5
    n, _, i, j = (images == 128).nonzero()[0].tolist()
    assert x[n, 0, i, j].item() == pytest.approx((128 / 255 - 0.5) / 0.5, abs=1e-6)
    # Single images [C, H, W] work too
    assert mnist.normalize(images[0]).shape == (1, 28, 28)


def test_normalize_keeps_channels_last_and_per_channel_stats():
    info = DATASETS["cifar10"]
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.zeros(4, dtype=torch.int64)
    ds = ImageDataset(info, images, labels, images[:0], labels[:0])
    cl = images.contiguous(memory_format=torch.channels_last)
    out = ds.normalize(cl)
    assert out.is_contiguous(memory_format=torch.channels_last)
    mean = torch.tensor(info.mean).view(3, 1, 1)
    std = torch.tensor(info.std).view(3, 1, 1)
    torch.testing.assert_close(out, (images.float() / 255 - mean) / std)
    assert ds.normalize(images).is_contiguous()


def test_subset_and_to(mnist):
    small = mnist.subset(100, 50)
    assert small.train_size == 100 and small.test_size == 50
    assert small.info is mnist.info
    assert torch.equal(small.train_images, mnist.train_images[:100])
    assert small.train_images.is_contiguous()
    assert mnist.subset(None, 10).train_size == 60000
    moved = small.to("cpu")
    assert isinstance(moved, ImageDataset) and moved is not small
    assert moved.train_images.device.type == "cpu"
    assert torch.equal(moved.test_labels, small.test_labels)
    assert moved.classes == tuple("0123456789") and moved.mean == (0.5,) and moved.std == (0.5,)


# --------------------------------------------------------------------------- IDX reader


def test_read_idx_raw_and_gz(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "tiny-idx3-ubyte", array)
    packed = write_idx(tmp_path / "tiny-idx3-ubyte.gz", array, gz=True)
    for path in (raw, packed, str(raw)):
        out = read_idx(path)
        assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, array)
    labels = write_idx(tmp_path / "labels-idx1-ubyte", np.array([3, 1, 4], dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(labels), [3, 1, 4])


def test_read_idx_big_endian_ints(tmp_path):
    values = np.array([1, -2, 70000], dtype=">i4")
    path = tmp_path / "ints-idx1"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + np.asarray([3], dtype=">u4").tobytes() + values.tobytes())
    np.testing.assert_array_equal(read_idx(path), [1, -2, 70000])


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated(tmp_path, gz):
    array = np.ones((10, 5, 5), dtype=np.uint8)
    header = bytes([0, 0, 0x08, 3]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = (header + array.tobytes())[:-7]
    path = tmp_path / ("cut.gz" if gz else "cut")
    path.write_bytes(gzip.compress(payload) if gz else payload)
    with pytest.raises(DatasetError, match="truncated") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_cut_off_gzip_stream(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / "images.gz", array, gz=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError) as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x00", b"garbage, not an IDX file at all", b"\x00\x00\x08\x03\x00\x00"],
    ids=["empty", "short", "garbage", "short-dims"],
)
def test_read_idx_garbage(tmp_path, content):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        read_idx(tmp_path / "nope")


# --------------------------------------------------------------------------- data folder


def test_data_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_GUI_DATA_DIR", str(tmp_path / "here"))
    assert default_data_dir() == tmp_path / "here"
    monkeypatch.delenv("CNN_GUI_DATA_DIR")
    default = default_data_dir()
    assert default.name == "data" and "cnn-gui" in str(default)


def test_env_dir_used_when_no_data_dir_given(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_GUI_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", download=False)
    assert str(tmp_path / "cifar-10-batches-py") in str(err.value)


# --------------------------------------------------------------------------- torchvision sets


def test_fashion_missing_without_download(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert str(tmp_path / "FashionMNIST" / "raw") in err.value.message
    assert "switched off" in err.value.message
    assert "train-images-idx3-ubyte.gz" in err.value.hint and "http" in err.value.hint
    assert "\n" not in err.value.full_text()


def test_dataset_error_is_a_cnn_gui_error_and_still_a_runtime_error():
    from cnn_gui.core.errors import CnnGuiError

    assert issubclass(DatasetError, CnnGuiError) and issubclass(DatasetError, RuntimeError)
    assert issubclass(DownloadCancelled, DatasetError)


def _place_cifar_files(root: Path) -> None:
    """Empty stand-ins for the files torchvision reads, so that nothing is downloaded."""
    import torchvision.datasets as tvd

    folder = root / tvd.CIFAR10.base_folder
    folder.mkdir(parents=True)
    for name, _ in cifar_files(tvd.CIFAR10):
        (folder / name).touch()


def _place_fashion_files(root: Path) -> None:
    import torchvision.datasets as tvd

    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name, _ in tvd.FashionMNIST.resources:
        (raw / name.removesuffix(".gz")).touch()


def _fake_fashion(monkeypatch, make):
    """Replace torchvision's FashionMNIST reader by one returning ``make(train)`` = (data, targets)."""
    import torchvision.datasets as tvd

    class FakeFashion(tvd.FashionMNIST):
        def __init__(self, root, train=True, download=False, **kwargs):
            assert not download, "torchvision must never download: cnn-gui fetches the files itself"
            self.data, self.targets = make(train)

    monkeypatch.setattr(tvd, "FashionMNIST", FakeFashion)


def test_cifar_conversion_from_torchvision_layout(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    rng = np.random.default_rng(1)
    sizes = {True: 6, False: 4}
    made = {}

    class FakeCIFAR10(tvd.CIFAR10):
        def __init__(self, root, train=True, download=False, **kwargs):
            assert Path(root) == tmp_path.resolve()
            assert not download
            self.data = rng.integers(0, 256, (sizes[train], 32, 32, 3), dtype=np.uint8)  # NHWC
            self.targets = [int(v) for v in rng.integers(0, 10, sizes[train])]
            made[train] = self

    monkeypatch.setattr(tvd, "CIFAR10", FakeCIFAR10)
    _place_cifar_files(tmp_path)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.name == "cifar10" and ds.input_shape == (3, 32, 32)
    assert ds.train_images.shape == (6, 3, 32, 32) and ds.test_images.shape == (4, 3, 32, 32)
    assert ds.train_images.dtype == torch.uint8 and ds.train_images.is_contiguous()
    assert ds.train_labels.dtype == torch.int64
    np.testing.assert_array_equal(ds.train_images.permute(0, 2, 3, 1).numpy(), made[True].data)
    assert ds.test_labels.tolist() == made[False].targets
    x = ds.normalize(ds.train_images)
    assert x.shape == (6, 3, 32, 32) and x.dtype == torch.float32


def test_fashion_conversion_from_torchvision_layout(tmp_path, monkeypatch):
    def make(train):
        n = 5 if train else 3
        return torch.arange(n * 28 * 28, dtype=torch.int64).remainder(256).to(torch.uint8).view(n, 28, 28), torch.arange(n) % 10

    _fake_fashion(monkeypatch, make)
    _place_fashion_files(tmp_path)
    ds = load_dataset("fashion_mnist", data_dir=tmp_path)
    assert ds.name == "fashion-mnist"
    assert ds.train_images.shape == (5, 1, 28, 28) and ds.test_images.shape == (3, 1, 28, 28)
    assert ds.train_labels.tolist() == [0, 1, 2, 3, 4]
    assert ds.train_images[0, 0, 0, 5].item() == 5


def test_fashion_reads_hand_placed_gz_files_offline(tmp_path):
    """Files put in <data_dir>/FashionMNIST/raw/ by hand load with download=False, through torchvision."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for split, n in (("train", 12), ("t10k", 7)):
        write_idx(raw / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz=True)
        write_idx(raw / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8), gz=True)
    ds = load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert ds.train_size == 12 and ds.test_size == 7
    assert ds.train_images.shape == (12, 1, 28, 28)
    np.testing.assert_array_equal(
        ds.train_images[:, 0].numpy(), read_idx(raw / "train-images-idx3-ubyte.gz")
    )
    assert sorted(p.name for p in raw.iterdir() if p.name.endswith(".part")) == []


# --------------------------------------------------------------------------- corrupt local files


def test_corrupt_hand_placed_gz_is_named(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for split, n in (("train", 4), ("t10k", 2)):
        write_idx(raw / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz=True)
        write_idx(raw / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8), gz=True)
    bad = raw / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-12])  # a cut-off download
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert str(bad) in err.value.message and "corrupt" in err.value.message
    assert "Delete it" in err.value.hint
    assert not (raw / "train-labels-idx1-ubyte").exists()  # no half-unpacked file either
    assert not [p for p in raw.iterdir() if p.name.endswith(".part")]


def test_corrupt_unpacked_idx_is_named(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n in (("train", 4), ("t10k", 2)):
        write_idx(raw / f"{split}-images-idx3-ubyte", np.zeros((n, 28, 28), dtype=np.uint8))
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.zeros(n, dtype=np.uint8))
    bad = raw / "t10k-images-idx3-ubyte"
    bad.write_bytes(b"this is not an IDX file")
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path, download=False)
    assert str(bad) in err.value.message
    assert "t10k-images-idx3-ubyte.gz" in err.value.hint and "Delete" in err.value.hint


def test_corrupt_cifar_archive_is_named(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(gzip.compress(b"not a tar archive" * 100))
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert str(archive) in err.value.message and "corrupt" in err.value.message
    assert "Delete it" in err.value.hint


def test_corrupt_cifar_batch_is_named(tmp_path):
    _place_cifar_files(tmp_path)  # empty files: their md5 is wrong
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in err.value.message
    assert "md5" in err.value.message and "Delete it" in err.value.hint


def test_data_dir_that_is_a_file_is_named(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar10", data_dir=blocker / "data")
    assert str(blocker / "data") in err.value.message and "is a file" in err.value.message
    assert "--data-dir" in err.value.hint and "CNN_GUI_DATA_DIR" in err.value.hint


# --------------------------------------------------------------------------- labels and images


@pytest.mark.parametrize("bad", [-1, 10], ids=["negative", "too-large"])
def test_image_dataset_refuses_labels_outside_its_classes(bad):
    images = torch.zeros((3, 1, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([0, bad, 9])
    with pytest.raises(DatasetError) as err:
        ImageDataset(DATASETS["fashion-mnist"], images, labels, images[:1], labels[:1])
    msg = err.value.message
    assert f"label {bad}" in msg and "10 classes" in msg and "0..9" in msg and "training set" in msg
    with pytest.raises(DatasetError, match="test set"):
        ImageDataset(DATASETS["fashion-mnist"], images[:1], labels[:1], images, labels)


def test_image_dataset_checks_counts_shapes_and_dtypes():
    info = DATASETS["cifar10"]
    images = torch.zeros((4, 3, 32, 32), dtype=torch.uint8)
    labels = torch.zeros(4, dtype=torch.int64)
    with pytest.raises(DatasetError, match="4 images but 3 labels"):
        ImageDataset(info, images, labels[:3], images, labels)
    with pytest.raises(DatasetError, match=r"expected \[N, 3, 32, 32\]"):
        ImageDataset(info, torch.zeros((4, 1, 28, 28), dtype=torch.uint8), labels, images, labels)
    with pytest.raises(DatasetError, match="uint8"):
        ImageDataset(info, images.float(), labels, images, labels)
    with pytest.raises(DatasetError, match="integer"):
        ImageDataset(info, images, labels.float(), images, labels)
    ok = ImageDataset(info, images, labels.to(torch.int32), images, labels.to(torch.uint8))
    assert ok.train_labels.dtype == torch.int64 and ok.test_labels.dtype == torch.int64


def test_downloaded_labels_outside_the_classes_are_refused_at_load(tmp_path, monkeypatch):
    _fake_fashion(monkeypatch, lambda train: (np.zeros((3, 28, 28), np.uint8), [0, 4, 10]))
    _place_fashion_files(tmp_path)
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    msg = err.value.message
    assert "label 10" in msg and "10 classes" in msg and str(tmp_path) in msg


def test_downloaded_images_must_be_bytes(tmp_path, monkeypatch):
    _place_fashion_files(tmp_path)
    _fake_fashion(monkeypatch, lambda train: (np.full((2, 28, 28), 300, np.int32), [0, 1]))
    with pytest.raises(DatasetError, match="expected bytes"):
        load_dataset("fashion-mnist", data_dir=tmp_path)
    _fake_fashion(monkeypatch, lambda train: (np.full((2, 28, 28), 0.5, np.float32), [0, 1]))
    with pytest.raises(DatasetError, match="float32"):
        load_dataset("fashion-mnist", data_dir=tmp_path)
    _fake_fashion(monkeypatch, lambda train: (np.zeros((2, 28, 28), np.uint8), [0, 1, 2]))
    with pytest.raises(DatasetError, match="2 images but 3 labels"):
        load_dataset("fashion-mnist", data_dir=tmp_path)
    # Integers that fit a byte are still pixels.
    _fake_fashion(monkeypatch, lambda train: (np.full((2, 28, 28), 200, np.int64), [0, 1]))
    ds = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert ds.train_images.dtype == torch.uint8 and int(ds.train_images.max()) == 200
