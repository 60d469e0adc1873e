"""A planned run, and the one way both front ends turn it into data, a trainer and a run folder.

:meth:`Session.plan_run` and :meth:`Session.plan_resume` decide *what* a run trains (new
weights, the current ones, or a loaded session continued); this module does the rest
the same way for ``cnn-gui train`` and the window's Train button:
:func:`load_run_data`, :func:`build_trainer`, :meth:`RunPlan.run_writer`.

**What the epoch count means, everywhere:** the total number of epochs the run ends at,
as for a new run. Resuming a session that has trained ``done`` epochs with ``--epochs N``
(or the window's Epochs box) trains epochs ``done + 1`` to ``N``; without a count it
trains the rest of the saved plan, or one more epoch when the plan was finished. A total
not above ``done`` is refused (:func:`resume_total`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from cnn_gui.core.config import ConfigError, TrainConfig
from cnn_gui.core.model.models import ModelSpec

if TYPE_CHECKING:
    from torch import nn

    from cnn_gui.core.data.image_dataset import ImageDataset
    from cnn_gui.core.files.checkpoints import Checkpoint
    from cnn_gui.core.runs.writer import RunWriter
    from cnn_gui.core.training.control import RunControl
    from cnn_gui.core.training.distributed import Group
    from cnn_gui.core.training.engine import Trainer


def resume_total(done: int, planned: int, requested: int | None) -> int:
    """The epoch a resumed run ends at: ``requested`` (a total), else the plan's rest or one more."""
    if requested is None:
        return planned if planned > done else done + 1
    if requested <= done:
        raise ConfigError(f"the session has trained {done} epoch{'s' if done != 1 else ''} already: "
                          f"give a total above {done} to train more (epochs count the whole run)")
    return requested


@dataclass(frozen=True)
class RunPlan:
    """A run as planned by the session: its config, spec, model and (when resuming) checkpoint."""

    config: TrainConfig
    spec: ModelSpec
    model: "nn.Module | None"  # None when resuming: the trainer builds its own from the checkpoint
    checkpoint: "Checkpoint | None"
    fresh: bool  # new weights from the seed: the canvas keeps the old ones until an epoch ends

    @property
    def start_epoch(self) -> int:
        """Epochs already done by the weights the run starts from."""
        return self.checkpoint.meta.epoch if self.checkpoint is not None else 0

    def for_data(self, data: "ImageDataset") -> "RunPlan":
        """This plan with a network of as many outputs as ``data`` has classes.

        New weights (``fresh``) are rebuilt from the seed with that many outputs, keeping
        the modules the user froze. Weights that exist already (the current ones, a resumed
        session) cannot grow or lose outputs: a one-line :class:`ModelError` says so.
        A user's own class must already have that many outputs (:meth:`ModelSpec.with_classes`).
        """
        from cnn_gui.core.model.models import ModelError
        from cnn_gui.core.model.structure import seeded_like

        count = len(data.classes)
        if count == self.spec.num_classes:
            return self
        if not self.fresh or self.model is None:
            raise ModelError(
                f"these weights have {self.spec.num_classes} outputs but {data.title} has {count} classes: "
                "train new weights for it (untick Continue / don't start from the current weights)")
        spec = self.spec.with_classes(count)
        return RunPlan(self.config, spec, seeded_like(spec.factory, self.config.seed, self.model), None, fresh=True)

    def run_writer(self, runs_dir, *, source: str, preset: str | None = None) -> "RunWriter":
        """The run folder's writer; pass it among :func:`build_trainer`'s callbacks."""
        from cnn_gui.core.runs.writer import RunWriter

        resumed_from = str(self.checkpoint.path) if self.checkpoint is not None else None
        return RunWriter(runs_dir, self.config.to_dict(), preset=None if resumed_from else preset, source=source,
                         resumed_from=resumed_from)


def load_run_data(plan: RunPlan, *, data_dir=None, cancel: Callable[[], bool] | None = None,
                  override: "ImageDataset | None" = None, dataset: str | None = None) -> "ImageDataset":
    """The run's dataset (``override``: one a test or benchmark made), sized to the model's input.

    A resumed session's image folder is recorded by its name only: it is found where the
    user says (``dataset``, ``folder:PATH``), else beside the checkpoint's run or among the
    recent runs (:func:`~cnn_gui.core.data.folder_record.locate_folder`); a DatasetError
    says how to give it when it is nowhere. The images found are checked against the
    checkpoint: a folder that changed since says so in the data's ``note``.
    """
    if override is not None:
        return override
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.data.folder_names import is_folder_dataset
    from cnn_gui.core.data.folder_record import checked_against, require_folder

    name, checkpoint = plan.config.dataset, plan.checkpoint
    if checkpoint is not None and is_folder_dataset(name):
        name = require_folder(name, checkpoint.meta, near=checkpoint.path, explicit=dataset)
    data = load_dataset(name, data_dir=data_dir, cancel=cancel, input_shape=tuple(plan.spec.input_shape))
    return checked_against(data, checkpoint.meta) if checkpoint is not None else data


def build_trainer(plan: RunPlan, data: "ImageDataset", callbacks=(), control: "RunControl | None" = None, *,
                  relayed=(), parallel: "Group | None" = None) -> "Trainer":
    """The Trainer for ``plan``. A callback with ``bind`` (a run writer) learns the trainer's config and
    checkpoint; so do the ``relayed`` ones, which the caller calls itself (the window's training thread).
    ``parallel``: this process's rank in a data-parallel run (:mod:`.distributed`; its callbacks only on rank 0)."""
    from cnn_gui.core.data.folder_names import is_folder_dataset
    from cnn_gui.core.training.engine import Trainer

    callbacks = list(callbacks)
    plan = plan.for_data(data)
    config = plan.config  # a resumed run's: the saved recipe with what Session.plan_resume let change
    if is_folder_dataset(config.dataset) and is_folder_dataset(data.name):
        # By its absolute path in memory and in run.json (the user's machine), so that the
        # run's checkpoint finds its folder again; checkpoints record its name only.
        config = config.with_(dataset=data.name)
    trainer = Trainer(config, model=plan.model, data=data, callbacks=callbacks, checkpoint=plan.checkpoint,
                      spec=plan.spec, control=control, parallel=parallel)
    for callback in [*callbacks, *relayed]:
        bind = getattr(callback, "bind", None)
        if bind is not None:
            bind(trainer)
    return trainer
