"""A Conv2d's learned weights as pictures.

A first layer's kernels are small images themselves (the tutorial CNN's 16 kernels of
3x3 over one grey channel): :func:`kernel_stack` returns them directly. A deeper layer
has one kernel per (output, input) channel pair, 32x16 = 512 for ``layer2.0``; it is
shown one input channel at a time (``in_channel``: the 32 kernels that read input map
``in_channel``), or summarised as :func:`kernel_norms`, the L2 norm of each kernel in an
``out x in`` matrix (which input maps each filter listens to at all).

Weights are signed: :func:`kernel_grid` tiles them on one symmetric scale, 0.5 = zero
weight, so that a diverging colour map shows positive and negative taps alike.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from cnn_gui.core.analysis.inspection import tile_maps


def conv_weight(model: nn.Module, name: str) -> np.ndarray:
    """The float32 weight (out, in/groups, kh, kw) of the Conv2d called ``name``."""
    try:
        module = model.get_submodule(name)
    except AttributeError:
        raise ValueError(f"no layer named {name!r} in this model") from None
    if not isinstance(module, nn.Conv2d):
        raise ValueError(f"{name!r} is a {type(module).__name__}, not a Conv2d layer")
    with torch.no_grad():
        return module.weight.detach().float().cpu().numpy().copy()


def kernel_stack(weight: np.ndarray, in_channel: int | None = None) -> np.ndarray:
    """Kernels as a stack of 2-D images (count, kh, kw).

    With one input channel (a first layer on grey images) that is every kernel; otherwise
    ``in_channel`` picks the kernels that read that input map (one per output channel).
    """
    w = np.asarray(weight, dtype=np.float32)
    if w.ndim != 4:
        raise ValueError(f"expected a conv weight shaped (out, in, kh, kw), got {w.shape}")
    if in_channel is None:
        if w.shape[1] != 1:
            raise ValueError(f"this layer reads {w.shape[1]} input channels: choose one (0..{w.shape[1] - 1})")
        in_channel = 0
    if not 0 <= in_channel < w.shape[1]:
        raise ValueError(f"input channel {in_channel} is out of range 0..{w.shape[1] - 1}")
    return w[:, in_channel].copy()


def kernel_norms(weight: np.ndarray) -> np.ndarray:
    """The L2 norm of each kernel: float32 (out, in); row = a filter, column = an input map."""
    w = np.asarray(weight, dtype=np.float32)
    return np.sqrt((w.astype(np.float64) ** 2).sum(axis=(2, 3))).astype(np.float32)


def symmetric_scale(values: np.ndarray) -> float:
    """The largest |value|: the colour scale's ends are -scale and +scale."""
    return float(np.abs(values).max()) if values.size else 0.0


def kernel_grid(kernels: np.ndarray, columns: int | None = None, pad: int = 1) -> tuple[np.ndarray, float]:
    """(grid, scale): ``kernels`` (count, kh, kw) tiled into one image in [0, 1], where 0.5
    is a zero weight and 0 / 1 are -scale / +scale (one scale for all: kernels compare);
    NaN in the gaps, as :func:`~cnn_gui.core.analysis.inspection.tile_maps`."""
    k = np.asarray(kernels, dtype=np.float32)
    scale = symmetric_scale(k)
    unit = 0.5 + 0.5 * k / scale if scale > 0 else np.full_like(k, 0.5)
    cols = columns or max(1, math.ceil(math.sqrt(k.shape[0])))
    return tile_maps(unit, columns=cols, pad=pad, scale_each=False), scale
