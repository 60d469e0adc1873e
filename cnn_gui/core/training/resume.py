"""Whether a checkpoint's saved optimizer and schedule fit a model, checked when the file
is opened rather than when a resumed run starts."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.files.checkpoint_meta import CheckpointError
from cnn_gui.core.training.optim import make_optimizer, make_schedule

if TYPE_CHECKING:
    from cnn_gui.core.files.checkpoints import Checkpoint


def check_session_fits(checkpoint: "Checkpoint", model: nn.Module, config: TrainConfig | None = None) -> None:
    """Refuse (CheckpointError) a saved optimizer or scheduler state that does not fit ``model``.

    Builds the run's optimizer and scheduler on the side and loads the saved state into
    them, so an edited ``param_groups``, a state for other parameters or a scheduler
    position of the wrong kind is refused when the file is opened, not when a resumed
    run starts. ``model`` is not changed.
    """
    config = config if config is not None else checkpoint.meta.train_config
    state = checkpoint.optimizer_state
    if config is None or (state is None and checkpoint.meta.scheduler is None):
        return
    name = checkpoint.path.name
    params = [p for p in model.parameters()]
    if state is not None:
        _check_state_shapes(name, state, params)
    try:
        _load_on_the_side(checkpoint, config, params)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever torch says about the state, as one line
        raise CheckpointError(f"{name}: its saved optimizer or scheduler state does not fit this model "
                              f"({type(exc).__name__}: {exc})") from None


def _check_state_shapes(name: str, state: dict, params: list[nn.Parameter]) -> None:
    listed = [i for g in state["param_groups"] for i in g["params"]]
    if sorted(listed) != list(range(len(params))):
        raise CheckpointError(f"{name}: its optimizer state covers {len(listed)} parameters, "
                              f"the model has {len(params)}")
    for index, entries in state["state"].items():
        if not 0 <= index < len(params):
            raise CheckpointError(f"{name}: optimizer state for parameter {index}, which does not exist")
        for key, value in entries.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != params[index].shape:
                raise CheckpointError(f"{name}: optimizer state {key} of parameter {index} has shape "
                                      f"{tuple(value.shape)}, the parameter {tuple(params[index].shape)}")


def _load_on_the_side(checkpoint: "Checkpoint", config: TrainConfig, params: list[nn.Parameter]) -> None:
    """Load the saved states into a fresh optimizer and schedule over CPU copies of ``params``."""
    state = checkpoint.optimizer_state
    shadow = [torch.zeros_like(p, device="cpu").requires_grad_(p.requires_grad) for p in params]
    optimizer = make_optimizer(config, shadow, torch.device("cpu"))
    if state is not None:
        optimizer.load_state_dict(state)
        for group in optimizer.param_groups:
            for key in ("lr", "weight_decay", "eps", "momentum"):
                value = group.get(key)
                if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)
                                              and value >= 0):
                    raise ValueError(f"param_groups {key} is {value!r}")
    saved = checkpoint.meta.scheduler
    if config.schedule == "onecycle" and saved is not None:
        scheduler = make_schedule(config, optimizer, max(1, int(saved.get("total_steps", 1) or 1)))
        scheduler.load_state_dict(dict(saved))
        if not (isinstance(scheduler.last_epoch, int) and isinstance(scheduler.total_steps, int)
                and 0 <= scheduler.last_epoch <= scheduler.total_steps):
            raise ValueError("the scheduler's step count is not a step of its run")
        if scheduler.last_epoch < scheduler.total_steps:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scheduler.step()  # computes a rate from every saved field
