"""Start-up: the loading window is up before torch is imported, torch and the window's
modules load on a thread without Qt objects made there, and the real window takes over
where the loading one was, with what was drawn meanwhile."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnn_gui.gui.startup.core_loader import CoreLoader
from cnn_gui.gui.startup.loading_window import LOADING_TEXT, LoadingWindow, hand_over

from tests.gui.test_canvas import draw

ROOT = Path(__file__).resolve().parents[2]


def child(code: str, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env}
    return subprocess.run([sys.executable, "-c", code], env=full, cwd=ROOT, capture_output=True, text=True,
                          timeout=180)


@pytest.mark.slow
def test_the_loading_window_and_the_entry_point_need_no_torch(tmp_path):
    proc = child("import sys\n"
                 "from cnn_gui.cli import build_parser\n"
                 "build_parser().parse_args([])\n"  # as `cnn-gui` does first: every command's options, their help
                 "from cnn_gui.gui import app\n"
                 "from cnn_gui.gui.startup.loading_window import LoadingWindow\n"
                 "from cnn_gui.gui.startup.core_loader import CoreLoader\n"
                 "app.ensure_app(serial=False)\n"
                 "w = LoadingWindow(); w.show()\n"
                 "print(sorted(m for m in ('torch', 'pyqtgraph', 'cnn_gui.core.session') if m in sys.modules))",
                 CNN_GUI_SETTINGS_DIR=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_modules_load_on_a_thread_and_make_no_qt_object_there(tmp_path):
    """Qt warns when a QObject, a timer or a pixmap is made on a thread that is not the GUI
    thread; the loader's imports draw no such warning, and the window is built after them."""
    code = """
import json, sys, threading
from PySide6.QtCore import QCoreApplication, QtMsgType, qInstallMessageHandler
messages = []
qInstallMessageHandler(lambda kind, ctx, text: messages.append(text))
from cnn_gui.gui import app
from cnn_gui.gui.startup.core_loader import CoreLoader
qapp = app.ensure_app(serial=False)
loader = CoreLoader()
seen = {}
loader.loaded.connect(lambda s: (seen.update(seconds=s), qapp.quit()))
loader.failed.connect(lambda line: (seen.update(failed=line), qapp.quit()))
import builtins
hooked = builtins.__import__
loader.start()
qapp.exec()
window = app.create_window(load_pretrained=False)
window.show()
qapp.processEvents()
seen['threads'] = [t.name for t in threading.enumerate()]
seen['hook_back'] = builtins.__import__ is hooked
seen['tree'] = window.structure.tree is not None
print(json.dumps({'seen': seen, 'messages': [m for m in messages if 'propagateSizeHints' not in m]}))
window.shutdown()
app.dispose(window)
"""
    proc = child(code, CNN_GUI_SETTINGS_DIR=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "failed" not in out["seen"] and out["seen"]["seconds"] > 0
    assert out["seen"]["hook_back"] and out["seen"]["tree"]
    assert "cnn-gui import" not in out["seen"]["threads"]  # the thread is over
    assert out["messages"] == []


@pytest.mark.slow
@pytest.mark.parametrize("when, said", [("1", "cnn-gui: shown (loading the network)"),
                                        ("tree", "cnn-gui: tree filled (24 modules in the tree; Weights: pretrained")])
def test_the_command_can_quit_when_first_shown_or_once_the_tree_is_filled(tmp_path, when, said):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CNN_GUI_EXIT_AFTER_SHOW": when,
           "CNN_GUI_SETTINGS_DIR": str(tmp_path / "settings"), "CNN_GUI_RUNS_DIR": str(tmp_path / "runs")}
    proc = subprocess.run([sys.executable, "-m", "cnn_gui"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith(said) for line in proc.stderr.splitlines()), proc.stderr


def test_a_failed_import_is_said_in_the_loading_window(qtbot):
    window = LoadingWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.network_note.text() == LOADING_TEXT
    loader = CoreLoader(modules=("json", "cnn_gui_no_such_module"))
    with qtbot.waitSignal(loader.failed, timeout=10000) as got:
        loader.start()
    (line,) = got.args
    assert line.startswith("cannot load cnn_gui_no_such_module: ModuleNotFoundError")
    window.show_failure(line)
    assert line in window.centre_note.text() and not window.progress.isVisible()


def test_the_real_window_takes_over_the_place_and_the_drawing(qtbot, make_window):
    loading = LoadingWindow()
    qtbot.addWidget(loading)
    loading.show()
    qtbot.waitExposed(loading)
    loading.setGeometry(60, 50, 1100, 700)  # the user moved and resized it meanwhile
    canvas = loading.canvas
    side = min(canvas.width(), canvas.height())
    ring = [(side * (0.5 + 0.3 * np.cos(a)), side * (0.5 + 0.35 * np.sin(a))) for a in np.linspace(0, 2 * np.pi, 40)]
    draw(canvas, ring)  # a 0
    drawn = canvas.strokes()
    window = make_window(defer_pretrained=True)
    hand_over(loading, window)
    assert not loading.isVisible()
    assert window.geometry().size() == loading.geometry().size()
    moved = window.canvas_panel.canvas.strokes()
    assert len(moved) == 1 and np.allclose(moved[0], drawn[0])
    view = window.canvas_panel.prediction_view
    qtbot.waitUntil(lambda: "pretrained" in window.weights_text and view.top_prediction() is not None
                    and view.top_prediction()[0] == 0, timeout=20000)
