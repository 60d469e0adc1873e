"""TensorBoard logging as a Trainer callback (optional: needs the ``tensorboard`` package).

Tags: ``accuracy/train`` and ``accuracy/test`` (fractions 0..1) and ``loss/train`` and
``loss/test`` per epoch (x = epoch), ``loss/train_step`` and ``lr`` per reported batch
(x = optimizer step), and the run's config as text. Point ``tensorboard --logdir`` at a
folder holding several runs' log folders to compare them.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from cnn_gui.core.errors import CnnGuiError, one_line
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted

MISSING_MESSAGE = "TensorBoard logging needs the tensorboard package: pip install -e '.[tensorboard]'"


class TensorBoardWriter:
    """Writes a run's curves to ``log_dir`` for TensorBoard. CnnGuiError when it cannot start.

    An error while training (a full disk) never stops the run: logging stops and the
    reason is kept in :attr:`error`.
    """

    def __init__(self, log_dir: str | os.PathLike, config: dict | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise CnnGuiError(MISSING_MESSAGE) from exc
        self.log_dir = Path(log_dir)
        self.error: str | None = None
        try:
            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        except OSError as exc:
            raise CnnGuiError(f"cannot write TensorBoard logs in {self.log_dir}: {exc.strerror or exc}") from exc
        self._closed = False
        if config:
            self._writer.add_text("config", "```\n" + json.dumps(config, indent=1, default=str) + "\n```")

    def __call__(self, event) -> None:
        if self._closed or self.error is not None:
            return
        try:
            self._log(event)
        except Exception as exc:  # the curves are a by-product: never fail the training for them
            self.error = one_line(f"TensorBoard logging in {self.log_dir} stopped: {exc}")

    def _log(self, event) -> None:
        w = self._writer
        if isinstance(event, BatchEnded):
            if math.isfinite(event.loss):
                w.add_scalar("loss/train_step", event.loss, event.step)
            w.add_scalar("lr", event.lr, event.step)
        elif isinstance(event, EpochEnded):
            w.add_scalar("accuracy/train", event.train_accuracy, event.epoch)
            w.add_scalar("accuracy/test", event.test_accuracy, event.epoch)
            w.add_scalar("loss/train", event.train_loss, event.epoch)
            w.add_scalar("loss/test", event.test_loss, event.epoch)
            w.flush()  # each epoch shows in TensorBoard at once
        elif isinstance(event, FitStarted):
            w.add_text("device", f"{event.device_label} ({event.precision})")
        elif isinstance(event, FitFailed):
            w.add_text("failed", f"{event.message} {event.hint}")
        elif isinstance(event, FitEnded):
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._writer.close()
