"""The session: the current model, its weights, where they came from, and what a run does to them.

Qt-free and thread-free; the application itself. The window and ``cnn-gui train`` hold one
:class:`Session` each and call the same methods: switch the model, re-initialise, use the
pretrained weights, adopt opened weights (:mod:`cnn_gui.core.weights`), plan a new or a
resumed run (:mod:`cnn_gui.core.training.plan`), record its epochs, finish it, save.
Every change is announced on :attr:`Session.changed` with a :class:`SessionChange` saying
what a view must redraw; the window connects once and never redraws by hand.

Its rules, tested in ``tests/core/test_session.py``:

- Every set of weights has a :class:`Provenance`: untrained, pretrained, trained in a
  run of this session, opened from a file, or re-initialised, with its last test
  accuracy and the file that keeps it (a checkpoint, a run folder's checkpoint).
- One :class:`Normalization` (mean, std, classes) travels with the weights: the one they
  were trained with. Predictions, checkpoints and the Test set use it.
- Nothing trained is lost silently: :attr:`Session.unsaved` says when the current
  weights exist nowhere but in memory (never saved, or their file was deleted or moved
  since: the Runs tab's Delete, :meth:`files_removed`, or by hand), and the window asks
  before replacing them. cnn-gui never moves a run folder (:meth:`run_renamed`).
- A run is planned here: new weights from the seed, the current weights
  (:meth:`plan_run`), or the loaded session continued (:meth:`plan_resume`; the epoch
  count is the run's total, see :func:`~cnn_gui.core.training.plan.resume_total`). A run
  stopped before it tested its weights does not replace tested weights: :meth:`finish_run`
  keeps the better.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.events import Emitter
from cnn_gui.core.model.models import ModelSpec
from cnn_gui.core.training.plan import RunPlan, resume_total
from cnn_gui.core.weights import Normalization, OpenedWeights, Provenance, Source, Weights

if TYPE_CHECKING:
    from cnn_gui.core.analysis.predictor import Predictor
    from cnn_gui.core.files.checkpoints import Checkpoint, CheckpointMeta
    from cnn_gui.core.training.engine import Trainer
    from cnn_gui.core.events import EpochEnded, FitEnded


@dataclass(frozen=True)
class SessionChange:
    """What changed, so that each view redraws only what it shows."""

    tree: bool = False  # another model object (or architecture): the structure tree
    same_structure: bool = False  # with tree: the same architecture, so the tree keeps its rows and selection
    weights: bool = False  # other weight values: predictions, analysis views, the weights label
    history: bool = False  # the curves: redraw them from the session's history
    label: bool = False  # only the weights label (saved, a file that keeps them)
    resume: bool = True  # whether a loaded session can be continued, and from which epoch


EVERYTHING = SessionChange(tree=True, weights=True, history=True, label=True)


class Session:
    """The state the front ends show, and the rules that change it. See the module docstring."""

    def __init__(self, spec: ModelSpec, model: nn.Module, provenance: Provenance | None = None) -> None:
        self.current = Weights(spec, model, provenance or Provenance(Source.UNTRAINED))
        self.changed = Emitter()  # SessionChange, after every change
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

    @classmethod
    def of_model(cls, choice: str, seed: int = 0) -> "Session":
        """A session with ``choice``'s model (a registry name or "file.py:Class"), untrained."""
        from cnn_gui.core.model.models import resolve_user_choice

        spec = resolve_user_choice(choice)
        torch.manual_seed(seed)
        return cls(spec, spec.factory())

    @classmethod
    def of_pretrained(cls) -> "Session":
        """A session holding the shipped weights from the start (the window opens with them):
        one model built, where :meth:`of_model` then :meth:`use_pretrained` build two. Raises
        what reading the file raises (a damaged install)."""
        from cnn_gui.core.weights import open_weights

        torch.manual_seed(0)  # as of_model: "Initialise parameters…" after start gives the same weights each time
        opened = open_weights(None)
        session = cls(opened.spec, opened.model)
        session.current = opened.as_weights(Source.PRETRAINED)  # nobody observes it yet: no event
        return session

    @classmethod
    def of_weights(cls, opened: OpenedWeights) -> "Session":
        """A session holding weights opened from a file (the CLI's ``--checkpoint`` and ``--resume``)."""
        session = cls(opened.spec, opened.model)
        session.open(opened)
        return session

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
        norm = own if own is not None else Normalization.default_for(self.dataset)
        return norm.for_outputs(self.spec.num_classes)  # one name per output, whatever the file said

    @property
    def unsaved(self) -> bool:
        """True when weights worth keeping exist only in memory (replacing them loses work):
        trained here or opened from a file, and no regular file keeps them now (never saved,
        or the file was deleted or moved since, by the Runs tab or by hand)."""
        p = self.provenance
        return p.source in (Source.TRAINED, Source.FILE) and not _is_regular_file(p.kept_in)

    def kept_only_in(self, folders) -> bool:
        """Whether the one file known to keep the current weights lies in one of ``folders``
        (run folders about to be deleted: the weights would be unsaved then)."""
        p = self.provenance
        return p.source in (Source.TRAINED, Source.FILE) and _inside(p.kept_in, folders)

    @property
    def resumable(self) -> bool:
        return self.checkpoint is not None

    def resume_epochs(self) -> int | None:
        """The epoch a loaded session stopped at, or None when there is nothing to resume."""
        return self.checkpoint.meta.epoch if self.checkpoint is not None else None

    def resume_point(self) -> str | None:
        """Where the loaded session resumes, in words ("step 216 (epoch 1 of 3, not finished)",
        "the end of epoch 2"); None when there is nothing to resume."""
        from cnn_gui.core.files.checkpoints import resume_point

        return resume_point(self.checkpoint.meta) if self.checkpoint is not None else None

    def default_resume_total(self) -> int | None:
        """The total a resumed run trains to when not told: the rest of its plan, or one more epoch."""
        if self.checkpoint is None:
            return None
        meta = self.checkpoint.meta
        return resume_total(meta.epoch, meta.train_config.epochs, None)

    def predictor(self, model: nn.Module | None = None) -> "Predictor":
        """A frozen copy of ``model`` (default: the current weights) that reads images as they expect."""
        return self.normalization.predictor(model if model is not None else self.model, self.spec.input_shape)

    # ------------------------------------------------------------------ changing the weights
    def _set(self, weights: Weights, change: SessionChange) -> None:
        self.current = weights
        self.changed.emit(change)

    def new_model(self, spec: ModelSpec, model: nn.Module) -> None:
        """Another architecture, untrained."""
        self._forget_sessions()
        self._set(Weights(spec, model, Provenance(Source.UNTRAINED)), EVERYTHING)

    @staticmethod
    def prepare_model(choice: str, seed: int = 0) -> tuple[ModelSpec, nn.Module]:
        """The first half of :meth:`switch_model`, which touches no session: ``choice`` resolved
        (a user's file imported and checked) and its model built from ``seed``.

        It may run off the GUI thread (the window runs a user's file on a job, with a bound,
        because that file may loop); :meth:`new_model` adopts the result. ``seed`` seeds torch's
        global generator, as building any model does.
        """
        from cnn_gui.core.model.models import resolve_user_choice

        spec = resolve_user_choice(choice)
        torch.manual_seed(seed)
        return spec, spec.factory()

    def switch_model(self, choice: str, seed: int = 0) -> ModelSpec:
        """The model ``choice`` (a registry name or "file.py:Class": the user chose it, so a
        user's file may be imported), untrained; ModelError or whatever that file raises.
        :meth:`prepare_model`, then :meth:`new_model`."""
        spec, model = self.prepare_model(choice, seed)
        self.new_model(spec, model)
        return spec

    def reinitialize(self, scheme: str) -> None:
        """Re-initialise the current model in place (``structure.initialize``); ValueError for an unknown scheme."""
        from cnn_gui.core.model.structure import initialize

        initialize(self.model, scheme)
        self._forget_sessions()
        self._set(Weights(self.spec, self.model, Provenance(Source.REINITIALISED, scheme)),
                  SessionChange(weights=True, history=True, label=True))

    def use_pretrained(self, opened: OpenedWeights | None = None) -> None:
        """The shipped weights (or ``opened`` as such), whatever the session holds now (switches model if needed).

        Copied into the current model object when it is already that architecture, so the
        modules the user froze stay frozen. Raises (a damaged install) before anything changes.
        """
        from cnn_gui.core.weights import open_weights

        if opened is None:
            opened = open_weights(None)
        switch = self.spec is not opened.spec
        model = opened.model
        if not switch:
            with torch.no_grad():
                self.model.load_state_dict(opened.model.state_dict())  # the object the tree shows
            model = self.model
        self._forget_sessions()
        weights = replace(opened.as_weights(Source.PRETRAINED), model=model)
        self._set(weights, SessionChange(tree=switch, weights=True, history=True, label=True))

    def pretrained_unreadable(self) -> None:
        """The pretrained file could not be read: untrained weights say why."""
        if self.provenance.source is Source.UNTRAINED:
            self._set(replace(self.current, provenance=Provenance(Source.UNTRAINED, "pretrained file unreadable")),
                      SessionChange(label=True))

    def open(self, opened: OpenedWeights, detail: str | None = None) -> None:
        """Weights from a file (:mod:`cnn_gui.core.weights`); a whole session can be resumed.
        ``detail``: what the label names instead of the file's name (a run's: "run <its name>")."""
        self._forget_sessions()
        if opened.resumable:
            self.checkpoint = opened.checkpoint
        weights = opened.as_weights(Source.FILE, fallback=self.current)
        if detail:
            weights = replace(weights, provenance=replace(weights.provenance, detail=detail))
        self._set(weights, EVERYTHING)

    def _forget_sessions(self) -> None:
        self.checkpoint = None
        self.trainer = None

    # ------------------------------------------------------------------ runs
    def plan_run(self, config: TrainConfig, *, fresh: bool, data=None) -> RunPlan:
        """A run of ``config`` from new weights (``fresh``, from the seed) or the current ones.

        ``data``: the dataset when it is already loaded (its normalisation is the run's).
        """
        config = config.with_(model=self.spec.name).validate()
        self._begin_run()
        normalization = Normalization.of_data(data) if data is not None else Normalization.of_dataset(config.dataset)
        model = self.model
        if fresh:
            from cnn_gui.core.model.structure import seeded_like

            model = seeded_like(self.spec.factory, config.seed, self.model)  # frozen modules stay frozen
        else:
            self._before_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self._run_model = model
        self.checkpoint = None
        # The run's weights: no history yet; the canvas keeps the previous ones until an epoch ends.
        self.current = Weights(self.spec, model, Provenance(Source.TRAINED, f"run {self.runs}", epoch=0),
                               normalization, config.dataset, [])
        self.changed.emit(SessionChange(tree=fresh, same_structure=True, history=True, resume=False))
        return RunPlan(config, self.spec, model, None, fresh=fresh)

    def plan_resume(self, epochs: int | None = None, *, device: str | None = None, max_batches: int | None = None,
                    report_interval: float | None = None, cuda_graph: bool | None = None,
                    compile: bool | None = None) -> RunPlan:
        """Continue the loaded session up to ``epochs`` in total (None: :meth:`default_resume_total`).

        The saved recipe (rate, batch size, schedule, seed...) is kept: only the length of
        the run and where and how it runs may change. ConfigError when there is no session
        to continue or ``epochs`` is not above the epochs it has.
        """
        from cnn_gui.core.config import ConfigError

        if self.checkpoint is None:
            raise ConfigError("no loaded session to continue: open a checkpoint saved by a run first")
        meta = self.checkpoint.meta
        done, saved = meta.epoch, meta.train_config
        overrides = {"epochs": resume_total(done, saved.epochs, epochs), "device": device,
                     "max_batches": max_batches, "report_interval": report_interval, "cuda_graph": cuda_graph,
                     "compile": compile}
        run_config = saved.with_(model=self.spec.name, **{k: v for k, v in overrides.items() if v is not None})
        run_config = run_config.validate()  # checked before anything changes: a file's config that cannot run
        checkpoint = self.checkpoint
        self._begin_run()
        self._start_epoch = done
        self._start_step = int((meta.training or {}).get("step", 0) or 0)
        # From the first epoch on these are the run's weights, not the file's any more.
        prov = Provenance(Source.TRAINED, f"run {self.runs}", epoch=done or None,
                          test_accuracy=self.provenance.test_accuracy)
        self.current = replace(self.current, provenance=prov, normalization=Normalization.of_meta(meta))
        self.changed.emit(SessionChange(history=True, resume=False))
        return RunPlan(run_config, self.spec, None, checkpoint, fresh=False)

    def _begin_run(self) -> None:
        self._before_run = self.current
        self._before_checkpoint = self.checkpoint
        self._before_state = None
        self._run_model = None
        self._start_epoch = 0
        self._start_step = 0
        self.runs += 1

    def run_started(self, trainer: "Trainer") -> None:
        """The run's trainer has loaded its data and started.

        A run of new or current weights reads images as its data does from now on: its epoch
        snapshots on the canvas get the folder's classes, statistics and preparation, not
        MNIST's (the window loads the data on the training thread, after :meth:`plan_run`).
        If the trainer built the network with another number of outputs for its data
        (:meth:`RunPlan.for_data`: a 3-class folder), the session, and so the tree, now hold
        that network. A resumed session keeps what its file says.
        """
        if self._run_model is None:
            return
        self.current = replace(self.current, normalization=Normalization.of_data(trainer.data))
        if trainer.model is not self.model and trainer.spec is not self.spec:
            self._run_model = trainer.model
            self.current = replace(self.current, spec=trainer.spec, model=trainer.model)
            self.changed.emit(SessionChange(tree=True, resume=False))

    def record_epoch(self, event: "EpochEnded") -> None:
        """An epoch of the run ended (its curves are drawn by whoever follows the run)."""
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
        if not self._adoptable(trainer, end, kept_in):
            self.run_failed()
            return False
        self._end_run()
        self.trainer = trainer
        self.checkpoint = None  # the run's trainer holds the session now (Save writes it)
        history = [dict(h) for h in trainer.history]
        acc = history[-1]["test_accuracy"] if history else None
        mid_epoch = end.reason != "completed" and trainer.position.batch > 0
        prov = Provenance(Source.TRAINED, self.provenance.detail, epoch=trainer.position.epoch or None,
                          step=trainer.position.step if mid_epoch else None, test_accuracy=acc, kept_in=kept_in)
        # What the weights were trained with (a folder: dataset's own classes and statistics).
        weights = replace(self.current, spec=trainer.spec, model=trainer.model, provenance=prov, history=history,
                          normalization=Normalization.of_data(trainer.data))
        # A completed run's last epoch is already in every view (its snapshot, its curves).
        self._set(weights, SessionChange(tree=True, weights=end.reason != "completed", label=True))
        return True

    def _adoptable(self, trainer: "Trainer", end: "FitEnded", kept_in: str | None) -> bool:
        before = self._before_run
        if end.reason == "failed":
            return False
        if self._run_model is not None and trainer.model is not self._run_model:
            return False
        new_epochs = trainer.position.epoch - self._start_epoch
        mid_epoch = end.reason != "completed" and trainer.position.batch > 0
        trained = new_epochs > 0 or trainer.position.step > self._start_step
        tested_before = before is not None and before.provenance.test_accuracy is not None
        return not (before is not None and end.reason != "completed" and new_epochs <= 0 and (
            not trained or (mid_epoch and tested_before and kept_in is not None)))

    def run_failed(self) -> None:
        """The run's weights are not adopted: those from before it come back, values and loaded session too."""
        before = self._before_run
        if before is not None:
            if self._before_state is not None:
                with torch.no_grad():
                    before.model.load_state_dict(self._before_state)
            self.checkpoint = self._before_checkpoint
            self._end_run()
            # The curves keep showing the run that just ended (its steps, no tested epoch), not
            # the history of the weights that come back.
            self._set(before, replace(EVERYTHING, history=False))
        else:
            self._end_run()
            self.changed.emit(EVERYTHING)

    def _end_run(self) -> None:
        self._before_run = None
        self._before_checkpoint = None
        self._before_state = None
        self._run_model = None

    def files_removed(self, paths) -> bool:
        """Files or folders were deleted (the Runs tab's Delete): weights kept only there (now
        or given back by a failing run) are unsaved. True when the current weights were."""
        def forget(weights: Weights) -> Weights | None:
            kept = weights.provenance.kept_in
            if kept is None or _is_regular_file(kept) or not _inside(kept, paths):
                return None
            p = weights.provenance  # a file's label says it is gone: "file run best, deleted"
            detail = f"{p.detail}, deleted" if p.source is Source.FILE else p.detail
            return replace(weights, provenance=replace(p, kept_in=None, detail=detail))

        if self._before_run is not None:
            self._before_run = forget(self._before_run) or self._before_run
        forgotten = forget(self.current)
        if forgotten is not None:
            self._set(forgotten, SessionChange(label=True, resume=False))
        return forgotten is not None

    def run_renamed(self, folder: str | Path, name: str) -> None:
        """A run got another display name (its folder keeps its own): weights opened from it
        are labelled "run <name>" (see :meth:`open`), so the label follows."""
        from cnn_gui.core.errors import one_line

        p = self.provenance
        if (p.source is Source.FILE and p.detail.startswith("run ") and p.kept_in is not None
                and _inside(p.kept_in, [folder])):
            self._set(replace(self.current, provenance=replace(p, detail=f"run {one_line(name, 60)}")),
                      SessionChange(label=True, resume=False))

    def mark_saved(self, path: str | Path) -> None:
        """The current weights are in ``path`` now; opened weights whose file was deleted
        (:meth:`files_removed`) are labelled by the new file."""
        p = self.provenance
        detail = Path(path).name if p.source is Source.FILE and p.kept_in is None else p.detail
        self._set(replace(self.current, provenance=replace(p, kept_in=str(path), detail=detail)),
                  SessionChange(label=True, resume=False))

    # ------------------------------------------------------------------ saving
    def checkpoint_meta(self, config: TrainConfig) -> "CheckpointMeta":
        """What a checkpoint or an export of the current weights says about them
        (:func:`~cnn_gui.core.files.session_meta.current_meta`)."""
        from cnn_gui.core.files.session_meta import current_meta

        return current_meta(self, config)

    def save(self, path: str | Path, config: TrainConfig) -> Path:
        """Write the current weights: a finished run's whole session, a loaded session, or weights."""
        from cnn_gui.core.files.checkpoints import save_checkpoint

        trainer = self.trainer
        if trainer is not None and trainer.model is self.model:
            written = Path(trainer.save_checkpoint(path) or path)
        else:
            state = self.checkpoint.optimizer_state if self.checkpoint is not None else None
            written = Path(save_checkpoint(path, self.model, self.checkpoint_meta(config), state) or path)
        self.mark_saved(written)
        return written

def _is_regular_file(path: str | None) -> bool:
    """Whether ``path`` names a regular file now (a link to one counts); a stat, nothing read."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError, TypeError):  # TypeError: None
        return False


def _inside(path: str | None, places) -> bool:
    """Whether ``path`` is one of ``places`` or lies in one of them (links resolved as far as they exist)."""
    if path is None:
        return False
    real = os.path.realpath(path)
    for place in places:
        top = os.path.realpath(place)
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            return True
    return False
