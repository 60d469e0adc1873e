"""Where does the network put each image? Its penultimate-layer features, flattened to 2-D.

The features are what the last ``nn.Linear`` reads (its input, caught by a forward
pre-hook): the network's own description of an image, just before it is turned into
class scores. Images the network finds alike lie close together there.

- :func:`dataset_features` runs the frozen model over a dataset's test split (or its first
  ``count`` images) and keeps, per image, the features, the true and the predicted class.
- :func:`fit_pca` projects them onto their two main directions at once: scikit-learn's
  ``PCA`` when installed, else a torch SVD of the centred features (the same numbers up
  to rounding; each component's sign is fixed so that its largest entry is positive,
  whichever did the work).
- :func:`project` puts one new image (the canvas drawing) into the same PCA plane: the
  live point.
- The test-set pass is the one every test figure comes from (fp32:
  :func:`~cnn_gui.core.analysis.inspection.evaluation_pass`), so the map's mistakes are the Test
  set tab's. ``precision="bf16"`` (or ``"auto"``: bf16 on CPUs with native bf16) runs it
  under bf16 autocast instead, twice as fast with features within ~0.3 %, but then an image
  near a tie may read differently (:func:`use_bf16`); the live point is read the same way.
- :func:`tsne` is t-SNE on demand (scikit-learn's ``TSNE``, optional: slower, seconds per
  thousand images, and it cannot place a new point), with progress and cancellation.

Cancellation is a ``threading.Event``: set it and the computation stops at its next
check (between two batches, or between two t-SNE iterations) and returns None.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from cnn_gui.core.analysis.inspection import evaluation_pass
from cnn_gui.core.errors import CnnGuiError

if TYPE_CHECKING:
    from cnn_gui.core.data.image_dataset import ImageDataset
    from cnn_gui.core.analysis.predictor import Predictor

INSTALL_HINT = "pip install -e '.[embedding]'"
Progress = Callable[[float, str], None]  # (fraction done in [0, 1], what is happening)


class EmbeddingUnavailable(CnnGuiError):
    """A model without an ``nn.Linear``, or t-SNE without scikit-learn (one line)."""


def sklearn_available() -> bool:
    return importlib.util.find_spec("sklearn") is not None


def last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    """The ``named_modules()`` name and module of the model's last ``nn.Linear``."""
    found = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            found = (name, m)
    if found is None:
        raise EmbeddingUnavailable("This model has no nn.Linear layer, so no penultimate features to map.")
    return found


def use_bf16(precision: str = "auto") -> bool:
    """Whether feature passes run under bf16 autocast: ``"auto"`` = on CPUs with native bf16
    (AVX512-BF16 / AMX, as the training engine decides), where it halves the time of the
    test-set pass (measured: 10,000 MNIST images, one thread, ~4 s -> ~2 s) for features
    within ~0.3 % of fp32; ``"fp32"`` / ``"bf16"`` force it."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision == "auto":
        from cnn_gui.core.devices import cpu_has_native_bf16

        return cpu_has_native_bf16()
    return precision == "bf16"


def penultimate(model: nn.Module, x: torch.Tensor, bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, logits) of a normalised batch ``x``: the input of the last Linear, (N, D),
    and the model's output (N, classes), float32. The hook is removed again before returning."""
    _, layer = last_linear(model)
    caught: list[torch.Tensor] = []

    def hook(_module, inputs) -> None:
        caught.append(inputs[0].detach())

    handle = layer.register_forward_pre_hook(hook)
    try:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
    finally:
        handle.remove()
    if not caught:
        raise EmbeddingUnavailable("The last nn.Linear layer never ran in the forward pass.")
    feats = caught[-1]
    return feats.float().reshape(feats.shape[0], -1), logits.float().reshape(logits.shape[0], -1)


@dataclass(frozen=True)
class Features:
    """Penultimate-layer features of test images, with what the network made of them."""

    features: np.ndarray  # float32 (N, D); after compute_embedding(keep=K) only the first K rows
    labels: np.ndarray  # int64 (N,): true classes
    predicted: np.ndarray  # int64 (N,)
    indices: np.ndarray  # int64 (N,): positions in the test split
    layer: str  # the Linear whose input they are
    bf16: bool = False  # computed under bf16 autocast (project new images the same way)

    @property
    def mistakes(self) -> np.ndarray:
        """bool (N,): predicted != true."""
        return self.predicted != self.labels


def dataset_features(model: nn.Module, data: "ImageDataset", count: int | None = None, batch_size: int = 100,
                     cancel: threading.Event | None = None, progress: Progress | None = None,
                     precision: str = "fp32") -> Features | None:
    """Features of the first ``count`` test images of ``data`` (all when None), on the CPU.
    None when ``cancel`` was set. ``precision``: see :func:`use_bf16`.

    The pass is :func:`~cnn_gui.core.analysis.inspection.evaluation_pass`, the one every test
    figure comes from, on a private channels_last copy of ``model`` (oneDNN's blocked
    convolutions make it ~2x faster than the contiguous layout on a CPU; the copy keeps
    this pass's hook away from a model another thread is using): in fp32 its mistakes are
    the Test set tab's and ``cnn-gui evaluate``'s, image for image.
    """
    layer, _ = last_linear(model)
    bf16 = use_bf16(precision)
    n = data.test_size if count is None else min(int(count), data.test_size)
    if n == 0:
        raise ValueError("no test images to map")
    report = None if progress is None else (lambda fraction: progress(fraction, "features"))
    found = evaluation_pass(model, data, device=torch.device("cpu"), batch_size=batch_size, count=n,
                            cancel=cancel, progress=report, features_of=layer, bf16=bf16)
    if found is None:
        return None
    if found.features is None:
        raise EmbeddingUnavailable("The last nn.Linear layer never ran in the forward pass.")
    return Features(found.features.astype(np.float32, copy=False), found.labels, found.predicted,
                    np.arange(n, dtype=np.int64), layer, bf16)


@dataclass(frozen=True)
class Pca:
    """A fitted projection: ``(features - mean) @ components.T``."""

    mean: np.ndarray  # float64 (D,)
    components: np.ndarray  # float64 (k, D), unit rows, largest entry of each positive
    explained_variance_ratio: np.ndarray  # float64 (k,)
    backend: str  # "scikit-learn" or "torch"

    def transform(self, features: np.ndarray) -> np.ndarray:
        f = np.asarray(features, dtype=np.float64)
        return ((f - self.mean) @ self.components.T).astype(np.float32)


def _fix_signs(components: np.ndarray) -> np.ndarray:
    """Flip each row so that its largest-magnitude entry is positive: one answer per data set,
    whatever the SVD routine."""
    rows = np.arange(components.shape[0])
    signs = np.sign(components[rows, np.abs(components).argmax(1)])
    signs[signs == 0] = 1
    return components * signs[:, None]


def fit_pca(features: np.ndarray, n_components: int = 2, use_sklearn: bool | None = None) -> Pca:
    """The first ``n_components`` principal directions of ``features`` (N, D).

    ``use_sklearn``: None = scikit-learn when installed; False = the torch SVD fallback.
    """
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"PCA needs at least two feature rows, got an array shaped {f.shape}")
    k = min(n_components, *f.shape)
    if use_sklearn is None:
        use_sklearn = sklearn_available()
    if use_sklearn:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=k, svd_solver="full").fit(f)
        mean, comps, ratio = pca.mean_, pca.components_, pca.explained_variance_ratio_
        backend = "scikit-learn"
    else:
        mean = f.mean(0)
        centred = torch.from_numpy(f - mean)
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        var = s.numpy() ** 2
        comps, ratio = vh[:k].numpy(), var[:k] / var.sum() if var.sum() > 0 else np.zeros(k)
        backend = "torch"
    return Pca(np.asarray(mean, dtype=np.float64), _fix_signs(np.asarray(comps, dtype=np.float64)),
               np.asarray(ratio, dtype=np.float64), backend)


@dataclass(frozen=True)
class Embedding:
    """Test images as 2-D points (PCA of their features)."""

    features: Features
    pca: Pca
    points: np.ndarray  # float32 (N, 2)
    seconds: float


def compute_embedding(model: nn.Module, data: "ImageDataset", count: int | None = None,
                      cancel: threading.Event | None = None, progress: Progress | None = None,
                      use_sklearn: bool | None = None, precision: str = "fp32",
                      keep: int | None = None) -> Embedding | None:
    """Features of the test split (or its first ``count`` images), then their PCA plane.
    None when cancelled. ``keep``: only the first ``keep`` rows of the features are kept
    once the plane is fitted (what t-SNE will read; the rest, 5 MB for 10,000 MNIST images
    and more for wider layers, a window would otherwise hold for nothing); None keeps them all."""
    start = time.perf_counter()
    feats = dataset_features(model, data, count, cancel=cancel, progress=progress, precision=precision)
    if feats is None or (cancel is not None and cancel.is_set()):
        return None
    pca = fit_pca(feats.features, 2, use_sklearn)
    if progress is not None:
        progress(1.0, "PCA")
    points = pca.transform(feats.features)
    if keep is not None and keep < len(feats.features):
        feats = dataclasses.replace(feats, features=feats.features[:keep].copy())  # a copy: the rest goes
    return Embedding(feats, pca, points, time.perf_counter() - start)


def image_features(predictor: "Predictor", image: np.ndarray, bf16: bool = False) -> np.ndarray:
    """The penultimate features (D,) of one image in [0, 1], (H, W) or (C, H, W)."""
    f, _ = penultimate(predictor.model, predictor.input_tensor(image), bf16)
    return f[0].numpy().astype(np.float32)


def project(predictor: "Predictor", image: np.ndarray, pca: Pca, bf16: bool = False) -> np.ndarray:
    """Where one image (the canvas drawing) lands in ``pca``'s plane: float32 (k,). Pass the
    ``bf16`` of the mapped :class:`Features`, so that the image is read as they were."""
    return pca.transform(image_features(predictor, image, bf16)[None])[0]


# -- t-SNE -------------------------------------------------------------------------------

class _Cancelled(Exception):
    pass


_tsne_local = threading.local()
_tsne_patch_lock = threading.Lock()


def _install_iteration_hook() -> bool:
    """Wrap scikit-learn's t-SNE gradient descent once so that each iteration can report to
    (and be stopped by) a callback of the calling thread; other threads pass straight
    through. TSNE has no public callback; without the private function (a future
    scikit-learn) t-SNE still runs, only without progress inside its optimisation."""
    from sklearn.manifold import _t_sne

    with _tsne_patch_lock:
        original = getattr(_t_sne, "_gradient_descent", None)
        if original is None:
            return False
        if getattr(original, "_cnn_gui_hook", False):
            return True

        def gradient_descent(objective, p0, *args, **kwargs):
            callback = getattr(_tsne_local, "callback", None)
            if callback is None:
                return original(objective, p0, *args, **kwargs)

            def counted(p, *a, **k):
                callback()
                return objective(p, *a, **k)

            return original(counted, p0, *args, **kwargs)

        gradient_descent._cnn_gui_hook = True  # type: ignore[attr-defined]
        _t_sne._gradient_descent = gradient_descent
        return True


def tsne(features: np.ndarray, cancel: threading.Event | None = None, progress: Progress | None = None,
         perplexity: float = 30.0, iterations: int = 1000, seed: int = 0, pca_dims: int = 50) -> np.ndarray | None:
    """2-D t-SNE of ``features`` (N, D), float32 (N, 2); None when cancelled.

    The features are first reduced to ``pca_dims`` dimensions by PCA (the usual first
    step: faster, and less noise), then scikit-learn's Barnes-Hut t-SNE runs from a PCA
    initialisation with ``seed``.
    """
    if not sklearn_available():
        raise EmbeddingUnavailable(f"t-SNE needs scikit-learn: {INSTALL_HINT}")
    from sklearn.manifold import TSNE

    f = np.asarray(features, dtype=np.float32)
    n = f.shape[0]
    if n < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {n}")
    if progress is not None:
        progress(0.0, "t-SNE: neighbours")
    if f.shape[1] > pca_dims:
        pca = fit_pca(f, pca_dims)
        f = pca.transform(f)
    hooked = _install_iteration_hook()
    done = [0]
    last = [0.0]

    def on_iteration() -> None:
        if cancel is not None and cancel.is_set():
            raise _Cancelled
        done[0] += 1
        now = time.perf_counter()
        if progress is not None and now - last[0] > 0.1:
            last[0] = now
            progress(min(done[0] / iterations, 1.0), "t-SNE")

    params = inspect.signature(TSNE).parameters
    steps = {"max_iter": iterations} if "max_iter" in params else {"n_iter": iterations}
    model = TSNE(n_components=2, perplexity=min(perplexity, (n - 1) / 3), init="pca", learning_rate="auto",
                 random_state=seed, **steps)
    _tsne_local.callback = on_iteration if hooked else None
    try:
        points = model.fit_transform(f)
    except _Cancelled:
        return None
    finally:
        _tsne_local.callback = None
    if cancel is not None and cancel.is_set():
        return None
    if progress is not None:
        progress(1.0, "t-SNE")
    return np.asarray(points, dtype=np.float32)
