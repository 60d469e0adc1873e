"""Training through the streaming path: the in-memory run's accuracy, a file broken mid-run skipped (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnn_gui.core.data import image_folder
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.image_folder import MEMORY_LIMIT_ENV
from cnn_gui.core.events import EpochEnded
from bounded import finishes
from test_image_folder import SHAPES, ShapesNet, draw_shapes


@pytest.fixture(autouse=True)
def fresh_cache():
    image_folder.clear_cache()
    yield
    image_folder.clear_cache()


def train(data, callbacks=()):
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.model.models import ModelSpec
    from cnn_gui.core.training import cpu_threads
    from cnn_gui.core.training.engine import Trainer

    spec = ModelSpec("user:ShapesNet", "ShapesNet", (1, 28, 28), len(SHAPES), data.name, ShapesNet)
    config = TrainConfig(model=spec.name, dataset=data.name, epochs=10, batch_size=16, lr=5e-3,
                         schedule="onecycle", device="cpu", amp=False, seed=0)
    trainer = Trainer(config, data=data, spec=spec, callbacks=callbacks)
    before, torch_before = cpu_threads.training_threads(), torch.get_num_threads()
    cpu_threads.set_training_threads(1)  # as test_shapes_train_to_high_accuracy: tiny batches, a busy machine
    try:
        result = finishes(trainer.fit, 60)
    finally:
        cpu_threads.set_training_threads(before)
        torch.set_num_threads(torch_before)
    assert result.reason == "completed", trainer.error
    return trainer


@pytest.mark.slow
def test_a_folder_over_the_limit_trains_streamed_as_well_as_in_memory(tmp_path, monkeypatch):
    folder = draw_shapes(tmp_path / "shapes", per_class=60)
    memory = train(load_dataset(f"folder:{folder}"))
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "100000")  # 180 images at 1x28x28 need 141,120 bytes
    monkeypatch.setenv("CNN_GUI_STREAM_WORKERS", "2")
    data = load_dataset(f"folder:{folder}")
    broken = Path(data._source.index.paths[7])  # a training image

    def break_one(event):  # a file that becomes unreadable while the run goes on
        if isinstance(event, EpochEnded) and event.epoch == 1:
            broken.write_bytes(b"truncated")

    try:
        streamed = train(data, [break_one])
        assert streamed.data.streamed and "streaming from disk: 180 images" in streamed.data.note
        assert data._source._loader is not None and data._source.failure == ""  # the worker processes decoded
        assert data.skipped == 1 and "skipped 1 unreadable image" in data.note
    finally:
        data.close()
    mem_acc, stream_acc = memory.history[-1]["test_accuracy"], streamed.history[-1]["test_accuracy"]
    assert mem_acc > 0.9 and stream_acc > 0.9 and abs(mem_acc - stream_acc) <= 0.1
    # Before the file broke the two runs read the same images in the same order: the same first epoch.
    assert streamed.history[0]["train_loss"] == pytest.approx(memory.history[0]["train_loss"], rel=1e-5)
