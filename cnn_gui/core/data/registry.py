"""The named datasets: their classes, shapes and normalisation constants, and their names.

``folder:PATH`` names the user's own images (:mod:`cnn_gui.core.data.image_folder`); how it
is named in memory, in run.json and in a checkpoint: :mod:`cnn_gui.core.data.folder_names`.
"""

from __future__ import annotations

from cnn_gui.core.data.errors import DatasetError
from cnn_gui.core.data.folder_names import FOLDER_PREFIX, is_folder_dataset  # noqa: F401 - their home for callers
from cnn_gui.core.data.image_dataset import DatasetInfo
from cnn_gui.core.errors import one_line


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST handwritten digits",
        input_shape=(1, 28, 28),
        classes=tuple(str(d) for d in range(10)),
        mean=(0.5,),  # as the tutorial: Normalize((0.5,), (0.5,)), so inputs lie in [-1, 1]
        std=(0.5,),
        bundled=True,
        preparation="digit",
        ink="light",
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST clothing",
        input_shape=(1, 28, 28),
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mean=(0.2860,),
        std=(0.3530,),
        bundled=False,
        ink="light",
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        title="CIFAR-10 small colour photos",
        input_shape=(3, 32, 32),
        classes=(
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        bundled=False,
    ),
}

_ALIASES = {
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar-10": "cifar10",
}


def dataset_names() -> list[str]:
    return list(DATASETS)


def canonical_name(name: str) -> str:
    """The registry key ``name`` means (any case, ``_`` for ``-``, aliases); DatasetError if none."""
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise DatasetError(
            f"unknown dataset {one_line(repr(name), 120)}: choose one of {', '.join(DATASETS)}, "
            "or folder:PATH for your own images (one subfolder per class)"
        )
    return key
