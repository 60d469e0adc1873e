"""The optimizer and learning-rate schedule a TrainConfig asks for, built the one way the
trainer and the resume check both use."""

from __future__ import annotations

import torch

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.events import RateChanged


def make_optimizer(config: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    # fused (CUDA and CPU: one kernel per step, ~2 ms instead of ~4 ms with foreach for the
    # tutorial CNN on a 2-core CPU) / foreach elsewhere, instead of a Python loop per parameter.
    fast = {"fused": True} if device.type in ("cuda", "cpu") else {"foreach": True}
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **fast)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay or 1e-2, **fast)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                           weight_decay=config.weight_decay, nesterov=config.momentum > 0, **fast)


def make_schedule(config: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int):
    """The one-cycle schedule over ``total_steps`` optimizer steps, or None for a constant rate.

    Its constructor sets the optimizer's rates to step 0's: load a saved optimizer state after it.
    """
    if config.schedule != "onecycle":
        return None
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)


def match_state_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded per-parameter state (Adam's moments...) its parameter's memory layout.

    A checkpoint stores tensors contiguous; a channels_last parameter's moments must be
    channels_last again, since the fused kernels walk parameter, gradient and state as
    one flat buffer each (mismatched strides silently mix up elements).
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state:
                continue
            for key, value in state.items():
                if (isinstance(value, torch.Tensor) and value.shape == p.shape and value.dim() > 0
                        and value.stride() != p.stride()):
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def change_rate(optimizer: torch.optim.Optimizer, scheduler, rate: float) -> float:
    """Train with ``rate`` from the next step; the previous rate (the peak with one-cycle).

    A constant rate is replaced. One-cycle's whole schedule is scaled so that its peak is
    ``rate``: its rate now and every rate it will compute (its per-group ``max_lr``,
    ``initial_lr`` and ``min_lr`` live in the optimizer's groups, so a checkpoint keeps them).
    """
    group = optimizer.param_groups[0]
    if scheduler is None:
        previous = float(group["lr"])
        for g in optimizer.param_groups:
            g["lr"] = rate
        return previous
    previous = float(group["max_lr"])
    factor = rate / previous
    for g in optimizer.param_groups:
        for key in ("lr", "max_lr", "initial_lr", "min_lr"):
            if key in g:
                g[key] = float(g[key]) * factor
    return previous


def rate_changed(trainer, rate: float) -> RateChanged:
    """Apply a rate requested during ``trainer``'s run (:func:`change_rate`) before its next
    step; its config then records ``rate`` as the run's (a checkpoint's recipe, a resume's)."""
    previous = change_rate(trainer.optimizer, trainer.scheduler, rate)
    trainer.config = trainer.config.with_(lr=rate)
    return RateChanged(trainer.position.step, rate, previous)
