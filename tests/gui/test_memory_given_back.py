"""Freed memory goes back to the system after each training run and each big job, so the
window's memory stays flat over many runs (core/memory.py; benchmarks/memory_runs.py)."""

import sys

import pytest
import torch

from cnn_gui.core import memory
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.model.models import build_model, get_spec
from cnn_gui.core.training.plan import RunPlan
from cnn_gui.gui.background import jobs as jobs_mod
from cnn_gui.gui.background import training as training_mod
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.background.training import TrainingController


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim; VmRSS")
def test_freed_heap_pages_go_back_to_the_system():
    # 200 MB of small blocks, every other one freed: glibc keeps the holes without a trim
    blocks = [bytearray(64 * 1024 - 64) for _ in range(3200)]
    del blocks[::2]
    before = rss_mb()
    assert memory.give_back_freed_memory() is True
    assert rss_mb() < before - 50
    del blocks


def test_elsewhere_it_says_nothing_was_asked(monkeypatch):
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.give_back_freed_memory() is False


@pytest.mark.slow
def test_a_finished_run_gives_back_memory_once_its_listeners_are_done(qtbot, monkeypatch, mnist_small):
    calls = []
    monkeypatch.setattr(training_mod, "give_back_freed_memory", lambda collect=False: calls.append(("trim", collect)))
    controller = TrainingController()
    order = []
    controller.finished.connect(lambda end: order.append(("finished", list(calls))))
    config = TrainConfig(epochs=1, max_batches=3, batch_size=50)
    with qtbot.waitSignal(controller.finished, timeout=60000):
        controller.start(RunPlan(config, get_spec(config.model), build_model("mnist-cnn"), None, fresh=False),
                         mnist_small)
    # Python's cycles first: a finished run's objects in cycles held ~89 MB per run until then
    qtbot.waitUntil(lambda: calls == [("trim", True)], timeout=5000)
    assert order == [("finished", [])]  # after the listeners, not before
    assert controller.shutdown(10000)


def test_big_jobs_give_back_memory_and_small_ones_do_not(qtbot, monkeypatch):
    calls = []
    monkeypatch.setattr(jobs_mod, "give_back_freed_memory", lambda collect=False: calls.append(("trim", collect)))
    for give_back, collect, expected in ((True, False, [("trim", False)]), (True, True, [("trim", True)]),
                                         (False, False, [])):
        calls.clear()
        runner = JobRunner(give_back_memory=give_back, collect_first=collect)
        with qtbot.waitSignal(runner.finished, timeout=5000):
            runner.submit(lambda: torch.zeros(10).sum().item())
        qtbot.wait(50)
        assert calls == expected
        assert runner.shutdown(5)


def test_the_analysis_views_are_the_big_jobs(qtbot):
    from cnn_gui.gui.analysis.confusion_view import ConfusionView
    from cnn_gui.gui.analysis.embedding_view import EmbeddingView

    for view in (ConfusionView(), EmbeddingView()):
        qtbot.addWidget(view)
        runners = [r for r in view.findChildren(JobRunner)]
        assert runners and all(r.gives_back_memory for r in runners)


@pytest.mark.slow
def test_the_kept_trainer_holds_no_images(qtbot, mnist_small, tmp_path):
    # The window keeps its last run's trainer for Save: not the run's dataset (53 MB for MNIST)
    controller = TrainingController()
    config = TrainConfig(epochs=1, max_batches=3, batch_size=50)
    with qtbot.waitSignal(controller.finished, timeout=60000):
        controller.start(RunPlan(config, get_spec(config.model), build_model("mnist-cnn"), None, fresh=False),
                         mnist_small)
    kept = controller.last_trainer
    assert kept is not None and kept.data.train_size == 0 and kept.data.test_size == 0
    assert kept.data.classes == mnist_small.classes
    kept.save_checkpoint(tmp_path / "kept.safetensors")  # Save still writes the whole session
    assert (tmp_path / "kept.safetensors").stat().st_size > 0
    assert controller.shutdown(10000)
