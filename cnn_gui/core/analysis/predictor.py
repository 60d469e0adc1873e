"""A frozen copy of a model for reading drawings while the live model keeps training.

The GUI predicts a drawing on its own thread while the trainer updates the live model on
another.  Calling the live model from the GUI would race with ``optimizer.step()``, would
run BatchNorm in training mode (and update its running statistics!) and would hold up
the GUI on a busy GPU.  A :class:`Predictor` is instead a deep copy taken once: on the
CPU, in eval mode, without gradients, sharing no tensor with the original, so the two
threads never touch the same memory.  Take a fresh one whenever the GUI should see newer
weights (e.g. after each epoch); taking it between two optimizer steps gives a
consistent snapshot.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from cnn_gui.core.errors import CnnGuiError, one_line
from cnn_gui.core.inputs.preparation import Preparation
from cnn_gui.core.inputs.preprocess import MAX_SIDE, InputError, shape_text, as_unit_float, normalize

# Below this top probability the canvas says "Not sure: maybe 3 (41.0%)" instead of
# "Prediction: 3". With ten classes, a top class under one half means the other nine
# together weigh more than the guess: the shipped weights are right on 55 % of the 20
# MNIST test images they read so, against 99.7 % of those they read at 90 % or more.
MIN_CONFIDENCE = 0.5


class PredictionError(CnnGuiError):
    """The network cannot give probabilities for an image (wrong input, NaN output)."""


def strip_hooks(model: nn.Module) -> None:
    """Drop hooks copied along with the modules: they belong to the live model's viewers
    (activation plots ...), and must not run on the GUI's predictions from this copy."""
    for m in model.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks", "_forward_hooks_with_kwargs",
                     "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called"):
            hooks = getattr(m, name, None)
            if hooks is not None and hasattr(hooks, "clear"):
                hooks.clear()


def _infer_input_shape(model: nn.Module) -> tuple[int | None, int | None, int | None] | None:
    """(C, H, W) the model reads, parts unknown as None; None when nothing is known.

    A model's own ``input_shape = (C, H, W)`` attribute (as for user models) wins; else
    the first layer with weights, when it is a Conv2d, gives the channels.
    """
    shape = getattr(model, "input_shape", None)
    if (isinstance(shape, (tuple, list)) and len(shape) == 3
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in shape)):
        return tuple(int(v) for v in shape)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return (int(m.in_channels), None, None) if m.in_channels > 0 else None  # lazy: not yet known
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv3d)):
            return None
    return None


def _infer_num_classes(model: nn.Module) -> int | None:
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m.out_features
    return last


def names_for_outputs(classes, outputs: int) -> tuple[str, ...]:
    """One class name per network output: the names there are, then "#k" for outputs the data
    has no class for (a file from before networks were sized to their data: 10 outputs, 3
    classes); with no names, or more names than outputs (bare weights given another dataset's
    names), the outputs' numbers."""
    names = tuple(str(c) for c in classes or ())
    if len(names) == outputs:
        return names
    if 0 < len(names) < outputs:
        return names + tuple(f"#{i}" for i in range(len(names), outputs))
    return tuple(str(i) for i in range(outputs))


class Predictor:
    """Probabilities for one image from a private, frozen CPU copy of ``model``.

    ``predict`` takes the image in [0, 1] as :func:`~cnn_gui.core.inputs.preprocess.to_mnist`
    returns it, (H, W) or (C, H, W), and normalises it itself with ``mean``/``std`` (the
    training normalisation), so callers never normalise twice.
    """

    def __init__(
        self,
        model: nn.Module,
        mean: float | Sequence[float] = (0.5,),
        std: float | Sequence[float] = (0.5,),
        classes: Sequence[str] | None = None,
        input_shape: Sequence[int] | None = None,
        preparation: Preparation | None = None,
    ) -> None:
        source = getattr(model, "_orig_mod", model)  # a torch.compile()d model: copy the module inside
        with torch.no_grad():
            snapshot = copy.deepcopy(source)
            snapshot = snapshot.to(device="cpu", memory_format=torch.contiguous_format)
        for p in snapshot.parameters():
            p.grad = None  # gradients were copied too; the snapshot never needs them
            p.requires_grad_(False)
        strip_hooks(snapshot)
        snapshot.eval()
        self._model = snapshot
        self._spare: Predictor | None = None
        if input_shape is not None:
            shape = tuple(int(v) for v in input_shape)
            if len(shape) != 3 or min(shape) <= 0:
                raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
            self._input_shape: tuple[int | None, ...] | None = shape
        else:
            self._input_shape = _infer_input_shape(snapshot)
        if preparation is None:  # a bare model that may read 1x28x28 digits reads them the MNIST way
            c, h, w = self._input_shape or (None, None, None)
            digits = c in (None, 1) and h in (None, 28) and w in (None, 28)
            preparation = Preparation("digit", "light") if digits else Preparation()
        self._preparation = preparation
        self._mean = tuple(np.atleast_1d(np.asarray(mean, dtype=np.float32)).tolist())
        self._std = tuple(np.atleast_1d(np.asarray(std, dtype=np.float32)).tolist())
        if classes is not None:
            self._classes: tuple[str, ...] | None = tuple(str(c) for c in classes)
        else:
            n = _infer_num_classes(snapshot)
            self._classes = tuple(str(i) for i in range(n)) if n else None

    @property
    def model(self) -> nn.Module:
        """The frozen copy (eval mode, CPU). Don't train it."""
        return self._model

    def spare(self) -> "Predictor":
        """A second private copy, made once and kept: for a view that computes on a worker thread
        while viewers hook this one on the GUI thread. Who builds a predictor off the GUI thread
        (a snapshot read ahead) may make it there, before anyone else holds this one."""
        if self._spare is None:
            self._spare = self.copy()
        return self._spare

    def copy(self) -> "Predictor":
        """Another frozen copy that reads images as this one does (its weights free to replace:
        a run's snapshot loaded into it, :mod:`cnn_gui.core.runs.timeline`)."""
        shape = self._input_shape
        known = shape if shape is not None and None not in shape else None
        return Predictor(self._model, self._mean, self._std, self._classes, known, self._preparation)

    @property
    def classes(self) -> tuple[str, ...] | None:
        """Class names, index = network output; "0".."N-1" unless given (None if unknown
        until the first prediction)."""
        return self._classes

    @property
    def input_shape(self) -> tuple[int | None, ...] | None:
        """(C, H, W) of one input, a part None when unknown; None when nothing is known."""
        return self._input_shape

    @property
    def preparation(self) -> Preparation:
        """How an image becomes this model's input (``prepare_drawing``/``prepare_file``)."""
        return self._preparation

    @property
    def mean(self) -> tuple[float, ...]:
        return self._mean

    @property
    def std(self) -> tuple[float, ...]:
        return self._std

    def _checked(self, image: np.ndarray) -> np.ndarray:
        """``image`` as float32 (C, H, W) in [0, 1], or an :class:`InputError` saying what is wrong."""
        try:
            a = np.asarray(image)
        except (ValueError, TypeError, RuntimeError) as exc:  # a ragged list, a tensor needing grad
            raise InputError(f"the image is not an array of pixels: {exc}") from None
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3:
            raise InputError(f"expected an (H, W) or (C, H, W) image, got an array of shape {shape_text(a.shape)}")
        if a.size == 0:
            raise InputError(f"the image is empty ({shape_text(a.shape)} pixels)")
        want = self._input_shape
        if want is not None and any(w is not None and w != g for w, g in zip(want, a.shape)):
            shown = "x".join("?" if w is None else str(w) for w in want)
            raise InputError(f"this model reads {shown} images, got {shape_text(a.shape)}")
        if max(a.shape[1:]) > MAX_SIDE or a.size > MAX_SIDE * MAX_SIDE:
            raise InputError(f"the image is {shape_text(a.shape)} pixels: too large, at most {MAX_SIDE} a side")
        return as_unit_float(a)

    def input_tensor(self, img28: np.ndarray) -> torch.Tensor:
        """The (1, C, H, W) tensor the frozen model reads for one image in [0, 1].

        Raises :class:`InputError` for an image the model cannot read (see :meth:`predict`).
        """
        return torch.from_numpy(normalize(self._checked(img28), self._mean, self._std))[None]

    def predict(self, img28: np.ndarray) -> np.ndarray:
        """Softmax probabilities, float32 of shape (num_classes,), for one image in [0, 1].

        ``img28`` is (H, W) or (C, H, W): floats in [0, 1] or integers scaled by their
        type's range (see :func:`~cnn_gui.core.inputs.preprocess.as_unit_float`).  Raises
        :class:`InputError` for NaN or infinite pixels, an empty or oversized image, or
        a shape other than :attr:`input_shape`; :class:`PredictionError` when the model
        fails on the image or its output is not a finite score per class.  The result
        is always finite and sums to 1.
        """
        return self.predict_many([img28])[0]

    def predict_many(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """:meth:`predict` for several images of one size in one batch: (len(images), classes).
        The same errors; one image the model cannot read fails the batch."""
        tensors = [self.input_tensor(image) for image in images]
        if len({tuple(t.shape) for t in tensors}) > 1:  # an input shape only partly known lets them through
            raise InputError("the images are not all of one size: read them one by one")
        x = torch.cat(tensors)
        try:
            with torch.inference_mode():
                logits = self._model(x)
        except Exception as exc:  # noqa: BLE001
            # a user's model that wants other images than it says (or asserts): tell, in one line
            raise PredictionError(f"the model cannot read a {shape_text(tuple(x.shape[1:]))} image: "
                                  f"{type(exc).__name__}: {one_line(exc, 200)}") from None
        if not isinstance(logits, torch.Tensor) or logits.ndim == 0 or logits.numel() == 0:
            kind = type(logits).__name__ if not isinstance(logits, torch.Tensor) else f"a tensor of shape {tuple(logits.shape)}"
            raise PredictionError(f"the model returned {kind}, not one score per class")
        scores = logits.detach().float().reshape(logits.shape[0], -1)
        if scores.shape[0] != x.shape[0]:
            raise PredictionError(f"the model returned {scores.shape[0]} answers for {x.shape[0]} images")
        if not torch.isfinite(scores).all():
            raise PredictionError("the network's output is not a number: its weights hold NaN or infinite values")
        probs = torch.softmax(scores, dim=1)
        out = probs.numpy().astype(np.float32, copy=True)
        self._classes = names_for_outputs(self._classes, out.shape[1])
        return out


@dataclass(frozen=True)
class Reading:
    """What a prediction says, for a caption: the top class and whether to trust it."""

    index: int
    label: str
    probability: float
    confident: bool

    @property
    def caption(self) -> str:
        """"Prediction: 7 (98.3%)", or "Not sure: maybe 3 (41.0%)" under :data:`MIN_CONFIDENCE`."""
        if self.confident:
            return f"Prediction: {self.label} ({self.probability:.1%})"
        return f"Not sure: maybe {self.label} ({self.probability:.1%})"


def read_out(probs: np.ndarray, classes: Sequence[str] | None = None,
             min_confidence: float = MIN_CONFIDENCE) -> Reading:
    """The top class of ``probs`` and whether it reaches ``min_confidence``.

    Raises :class:`PredictionError` for empty or non-finite probabilities (never a
    "nan%" on screen).
    """
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.size == 0 or not np.isfinite(p).all():
        raise PredictionError("the network's output is not a number: its weights hold NaN or infinite values")
    top = int(np.argmax(p))
    label = str(classes[top]) if classes is not None and len(classes) == p.size else str(top)
    return Reading(top, label, float(p[top]), bool(p[top] >= min_confidence))
