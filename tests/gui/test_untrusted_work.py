"""Work on files the user does not control never holds the window (issue 18).

A user's model file is imported and built on a job thread, with a bound: one that loops
at import leaves the window responsive, and the window gives up waiting after
``model_flow.LOAD_TIMEOUT_S`` (lowered here), keeping its model; a late result is dropped.
The Runs tab reads and writes run folders on job threads: a named pipe, or a read that
blocks (as on a stuck drive), never freezes it.

Every user file here "loops forever" only until its test ends (a stop file, and a
deadline of a few seconds), so that a regression, which would run it on the GUI thread,
fails on a measured time instead of hanging the suite.
"""

import json
import os
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer

from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitStarted
from cnn_gui.core.runs.follower import RunFollower
from cnn_gui.core.runs.layout import EPOCHS_FILE, RUN_FILE
from cnn_gui.core.runs.reader import RunsIndex
from cnn_gui.core.runs.writer import RunWriter
from cnn_gui.gui.flows import model_flow
from cnn_gui.gui.panels.runs import reading
from cnn_gui.gui.panels.runs import actions as runs_actions_module
from cnn_gui.gui.panels.runs.view import RunsView

HANG_S = 6.0  # the longest any "endless" work here lasts: far above every bound the tests set

NET = """
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)
    def forward(self, x):
        return self.fc(x.flatten(1))
"""
WAITS = """
import os, time
deadline = time.monotonic() + {hang}
while not os.path.exists({go!r}) and time.monotonic() < deadline:
    time.sleep(0.01)
"""


def responsive(qtbot, within_ms=1000):
    """A timer of the GUI thread fires within ``within_ms``: the event loop turns."""
    timer = QTimer()
    timer.setSingleShot(True)
    timer.setInterval(20)
    with qtbot.waitSignal(timer.timeout, timeout=within_ms):
        timer.start()


def timed(fn, *args):
    start = time.monotonic()
    result = fn(*args)
    return result, time.monotonic() - start


@pytest.fixture
def go(tmp_path):
    """The stop file every waiting user file watches; created at the end of each test."""
    path = tmp_path / "GO"
    yield path
    path.touch()


def model_file(folder: Path, name: str, head: str = "", tail: str = NET) -> str:
    path = folder / f"{name}.py"
    path.write_text(head + tail)
    return f"{path}:Net"


@pytest.fixture
def window(make_window, monkeypatch):
    monkeypatch.setattr(model_flow, "LOAD_TIMEOUT_S", 1.0)
    return make_window(load_pretrained=False)


# ---------------------------------------------------------------------- a user's model file
def test_a_model_file_that_loops_at_import_leaves_the_window_usable_and_is_given_up(qtbot, window, tmp_path, go):
    endless = model_file(tmp_path, "endless", WAITS.format(hang=HANG_S, go=str(go)),
                         "raise SystemExit('the loop ended')\n")
    model, panel = window.model, window.training_panel
    with qtbot.waitSignal(window.modelSwitched, timeout=5000) as outcome:
        started, took = timed(window.request_model, endless)
        assert started and took < 0.5, f"request_model held the GUI thread {took:.1f} s"
        assert "Loading your model from endless.py" in window.structure.loading
        assert window.structure.totals_label.text() == window.structure.loading
        assert not window.structure.model_combo.isEnabled() and not panel.train_button.isEnabled()
        responsive(qtbot)
    assert outcome.args == [False]
    title, text = window.errors[-1]
    assert title == "Cannot use this model" and "\n" not in text
    assert "Your model file endless.py did not finish importing within 1 s; it may loop forever" in text
    assert window.model is model and window.spec.name == "mnist-cnn"
    assert window.structure.current_model_name() == "mnist-cnn" and window.structure.loading == ""
    assert window.structure.model_combo.isEnabled() and panel.train_button.isEnabled()


def test_a_late_result_of_an_abandoned_import_is_dropped(qtbot, window, tmp_path, go):
    slow = model_file(tmp_path, "slow", WAITS.format(hang=HANG_S, go=str(go)))
    model = window.model
    outcomes = []
    window.modelSwitched.connect(outcomes.append)
    with qtbot.waitSignal(window.modelSwitched, timeout=5000):
        _, took = timed(window.request_model, slow)
        assert took < 0.5, f"request_model held the GUI thread {took:.1f} s"
    assert outcomes == [False] and "did not finish importing" in window.errors[-1][1]
    go.touch()  # the import ends now, after the window gave up
    assert window.models.jobs.join(5.0)
    qtbot.wait(200)  # a result queued to the GUI thread would be handled by now
    assert outcomes == [False] and window.model is model and window.spec.name == "mnist-cnn"


def test_a_model_file_that_loads_is_switched_to_when_it_arrives(qtbot, window, tmp_path):
    ref = model_file(tmp_path, "mine")
    with qtbot.waitSignal(window.modelSwitched, timeout=5000) as outcome:
        assert window.request_model(ref)
    assert outcome.args == [True] and not window.errors
    assert window.spec.name == ref and window.structure.tree.type_name == "Net"
    assert window.structure.current_model_name() == ref and window.structure.loading == ""
    assert window.training_panel.train_button.isEnabled()


@pytest.mark.parametrize("body, said", [("raise ValueError('no thanks')", "ValueError: no thanks"),
                                        ("import sys; sys.exit(3)", "exit: 3")])
def test_a_model_file_that_raises_or_exits_says_why_in_one_line(qtbot, window, tmp_path, body, said):
    ref = model_file(tmp_path, "broken", body + "\n")
    model = window.model
    with qtbot.waitSignal(window.modelSwitched, timeout=5000) as outcome:
        assert window.request_model(ref)
    assert outcome.args == [False]
    text = window.errors[-1][1]
    assert "importing" in text.lower() and said in text and "\n" not in text
    assert window.model is model and window.structure.current_model_name() == "mnist-cnn"


def test_the_newest_choice_wins_over_a_load_in_progress(qtbot, window, tmp_path, go):
    slow = model_file(tmp_path, "slow", WAITS.format(hang=HANG_S, go=str(go)))
    outcomes = []
    window.modelSwitched.connect(outcomes.append)
    assert window.request_model(slow)
    assert window.request_model("simple-cnn")  # a built-in model: at once
    assert outcomes == [False, True] and window.spec.name == "simple-cnn"
    go.touch()
    assert window.models.jobs.join(5.0)
    qtbot.wait(200)
    assert outcomes == [False, True] and window.spec.name == "simple-cnn" and not window.errors

    # Weights changed another way while a file loads: the newer weights stay.
    go.unlink()
    with qtbot.waitSignal(window.modelSwitched, timeout=5000) as outcome:
        assert window.request_model(slow)
        assert window.use_pretrained(ask=False)
        go.touch()
    assert outcome.args == [False] and window.spec.name == "mnist-cnn"
    assert window.weights_label.text().startswith("Weights: pretrained")


def test_closing_while_a_model_file_loops_returns_at_once(qtbot, window, tmp_path, go):
    endless = model_file(tmp_path, "endless", WAITS.format(hang=HANG_S, go=str(go)))
    assert window.request_model(endless)
    _, took = timed(window.close)
    assert took < 2.0, f"closing waited {took:.1f} s for a model file that loops"
    assert not window.shutdown(1000)  # honest: that thread is still running, and never calls back


# ---------------------------------------------------------------------- the Runs tab
CONFIG = {"model": "mnist-cnn", "dataset": "mnist", "epochs": 2, "batch_size": 100, "lr": 0.001,
          "optimizer": "adam", "schedule": "constant", "seed": 0, "device": "cpu"}


def write_run(runs_dir: Path, name: str, accuracies=(0.9, 0.95)):
    writer = RunWriter(runs_dir, CONFIG, name=name)
    writer(FitStarted(device="cpu", device_label="CPU", model="mnist-cnn", dataset="mnist", train_size=500,
                      test_size=100, batch_size=100, batches_per_epoch=1, epochs=len(accuracies), start_epoch=1,
                      start_batch=0, parameters=28938))
    for epoch, acc in enumerate(accuracies, 1):
        writer(BatchEnded(epoch=epoch, batch=1, batches_per_epoch=1, step=epoch, loss=1.0 / epoch, accuracy=0.8,
                          samples_per_sec=1000.0, eta_seconds=1.0, lr=1e-3))
        writer(EpochEnded(epoch=epoch, train_loss=1.0 / epoch, train_accuracy=0.9, test_loss=0.2, test_accuracy=acc,
                          seconds=1.0, samples_per_sec=1000.0, lr=1e-3))
    writer(FitEnded("completed", len(accuracies), len(accuracies), 2.0, accuracies[-1]))
    return writer.folder


@pytest.fixture
def runs(tmp_path):
    folder = tmp_path / "runs"
    write_run(folder, "first")
    write_run(folder, "second")
    return folder


def names(view):
    return sorted(r.name for r in view.runs())


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes")
def test_named_pipes_in_the_runs_folder_never_freeze_the_runs_tab(qtbot, make_window, runs):
    (runs / "pipe-info").mkdir()
    os.mkfifo(runs / "pipe-info" / RUN_FILE)
    piped = write_run(runs, "piped epochs")
    (piped / EPOCHS_FILE).unlink()
    os.mkfifo(piped / EPOCHS_FILE)
    window = make_window(load_pretrained=False)
    view = window.runs_view
    view.set_runs_dir(runs)
    _, took = timed(window.tabs.setCurrentWidget, view)  # shown: the view reads the folder
    assert took < 1.0, f"opening the Runs tab held the GUI thread {took:.1f} s"
    responsive(qtbot)
    qtbot.waitUntil(lambda: {"first", "second", "piped epochs"} <= set(names(view)), timeout=5000)
    view.select_runs(["first", "piped epochs"])
    qtbot.waitUntil(lambda: not view.busy(), timeout=5000)
    responsive(qtbot)
    assert sorted(view.shown_curves()) == ["first", "piped epochs"]
    assert list(view.shown_curves()["first"]["epoch"]) == [1.0, 2.0]
    assert len(view.shown_curves()["piped epochs"]["epoch"]) == 0


@pytest.fixture
def blocked(monkeypatch):
    """``blocked(cls_or_module, name)``: that callable blocks (as a read on a stuck drive, or a
    blocking open of a named pipe, would) until ``release()`` or HANG_S; calls after the release
    run as usual."""
    gate = threading.Event()

    def block(owner, name, keep_result=True):
        original = getattr(owner, name)

        def stuck(*args, **kwargs):
            if not gate.is_set():
                gate.wait(HANG_S)
                if not keep_result:
                    return None
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, stuck)

    block.release = gate.set
    yield block
    gate.set()


@pytest.fixture
def view(qtbot, runs, monkeypatch):
    monkeypatch.setattr(reading, "SLOW_S", 0.3)
    w = RunsView(runs)
    qtbot.addWidget(w)
    yield w
    w.shutdown(0)


def test_a_listing_that_blocks_leaves_the_runs_tab_responsive_and_says_so(qtbot, view, blocked):
    blocked(RunsIndex, "refresh")
    _, took = timed(view.refresh)
    assert took < 0.5, f"refresh held the GUI thread {took:.1f} s"
    responsive(qtbot)
    qtbot.waitUntil(lambda: "Reading the runs folder is taking long" in view.message.text(), timeout=2000)
    assert "\n" not in view.message.text() and view.busy()
    blocked.release()
    qtbot.waitUntil(lambda: names(view) == ["first", "second"], timeout=5000)
    assert view.message.text() == ""  # the note goes with the listing


def test_the_timer_never_piles_up_threads_on_a_stuck_folder(qtbot, view, blocked):
    blocked(RunsIndex, "refresh")
    view.show()  # polls once a second while shown
    qtbot.wait(2500)
    listing = [t for t in threading.enumerate() if t.name == "cnn-gui-job-list"]
    assert len(listing) == 1, listing


def test_a_newer_refresh_supersedes_a_stuck_one(qtbot, view, runs, blocked):
    blocked(RunsIndex, "refresh", keep_result=False)  # the stuck one would list nothing
    _, took = timed(view.refresh)
    assert took < 0.5, f"refresh held the GUI thread {took:.1f} s"
    qtbot.wait(100)
    blocked.release()
    view.refresh()  # a fresh look, while the first is still on its way
    qtbot.waitUntil(lambda: names(view) == ["first", "second"], timeout=5000)
    qtbot.waitUntil(lambda: not view.busy(), timeout=5000)
    qtbot.wait(200)
    assert names(view) == ["first", "second"]  # the late, empty listing was dropped


def test_a_stuck_run_stops_only_its_own_curves(qtbot, view, runs, blocked):
    view.refresh()
    qtbot.waitUntil(lambda: names(view) == ["first", "second"], timeout=5000)
    first = next(r.folder for r in view.runs() if r.name == "first")
    original = RunFollower.poll
    gate = threading.Event()

    def poll(self):
        if self.folder == first:
            gate.wait(HANG_S)
        return original(self)

    try:
        RunFollower.poll = poll  # only this test's followers: restored below, before any other test
        _, took = timed(view.select_runs, ["first", "second"])
        assert took < 0.5
        responsive(qtbot)
        qtbot.waitUntil(lambda: len(view.shown_curves()["second"]["epoch"]) == 2, timeout=5000)
        qtbot.waitUntil(lambda: "Reading the curves of “first” is taking long" in view.message.text(), timeout=2000)
        assert len(view.shown_curves()["first"]["epoch"]) == 0
    finally:
        RunFollower.poll = original
        gate.set()
    qtbot.waitUntil(lambda: len(view.shown_curves()["first"]["epoch"]) == 2, timeout=5000)


def test_rename_delete_and_export_never_hold_the_gui_thread(qtbot, view, runs, blocked, tmp_path):
    view.refresh()
    qtbot.waitUntil(lambda: names(view) == ["first", "second"], timeout=5000)
    blocked(runs_actions_module, "rename_run")
    view.select_runs(["first"])
    view.ask_name = lambda current: "renamed"
    _, took = timed(view.rename_selected)
    assert took < 0.5, f"rename held the GUI thread {took:.1f} s"
    responsive(qtbot)
    qtbot.waitUntil(lambda: "Renaming is taking long" in view.message.text(), timeout=2000)
    blocked.release()
    qtbot.waitUntil(lambda: names(view) == ["renamed", "second"], timeout=5000)

    out = tmp_path / "m.csv"
    view.select_runs(["renamed"])
    view.ask_save_path = lambda suggested: str(out)
    view.export_selected()
    qtbot.waitUntil(lambda: "Saved the metrics of “renamed”" in view.message.text(), timeout=5000)
    assert out.read_text().count("\n") > 2

    doomed = next(r.folder for r in view.runs() if r.name == "second")
    view.select_runs(["second"])
    view.confirm = lambda title, text: True
    view.delete_selected()
    qtbot.waitUntil(lambda: names(view) == ["renamed"], timeout=5000)
    assert not doomed.exists() and view.message.text() == "Deleted 1 run."
    assert json.loads((view.runs()[0].folder / RUN_FILE).read_text())["name"] == "renamed"


# ---------------------------------------------------------------------- the bound itself
def test_the_job_runners_bound_fires_only_for_a_job_still_awaited(qtbot):
    from cnn_gui.gui.background.jobs import JobRunner

    runner = JobRunner()
    gate, said = threading.Event(), []
    runner.submit(gate.wait, HANG_S, key="slow", timeout=0.1, on_timeout=lambda: said.append("slow"))
    runner.submit(lambda: None, key="quick", timeout=0.1, on_timeout=lambda: said.append("quick"))
    runner.submit(gate.wait, HANG_S, key="cancelled", timeout=0.1, on_timeout=lambda: said.append("cancelled"))
    runner.cancel("cancelled")
    qtbot.waitUntil(lambda: said == ["slow"], timeout=2000)
    assert runner.pending("slow")  # still awaited: the owner decides what the bound means
    gate.set()
    qtbot.wait(200)
    assert said == ["slow"]
    assert runner.shutdown(5.0)
