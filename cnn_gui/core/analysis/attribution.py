"""Why did the network say that? Attribution maps for one image, from Captum.

Four methods, each giving a signed float32 map the size of the input (H, W): > 0 where
the image pushed the network's score (its logit) for the explained class up, < 0 where
it pushed it down.

- **Grad-CAM** (:class:`captum.attr.LayerGradCam`) on a conv layer: the layer's maps
  weighted by the mean gradient of the score over each map, summed, and scaled up to
  the input with :meth:`LayerAttribution.interpolate`. Kept signed (no ReLU), so that
  "why not a 3?" shows what argues against the 3 too.
- **Input x Gradient** (:class:`~captum.attr.InputXGradient`), **Integrated Gradients**
  (:class:`~captum.attr.IntegratedGradients`, 32 steps in one batch) and **occlusion**
  (a blank patch slid over the image, all positions in one batch; Captum's ``Occlusion``
  computed here so that patches over empty canvas, which change nothing, are not run).

All of them read the image in **pixel space** ([0, 1], 0 = no ink) through a wrapper that
normalises as in training. So the "input" of Input x Gradient is the ink, the baseline of
Integrated Gradients is an empty canvas (whose normalised value is ``-mean/std``, not 0),
and occlusion blanks a patch to no ink. An empty pixel gets exactly 0 from the first
three, whatever the weights. For weights that read dark strokes on light paper (a folder
of scans, :class:`~cnn_gui.core.inputs.preparation.Preparation` ink ``dark``) "ink" is
``1 - pixel``, so that the paper is the empty part there too.

The maps come from a private copy of a :class:`~cnn_gui.core.analysis.predictor.Predictor`'s frozen
model (never the model being trained), taken once per snapshot by :class:`Explainer`:
in eval mode, with every ``inplace`` flag turned off (an in-place ReLU overwrites the
tensor that a gradient hook still needs) and no parameter gradients.

Captum is an optional extra (``pip install -e '.[explain]'``); without it
:func:`captum_available` is False and :meth:`Explainer.explain` raises
:class:`AttributionUnavailable` with that instruction.
"""

from __future__ import annotations

import copy
import importlib.util
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from cnn_gui.core.errors import CnnGuiError
from cnn_gui.core.analysis.predictor import Predictor, strip_hooks

INSTALL_HINT = "pip install -e '.[explain]'"
MISSING_CAPTUM_TEXT = f"Attribution maps need Captum: {INSTALL_HINT}"

IG_STEPS = 32


@dataclass(frozen=True)
class Method:
    key: str
    title: str
    reading: str  # one line; {cls} = the explained class, {layer} = Grad-CAM's layer


METHODS: dict[str, Method] = {
    m.key: m for m in (
        Method("gradcam", "Grad-CAM",
               "Red regions raised the network's score for {cls}, blue ones lowered it, as seen by {layer} "
               "(one value per cell of its maps, scaled up)."),
        Method("ixg", "Input x Gradient",
               "Red pixels pushed the network towards {cls}; blue pushed away (ink times its gradient: "
               "only drawn pixels count)."),
        Method("ig", "Integrated Gradients",
               "Red pixels pushed the network towards {cls}; blue pushed away (gradients summed from an "
               "empty canvas to this image)."),
        Method("occlusion", "Occlusion",
               "Red: blanking that patch lowers the score for {cls} (the ink there argues for it); blue: "
               "blanking it raises the score (the ink there argues against it)."),
    )
}

LAYER_NOTE = ("Grad-CAM layer: an early conv layer shows fine, local detail (stroke pieces); "
              "the last one is coarse but the most specific to the class.")


class AttributionUnavailable(CnnGuiError):
    """Captum is not installed, or the model cannot be explained (one line, for the window)."""


def captum_available() -> bool:
    """Whether Captum can be imported (checked without importing it: ~0.3 s)."""
    return importlib.util.find_spec("captum") is not None


def conv_layers(model: nn.Module) -> list[str]:
    """``named_modules()`` names of the model's Conv2d layers, in definition order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def without_inplace(model: nn.Module) -> nn.Module:
    """Turn off every module's ``inplace`` flag (ReLU, Dropout, ...) in place; returns ``model``.

    An in-place activation overwrites the output of the layer before it, which a Grad-CAM
    hook has captured and autograd may need for the backward pass.
    """
    for m in model.modules():
        if isinstance(getattr(m, "inplace", None), bool):
            m.inplace = False
    return model


class PixelSpace(nn.Module):
    """``model((x - mean) / std)``: a model that reads images in [0, 1] (0 = no ink).

    ``dark_ink``: the weights read dark strokes on light paper; ``x`` is then the ink, and
    the model is given the picture ``1 - x``, so that 0 is still "nothing written" (the
    baseline of Integrated Gradients, occlusion's blank patch) for every preparation.
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float], dark_ink: bool = False) -> None:
        super().__init__()
        self.model = model
        self.dark_ink = dark_ink
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(((1.0 - x if self.dark_ink else x) - self.mean) / self.std)
        return out.float().reshape(out.shape[0], -1)


@dataclass(frozen=True)
class Attribution:
    """One map, signed: > 0 where the image pushed the score of ``target`` up."""

    map: np.ndarray  # float32 (H, W)
    method: str  # a METHODS key
    target: int  # the class explained
    predicted: int  # the network's top class for this image
    probabilities: np.ndarray  # float32 (classes,)
    classes: tuple[str, ...]
    layer: str | None = None  # Grad-CAM's layer
    layer_map: np.ndarray | None = None  # Grad-CAM at the layer's own resolution (h, w)
    seconds: float = 0.0

    @property
    def scale(self) -> float:
        """The symmetric colour scale: the largest |value| (0 for an all-zero map)."""
        return float(np.abs(self.map).max()) if self.map.size else 0.0

    @property
    def target_name(self) -> str:
        return self.classes[self.target]

    @property
    def predicted_name(self) -> str:
        return self.classes[self.predicted]

    @property
    def reading(self) -> str:
        """The one-line plain reading of this map."""
        return METHODS[self.method].reading.format(cls=self.target_name, layer=self.layer or "the layer")


def to_batch(image: np.ndarray, input_shape: Sequence[int]) -> torch.Tensor:
    """An image in [0, 1], (H, W) or (C, H, W), as a float32 (1, C, H, W) tensor of ``input_shape``."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 2:
        a = a[None]
    if tuple(a.shape) != tuple(input_shape):
        shape = "x".join(map(str, input_shape))
        raise ValueError(f"this model reads {shape} images, got an image shaped {tuple(np.shape(image))}")
    return torch.from_numpy(np.ascontiguousarray(a))[None]


class Explainer:
    """Attribution maps from a private, gradient-ready copy of a predictor's frozen model.

    Take one per weights snapshot (:func:`explainer_for` keeps one per predictor); the
    copy costs one ``deepcopy``. :meth:`explain` is serialised by a lock, so a worker
    thread and the GUI thread may share an explainer.
    """

    def __init__(self, predictor: Predictor, input_shape: Sequence[int] = (1, 28, 28)) -> None:
        model = without_inplace(copy.deepcopy(predictor.model)).eval()
        strip_hooks(model)  # a viewer's hook set on the snapshot for a moment must not fire here
        for p in model.parameters():
            p.requires_grad_(False)  # gradients for the input only: no weight gradients to compute
        self.input_shape = tuple(int(d) for d in input_shape)
        channels = self.input_shape[0]
        mean = list(predictor.mean) * (channels if len(predictor.mean) == 1 else 1)
        std = list(predictor.std) * (channels if len(predictor.std) == 1 else 1)
        self._dark_ink = predictor.preparation.ink == "dark"
        self.net = PixelSpace(model, mean, std, self._dark_ink).eval()
        self.model = model
        self.conv_layers = conv_layers(model)
        self._classes = predictor.classes
        self._lock = threading.Lock()

    @property
    def default_layer(self) -> str | None:
        """The last Conv2d: coarse, and the most class-specific."""
        return self.conv_layers[-1] if self.conv_layers else None

    def _ink(self, image: np.ndarray) -> torch.Tensor:
        """The image as the net reads it: its ink (``1 - image`` for dark strokes on paper)."""
        x = to_batch(image, self.input_shape)
        return 1.0 - x if self._dark_ink else x

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        x = self._ink(image)
        with torch.inference_mode():
            return torch.softmax(self.net(x)[0], 0).numpy().astype(np.float32)

    def explain(self, image: np.ndarray, method: str = "gradcam", target: int | None = None,
                layer: str | None = None, occlusion_window: int | None = None,
                occlusion_stride: int | None = None, ig_steps: int = IG_STEPS) -> Attribution:
        """The ``method`` map of ``image`` ((H, W) or (C, H, W) in [0, 1]) for class ``target``
        (default: the top class); Grad-CAM on ``layer`` (default: the last Conv2d)."""
        if method not in METHODS:
            raise ValueError(f"unknown attribution method {method!r}: choose one of {', '.join(METHODS)}")
        if not captum_available():
            raise AttributionUnavailable(MISSING_CAPTUM_TEXT)
        import captum.attr  # noqa: F401 -- once (~0.3 s), before the clock starts

        with self._lock:
            start = time.perf_counter()
            x = self._ink(image)
            with torch.inference_mode():
                probs = torch.softmax(self.net(x)[0], 0).numpy().astype(np.float32)
            classes = self._classes if self._classes and len(self._classes) == probs.shape[0] \
                else tuple(str(i) for i in range(probs.shape[0]))
            predicted = int(probs.argmax())
            target = predicted if target is None else int(target)
            if not 0 <= target < probs.shape[0]:
                raise ValueError(f"class {target} is out of range: the model has {probs.shape[0]} classes")
            layer_map = None
            used_layer = None
            with torch.enable_grad():
                if method == "gradcam":
                    used_layer = layer or self.default_layer
                    if used_layer is None:
                        raise AttributionUnavailable("Grad-CAM needs a Conv2d layer, and this model has none.")
                    raw = self._gradcam(x, target, used_layer)
                    layer_map = raw[0, 0].numpy().astype(np.float32)
                    from captum.attr import LayerAttribution

                    out = LayerAttribution.interpolate(raw, tuple(x.shape[-2:]), "bilinear")[0, 0]
                elif method == "ixg":
                    from captum.attr import InputXGradient

                    out = InputXGradient(self.net).attribute(x.clone().requires_grad_(), target=target)[0].sum(0)
                elif method == "ig":
                    from captum.attr import IntegratedGradients

                    out = IntegratedGradients(self.net).attribute(
                        x, baselines=torch.zeros_like(x), target=target, n_steps=ig_steps,
                        internal_batch_size=ig_steps)[0].sum(0)
                else:
                    out = self._occlusion(x, target, occlusion_window, occlusion_stride)
            amap = out.detach().float().numpy().astype(np.float32, copy=True)
            return Attribution(map=amap, method=method, target=target, predicted=predicted,
                               probabilities=probs, classes=classes, layer=used_layer, layer_map=layer_map,
                               seconds=time.perf_counter() - start)

    def _gradcam(self, x: torch.Tensor, target: int, layer: str) -> torch.Tensor:
        from captum.attr import LayerGradCam

        try:
            module = self.model.get_submodule(layer)
        except AttributeError:
            raise ValueError(f"no layer named {layer!r} in this model") from None
        if not isinstance(module, nn.Conv2d):
            raise ValueError(f"{layer!r} is a {type(module).__name__}, not a Conv2d layer")
        return LayerGradCam(self.net, module).attribute(x, target=target, relu_attributions=False).detach()

    def _occlusion(self, x: torch.Tensor, target: int, window: int | None, stride: int | None) -> torch.Tensor:
        """Captum's ``Occlusion`` (a blank square slid with a stride; each pixel gets the mean
        score drop of the placements covering it), computed here: a placement that covers
        no ink changes nothing, so its drop is exactly 0 and it is not run. That skips
        about half of the 169 placements on an MNIST digit (measured: Captum's 60-140 ms ->
        30-50 ms on one thread; ``test_attribution`` checks both agree)."""
        c, h, w = x.shape[1:]
        window = window or occlusion_window_for(h, w)
        stride = stride or max(1, window // 2)
        tops, lefts = range(0, h - window + 1, stride), range(0, w - window + 1, stride)
        ink = (x[0] != 0).any(0)
        counts = torch.zeros(h, w)
        boxes = []
        for top in tops:
            for left in lefts:
                counts[top:top + window, left:left + window] += 1
                if ink[top:top + window, left:left + window].any():
                    boxes.append((top, left))
        batch = x.repeat(len(boxes) + 1, 1, 1, 1)  # row 0: the image itself, in the same pass
        for i, (top, left) in enumerate(boxes, 1):
            batch[i, :, top:top + window, left:left + window] = 0.0
        with torch.inference_mode():
            scores = self.net(batch)[:, target]
        total = torch.zeros(h, w)
        for i, (top, left) in enumerate(boxes, 1):
            total[top:top + window, left:left + window] += scores[0] - scores[i]
        return total / counts.clamp(min=1)


def occlusion_window_for(height: int, width: int) -> int:
    """The patch side: about a seventh of the image (4 px on 28x28: a piece of a stroke)."""
    return max(2, round(min(height, width) / 7))


_latest: "tuple[Predictor, Explainer] | None" = None
_latest_lock = threading.Lock()


def explainer_for(predictor: Predictor, input_shape: Sequence[int] = (1, 28, 28)) -> Explainer:
    """The :class:`Explainer` of ``predictor`` for ``input_shape``, made once per snapshot:
    the latest one is kept, and a new predictor (new weights) replaces it."""
    global _latest
    shape = tuple(int(d) for d in input_shape)
    with _latest_lock:
        if _latest is not None and _latest[0] is predictor and _latest[1].input_shape == shape:
            return _latest[1]
        explainer = Explainer(predictor, shape)
        _latest = (predictor, explainer)
        return explainer
