"""A run's snapshots: its weights at moments of its training, to go back through it.

A run folder's ``snapshots/`` holds one safetensors file per moment, ``step-00000200.safetensors``
(the weights after that many optimizer steps, BatchNorm's statistics included, no optimiser
state), its floating tensors in float16 (for display and for reading a drawing again, not for
resuming: that is the checkpoint's job). Moments: steps 0, 1, 2, 4, ... 512 (how a network
changes most at first), then every :data:`EVERY_AFTER` steps, and each epoch's end. For the
tutorial CNN (2.3 M parameters, 4.7 MB a snapshot) a 3-epoch run keeps 14 of them, 65 MB: with
its checkpoint (28 MB, Adam's state included) the run folder is 94 MB (issue 21: at most 100;
every 300 steps made it 103). Past :data:`MAX_BYTES` only epochs' ends are kept.

:class:`SnapshotKeeper` saves them from the trainer's optimizer (a step post-hook) on the
training thread, atomically; the run writer starts it when the run starts (the weights it
starts from) and saves the epochs' ends. :func:`list_snapshots` and :func:`load_snapshot` read
them back checked (:mod:`~cnn_gui.core.runs.timeline` for the window's slider): names parsed, sizes bounded, never unpickled, every tensor's name and
shape matched against the model before anything is copied into it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from cnn_gui.core.errors import CnnGuiError, one_line
from cnn_gui.core.events import SnapshotSaved

FOLDER = "snapshots"
LOG_UNTIL = 512
EVERY_AFTER = 600  # one MNIST epoch at batch 100; see the module docstring
MAX_BYTES = 120_000_000  # of a run's snapshots; past it, only epochs' ends
MAX_FILE_BYTES = 2_000_000_000
_NAME = re.compile(r"^step-(\d{8})\.safetensors$")
_META_KEY = "cnn_gui_snapshot"


class SnapshotError(CnnGuiError):
    """A snapshot that cannot be read or does not fit the model: one line."""


@dataclass(frozen=True)
class Snapshot:
    step: int  # optimizer steps done when the weights were taken
    epoch: int  # the epoch that step belongs to (1-based); at an epoch's end, that epoch
    path: Path

    def label(self, total_steps: int | None = None) -> str:
        of = f" of {total_steps:,}" if total_steps else ""
        return f"step {self.step:,}{of}, epoch {self.epoch}"


def due(step: int) -> bool:
    """Whether step ``step`` is one of the moments kept (the epochs' ends aside)."""
    if step <= LOG_UNTIL:
        return step == 0 or step & (step - 1) == 0
    return step % EVERY_AFTER == 0


def save_snapshot(run_dir: str | os.PathLike, model: torch.nn.Module, step: int, epoch: int) -> Path:
    """``model``'s weights as snapshot ``step`` of the run in ``run_dir`` (atomically)."""
    from safetensors.torch import save

    from cnn_gui.core.files.safe_io import atomic_write

    tensors = {}
    for name, value in model.state_dict().items():
        value = value.detach().to("cpu")
        tensors[name] = (value.to(torch.float16) if value.is_floating_point() else value).contiguous()
    data = save(tensors, metadata={_META_KEY: json.dumps({"step": int(step), "epoch": int(epoch)})})
    folder = Path(run_dir) / FOLDER
    folder.mkdir(exist_ok=True)
    return atomic_write(folder / f"step-{int(step):08d}.safetensors", data)


def list_snapshots(run_dir: str | os.PathLike) -> list[Snapshot]:
    """The run's snapshots by step; files whose name or header is not a snapshot's are left out."""
    folder = Path(run_dir) / FOLDER
    if not folder.is_dir():
        return []
    found = []
    for entry in os.scandir(folder):
        match = _NAME.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        meta = _header_meta(Path(entry.path))
        if meta is not None and meta.get("step") == int(match.group(1)):
            found.append(Snapshot(int(match.group(1)), int(meta.get("epoch", 0)), Path(entry.path)))
    return sorted(found, key=lambda s: s.step)


def _header_meta(path: Path) -> dict | None:
    """The snapshot's own metadata from its safetensors header (a bounded read), or None."""
    from cnn_gui.core.files.safe_io import open_regular

    try:
        with open_regular(path) as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size <= 1_000_000:
                return None
            header = json.loads(f.read(size))
        meta = json.loads(header.get("__metadata__", {}).get(_META_KEY, "null"))
    except (OSError, ValueError, TypeError, AttributeError, CnnGuiError):  # TypeError: metadata not a string
        return None
    ok = isinstance(meta, dict) and all(isinstance(meta.get(k), int) and meta[k] >= 0 for k in ("step", "epoch"))
    return meta if ok else None


def load_snapshot(snapshot: Snapshot, model: torch.nn.Module) -> None:
    """Copy ``snapshot``'s weights into ``model`` (each in the model's own dtype); SnapshotError,
    with ``model`` unchanged, when the file is not readable or not this model's."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    from cnn_gui.core.files.safe_io import read_regular

    where = one_line(snapshot.path.name, 80)
    try:
        tensors = load(read_regular(snapshot.path, MAX_FILE_BYTES))
    except (OSError, ValueError, RuntimeError, SafetensorError, CnnGuiError) as exc:
        raise SnapshotError(f"snapshot {where} cannot be read: {one_line(exc, 120)}") from None
    state = model.state_dict()
    if set(tensors) != set(state):
        missing = sorted(set(state) - set(tensors))[:3] or sorted(set(tensors) - set(state))[:3]
        raise SnapshotError(f"snapshot {where} is not of this network (e.g. {', '.join(missing)})")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(state[name].shape):
            raise SnapshotError(f"snapshot {where}: {name} has shape {tuple(value.shape)}, the network "
                                f"{tuple(state[name].shape)}")
    with torch.no_grad():
        for name, value in tensors.items():
            state[name].copy_(value.to(state[name].dtype))


class SnapshotKeeper:
    """Keeps ``trainer``'s snapshots in the folder ``folder()`` names (None: not yet, nothing kept)."""

    def __init__(self, trainer, folder: Callable[[], Path | None]) -> None:
        self.trainer = trainer
        self.folder = folder
        self.bytes = 0
        self.kept: set[int] = set()
        self.error: str | None = None

    def attach(self) -> "SnapshotKeeper":
        """Keep the weights the run starts from now, and the moments :func:`due` names as it trains."""
        self.keep(self.trainer.position.step, self.trainer.position.epoch + 1)
        self.trainer.step_hooks.append(self.trainer.optimizer.register_step_post_hook(self._after_step))
        return self

    def _after_step(self, *_args) -> None:
        # After the step, before the trainer counts it: the weights after ``step`` steps, and
        # BatchNorm's statistics after as many batches (a pre-hook would see the next
        # batch's statistics already: its forward pass runs before the step).
        step = self.trainer.position.step + 1
        if due(step) and self.bytes < MAX_BYTES:
            self.keep(step, self.trainer.position.epoch + 1)

    def keep(self, step: int, epoch: int) -> None:
        """Snapshot ``step`` now (once); a failure is said once and never stops training."""
        folder = self.folder()
        if folder is None or step in self.kept or self.error is not None:
            return
        try:
            path = save_snapshot(folder, self.trainer.model, step, epoch)
        except (OSError, CnnGuiError) as exc:
            self.error = one_line(f"snapshots stopped: {exc}")
            return
        self.kept.add(step)
        self.bytes += path.stat().st_size
        event = SnapshotSaved(int(step), int(epoch), str(path))
        for callback in list(self.trainer.callbacks):  # the window's slider hears of it (a writer ignores it)
            callback(event)
