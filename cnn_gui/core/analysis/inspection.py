"""Looking inside a trained network: feature maps of one image, the test set's confusion matrix.

Both work on any ``nn.Module`` in eval mode (in the app: the canvas's frozen
:class:`~cnn_gui.core.analysis.predictor.Predictor` copy, never the model being trained) and
return numpy arrays, so the window can show them without touching torch.

- :func:`spatial_layers` lists the modules whose output is a stack of 2-D maps
  ``(channels, height, width)``: every ``Conv2d``, ``BatchNorm2d``, ``ReLU``, ``MaxPool2d``
  and the blocks that hold them. Their outputs are what the tutorial's "extract all conv
  layers" is for: what each filter responds to.
- :func:`feature_maps` runs one image and returns those outputs, captured with forward
  hooks that are removed again before it returns.
- :func:`tile_maps` lays one layer's maps out as a grid image, each map scaled to [0, 1]
  on its own (black = its weakest response, white = its strongest), so a filter that
  barely fires is still visible.
- :func:`confusion_matrix` counts (true class, predicted class) over a dataset's test
  split, and keeps the indices of the misclassified images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    import threading

    from cnn_gui.core.data.image_dataset import ImageDataset


@dataclass(frozen=True)
class SpatialLayer:
    """A module whose output is ``channels`` maps of ``height`` x ``width``."""

    name: str  # named_modules() name, e.g. "layer1.0"
    type: str  # "Conv2d"
    channels: int
    height: int
    width: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type}): {self.channels} maps of {self.height}x{self.width}"


def _capture(model: nn.Module, x: torch.Tensor, names: set[str] | None) -> dict[str, torch.Tensor]:
    outputs: dict[str, torch.Tensor] = {}
    handles = []

    def hook_for(name: str) -> Callable:
        def hook(_module, _inputs, output) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                outputs[name] = output.detach().clone()  # an in-place ReLU after it would overwrite it
        return hook

    for name, module in model.named_modules():
        if name and (names is None or name in names):
            handles.append(module.register_forward_hook(hook_for(name)))
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def spatial_layers(model: nn.Module, input_shape: Sequence[int]) -> list[SpatialLayer]:
    """The modules of ``model`` (in forward order) whose output is a batch of 2-D maps."""
    x = torch.zeros((1, *input_shape))
    outputs = _capture(model, x, None)
    types = {name: type(m).__name__ for name, m in model.named_modules()}
    return [SpatialLayer(name, types[name], *(int(d) for d in out.shape[1:]))
            for name, out in outputs.items()]


def feature_maps(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, np.ndarray]:
    """``{name: float32 array (channels, H, W)}`` for one input ``x`` of shape (1, C, H, W).

    ``x`` is normalised as the model was trained (:meth:`Predictor.input_tensor` does
    that for a drawing). Names that are not modules with a 4-D output are left out.
    """
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"expected one image shaped (1, C, H, W), got {tuple(x.shape)}")
    outputs = _capture(model, x, set(names))
    return {name: outputs[name][0].float().cpu().numpy().copy() for name in names if name in outputs}


def grid_columns(count: int) -> int:
    """Columns for ``count`` tiles: at least square, at most twice as wide as tall, the
    fewest empty tiles, then the squarest (16 -> 4x4, 32 -> 8x4, 128 -> 16x8, 10 -> 5x2)."""
    if count <= 1:
        return 1
    lo, hi = math.ceil(math.sqrt(count)), math.ceil(math.sqrt(2 * count))
    return min(range(lo, hi + 1), key=lambda cols: (cols * math.ceil(count / cols) - count, cols))


def tile_maps(maps: np.ndarray, columns: int | None = None, pad: int = 1, scale_each: bool = True) -> np.ndarray:
    """Maps or images ``(count, H, W)`` as one grid image in [0, 1], NaN in the gaps.

    With ``scale_each`` every map is scaled on its own from its minimum (0) to its maximum
    (1), and a constant map (a filter that does not respond at all) is 0; without it the
    values are only clipped to [0, 1] (images already there). ``columns`` defaults to
    :func:`grid_columns`. :func:`tile_at` finds the tile under a grid pixel.
    """
    if maps.ndim != 3:
        raise ValueError(f"expected maps shaped (count, H, W), got {maps.shape}")
    c, h, w = maps.shape
    if c == 0:
        return np.zeros((0, 0), dtype=np.float32)
    cols = min(columns or grid_columns(c), c)
    rows = math.ceil(c / cols)
    flat = maps.reshape(c, -1).astype(np.float32)
    if scale_each:
        lo = flat.min(axis=1, keepdims=True)
        span = flat.max(axis=1, keepdims=True) - lo
        flat = np.where(span > 0, (flat - lo) / np.where(span > 0, span, 1), 0)
    tiles = np.clip(flat, 0.0, 1.0).reshape(c, h, w)
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan, dtype=np.float32)
    for i in range(c):
        r, q = divmod(i, cols)
        grid[r * (h + pad):r * (h + pad) + h, q * (w + pad):q * (w + pad) + w] = tiles[i]
    return grid


def tile_at(row: int, col: int, tile_shape: tuple[int, int], grid_width: int, pad: int = 1) -> int | None:
    """The index of the tile under pixel (``row``, ``col``) of a :func:`tile_maps` grid
    ``grid_width`` pixels wide; None in a gap. Past the last tile it is >= the count."""
    h, w = tile_shape
    cols = (grid_width + pad) // (w + pad)
    r, in_r = divmod(row, h + pad)
    q, in_q = divmod(col, w + pad)
    if in_r >= h or in_q >= w or q >= cols:
        return None
    return r * cols + q


@dataclass(frozen=True)
class ConfusionResult:
    """Counts over a test split: ``matrix[true, predicted]``, and what went wrong where."""

    matrix: np.ndarray  # int64 (classes, classes)
    misclassified: np.ndarray  # int64 indices into the test split, in order
    predicted: np.ndarray  # int64 predicted class of every test image

    @property
    def accuracy(self) -> float:
        total = int(self.matrix.sum())
        return float(np.trace(self.matrix)) / total if total else math.nan


def confusion_matrix(model: nn.Module, data: "ImageDataset", batch_size: int = 100,
                     cancel: "threading.Event | Callable[[], bool] | None" = None) -> ConfusionResult | None:
    """Run ``model`` (in eval mode, as it is) over ``data``'s test split on the CPU.

    Returns None as soon as ``cancel`` is set (an Event) or returns True (a callable),
    checked before every batch. Batches of 100: ~20 ms each on 2 cores, so a cancel
    lands within that; and on the CPU they ran the whole split faster than batches of 500
    (1.6 s vs 2.4 s for MNIST).
    """
    stop = cancel.is_set if hasattr(cancel, "is_set") else cancel
    classes = len(data.classes)
    images, labels = data.test_images.cpu(), data.test_labels.cpu()
    predicted = np.empty(labels.shape[0], dtype=np.int64)
    with torch.inference_mode():
        for start in range(0, labels.shape[0], batch_size):
            if stop is not None and stop():
                return None
            x = data.normalize(images[start:start + batch_size])
            predicted[start:start + x.shape[0]] = model(x).argmax(1).numpy()
    truth = labels.numpy().astype(np.int64)
    matrix = np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    return ConfusionResult(matrix=matrix, misclassified=np.flatnonzero(truth != predicted), predicted=predicted)
