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
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .preprocess import normalize


def _strip_hooks(model: nn.Module) -> None:
    """Drop hooks copied along with the modules: they belong to the live model's viewers
    (activation plots ...), and must not run on the GUI's predictions from this copy."""
    for m in model.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks", "_forward_hooks_with_kwargs",
                     "_forward_pre_hooks_with_kwargs", "_forward_hooks_always_called"):
            hooks = getattr(m, name, None)
            if hooks is not None and hasattr(hooks, "clear"):
                hooks.clear()


def _infer_num_classes(model: nn.Module) -> int | None:
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m.out_features
    return last


class Predictor:
    """Probabilities for one image from a private, frozen CPU copy of ``model``.

    ``predict`` takes the image in [0, 1] as :func:`~cnn_gui.core.preprocess.to_mnist`
    returns it, (H, W) or (C, H, W), and normalises it itself with ``mean``/``std`` (the
    training normalisation), so callers never normalise twice.
    """

    def __init__(
        self,
        model: nn.Module,
        mean: float | Sequence[float] = (0.5,),
        std: float | Sequence[float] = (0.5,),
        classes: Sequence[str] | None = None,
    ) -> None:
        source = getattr(model, "_orig_mod", model)  # a torch.compile()d model: copy the module inside
        with torch.no_grad():
            snapshot = copy.deepcopy(source)
            snapshot = snapshot.to(device="cpu", memory_format=torch.contiguous_format)
        for p in snapshot.parameters():
            p.grad = None  # gradients were copied too; the snapshot never needs them
            p.requires_grad_(False)
        _strip_hooks(snapshot)
        snapshot.eval()
        self._model = snapshot
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

    @property
    def classes(self) -> tuple[str, ...] | None:
        """Class names, index = network output; "0".."N-1" unless given (None if unknown
        until the first prediction)."""
        return self._classes

    @property
    def mean(self) -> tuple[float, ...]:
        return self._mean

    @property
    def std(self) -> tuple[float, ...]:
        return self._std

    def input_tensor(self, img28: np.ndarray) -> torch.Tensor:
        """The (1, C, H, W) tensor the frozen model reads for one image in [0, 1]."""
        return torch.from_numpy(normalize(img28, self._mean, self._std))[None]

    def predict(self, img28: np.ndarray) -> np.ndarray:
        """Softmax probabilities, float32 of shape (num_classes,), for one image in [0, 1]."""
        x = self.input_tensor(img28)
        with torch.inference_mode():
            logits = self._model(x)
            probs = torch.softmax(logits.float().reshape(logits.shape[0], -1)[0], dim=0)
        out = probs.numpy().astype(np.float32, copy=True)
        if self._classes is None or len(self._classes) != out.shape[0]:
            self._classes = tuple(str(i) for i in range(out.shape[0]))
        return out
