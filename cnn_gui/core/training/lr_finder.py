"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates for Training Neural
Networks", section 3.3) and the rate it suggests.

On a *copy* of the model, the rate grows exponentially from ``start`` to ``end`` over
``steps`` training batches; the loss is smoothed (an exponential moving average with bias
correction, ``beta`` 0.98, as fastai's recorder does) and the test stops once the smoothed
loss is ``diverge`` times its lowest or not finite. The model passed in, the global random
state and the optimizer of any run are left as they were.

The suggestion is fastai's ``valley`` rule (fastai ``callback/schedule.py``; the most
robust of its rules in its authors' comparison): the longest stretch over which the
smoothed loss keeps falling, and a point two thirds down it. The first tenth of the points
and the last five are not considered, as in fastai (the warm-up and the blow-up).
``torch-lr-finder``'s steepest-gradient point is not used: a single spike fools it.

Used by ``cnn-gui lr-find`` and the window's *Find…* button beside the learning rate.
"""

from __future__ import annotations

import copy
import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn

from cnn_gui.core.config import ConfigError, TrainConfig
# The range's defaults live in the torch-free config: the CLI's parser shows them in its help,
# and building it must not import torch (the window shows before torch has loaded).
from cnn_gui.core.config import LR_FIND_END as END_LR, LR_FIND_START as START_LR, LR_FIND_STEPS as STEPS
from cnn_gui.core.devices import resolve_device
from cnn_gui.core.model.structure import freeze_batchnorm_stats
from cnn_gui.core.training.optim import make_optimizer

if TYPE_CHECKING:
    from cnn_gui.core.data.image_dataset import ImageDataset
    from cnn_gui.core.session import Session
    from cnn_gui.core.training.plan import RunPlan

BETA = 0.98
DIVERGE = 4.0
SKIP_END = 5  # fastai's: the last points, where the loss is blowing up, are never suggested

# progress(step done, steps, rate, smoothed loss)
Progress = Callable[[int, int, float, float], None]


@dataclass(frozen=True)
class LrFinding:
    """What the range test saw: one point per batch trained."""

    rates: np.ndarray  # float64 (n,): the rate of each batch
    losses: np.ndarray  # float64 (n,): the smoothed loss after it
    raw: np.ndarray  # float64 (n,): the batch's own loss
    suggestion: float | None  # None when too few points fell
    ended: str  # "diverged" | "finished" | "cancelled"

    @property
    def suggestion_index(self) -> int | None:
        if self.suggestion is None:
            return None
        return int(np.argmin(np.abs(np.log(self.rates) - math.log(self.suggestion))))

    def summary(self) -> str:
        """One line: how far it went and what it suggests."""
        how = {"diverged": "stopped when the loss diverged", "finished": "reached the last rate",
               "cancelled": "cancelled"}[self.ended]
        said = f"suggested learning rate: {self.suggestion:.3g}" if self.suggestion is not None else \
            "no suggestion (the loss never fell for long enough)"
        top = f"{self.rates[-1]:.3g}" if len(self.rates) else "-"
        return f"{said} ({len(self.rates)} batches from {self.rates[0]:.3g} to {top}, {how})" if len(self.rates) \
            else said


def valley(losses: np.ndarray) -> int | None:
    """fastai's ``valley``: the index two thirds down the longest run of falling losses (a
    longest decreasing subsequence), or None when no two points fall."""
    n = len(losses)
    if n < 2:
        return None
    lengths = [1] * n
    best_start, best_end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lengths[i] < lengths[j] + 1:
                lengths[i] = lengths[j] + 1
            if lengths[best_end] < lengths[i]:
                best_end = i
                best_start = best_end - lengths[best_end]
    if best_end == 0:
        return None
    sections = (best_end - best_start) / 3
    return max(0, min(n - 1, best_start + int(sections) + int(sections / 2)))


def suggest(rates: np.ndarray, losses: np.ndarray) -> float | None:
    """The rate :func:`valley` picks, after fastai's trimming of the ends."""
    n = len(losses)
    lo, hi = n // 10, n - SKIP_END
    finite = np.isfinite(losses[lo:hi]) if hi > lo else np.zeros(0, bool)
    cut = lo + (int(np.argmin(finite)) if not finite.all() else len(finite))
    index = valley(losses[lo:cut])
    return None if index is None else float(rates[lo + index])


def rate_at(step: int, steps: int, start: float, end: float) -> float:
    return start * (end / start) ** (step / max(1, steps - 1))


def find_lr(model: nn.Module, data: "ImageDataset", config: TrainConfig, *, start: float = START_LR,
            end: float = END_LR, steps: int = STEPS, diverge: float = DIVERGE, beta: float = BETA,
            cancel: threading.Event | Callable[[], bool] | None = None,
            progress: Progress | None = None) -> LrFinding:
    """The range test for ``model`` (not changed: a copy trains) on ``data``'s training split,
    with ``config``'s optimizer, batch size, seed and device. ConfigError for a range that
    makes no sense or a model with nothing to train."""
    if not (0 < start < end) or not math.isfinite(end):
        raise ConfigError(f"the rates must grow: from {start:g} to {end:g}")
    if steps < 10:
        raise ConfigError(f"the range test needs at least 10 batches, not {steps}")
    if data.train_size == 0:
        raise ConfigError(f"{data.title} has no training images to try the rates on")
    stopped = _stop_check(cancel)
    device = resolve_device(config.device)
    trial = copy.deepcopy(model).to(device)
    trial.train()
    freeze_batchnorm_stats(trial)  # a frozen module's BatchNorm keeps its statistics, as in training
    params = [p for p in trial.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("every module is frozen: there is nothing to train, so no rate to find")
    optimizer = make_optimizer(config.with_(lr=start), params, device)
    rates, losses, raw = [], [], []
    average, lowest, ended = 0.0, math.inf, "finished"
    # Dropout's draws and the order: the CPU's random state, forked, so the caller's stays as it
    # was (torch.manual_seed would reseed every CUDA device too, which fork_rng([]) does not restore).
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.default_generator.manual_seed(config.seed)
        order = torch.randperm(data.train_size)
        for step in range(steps):
            if stopped():
                ended = "cancelled"
                break
            rate = rate_at(step, steps, start, end)
            for group in optimizer.param_groups:
                group["lr"] = rate
            x, y = _batch(data, order, step, config.batch_size, device)
            loss = nn.functional.cross_entropy(trial(x), y)
            value = float(loss.detach())
            if not math.isfinite(value):
                rates.append(rate)
                raw.append(value)
                losses.append(math.inf)
                ended = "diverged"
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            average = beta * average + (1 - beta) * value
            smoothed = average / (1 - beta ** (step + 1))
            rates.append(rate)
            raw.append(value)
            losses.append(smoothed)
            if progress is not None:
                progress(step + 1, steps, rate, smoothed)
            lowest = min(lowest, smoothed)
            if step > 0 and smoothed > diverge * lowest:
                ended = "diverged"
                break
    rates_a, losses_a = np.asarray(rates, np.float64), np.asarray(losses, np.float64)
    return LrFinding(rates_a, losses_a, np.asarray(raw, np.float64),
                     suggest(rates_a, losses_a) if ended != "cancelled" else None, ended)


def trial_plan(session: "Session", config: TrainConfig, *, fresh: bool, resume: bool) -> "RunPlan":
    """The run Train would start from ``session`` now, planned without beginning it: the
    session does not change (``Session.plan_run`` and ``plan_resume`` begin a run). New
    weights (``fresh``) come from the seed with the modules the user froze, as a run's do;
    current weights are copied; ``resume`` tries the loaded session's own recipe on its
    weights (the trainer loads them). ConfigError when there is nothing to resume."""
    from cnn_gui.core.model.structure import seeded_like
    from cnn_gui.core.training.plan import RunPlan

    if resume:
        if session.checkpoint is None or session.checkpoint.meta.train_config is None:
            raise ConfigError("no loaded session to continue: open a checkpoint saved by a run first")
        saved = session.checkpoint.meta.train_config
        recipe = saved.with_(model=session.spec.name, device=config.device).validate()
        return RunPlan(recipe, session.spec, None, session.checkpoint, fresh=False)
    config = config.with_(model=session.spec.name).validate()
    if fresh:
        model = seeded_like(session.spec.factory, config.seed, session.model)
    else:
        model = copy.deepcopy(session.model)
    return RunPlan(config, session.spec, model, None, fresh=fresh)


def _batch(data: "ImageDataset", order: torch.Tensor, step: int, size: int, device: torch.device):
    """Batch ``step`` of the shuffled training split, starting over when it runs out."""
    n = len(order)
    size = min(size, n)
    first = (step * size) % n
    idx = order[first:first + size]
    if len(idx) < size:
        idx = torch.cat([idx, order[:size - len(idx)]])
    x = data.normalize(data.train_images.index_select(0, idx)).to(device)
    return x, data.train_labels.index_select(0, idx).to(device)


def _stop_check(cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel
