"""What a checkpoint or an export of a session's current weights says about them.

One rule for File > Save checkpoint and File > Export model (and so for the export's
metadata): a finished run's weights are described by its trainer (its dataset's image count
and fingerprint included), a loaded session's by its file, and anything else (pretrained,
re-initialised, untrained weights) from the session's own settings.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from cnn_gui.core.model.structure import frozen_names

if TYPE_CHECKING:
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.files.checkpoint_meta import CheckpointMeta
    from cnn_gui.core.session import Session


def current_meta(session: "Session", config: "TrainConfig") -> "CheckpointMeta":
    """The metadata of ``session``'s current weights (``config``: the window's settings, for
    weights no run or file describes)."""
    from cnn_gui.core.files.checkpoint_meta import CheckpointMeta

    trainer = session.trainer
    if trainer is not None and trainer.model is session.model:
        return trainer.checkpoint_meta()
    arch = session.spec.architecture
    if session.checkpoint is not None:  # the loaded session, as opened (any run would have cleared it)
        meta = dataclasses.replace(session.checkpoint.meta, architecture=arch,
                                   history=[dict(h) for h in session.history], frozen=frozen_names(session.model))
        meta.config = dict(meta.config, model=arch)
        return meta
    norm, epochs = session.normalization, len(session.history)
    cfg = config.with_(model=arch, dataset=session.dataset, max_batches=None, epochs=max(config.epochs, epochs, 1))
    return CheckpointMeta(
        architecture=arch, input_shape=tuple(session.spec.input_shape), classes=list(norm.classes),
        mean=list(norm.mean), std=list(norm.std), dataset=session.dataset, epoch=epochs,
        history=[dict(h) for h in session.history], config=cfg.to_dict(), training={"epoch": epochs},
        preparation=norm.preparation.to_dict(), frozen=frozen_names(session.model))
