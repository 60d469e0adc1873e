"""The Runs tab follows runs folders besides its own (a mounted share, a synced folder):
their runs join the table with the folder they are in, the list is remembered, a folder
that disappears is shown as unreachable in one line (no dialog) and its runs come back
with it, and a folder that hangs holds only itself."""

import subprocess
import sys
import threading

import pytest

from cnn_gui.gui.panels.runs import reading
from cnn_gui.gui.panels.runs.table_model import RunsTableModel
from tests.gui.test_runs_view import folder_action, settle, write_run

FOLDER = RunsTableModel.COLUMNS.index("Folder")


def names(view):
    return sorted(run.name for run in view.runs())


def folder_cells(view):
    return {view.proxy.index(r, 0).data(): view.proxy.index(r, FOLDER).data() for r in range(view.proxy.rowCount())}


@pytest.fixture
def folders(tmp_path):
    own, server = tmp_path / "home" / "runs", tmp_path / "gpu-server" / "runs"
    write_run(own, "laptop run", [0.95], "2024-05-01T10:00:00+00:00")
    write_run(server, "server run", [0.97, 0.99], "2024-05-02T10:00:00+00:00")
    return own, server


@pytest.fixture
def window(make_window, folders):
    w = make_window(load_pretrained=False, runs_dir=folders[0])
    w.tabs.setCurrentWidget(w.runs_view)  # the view polls only while shown
    return w


def test_a_followed_folders_runs_join_the_table_with_their_folder_and_are_remembered(
        window, folders, qtbot, make_window):
    own, server = folders
    view = window.runs_view
    qtbot.waitUntil(lambda: names(view) == ["laptop run"], timeout=5000)
    assert view.table.isColumnHidden(FOLDER)  # nothing followed: no Folder column
    asked = []
    view.ask_directory = lambda current, title="": asked.append(title) or str(server)
    with qtbot.waitSignal(view.followedChanged) as signal:
        folder_action(view, "Follow another runs folder").trigger()
    assert asked == ["Follow a runs folder"] and signal.args == [[str(server)]]
    qtbot.waitUntil(lambda: names(view) == ["laptop run", "server run"], timeout=5000)
    assert not view.table.isColumnHidden(FOLDER)
    assert folder_cells(view) == {"laptop run": "home/runs", "server run": "gpu-server/runs"}
    assert view.followed_label.isVisible() and view.followed_label.text() == "following 1 folder: 1 run"
    assert view.folder_label.text() == f"1 run in {own}"
    # A run in a followed folder is a run like the others: its curves and its weights.
    server_run = next(run for run in view.runs() if run.name == "server run")
    view.select_runs([server_run.folder])
    settle(qtbot, view)
    assert list(view.shown_curves()["server run"]["epoch"]) == [1.0, 2.0]
    assert view.load_action.isEnabled()

    # Remembered: a new window follows it too.
    window.shutdown(10000)
    again = make_window(load_pretrained=False, runs_dir=own)
    assert again.runs_view.followed == [server]
    again.tabs.setCurrentWidget(again.runs_view)
    qtbot.waitUntil(lambda: names(again.runs_view) == ["laptop run", "server run"], timeout=5000)

    # Stop following: its runs leave, the column goes, and the settings forget it.
    view = again.runs_view
    with qtbot.waitSignal(view.followedChanged):
        folder_action(view, f"Stop following {server}").trigger()
    qtbot.waitUntil(lambda: names(view) == ["laptop run"], timeout=5000)
    assert view.table.isColumnHidden(FOLDER) and not view.followed_label.isVisible()
    third = make_window(load_pretrained=False, runs_dir=own)
    assert third.runs_view.followed == []


def test_the_own_folder_or_a_folder_twice_is_refused_in_one_line(window, folders, qtbot):
    own, server = folders
    view = window.runs_view
    assert not view.follow(own)
    assert view.message.text().startswith("Not followed:") and "own runs folder" in view.message.text()
    assert view.follow(server) and not view.follow(server)
    assert "followed already" in view.message.text()
    assert view.followed == [server] and window.errors == []


def test_a_folder_that_disappears_is_unreachable_in_one_line_and_its_runs_come_back(window, folders, qtbot):
    own, server = folders
    view = window.runs_view
    view.follow(server)
    qtbot.waitUntil(lambda: names(view) == ["laptop run", "server run"], timeout=5000)
    message = view.message.text()  # "Following …": said once, when it was added
    away = server.with_name("runs-unmounted")
    server.rename(away)  # the share is unmounted
    qtbot.waitUntil(lambda: names(view) == ["laptop run"], timeout=5000)  # the view's own polls
    text = view.followed_label.text()
    assert text.startswith("following 1 folder: 0 runs; gpu-server/runs unreachable since "), text
    assert "not found" in view.followed_label.toolTip()
    assert "#e65100" in view.followed_label.styleSheet()
    # Polled every second, said once: no dialog, no message under the table, nothing else.
    qtbot.wait(2500)
    assert window.errors == [] and view.message.text() == message
    assert view.followed == [server]  # still followed: it may come back
    away.rename(server)  # mounted again
    qtbot.waitUntil(lambda: names(view) == ["laptop run", "server run"], timeout=5000)
    assert view.followed_label.text() == "following 1 folder: 1 run"
    assert view.followed_label.styleSheet() == ""


def test_a_followed_folder_that_hangs_holds_only_itself(window, folders, qtbot, monkeypatch):
    own, server = folders
    view = window.runs_view
    qtbot.waitUntil(lambda: names(view) == ["laptop run"], timeout=5000)
    release = threading.Event()
    real = reading.list_folder

    def stuck_share(index, followed=False):
        if followed:
            release.wait(30)  # a network share that does not answer
        return real(index, followed)

    monkeypatch.setattr(reading, "list_folder", stuck_share)
    monkeypatch.setattr(reading, "SLOW_S", 0.3)
    try:
        view.follow(server)
        qtbot.waitUntil(lambda: "not answering" in view.followed_label.text(), timeout=5000)
        # The own folder is still read every second: a run written now appears.
        write_run(own, "while the share hangs", [0.9], "2024-05-03T10:00:00+00:00")
        qtbot.waitUntil(lambda: "while the share hangs" in names(view), timeout=5000)
        assert "server run" not in names(view) and window.errors == []
    finally:
        release.set()
    qtbot.waitUntil(lambda: "server run" in names(view), timeout=5000)
    assert view.followed_label.text() == "following 1 folder: 1 run"


@pytest.mark.slow
def test_a_run_another_process_writes_into_a_followed_folder_grows_live(window, folders, qtbot, tmp_path):
    own, server = folders
    view = window.runs_view
    view.follow(server)
    qtbot.waitUntil(lambda: len(view.runs()) == 2, timeout=5000)
    log = (tmp_path / "train.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_gui", "train", "--epochs", "3", "--max-batches", "10", "--batch-size", "50",
         "--precision", "fp32", "--quiet", "--runs-dir", str(server),
         "--out", str(tmp_path / "m.safetensors")],
        stdout=log, stderr=subprocess.STDOUT)
    plotted_while_running = []

    def the_run():
        return next((run for run in view.runs() if run.folder.parent == server and run.name != "server run"), None)

    try:
        qtbot.waitUntil(lambda: the_run() is not None and the_run().status == "running", timeout=90000)
        name = the_run().name
        assert folder_cells(view)[name] == "gpu-server/runs"
        view.select_runs([the_run().folder])

        def finished():
            run = the_run()
            epochs = list(view.shown_curves().get(name, {}).get("epoch", []))
            if run is not None and run.status == "running":
                plotted_while_running.append(len(epochs))
            return run is not None and run.status == "finished" and len(epochs) == 3

        qtbot.waitUntil(finished, timeout=120000)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
    assert the_run().folder.parent == server
    assert any(0 < n < 3 for n in plotted_while_running), plotted_while_running
    assert view.followed_label.text() == "following 1 folder: 2 runs"
    assert names(view) == sorted(["laptop run", name, "server run"])
