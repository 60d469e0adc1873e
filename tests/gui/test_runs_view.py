"""The Runs view: runs listed newest first, curves overlaid, settings compared, live following.

The view reads and writes run folders on job threads: each test waits for the outcome
(:func:`settle`) with a bound, so a view that never answers fails instead of hanging.
"""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitStarted
from cnn_gui.core.runs.layout import RUN_FILE
from cnn_gui.core.runs.writer import RunWriter
from cnn_gui.gui.panels.runs.settings_diff import DIFF_COLOR
from cnn_gui.gui.panels.runs.view import RunsView

BPE = 5
CONFIG = {"model": "mnist-cnn", "dataset": "mnist", "epochs": 3, "batch_size": 100, "lr": 0.001,
          "optimizer": "adam", "schedule": "constant", "seed": 0, "device": "cpu"}


def started(epochs=3):
    return FitStarted(device="cpu", device_label="CPU (2 threads)", model="mnist-cnn", dataset="mnist",
                      train_size=500, test_size=100, batch_size=100, batches_per_epoch=BPE, epochs=epochs,
                      start_epoch=1, start_batch=0, parameters=28938)


def feed_epoch(writer, epoch, test_acc, loss=1.0):
    for b in range(1, BPE + 1):
        writer(BatchEnded(epoch=epoch, batch=b, batches_per_epoch=BPE, step=(epoch - 1) * BPE + b,
                          loss=loss / epoch, accuracy=0.8, samples_per_sec=1000.0, eta_seconds=1.0, lr=1e-3))
    writer(EpochEnded(epoch=epoch, train_loss=loss / epoch, train_accuracy=0.9, test_loss=0.2,
                      test_accuracy=test_acc, seconds=3.0, samples_per_sec=1000.0, lr=1e-3))


def write_run(runs_dir, name, accuracies, started_at, finish=True, **config):
    writer = RunWriter(runs_dir, {**CONFIG, **config}, name=name, preset="tutorial",
                       save_checkpoint=lambda path: Path(path).write_bytes(b"weights"))
    writer(started(epochs=len(accuracies)))
    for epoch, acc in enumerate(accuracies, 1):
        feed_epoch(writer, epoch, acc)
    if finish:
        writer(FitEnded("completed", len(accuracies), len(accuracies) * BPE, 9.0, accuracies[-1]))
    info = writer.folder / RUN_FILE  # as if started on another day; the writer keeps its own copy
    doc = json.loads(info.read_text())
    doc["started"] = started_at
    info.write_text(json.dumps(doc))
    return writer


@pytest.fixture
def two_runs(tmp_path):
    new = write_run(tmp_path, "faster lr", [0.96, 0.985], "2024-05-02T09:00:00+00:00", lr=0.003, epochs=2)
    old = write_run(tmp_path, "adam baseline", [0.95, 0.97, 0.98], "2024-05-01T10:00:00+00:00")
    return tmp_path, old, new


def settle(qtbot, view):
    """Wait (at most 5 s) until every listing, curve poll and action of ``view`` has answered."""
    qtbot.waitUntil(lambda: not view.busy(), timeout=5000)


@pytest.fixture
def view(qtbot, two_runs):
    w = RunsView(two_runs[0])
    qtbot.addWidget(w)
    w.resize(1200, 700)
    assert w.runs() == []  # read when shown or refreshed, not at construction
    w.refresh()
    settle(qtbot, w)
    yield w
    assert w.shutdown(5.0)


def cell(view, row, column):
    return view.proxy.index(row, view.model.COLUMNS.index(column)).data()


def test_runs_are_listed_newest_first_with_their_numbers(view):
    assert [r.name for r in view.runs()] == ["faster lr", "adam baseline"]
    assert cell(view, 0, "Best test") == "98.50 %" and cell(view, 1, "Final test") == "98.00 %"
    assert cell(view, 1, "Epochs") == "3/3" and cell(view, 0, "Status") == "finished"
    assert cell(view, 0, "Preset") == "tutorial" and cell(view, 0, "Model") == "mnist-cnn"
    assert cell(view, 0, "Date").startswith("2024-05-0")
    assert cell(view, 0, "Duration") == "9 s"
    assert view.folder_label.text().startswith("2 runs in ")


def test_selecting_two_runs_overlays_their_curves_with_both_names(qtbot, view, two_runs):
    view.select_runs(["adam baseline", "faster lr"])
    settle(qtbot, view)
    assert sorted(view.legend_names(view.accuracy_plot)) == ["adam baseline", "faster lr"]
    assert sorted(view.legend_names(view.loss_plot)) == ["adam baseline", "faster lr"]
    curves = view.shown_curves()
    np.testing.assert_allclose(curves["adam baseline"]["test_accuracy"], [95.0, 97.0, 98.0])
    np.testing.assert_array_equal(curves["faster lr"]["epoch"], [1, 2])
    np.testing.assert_array_equal(curves["adam baseline"]["step"], np.arange(1, 16))
    assert curves["adam baseline"]["color"] != curves["faster lr"]["color"]
    assert view.curves_shown

    view.select_runs(["faster lr"])
    assert view.legend_names(view.accuracy_plot) == ["faster lr"]
    assert list(view.shown_curves()) == ["faster lr"]


def test_two_runs_settings_side_by_side_with_differences_highlighted(view):
    view.select_runs(["adam baseline", "faster lr"])
    assert view.diff_stack.currentWidget() is view.diff_table
    assert set(view.differing_settings()) == {"epochs", "lr"}
    table = view.diff_table
    rows = {table.item(r, 0).text(): r for r in range(table.rowCount())}
    lr_row = rows["lr"]
    assert {table.item(lr_row, 1).text(), table.item(lr_row, 2).text()} == {"0.001", "0.003"}
    assert table.item(lr_row, 2).background().color() == DIFF_COLOR
    same = rows["optimizer"]
    assert table.item(same, 1).text() == table.item(same, 2).text() == "adam"
    assert table.item(same, 1).background().color() != DIFF_COLOR
    view.select_runs(["faster lr"])  # one run: its settings, nothing to highlight
    assert view.diff_table.columnCount() == 2 and view.differing_settings() == []
    view.select_runs([])
    assert view.diff_stack.currentWidget() is view.diff_hint and not view.curves_shown


def test_a_run_written_elsewhere_appears_and_its_curve_grows(qtbot, view, two_runs):
    runs_dir = two_runs[0]
    view.show()
    qtbot.waitExposed(view)
    assert view.timer.isActive()
    terminal = RunWriter(runs_dir, CONFIG, name="terminal run")  # as `cnn-gui train` in a terminal would
    terminal(started())
    feed_epoch(terminal, 1, 0.91)
    qtbot.waitUntil(lambda: "terminal run" in [r.name for r in view.runs()], timeout=5000)
    assert view.runs()[0].name == "terminal run" and cell(view, 0, "Status") == "running"
    view.select_runs(["terminal run"])
    qtbot.waitUntil(lambda: list(view.shown_curves()["terminal run"]["epoch"]) == [1], timeout=5000)

    feed_epoch(terminal, 2, 0.95)
    qtbot.waitUntil(lambda: len(view.shown_curves()["terminal run"]["epoch"]) == 2, timeout=5000)
    curve = view.shown_curves()["terminal run"]
    np.testing.assert_allclose(curve["test_accuracy"], [91.0, 95.0])
    assert len(curve["step"]) == 2 * BPE
    qtbot.waitUntil(lambda: cell(view, 0, "Epochs") == "2/3", timeout=5000)

    terminal(FitEnded("completed", 2, 2 * BPE, 5.0, 0.95))
    qtbot.waitUntil(lambda: cell(view, 0, "Status") == "finished", timeout=5000)
    assert [r.name for r in view.selected_runs()] == ["terminal run"]  # the selection survived
    view.hide()
    assert not view.timer.isActive()


def test_rename_and_delete_ask_first(qtbot, view, two_runs):
    _, old, new = two_runs
    view.select_runs(["adam baseline"])
    view.ask_name = lambda current: "renamed run"
    view.rename_selected()
    settle(qtbot, view)
    assert [r.name for r in view.runs()] == ["faster lr", "renamed run"]
    assert view.legend_names(view.accuracy_plot) == ["renamed run"]
    assert json.loads((old.folder / RUN_FILE).read_text())["name"] == "renamed run"

    questions = []
    view.select_runs(["faster lr"])
    view.confirm = lambda title, text: questions.append(text) or False
    view.delete_selected()
    settle(qtbot, view)
    assert new.folder.exists() and len(view.runs()) == 2
    assert "faster lr" in questions[0]
    view.confirm = lambda title, text: True
    view.delete_selected()
    settle(qtbot, view)
    assert "Deleted 1 run." in view.message.text()
    assert not new.folder.exists() and [r.name for r in view.runs()] == ["renamed run"]
    assert old.folder.exists()


def test_export_csv_and_load_weights(view, two_runs, tmp_path_factory, qtbot):
    from cnn_gui.core.files.metrics_csv import CSV_HEADER as PLOTS_HEADER

    out = tmp_path_factory.mktemp("out") / "m.csv"
    view.select_runs(["faster lr"])
    view.ask_save_path = lambda suggested: str(out)
    view.export_selected()
    settle(qtbot, view)
    rows = list(csv.reader(out.open()))
    assert tuple(rows[0]) == PLOTS_HEADER
    assert [float(r[6]) for r in rows if r[0] == "epoch"] == [0.96, 0.985]
    assert "Saved the metrics" in view.message.text()

    assert view.buttons["load"].isEnabled()
    with qtbot.waitSignal(view.loadWeightsRequested) as signal:
        view.buttons["load"].click()
    assert signal.args == [str(two_runs[2].folder / "checkpoint.safetensors")]
    view.select_runs(["faster lr", "adam baseline"])
    assert not view.buttons["load"].isEnabled() and not view.buttons["rename"].isEnabled()


def test_a_running_run_offers_only_its_finished_epochs_and_cannot_be_deleted(qtbot, view, two_runs):
    running = write_run(two_runs[0], "in progress", [0.9], "2024-05-03T09:00:00+00:00", finish=False)
    view.refresh()
    settle(qtbot, view)
    view.select_runs(["in progress"])
    assert cell(view, 0, "Status") == "running"
    # Load weights: the checkpoint of its last finished epoch, when the writer has written one.
    has_checkpoint = (running.folder / "checkpoint.safetensors").is_file()
    assert view.buttons["load"].isEnabled() == has_checkpoint
    view.confirm = lambda title, text: True
    view.delete_selected()
    settle(qtbot, view)
    assert "still running" in view.message.text()
    assert "in progress" in [r.name for r in view.runs()]


def test_unreadable_runs_show_why_in_one_line(qtbot, view, two_runs):
    bad = two_runs[0] / "broken"
    bad.mkdir()
    (bad / RUN_FILE).write_text('{"status": 42}')
    view.refresh()
    settle(qtbot, view)
    statuses = {r.name: cell(view, i, "Status") for i, r in enumerate(view.runs())}
    assert statuses["broken"].startswith("unreadable: ") and "\n" not in statuses["broken"]
    view.select_runs(["broken", "faster lr"])
    settle(qtbot, view)
    assert list(view.shown_curves()) == ["faster lr"]  # nothing to draw for it, and no error


def folder_action(view, text):
    """The Folders menu's action whose text starts with ``text``, as the menu shows it."""
    view.folder_menu.aboutToShow.emit()
    return next(a for a in view.folder_menu.actions() if a.text().startswith(text))


def test_set_runs_dir_switches_folders(qtbot, view, two_runs, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    view.select_runs(["faster lr"])
    view.set_runs_dir(empty)
    assert view.runs() == [] and view.shown_curves() == {}
    view.refresh()
    settle(qtbot, view)
    assert view.folder_label.text() == f"0 runs in {empty}"
    view.ask_directory = lambda current: str(two_runs[0])
    view.show()
    with qtbot.waitSignal(view.runsDirChanged) as signal:
        folder_action(view, "Change this window's runs folder").trigger()
    settle(qtbot, view)
    assert signal.args == [str(two_runs[0])] and len(view.runs()) == 2


def test_after_shutdown_a_show_a_tick_or_a_refresh_submits_nothing(qtbot, two_runs):
    """A window closed in the middle of its Runs tab's poll: the timer's next tick, a show
    or a refresh once its readers are shut down raised "this JobRunner is shut down"."""
    w = RunsView(two_runs[0])
    qtbot.addWidget(w)
    w.show()
    settle(qtbot, w)
    assert w.timer.isActive()
    assert w.shutdown(5.0)
    assert not w.timer.isActive()
    w.hide()
    w.show()
    w.poll()
    w.refresh()
    assert not w.timer.isActive() and not w.busy()
