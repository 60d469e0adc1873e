"""What a trainer says about its session: the checkpoint's metadata and the FitStarted event."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnn_gui.core.devices import device_label
from cnn_gui.core.events import FitStarted
from cnn_gui.core.inputs.preparation import Preparation
from cnn_gui.core.model.models import parameter_count
from cnn_gui.core.model.structure import frozen_names

if TYPE_CHECKING:
    from cnn_gui.core.files.checkpoints import CheckpointMeta
    from cnn_gui.core.training.control import Position
    from cnn_gui.core.training.engine import Trainer


def fit_started(trainer: "Trainer", nb: int, precision: str) -> FitStarted:
    """The event that opens a run of ``nb`` batches an epoch (the global batch with several ranks)."""
    cfg, data, dev, pos = trainer.config, trainer.data, trainer.device, trainer.position
    return FitStarted(
        device=str(dev), device_label=device_label(dev), model=cfg.model, dataset=data.name,
        train_size=data.train_size, test_size=data.test_size, batch_size=cfg.batch_size, batches_per_epoch=nb,
        epochs=cfg.epochs, start_epoch=pos.epoch + 1, start_batch=pos.batch,
        parameters=parameter_count(trainer.model), precision=precision, num_classes=len(data.classes))


def meta_of(trainer: "Trainer", saved_scheduler: dict | None, position: "Position") -> "CheckpointMeta":
    """``trainer``'s session as checkpoint metadata, at ``position``; a folder dataset by its name,
    image count and fingerprint, never its path. ``saved_scheduler``: a resumed run's schedule
    state while its scheduler is not made yet."""
    from cnn_gui.core.data.folder_names import recorded_name
    from cnn_gui.core.files.checkpoints import CheckpointMeta

    scheduler = None
    if trainer.scheduler is not None:
        scheduler = {k: v for k, v in trainer.scheduler.state_dict().items()
                     if isinstance(v, (int, float, str, bool, list, type(None)))}
    elif saved_scheduler is not None:
        scheduler = saved_scheduler
    info = trainer.data.info
    return CheckpointMeta(
        architecture=trainer.spec.architecture,
        input_shape=tuple(trainer.spec.input_shape),
        classes=list(trainer.data.classes),
        mean=list(trainer.data.mean),
        std=list(trainer.data.std),
        dataset=recorded_name(trainer.data.name),
        epoch=trainer.position.epoch,
        history=[dict(h) for h in trainer.history],
        config=trainer.config.with_(model=trainer.spec.architecture,  # names, never paths
                                    dataset=recorded_name(trainer.config.dataset)).to_dict(),
        training=position.to_dict(),
        scheduler=scheduler,
        preparation=Preparation.for_shape(info.preparation, info.ink, info.input_shape).to_dict(),
        frozen=frozen_names(trainer.model),
        dataset_images=info.images,
        dataset_fingerprint=info.fingerprint,
    )
