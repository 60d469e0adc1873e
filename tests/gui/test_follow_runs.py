"""A run of ``cnn-gui train`` in another process shows up in the window's Runs tab and
its curves grow while it trains: the view's own poll timer, nothing refreshed by hand."""

import subprocess
import sys

import pytest

from cnn_gui.gui.panels.runs.table_model import RunsTableModel

EPOCHS = 3


def table_row(view):
    """(status, "done/planned" epochs) of the only run in the table, or None."""
    if view.proxy.rowCount() != 1:
        return None
    status = view.proxy.index(0, RunsTableModel.COLUMNS.index("Status")).data()
    epochs = view.proxy.index(0, RunsTableModel.COLUMNS.index("Epochs")).data()
    return status, epochs


def curve_epochs(view):
    curves = view.shown_curves()
    return [] if len(curves) != 1 else list(next(iter(curves.values()))["epoch"])


@pytest.mark.slow
def test_a_cnn_gui_train_process_grows_live_in_the_runs_tab(make_window, qtbot, tmp_path):
    runs = tmp_path / "runs"
    window = make_window(load_pretrained=False)
    view = window.runs_view
    view.set_runs_dir(runs)
    window.tabs.setCurrentWidget(view)  # the view polls only while shown
    assert view.isVisible() and view.timer.isActive()
    log = (tmp_path / "train.log").open("w")
    # fp32: bf16 autocast's first calls cost seconds on some CPUs; 10 batches an epoch keep
    # each epoch (mostly its 10,000-image test pass) short, but longer than the view's poll.
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_gui", "train", "--epochs", str(EPOCHS), "--max-batches", "10",
         "--batch-size", "50", "--precision", "fp32", "--quiet", "--runs-dir", str(runs),
         "--out", str(tmp_path / "m.safetensors")],
        stdout=log, stderr=subprocess.STDOUT)
    seen = []  # (status, epochs in the table, epochs plotted) at each look while it ran

    def look():
        row = table_row(view)
        if row is not None:
            seen.append((row[0], row[1], len(curve_epochs(view))))
        return row

    try:
        qtbot.waitUntil(lambda: (look() or ("", ""))[0] == "running", timeout=90000)
        run = view.runs()[0]
        assert run.source == "cli"
        view.select_runs([run.folder])
        assert view.curves_shown

        def finished():
            row = look()
            return row is not None and row[0] == "finished" and len(curve_epochs(view)) == EPOCHS

        qtbot.waitUntil(finished, timeout=120000)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()

    assert table_row(view) == ("finished", f"{EPOCHS}/{EPOCHS}")
    assert curve_epochs(view) == [1.0, 2.0, 3.0]
    curves = next(iter(view.shown_curves().values()))
    assert len(curves["step"]) > 0 and curves["step"][-1] <= EPOCHS * 10
    # It grew while the process ran: the table and the curve showed a part of the run first.
    running = [(epochs, plotted) for status, epochs, plotted in seen if status == "running"]
    assert any(epochs in ("1/3", "2/3") for epochs, _ in running), seen
    assert any(0 < plotted < EPOCHS for _, plotted in running), seen
