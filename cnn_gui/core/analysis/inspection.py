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
- :func:`evaluation_pass` is THE test pass: every figure about a test split (the training's
  test accuracy at each epoch's end, the Test set tab, the Embedding's mistakes, ``cnn-gui
  evaluate``) comes from it, so the same weights give the same count of mistakes in each.
- :func:`confusion_matrix` counts (true class, predicted class) over a dataset's test
  split, and keeps the indices of the misclassified images.

How the test pass reads the images, whatever the training used: **fp32** (autocast off,
also when the run trains under bf16 autocast; on CUDA TF32 off too), in eval mode (BatchNorm
with its running statistics), channels_last weights and inputs (the layout the CPU trains
in: a different layout rounds differently in the last bits, and one image near a tie can
flip), batches of ``eval_batch_size`` in training and 100 elsewhere (on the CPU the same
logits bit for bit). On the CPU the figures agree exactly; a run on a GPU tests there, where
cuDNN sums in another order than the CPU: still fp32, and at most an image near a tie apart.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
from torch import nn

from cnn_gui.core.analysis.predictor import names_for_outputs

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


# -- the one test pass ---------------------------------------------------------------------

# Batches of 100 on the CPU: ~20 ms each on 2 cores, so a cancel lands within that, and the
# whole MNIST split ran faster than in batches of 500 or 1000 (measured: 3.2 s vs 5.4 s, one thread).
EVAL_BATCH = 100


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluation_pass` found: every image's predicted class, the mean loss, and
    (when asked) the input of one module for every image."""

    predicted: np.ndarray  # int64 (N,)
    labels: np.ndarray  # int64 (N,): the true classes
    loss: float  # mean cross-entropy of the fp32 logits
    features: np.ndarray | None = None  # float32 (N, D): the ``features_of`` module's input

    @property
    def mistakes(self) -> int:
        return int((self.predicted != self.labels).sum())

    @property
    def accuracy(self) -> float:
        n = self.labels.shape[0]
        return float((self.predicted == self.labels).sum()) / n if n else math.nan


def _channels_last_on(model: nn.Module, device: torch.device) -> bool:
    return all(p.device == device and (p.dim() != 4 or p.is_contiguous(memory_format=torch.channels_last))
               for p in model.parameters())


class _NoTf32:
    """On CUDA, TF32 off for the pass (restored after it): fp32 means fp32 there too."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __enter__(self) -> None:
        if self.cuda:
            self.tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.tf32


def evaluation_pass(model: nn.Module, data: "ImageDataset", *, device: torch.device | None = None,
                    batch_size: int = EVAL_BATCH, count: int | None = None,
                    cancel: "threading.Event | Callable[[], bool] | None" = None,
                    progress: Callable[[float], None] | None = None, features_of: str | None = None,
                    bf16: bool = False) -> Evaluation | None:
    """Every prediction of ``model`` on the first ``count`` (all when None) test images of
    ``data``: fp32, eval mode, channels_last (see the module's docstring), on ``device``
    (default: where the model's weights are). None as soon as ``cancel`` is set or returns
    True, checked before every batch; ``progress`` gets the fraction done after each batch.

    A model already in channels_last on ``device`` runs as it is (back in its own mode after
    the pass); another runs as a private channels_last copy. ``features_of`` names a module
    (``named_modules()``) whose input is kept for every image (always on a private copy: the
    hook never reaches a model another thread is using). ``bf16`` (autocast) only for a
    caller that asks for speed over agreement (the Embedding's ``precision="bf16"``).
    """
    stop = cancel.is_set if hasattr(cancel, "is_set") else cancel
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = torch.device(device)
    if features_of is not None or not _channels_last_on(model, device):
        with torch.no_grad():
            model = copy.deepcopy(model).to(device, memory_format=torch.channels_last)
    n = data.test_size if count is None else min(int(count), data.test_size)
    was_training = model.training
    model.eval()
    try:
        return _run_pass(model, data, device, n, batch_size, stop, progress, features_of, bf16)
    finally:
        model.train(was_training)


def _run_pass(model, data, device, n, batch_size, stop, progress, features_of, bf16) -> Evaluation | None:
    images, labels = data.test_images[:n], data.test_labels[:n].to(device)
    predicted = torch.empty(n, dtype=torch.int64, device=device)
    loss = torch.zeros((), dtype=torch.float64, device=device)
    caught: list[torch.Tensor] = []  # the hooked module's inputs of this batch (the last one counts)
    kept: list[torch.Tensor] = []
    handle = None
    if features_of is not None:
        module = dict(model.named_modules())[features_of]
        handle = module.register_forward_pre_hook(lambda _m, inputs: caught.append(inputs[0].detach()))
    try:
        with torch.inference_mode(), _NoTf32(device), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, n, batch_size):
                if stop is not None and stop():
                    return None
                x = data.normalize(images[start:start + batch_size].to(device))
                caught.clear()
                logits = model(x.contiguous(memory_format=torch.channels_last)).float().reshape(x.shape[0], -1)
                predicted[start:start + x.shape[0]] = logits.argmax(1)
                if logits.shape[1] >= len(data.classes):  # else no loss: a class the model has no output for
                    loss += nn.functional.cross_entropy(logits, labels[start:start + x.shape[0]], reduction="sum")
                else:
                    loss.fill_(math.nan)
                if caught:
                    kept.append(caught[-1].float().reshape(x.shape[0], -1).cpu())
                if progress is not None:
                    progress(min(start + batch_size, n) / max(n, 1))
    finally:
        if handle is not None:
            handle.remove()
    feats = torch.cat(kept).numpy() if n and len(kept) == -(-n // batch_size) else None  # every batch caught
    return Evaluation(predicted.cpu().numpy(), labels.cpu().numpy().astype(np.int64), loss.item() / max(n, 1), feats)


@dataclass(frozen=True)
class ConfusionResult:
    """Counts over a test split: ``matrix[true, predicted]``, and what went wrong where."""

    matrix: np.ndarray  # int64 (classes, classes)
    misclassified: np.ndarray  # int64 indices into the test split, in order
    predicted: np.ndarray  # int64 predicted class of every test image
    # A name per row/column: the dataset's classes, then "#k" for outputs it has no class for
    # (a file from before networks were sized to their data: 10 outputs on a 3-class folder).
    names: tuple[str, ...] = ()

    @property
    def accuracy(self) -> float:
        total = int(self.matrix.sum())
        return float(np.trace(self.matrix)) / total if total else math.nan


def confusion_matrix(model: nn.Module, data: "ImageDataset", batch_size: int = EVAL_BATCH,
                     cancel: "threading.Event | Callable[[], bool] | None" = None) -> ConfusionResult | None:
    """:func:`evaluation_pass` of ``model`` over ``data``'s test split on the CPU, as a matrix.

    Returns None as soon as ``cancel`` is set (an Event) or returns True (a callable),
    checked before every batch.
    """
    result = evaluation_pass(model, data, device=torch.device("cpu"), batch_size=batch_size, cancel=cancel)
    if result is None:
        return None
    truth, predicted = result.labels, result.predicted
    outputs = max(len(data.classes), int(predicted.max()) + 1 if predicted.size else 0)
    names = names_for_outputs(data.classes, outputs)  # "#k" for outputs the data has no class for
    classes = len(names)
    matrix = np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(classes, classes)
    return ConfusionResult(matrix=matrix, misclassified=np.flatnonzero(truth != predicted), predicted=predicted,
                           names=names)
