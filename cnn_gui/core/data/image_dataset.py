"""Image datasets held in memory as uint8 tensors, and what each one is (:class:`DatasetInfo`).

The training engine slices batches out of these tensors itself: no ``DataLoader``, no
per-sample PIL images or transforms. :meth:`ImageDataset.normalize` turns a uint8 batch
into the float32 input the networks expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from cnn_gui.core.data.errors import DatasetError
from cnn_gui.core.errors import one_line


# How images become inputs (see cnn_gui/core/inputs/preparation.py).
DIGIT = "digit"
FIT = "fit"
METHODS = (DIGIT, FIT)
LIGHT = "light"
DARK = "dark"
INKS = (LIGHT, DARK, "")


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, applied to x/255
    std: tuple[float, ...]
    bundled: bool
    # How an image is made into an input like these (core/inputs/preparation.py): "digit"
    # (MNIST's crop-to-ink) or "fit" (the whole image fitted); ink "light"/"dark" for
    # drawings, "" for photos.
    preparation: str = "fit"
    ink: str = ""
    # A folder dataset's identity, as a checkpoint records it beside the folder's name
    # (core/data/folder_names.py): its images (train + test) and a hex digest of them as
    # prepared (core/data/image_folder.fingerprint), computed once at load. 0 and "" for
    # the named datasets, whose names say it all.
    images: int = 0
    fingerprint: str = ""


@dataclass
class ImageDataset:
    info: DatasetInfo
    train_images: torch.Tensor  # uint8 [N, C, H, W], contiguous
    train_labels: torch.Tensor  # int64 [N]
    test_images: torch.Tensor
    test_labels: torch.Tensor
    # Images of a folder dataset that could not be read (damaged, not images, too large):
    # how many, and up to a few of them as "class/file.png: why".
    skipped: int = 0
    skipped_examples: tuple[str, ...] = ()
    # One line about the data against the weights it is used with ("the folder changed
    # since training: ..."; core/data/folder_record.checked_against); part of :attr:`note`.
    remark: str = ""
    _stats: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # In memory (a folder too large for it is a core/data/streaming.StreamingDataset instead).
    streamed = False

    def __post_init__(self) -> None:
        # Checked here, once, so that a bad label is a message now and not an IndexError
        # deep inside a training step.
        what = self.info.title
        self.train_labels = _checked_pair(self.train_images, self.train_labels, self.info, f"{what} training set")
        self.test_labels = _checked_pair(self.test_images, self.test_labels, self.info, f"{what} test set")

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def title(self) -> str:
        return self.info.title

    @property
    def classes(self) -> tuple[str, ...]:
        return self.info.classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.info.input_shape

    @property
    def mean(self) -> tuple[float, ...]:
        return self.info.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.info.std

    @property
    def note(self) -> str:
        """One line for the UI about what loading left out and how the data differs from the
        weights' (:attr:`remark`), or "" when there is nothing to say."""
        parts = [self.remark] if self.remark else []
        if self.skipped:
            example = f" (e.g. {self.skipped_examples[0]})" if self.skipped_examples else ""
            s = "" if self.skipped == 1 else "s"
            parts.append(f"skipped {self.skipped:,} unreadable image{s}{example}")
        return one_line("; ".join(parts)) if parts else ""

    def _with(self, *tensors: torch.Tensor, remark: str | None = None) -> "ImageDataset":
        return ImageDataset(self.info, *tensors, skipped=self.skipped, skipped_examples=self.skipped_examples,
                            remark=self.remark if remark is None else remark)

    def with_remark(self, remark: str) -> "ImageDataset":
        """This dataset (the same tensors) with :attr:`remark` set."""
        return self._with(self.train_images, self.train_labels, self.test_images, self.test_labels, remark=remark)

    @property
    def train_size(self) -> int:
        return int(self.train_labels.shape[0])

    @property
    def test_size(self) -> int:
        return int(self.test_labels.shape[0])

    def to(self, device) -> "ImageDataset":
        """A new dataset with all four tensors on ``device``."""
        device = torch.device(device)

        def move(t: torch.Tensor) -> torch.Tensor:
            # Host-to-device copies may run asynchronously; device-to-host ones must not,
            # since the CPU could read the result before the copy has finished.
            non_blocking = t.device.type == "cpu" and device.type != "cpu"
            return t.to(device, non_blocking=non_blocking)

        return self._with(
            move(self.train_images),
            move(self.train_labels),
            move(self.test_images),
            move(self.test_labels),
        )

    def subset(self, train: int | None = None, test: int | None = None) -> "ImageDataset":
        """The first ``train`` training and ``test`` test samples (None: all of them)."""
        for label, n in (("train", train), ("test", test)):
            if n is not None and n < 0:
                raise ValueError(f"{label} subset size must not be negative (got {n})")
        tr = slice(None) if train is None else slice(0, train)
        te = slice(None) if test is None else slice(0, test)
        return self._with(
            self.train_images[tr],
            self.train_labels[tr],
            self.test_images[te],
            self.test_labels[te],
        )

    def test_only(self) -> "ImageDataset":
        """The test split alone, for views that read nothing else: a view of the training
        split would keep all its images alive (47 MB for MNIST), so the training split here is
        a new, empty tensor."""
        return self._with(_none_like(self.train_images), _none_like(self.train_labels),
                          self.test_images, self.test_labels)

    def schedule(self, batches) -> None:
        """The epoch's training batches to come (index tensors), which a streamed dataset
        decodes ahead; nothing to do in memory."""

    def _scale_shift(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        key = str(device)
        stats = self._stats.get(key)
        if stats is None:
            mean = torch.tensor(self.info.mean, dtype=torch.float32, device=device).view(-1, 1, 1)
            std = torch.tensor(self.info.std, dtype=torch.float32, device=device).view(-1, 1, 1)
            stats = self._stats[key] = (mean, std)
        return stats

    def normalize(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """float32 ``(x/255 - mean) / std`` per channel, for [N, C, H, W] or [C, H, W] input.

        The result is on the input's device and keeps its memory format (channels_last in,
        channels_last out).
        """
        mean, std = self._scale_shift(images_uint8.device)
        # .to() preserves the memory format; the in-place ops below keep it.
        x = images_uint8.to(torch.float32, copy=True)
        return x.div_(255.0).sub_(mean).div_(std)


def _none_like(t: torch.Tensor) -> torch.Tensor:
    """No samples of ``t``'s kind, sharing no storage with it."""
    return torch.empty((0, *t.shape[1:]), dtype=t.dtype, device=t.device)


def described(data) -> ImageDataset:
    """What ``data`` is (its :class:`DatasetInfo`, what loading skipped, its remark) with no
    images: what a finished run keeps of its data (``Trainer.release_data``)."""
    c, h, w = data.info.input_shape
    empty = torch.empty((0, c, h, w), dtype=torch.uint8)
    labels = torch.empty(0, dtype=torch.int64)
    return ImageDataset(data.info, empty, labels, empty, labels.clone(), skipped=int(data.skipped),
                        skipped_examples=tuple(data.skipped_examples), remark=data.remark)


def label_range_problem(lo: int, hi: int, classes: int) -> str | None:
    """Why labels from ``lo`` to ``hi`` do not fit ``classes`` classes; None when they do."""
    if lo < 0 or hi >= classes:
        return f"label {lo if lo < 0 else hi} is outside 0..{classes - 1} (the dataset has {classes} classes)"
    return None


def _checked_pair(images, labels, info: DatasetInfo, what: str) -> torch.Tensor:
    """``labels`` as int64, after checking that both tensors fit ``info``."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise DatasetError(
            f"{what}: images and labels must be torch tensors, not {type(images).__name__} and {type(labels).__name__}"
        )
    c, h, w = info.input_shape
    if images.dtype != torch.uint8:
        raise DatasetError(f"{what}: images are {images.dtype}, expected torch.uint8")
    if images.ndim != 4 or tuple(images.shape[1:]) != (c, h, w):
        raise DatasetError(f"{what}: images have shape {tuple(images.shape)}, expected [N, {c}, {h}, {w}]")
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise DatasetError(
            f"{what}: labels must be a 1-D integer tensor, not {labels.dtype} of shape {tuple(labels.shape)}"
        )
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{what}: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.numel():
        problem = label_range_problem(int(labels.min()), int(labels.max()), len(info.classes))
        if problem:
            raise DatasetError(f"{what}: {problem}")
    return labels if labels.dtype == torch.int64 else labels.to(torch.int64)
