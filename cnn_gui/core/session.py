"""The session: the current model, its weights, where they came from, and what a run does to them.

Qt-free and thread-free: the window holds one :class:`Session`, asks it what to show and
what to do, and tells it what happened; the CLI uses the same rules for checkpoints
(:meth:`Session.adopt_checkpoint`). Its rules, tested in ``tests/core/test_session.py``:

- Every set of weights has a :class:`Provenance`: untrained, pretrained, trained in a
  run of this session, opened from a file, or re-initialised, with its last test
  accuracy and the file that keeps it (a checkpoint, a run folder's checkpoint).
- One :class:`Normalization` (mean, std, classes) travels with the weights: the one they
  were trained with. Predictions, checkpoints and the Test set use it.
- Nothing trained is lost silently: :attr:`Session.unsaved` says when the current
  weights exist nowhere but in memory (trained in a run whose folder could not be
  written), and the window asks before replacing them.
- A run is planned here (:meth:`plan_run`): new weights from the seed, the current
  weights, or the loaded checkpoint resumed (with the resume arithmetic), and recorded
  here (:meth:`record_epoch`, :meth:`finish_run`). A run stopped before it tested its
  weights does not replace tested weights: :meth:`finish_run` keeps the better.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.formatting import middle_elide, percent  # noqa: F401 - re-exported for the window
from cnn_gui.core.model.models import ModelSpec

if TYPE_CHECKING:
    from cnn_gui.core.files.checkpoints import Checkpoint, CheckpointMeta
    from cnn_gui.core.training.engine import Trainer
    from cnn_gui.core.events import EpochEnded, FitEnded


class Source(Enum):
    UNTRAINED = "untrained"
    PRETRAINED = "pretrained"
    TRAINED = "trained"
    FILE = "file"
    REINITIALISED = "re-initialised"


@dataclass(frozen=True)
class Provenance:
    """Where the current weights came from, in words a user reads on the canvas."""

    source: Source
    detail: str = ""  # file name, initialisation scheme, run name
    epoch: int | None = None  # completed epochs of these weights (trained, file)
    step: int | None = None  # set when a run stopped mid-epoch: these weights are untested
    test_accuracy: float | None = None  # of the last completed epoch
    kept_in: str | None = None  # a file that holds these very weights, if any

    def label(self) -> str:
        acc = f", {percent(self.test_accuracy)} test" if self.test_accuracy is not None else ""
        if self.source is Source.PRETRAINED:
            return f"Weights: pretrained{acc and ' (' + acc[2:] + ')'}"
        if self.source is Source.UNTRAINED:
            return f"Weights: untrained{' (' + self.detail + ')' if self.detail else ''}"
        if self.source is Source.REINITIALISED:
            return f"Weights: re-initialised ({self.detail})"
        if self.source is Source.FILE:
            return f"Weights: file {middle_elide(self.detail)}{acc and ' (' + acc[2:] + ')'}"
        where = f"epoch {self.epoch}" if self.epoch else "no full epoch"
        if self.step is not None:
            return f"Weights: trained now, stopped at step {self.step} ({where}{acc})"
        return f"Weights: trained now, {where}{acc and ' (' + acc[2:] + ')'}"


@dataclass(frozen=True)
class Normalization:
    """What the weights expect of an image: ``(x - mean) / std`` per channel, and the class names."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]

    @classmethod
    def of_dataset(cls, name: str) -> "Normalization | None":
        from cnn_gui.core.data.registry import DATASETS

        info = DATASETS.get(name)
        return None if info is None else cls(tuple(info.mean), tuple(info.std), tuple(info.classes))

    @classmethod
    def of_data(cls, data) -> "Normalization":
        """Of an :class:`~cnn_gui.core.data.image_dataset.ImageDataset` (or its info)."""
        return cls(tuple(data.mean), tuple(data.std), tuple(data.classes))

    @classmethod
    def of_meta(cls, meta: "CheckpointMeta") -> "Normalization":
        return cls(tuple(meta.mean), tuple(meta.std), tuple(meta.classes))


@dataclass
class Weights:
    """One model object with everything that belongs to its weights."""

    spec: ModelSpec
    model: nn.Module
    provenance: Provenance
    normalization: Normalization | None = None  # None: the dataset default (see Session.normalization)
    dataset: str | None = None  # the dataset they were trained on, if known
    history: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class RunPlan:
    """What the controller gets for a run: its config, model and (when resuming) checkpoint."""

    config: TrainConfig
    model: nn.Module | None  # None when resuming: the trainer builds its own from the checkpoint
    checkpoint: "Checkpoint | None"
    fresh: bool  # new weights from the seed: the canvas keeps the old ones until an epoch ends


class Session:
    """The state the window shows, and the rules that change it. See the module docstring."""

    def __init__(self, spec: ModelSpec, model: nn.Module, provenance: Provenance | None = None) -> None:
        self.current = Weights(spec, model, provenance or Provenance(Source.UNTRAINED))
        self.checkpoint: "Checkpoint | None" = None  # a loaded session that Train may resume
        self.trainer: "Trainer | None" = None  # the last run: Save writes its whole session
        self.runs = 0
        self._before_run: Weights | None = None  # what the canvas had when the run started
        self._before_checkpoint: "Checkpoint | None" = None  # the loaded session then (a fresh run drops it)
        # A run from the current weights trains that very model object: a copy of its
        # weights, to put back when the run's weights are not adopted (failed, stopped early).
        self._before_state: dict[str, torch.Tensor] | None = None
        self._run_model: nn.Module | None = None  # the model the run trains (None: resumed, the trainer's own)
        self._start_epoch = 0  # completed epochs of the weights a run starts from
        self._start_step = 0  # optimizer steps already taken by those weights
        self._run_config: TrainConfig | None = None

    # ------------------------------------------------------------------ reading
    @property
    def spec(self) -> ModelSpec:
        return self.current.spec

    @property
    def model(self) -> nn.Module:
        return self.current.model

    @property
    def provenance(self) -> Provenance:
        return self.current.provenance

    @property
    def history(self) -> list[dict]:
        return self.current.history

    @property
    def dataset(self) -> str:
        """The dataset the weights belong to: their own, else the model's default."""
        return self.current.dataset or self.spec.default_dataset

    @property
    def normalization(self) -> Normalization:
        own = self.current.normalization
        if own is not None:
            return own
        return Normalization.of_dataset(self.dataset) or Normalization.of_dataset("mnist")

    @property
    def unsaved(self) -> bool:
        """True when trained weights exist only in memory (replacing them loses work)."""
        p = self.provenance
        return p.source is Source.TRAINED and p.kept_in is None

    @property
    def resumable(self) -> bool:
        return self.checkpoint is not None

    # ------------------------------------------------------------------ operations
    def new_model(self, spec: ModelSpec, model: nn.Module) -> None:
        """Another architecture, untrained."""
        self.current = Weights(spec, model, Provenance(Source.UNTRAINED))
        self._forget_sessions()

    def reinitialize(self, scheme: str) -> None:
        """The current model was re-initialised in place (``structure.initialize``)."""
        self.current = Weights(self.spec, self.model, Provenance(Source.REINITIALISED, scheme))
        self._forget_sessions()

    def adopt_pretrained(self, model: nn.Module, checkpoint: "Checkpoint") -> None:
        meta = checkpoint.meta
        acc = meta.history[-1]["test_accuracy"] if meta.history else None
        self.current = Weights(self.spec, model, Provenance(Source.PRETRAINED, epoch=meta.epoch or None,
                                                             test_accuracy=acc, kept_in=str(checkpoint.path)),
                               Normalization.of_meta(meta), meta.dataset or None, [dict(h) for h in meta.history])
        self._forget_sessions()

    def adopt_checkpoint(self, checkpoint: "Checkpoint", spec: ModelSpec, model: nn.Module) -> None:
        """Weights from a file (already loaded into ``model``); a whole session can be resumed."""
        meta = checkpoint.meta
        self._forget_sessions()
        if checkpoint.is_foreign:  # bare weights of the current architecture: nothing else known
            self.current = Weights(spec, model, Provenance(Source.FILE, checkpoint.path.name,
                                                           kept_in=str(checkpoint.path)),
                                   self.current.normalization, self.current.dataset)
            return
        acc = meta.history[-1]["test_accuracy"] if meta.history else None
        dataset = (meta.config or {}).get("dataset") or meta.dataset or None
        self.current = Weights(spec, model, Provenance(Source.FILE, checkpoint.path.name, epoch=meta.epoch or None,
                                                       test_accuracy=acc, kept_in=str(checkpoint.path)),
                               Normalization.of_meta(meta), dataset, [dict(h) for h in meta.history])
        if meta.config:
            self.checkpoint = checkpoint

    def _forget_sessions(self) -> None:
        self.checkpoint = None
        self.trainer = None
        self._run_config = None

    # ------------------------------------------------------------------ runs
    def resume_epochs(self) -> int | None:
        """The epoch a loaded session stopped at, or None when there is nothing to resume."""
        return self.checkpoint.meta.epoch if self.checkpoint is not None else None

    def plan_run(self, config: TrainConfig, *, fresh: bool, resume_to: int | None = None,
                 data=None) -> RunPlan:
        """Plan a run with ``config``; ``resume_to``: continue the loaded session up to that many epochs.

        Resuming keeps the saved settings and raises the epoch total to ``resume_to`` (at
        least one more epoch than the file has, or the rest of its planned epochs).
        """
        config = config.with_(model=self.spec.name).validate()
        resume = resume_to is not None and self.checkpoint is not None
        if resume:  # checked before anything changes: a file's config that cannot run stops here
            meta = self.checkpoint.meta
            saved = meta.train_config
            done = meta.epoch
            target = max(resume_to, done + 1 if done >= saved.epochs else saved.epochs)
            # The saved recipe (rate, batch size, schedule, seed...): only the length of the
            # run and where and how it runs come from ``config`` (as Trainer.from_checkpoint).
            overrides = {"epochs": target, "device": config.device, "report_interval": config.report_interval}
            if config.max_batches is not None:
                overrides["max_batches"] = config.max_batches
            run_config = saved.with_(model=self.spec.name, **overrides).validate()
        self._before_run = self.current
        self._before_checkpoint = self.checkpoint
        self._before_state = None
        self._run_model = None
        self._start_epoch = 0
        self._start_step = 0
        self.runs += 1
        if resume:
            self._run_config = run_config
            self._start_epoch = done
            self._start_step = int((meta.training or {}).get("step", 0) or 0)
            # From the first epoch on these are the run's weights, not the file's any more.
            prov = Provenance(Source.TRAINED, f"run {self.runs}", epoch=done or None,
                              test_accuracy=self.provenance.test_accuracy)
            self.current = replace(self.current, provenance=prov, normalization=Normalization.of_meta(meta))
            return RunPlan(run_config, None, self.checkpoint, fresh=False)
        normalization = Normalization.of_data(data) if data is not None else Normalization.of_dataset(config.dataset)
        model = self.model
        if fresh:
            from cnn_gui.core.model.structure import copy_trainable

            torch.manual_seed(config.seed)
            model = self.spec.factory()
            copy_trainable(self.model, model)  # modules the user froze stay frozen in new weights
        else:
            self._before_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._run_model = model
        self._run_config = config
        # The run's weights: no history yet; the canvas keeps the previous ones until an epoch ends.
        self.current = Weights(self.spec, model, Provenance(Source.TRAINED, f"run {self.runs}", epoch=0),
                               normalization, config.dataset, [])
        self.checkpoint = None
        return RunPlan(config, model, None, fresh=fresh)

    def record_epoch(self, event: "EpochEnded") -> None:
        history = [h for h in self.current.history if h["epoch"] < event.epoch] + [event.to_dict()]
        prov = replace(self.provenance, epoch=event.epoch, step=None, test_accuracy=event.test_accuracy)
        self.current = replace(self.current, history=history, provenance=prov)

    def finish_run(self, trainer: "Trainer", end: "FitEnded", kept_in: str | None) -> bool:
        """Adopt the run's weights; ``kept_in``: the run folder's checkpoint, if it was written.

        Returns False when the weights from before the run stay instead (a run that
        trained them in place gets them back):
        - the run failed (a NaN loss leaves useless weights);
        - it was stopped before it took a single step (nothing was trained);
        - it was stopped before testing any epoch, the weights before it had a test
          accuracy, and the stopped weights are kept in the run folder (``kept_in``);
        - ``trainer`` is not this run's (its model is not the one the run trains).
        A run stopped after at least one tested epoch is adopted as it stopped (its label
        says "stopped at step ..."): it holds the tested epoch plus more training.
        """
        before = self._before_run
        if end.reason == "failed":
            self.run_failed_with(before)
            return False
        if self._run_model is not None and trainer.model is not self._run_model:
            self.run_failed_with(before)
            return False
        new_epochs = trainer.position.epoch - self._start_epoch
        mid_epoch = end.reason != "completed" and trainer.position.batch > 0
        trained = new_epochs > 0 or trainer.position.step > self._start_step
        tested_before = before is not None and before.provenance.test_accuracy is not None
        if before is not None and end.reason != "completed" and new_epochs <= 0 and (
                not trained or (mid_epoch and tested_before and kept_in is not None)):
            self.run_failed_with(before)
            return False
        self._end_run()
        self.trainer = trainer
        self.checkpoint = None  # the run's trainer holds the session now (Save writes it)
        history = [dict(h) for h in trainer.history]
        acc = history[-1]["test_accuracy"] if history else None
        prov = Provenance(Source.TRAINED, self.provenance.detail, epoch=trainer.position.epoch or None,
                          step=trainer.position.step if mid_epoch else None, test_accuracy=acc, kept_in=kept_in)
        # What the weights were trained with (a folder: dataset's own classes and statistics).
        self.current = replace(self.current, model=trainer.model, provenance=prov, history=history,
                               normalization=Normalization.of_data(trainer.data))
        return True

    def run_failed_with(self, before: "Weights | None") -> None:
        """The weights ``before`` the run come back, with their values and the loaded session."""
        if before is not None:
            state = self._before_state
            if state is not None and before is self._before_run:
                with torch.no_grad():
                    before.model.load_state_dict(state)
            if before is self._before_run:
                self.checkpoint = self._before_checkpoint
            self.current = before
        self._end_run()

    def run_failed(self) -> None:
        """A run that failed before it trained: the previous weights come back."""
        self.run_failed_with(self._before_run)

    def _end_run(self) -> None:
        self._before_run = None
        self._before_checkpoint = None
        self._before_state = None
        self._run_model = None

    def mark_saved(self, path: str | Path) -> None:
        self.current = replace(self.current, provenance=replace(self.provenance, kept_in=str(path)))

    # ------------------------------------------------------------------ saving
    def checkpoint_meta(self, config: TrainConfig) -> "CheckpointMeta":
        """Metadata for the current weights when no run or loaded session describes them."""
        from cnn_gui.core.files.checkpoints import CheckpointMeta

        norm = self.normalization
        epochs = len(self.history)
        cfg = config.with_(model=self.spec.architecture, dataset=self.dataset, max_batches=None,
                           epochs=max(config.epochs, epochs, 1))
        return CheckpointMeta(
            architecture=self.spec.architecture, input_shape=tuple(self.spec.input_shape),
            classes=list(norm.classes), mean=list(norm.mean), std=list(norm.std), dataset=self.dataset,
            epoch=epochs, history=[dict(h) for h in self.history], config=cfg.to_dict(),
            training={"epoch": epochs})

    def save(self, path: str | Path, config: TrainConfig) -> Path:
        """Write the current weights: a finished run's whole session, a loaded session, or weights."""
        import dataclasses

        from cnn_gui.core.files.checkpoints import save_checkpoint

        trainer = self.trainer
        if trainer is not None and trainer.model is self.model:
            written = Path(trainer.save_checkpoint(path) or path)
        elif self.checkpoint is not None:  # the loaded session, as opened (any run would have cleared it)
            meta = dataclasses.replace(self.checkpoint.meta, architecture=self.spec.architecture,
                                       history=[dict(h) for h in self.history])
            meta.config = dict(meta.config, model=self.spec.architecture)
            written = Path(save_checkpoint(path, self.model, meta, self.checkpoint.optimizer_state) or path)
        else:
            written = Path(save_checkpoint(path, self.model, self.checkpoint_meta(config)) or path)
        self.mark_saved(written)
        return written
