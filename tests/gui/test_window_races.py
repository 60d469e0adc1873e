"""Races and closing at the wrong moment: no thread left, no exception in any slot.

pytest-qt fails a test on any exception raised in a Qt slot or virtual method, so each
test here also checks that nothing raised while the window was pulled in two directions.
"""

from __future__ import annotations

import threading

import pytest

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.resources import pretrained_checkpoint
from cnn_gui.core.session import Source

pytestmark = pytest.mark.slow  # every test here trains


def our_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("cnn-gui") and t.is_alive()]


@pytest.fixture
def window(make_window, mnist_large):
    w = make_window(data_override=mnist_large)
    w.training_panel.set_config(TrainConfig(epochs=2, batch_size=50))
    return w


def test_open_then_train_keeps_the_run_and_refuses_the_late_file(qtbot, window):
    window.open_checkpoint(pretrained_checkpoint())  # read on a job thread
    assert window.start_training()  # Train before the file arrived
    qtbot.waitUntil(lambda: window.files.jobs.busy() is False, timeout=20000)
    with qtbot.waitSignal(window.controller.finished, timeout=60000):
        window.stop_training()
    assert window.errors and "Stop training before opening" in window.errors[0][1]
    # The file was not adopted; the run stopped before testing, so the tested weights stay.
    assert window.session.provenance.source is Source.PRETRAINED
    qtbot.waitUntil(lambda: not our_threads(), timeout=10000)


def test_train_then_open_is_refused_at_once(qtbot, window):
    with qtbot.waitSignal(window.controller.progress, timeout=60000):
        assert window.start_training()
    with qtbot.waitSignal(window.openFinished, timeout=5000) as blocker:
        window.open_checkpoint(pretrained_checkpoint())
    assert blocker.args == [False] and "Stop training" in window.errors[-1][1]
    with qtbot.waitSignal(window.controller.finished, timeout=60000):
        window.stop_training()


@pytest.mark.parametrize("phase", ["loading", "training", "test pass"])
def test_closing_in_each_phase_leaves_no_thread(qtbot, make_window, mnist_large, phase):
    # "loading": no data_override, so the run loads the bundled MNIST on its thread first.
    window = make_window(data_override=None if phase == "loading" else mnist_large)
    # One batch, then the test pass over 10,000 images: progress arrives just before it starts.
    window.training_panel.set_config(TrainConfig(epochs=3, batch_size=50,
                                                 max_batches=1 if phase == "test pass" else None))
    assert window.start_training()
    if phase != "loading":
        qtbot.waitSignal(window.controller.progress, timeout=60000).wait()
    window.close()
    assert not window.controller.is_running()
    assert not our_threads()


def test_twenty_start_stop_cycles(qtbot, window):
    for _ in range(20):
        with qtbot.waitSignal(window.controller.finished, timeout=30000):
            assert window.start_training()
            window.stop_training()
        assert not window.controller.is_running()
    qtbot.waitUntil(lambda: not our_threads(), timeout=10000)
    assert window.errors == []
