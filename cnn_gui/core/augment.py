"""Random small changes of training images, made on the device, a whole batch at once.

Each image is turned (up to +-10 degrees), scaled (0.9 to 1.1) and shifted (up to +-2 px)
about its centre by one batched ``affine_grid`` / ``grid_sample`` (bilinear), and a random
part of the batch gets thicker strokes (grey-level dilation, a 3x3 max, blended in by a
random amount: 0 to 2 px wider) or thinner ones (grey-level erosion, a 2x2 min of the
image, blended in: 0 to 1 px thinner; a 3x3 one would erase MNIST's 2 px strokes).
Labels are never touched.

Images are float tensors with 0 = empty background (the dataset's uint8 values, as
floats, before normalisation), so the uncovered border is empty canvas.

A digit never leaves the field: the bounding box of each image's ink, widened by the
pixel bilinear sampling may spread it over (and one more for a dilation), is mapped with
the drawn rotation and scale; if it would not fit, the scale is reduced until it does,
and the shift is clamped so that the box stays inside. So a digit that touches no border
touches none after the change, whatever the draws. (On photos whose content fills the
frame, CIFAR-10, that shrinks every image a little.)

Every random number comes from :func:`random_params`: a uniform [0, 1) tensor of
``PARAMS`` numbers per image, drawn from a generator the caller seeds (the engine: from
the run's seed, the epoch and the batch, so a resumed run replays the same changes).
Everything else is deterministic, has fixed shapes and never reads a value back to the
host, so the whole change can be captured in a CUDA graph with the training step.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PARAMS = 6  # per image: angle, scale, shift x, shift y, stroke choice, stroke amount
_SLACK = 1e-3  # px kept free at the edge, so rounding never lets a bilinear weight reach it


@dataclass(frozen=True)
class Ranges:
    degrees: float = 10.0  # rotation, +- this
    scale: float = 0.1  # scale factor 1 +- this
    shift: float = 2.0  # px, +- this, in x and y
    stroke: float = 0.5  # share of images whose strokes change (half thicker, half thinner)


DEFAULT = Ranges()
NONE = Ranges(0.0, 0.0, 0.0, 0.0)


def batch_seed(seed: int, epoch: int, batch: int) -> int:
    """A generator seed for one batch of one epoch of a run, the same whenever it is asked."""
    digest = hashlib.blake2b(f"augment:{seed}:{epoch}:{batch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # manual_seed takes any 63-bit number


def random_params(n: int, generator: torch.Generator, out: torch.Tensor | None = None) -> torch.Tensor:
    """``(n, PARAMS)`` uniform numbers in [0, 1) on ``generator``'s device; into ``out`` if given
    (a CUDA graph's static buffer)."""
    if out is None:
        out = torch.empty(n, PARAMS, device=generator.device)
    return out.uniform_(0.0, 1.0, generator=generator)


def _ink_box(x: torch.Tensor):
    """Centre (x, y) and half sizes of each image's ink bounding box, widened by one pixel
    on each side (the reach of bilinear sampling), relative to the image centre, in px.
    An empty image gets an empty box at the centre."""
    h, w = x.shape[2:]
    rows, cols = x.amax(dim=(1, 3)) > 0, x.amax(dim=(1, 2)) > 0  # (N, H), (N, W): rows, columns with ink

    def span(mask: torch.Tensor, size: int):
        at = torch.arange(size, device=x.device, dtype=torch.float32)
        first = torch.where(mask, at, float(size)).amin(dim=1)
        last = torch.where(mask, at, -1.0).amax(dim=1)
        has = last >= 0
        centre = torch.where(has, (first + last) / 2 - (size - 1) / 2, 0.0)
        half = torch.where(has, (last - first) / 2 + 1, 0.0)
        return centre, half

    (my, hh), (mx, hw) = span(rows, h), span(cols, w)
    return mx, my, hw, hh


def _warp(x: torch.Tensor, u: torch.Tensor, ranges: Ranges, margin: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    angle = (2 * u[:, 0] - 1) * math.radians(ranges.degrees)
    scale = 1 + (2 * u[:, 1] - 1) * ranges.scale
    tx = (2 * u[:, 2] - 1) * ranges.shift
    ty = (2 * u[:, 3] - 1) * ranges.shift
    cos, sin = torch.cos(angle), torch.sin(angle)

    # Forward map, input to output, in px about the centre: p' = scale * R p + t.
    mx, my, hw, hh = _ink_box(x)
    ex = scale * (cos.abs() * hw + sin.abs() * hh)  # half extent of the mapped box
    ey = scale * (sin.abs() * hw + cos.abs() * hh)
    room_x = (w - 1) / 2 - margin - _SLACK  # half of the span the box may cover
    room_y = (h - 1) / 2 - margin - _SLACK
    fit = torch.minimum(room_x / ex.clamp_min(1e-6), room_y / ey.clamp_min(1e-6)).clamp(max=1.0)
    scale, ex, ey = scale * fit, ex * fit, ey * fit
    cx = scale * (cos * mx - sin * my)  # where the box's centre lands
    cy = scale * (sin * mx + cos * my)
    tx = torch.minimum(torch.maximum(tx, -room_x - cx + ex), room_x - cx - ex)
    ty = torch.minimum(torch.maximum(ty, -room_y - cy + ey), room_y - cy - ey)

    # affine_grid wants the inverse (output to input) in coordinates where the image spans
    # [-1, 1]: p = R^T (p' - t) / scale, with px turned into those units per axis.
    inv = 1 / scale
    theta = torch.stack([
        torch.stack([cos * inv, sin * inv * (h / w), -(2 / w) * (cos * tx + sin * ty) * inv], dim=1),
        torch.stack([-sin * inv * (w / h), cos * inv, -(2 / h) * (-sin * tx + cos * ty) * inv], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, [n, c, h, w], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _thicker(x: torch.Tensor) -> torch.Tensor:
    # A 3x3 max, as two 3-wide ones (max_pool2d with stride 1 is ~6x slower on the CPU);
    # padding with 0 is padding with -inf for images that are never negative.
    p = F.pad(x, (1, 1, 1, 1))
    r = torch.maximum(torch.maximum(p[..., :-2], p[..., 1:-1]), p[..., 2:])
    return torch.maximum(torch.maximum(r[..., :-2, :], r[..., 1:-1, :]), r[..., 2:, :])


def _thinner(x: torch.Tensor) -> torch.Tensor:
    # A 2x2 min, padded right and below so that it keeps the size; its half-pixel shift is
    # smaller than the random shifts above.
    p = F.pad(x, (0, 1, 0, 1), value=math.inf)
    r = torch.minimum(p[..., :-1], p[..., 1:])
    return torch.minimum(r[..., :-1, :], r[..., 1:, :])


def augment(x: torch.Tensor, params: torch.Tensor, ranges: Ranges = DEFAULT) -> torch.Tensor:
    """A changed copy of ``x`` (float, (N, C, H, W), 0 = background) by ``params`` (from
    :func:`random_params`, (N, PARAMS)). A range of zero leaves that change out: all zero
    returns a copy of ``x``."""
    if x.dim() != 4 or params.shape != (x.shape[0], PARAMS):
        raise ValueError(f"augment needs images (N, C, H, W) and params (N, {PARAMS}), "
                         f"not {tuple(x.shape)} and {tuple(params.shape)}")
    u = params.to(x.dtype)
    thick = u[:, 4] < ranges.stroke / 2
    thin = ~thick & (u[:, 4] < ranges.stroke)
    if ranges.degrees or ranges.scale or ranges.shift:
        x = _warp(x, u, ranges, margin=thick.to(x.dtype))  # a dilation spreads ink 1 px
    else:
        x = x.clone()
    if ranges.stroke:
        amount = u[:, 5].view(-1, 1, 1, 1)
        changed = torch.where(thick.view(-1, 1, 1, 1), _thicker(x), torch.where(thin.view(-1, 1, 1, 1), _thinner(x), x))
        x = torch.lerp(x, changed, amount)
    return x
