"""TrainingController/TrainingWorker: a real (tiny) fit on a worker thread, seen from the GUI thread."""

import threading

import numpy as np
import pytest
import torch

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitStarted
from cnn_gui.core.model.models import build_model, get_spec
from cnn_gui.core.training.plan import RunPlan
from cnn_gui.gui.background.training import TrainingController, state_dict_arrays

TINY = TrainConfig(epochs=2, max_batches=5, batch_size=50)


def plan(config, model):
    """A run of ``config`` on ``model`` as the session plans it (the current weights, not new ones)."""
    return RunPlan(config, get_spec(config.model), model, None, fresh=False)


@pytest.fixture
def controller(qtbot):
    c = TrainingController()
    yield c
    assert c.shutdown(10000)
    assert not c.threads_alive()


def record(controller):
    log = []
    threads = []
    for name in ("started", "progress", "epochEnded", "weightsSnapshot", "failed", "finished"):
        def slot(payload, name=name):
            log.append((name, payload))
            threads.append(threading.current_thread() is threading.main_thread())
        getattr(controller, name).connect(slot)
    return log, threads


@pytest.mark.slow
def test_tiny_fit_emits_events_in_order(qtbot, controller, mnist_small):
    log, on_main = record(controller)
    torch.manual_seed(0)
    model = build_model("mnist-cnn")
    with qtbot.waitSignal(controller.finished, timeout=60000) as blocker:
        controller.start(plan(TINY, model), mnist_small)
        assert controller.is_running()
    end = blocker.args[0]
    assert isinstance(end, FitEnded) and end.reason == "completed" and end.epochs_completed == 2
    assert all(on_main), "every signal must arrive on the GUI thread"

    names = [n for n, _ in log]
    assert names[0] == "started" and names[-1] == "finished"
    assert "failed" not in names
    assert isinstance(log[0][1], FitStarted)
    # Per epoch: progress..., epochEnded, weightsSnapshot.
    compact = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    assert compact == ["started", "progress", "epochEnded", "weightsSnapshot",
                       "progress", "epochEnded", "weightsSnapshot", "finished"]
    progress = [p for n, p in log if n == "progress"]
    assert all(isinstance(p, BatchEnded) for p in progress)
    assert progress[-1].batch == progress[-1].batches_per_epoch  # the last batch always arrives
    epochs = [p for n, p in log if n == "epochEnded"]
    assert [e.epoch for e in epochs] == [1, 2] and all(isinstance(e, EpochEnded) for e in epochs)

    snapshots = [p for n, p in log if n == "weightsSnapshot"]
    for snap in snapshots:
        assert isinstance(snap, dict)
        assert set(snap) == set(model.state_dict())
        assert all(isinstance(v, np.ndarray) for v in snap.values())
    # The last snapshot is the trained model's weights, copied (not shared).
    final = model.state_dict()
    for k, v in snapshots[-1].items():
        assert np.array_equal(v, final[k].detach().cpu().numpy())
    assert not np.shares_memory(snapshots[-1]["fc.0.weight"], final["fc.0.weight"].numpy())

    assert not controller.is_running()
    trainer = controller.last_trainer
    assert trainer is not None and trainer.model is model and len(trainer.history) == 2


@pytest.mark.slow
def test_runs_again_after_finish(qtbot, controller, mnist_small):
    for _ in range(2):
        with qtbot.waitSignal(controller.finished, timeout=60000) as blocker:
            controller.start(plan(TINY.with_(epochs=1), build_model("mnist-cnn")), mnist_small)
        assert blocker.args[0].reason == "completed"
    with pytest.raises(RuntimeError):
        controller.start(plan(TINY, build_model("mnist-cnn")), mnist_small)
        controller.start(plan(TINY, build_model("mnist-cnn")), mnist_small)
    controller.stop()
    qtbot.waitUntil(lambda: not controller.is_running(), timeout=30000)


@pytest.mark.slow
def test_stop_right_after_start(qtbot, controller, mnist_large):
    with qtbot.waitSignal(controller.finished, timeout=30000) as blocker:
        controller.start(plan(TrainConfig(epochs=3, batch_size=50), build_model("mnist-cnn")), mnist_large)
        controller.stop()
    assert blocker.args[0].reason == "stopped"
    assert blocker.args[0].step < 50


@pytest.mark.slow
def test_pause_holds_training_and_stop_wakes_it(qtbot, controller, mnist_large):
    progress = []
    controller.progress.connect(progress.append)
    controller.start(plan(TrainConfig(epochs=3, batch_size=50), build_model("mnist-cnn")), mnist_large)
    qtbot.waitUntil(lambda: len(progress) > 0, timeout=30000)
    controller.pause()
    assert controller.is_paused()
    qtbot.wait(300)  # a batch in flight may still report
    seen = len(progress)
    qtbot.wait(400)
    assert len(progress) == seen
    with qtbot.waitSignal(controller.finished, timeout=10000) as blocker:
        controller.stop()  # must wake the paused run
    assert blocker.args[0].reason == "stopped"


@pytest.mark.slow
def test_error_before_fit_is_a_failed_signal(qtbot, controller, mnist_small):
    failed = []
    controller.failed.connect(failed.append)
    with qtbot.waitSignal(controller.finished, timeout=30000) as blocker:
        # SimpleCNN wants 3x32x32 images; MNIST is 1x28x28: a ConfigError inside the worker.
        controller.start(plan(TINY.with_(model="simple-cnn"), build_model("simple-cnn")), mnist_small)
    assert blocker.args[0].reason == "failed"
    assert len(failed) == 1 and failed[0].kind == "error"
    assert "3x32x32" in failed[0].message
    assert not controller.is_running()


@pytest.mark.slow
def test_shutdown_mid_run_joins_the_thread(qtbot, controller, mnist_large):
    progress = []
    controller.progress.connect(progress.append)
    controller.start(plan(TrainConfig(epochs=3, batch_size=50), build_model("mnist-cnn")), mnist_large)
    qtbot.waitUntil(lambda: len(progress) > 0, timeout=30000)
    assert controller.shutdown(10000)
    assert not controller.is_running()
    assert not controller.threads_alive()


def test_state_dict_arrays_are_contiguous_numpy_copies():
    model = build_model("mnist-cnn").to(memory_format=torch.channels_last)
    arrays = state_dict_arrays(model)
    w = arrays["layer1.0.weight"]
    assert isinstance(w, np.ndarray) and w.flags["C_CONTIGUOUS"]
    assert np.array_equal(w, model.layer1[0].weight.detach().numpy())


@pytest.mark.slow
def test_progress_reaches_the_gui_a_few_times_a_second_not_every_batch(qtbot, controller, mnist_small):
    """Each progress signal repaints the curves and the bar, on a core the run trains on."""
    import statistics
    import time

    from cnn_gui.gui.background.training import PROGRESS_MIN_INTERVAL

    progress, arrived = [], []
    controller.progress.connect(lambda ev: (progress.append(ev), arrived.append(time.perf_counter())))
    torch.manual_seed(0)
    with qtbot.waitSignal(controller.finished, timeout=120000):
        controller.start(plan(TrainConfig(epochs=1, max_batches=100, batch_size=20), build_model("mnist-cnn")),
                         mnist_small)
    assert progress[-1].batch == progress[-1].batches_per_epoch == 100  # the last batch always arrives
    assert len(progress) < 100
    gaps = [b - a for a, b in zip(arrived[:-2], arrived[1:-1])]  # the last one comes whenever the epoch ends
    assert len(gaps) >= 2 and statistics.median(gaps) >= 0.8 * PROGRESS_MIN_INTERVAL
