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
    window = make_window()
    hand_over(loading, window)
    assert not loading.isVisible()
    assert window.geometry().size() == loading.geometry().size()
    moved = window.canvas_panel.canvas.strokes()
    assert len(moved) == 1 and np.allclose(moved[0], drawn[0])
    view = window.canvas_panel.prediction_view
    qtbot.waitUntil(lambda: "pretrained" in window.weights_text and view.top_prediction() is not None
                    and view.top_prediction()[0] == 0, timeout=20000)


def test_a_damaged_pretrained_file_opens_the_window_untrained_and_says_why(qtbot, make_window, tmp_path, monkeypatch):
    import cnn_gui.core.resources as resources

    broken = tmp_path / "pretrained.safetensors"
    broken.write_bytes(b"not a checkpoint at all")
    monkeypatch.setattr(resources, "pretrained_checkpoint", lambda: broken)
    window = make_window()
    assert window.weights_text == "Weights: untrained (pretrained file unreadable)"
    assert window.statusBar().currentMessage().startswith("Pretrained weights not loaded: ")
    assert window.structure.tree is not None and window.spec.name == "mnist-cnn"
    assert window.canvas_panel.predictor is not None  # the untrained network still answers


def test_the_window_opens_on_the_pretrained_weights_with_one_model_built(qtbot, make_window, monkeypatch):
    """Start-up builds the network once, from the shipped file (not an untrained one first)."""
    from cnn_gui.core.model.models import CNN

    built = []
    real_init = CNN.__init__
    monkeypatch.setattr(CNN, "__init__", lambda self, *a, **k: (built.append(1), real_init(self, *a, **k))[1])
    window = make_window()
    assert window.weights_text.startswith("Weights: pretrained")
    assert window.canvas_panel.predictor is not None
    assert len(built) == 1  # the predictors are copies of it (deepcopy: no __init__)


def test_the_collector_is_held_off_while_starting_and_frozen_after():
    import gc

    from cnn_gui.gui.startup import collector

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    collector.hold()
    try:
        assert not gc.isenabled()
        junk = [object() for _ in range(100)]
        collector.release()
        assert gc.isenabled() and gc.get_freeze_count() >= frozen + len(junk)
        collector.release()  # twice: nothing more
        assert gc.isenabled()
    finally:
        gc.unfreeze()  # the rest of the suite collects as before
        gc.enable()
    gc.disable()  # someone else's choice is kept: release() without hold() leaves it off
    try:
        collector.hold()
        collector.release()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.slow
def test_cnn_gui_starts_with_the_collector_off_and_runs_with_it_on(tmp_path):
    code = """
import gc, os
from cnn_gui.gui import app
seen = []
real_build = app.Startup.build
def build(self, seconds):
    seen.append(gc.isenabled())  # before release(): off while the modules loaded
    real_build(self, seconds)
app.Startup.build = build
assert app.run() == 0
print(seen, gc.isenabled(), gc.get_freeze_count() > 100000)
"""
    proc = child(code, CNN_GUI_SETTINGS_DIR=str(tmp_path / "s"), CNN_GUI_RUNS_DIR=str(tmp_path / "runs"),
                 CNN_GUI_EXIT_AFTER_SHOW="tree")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[False] True True"


def test_analysis_tabs_built_later_get_what_was_said_before(qtbot, pretrained):
    from PySide6.QtWidgets import QTabWidget

    from cnn_gui.core.model.models import CNN
    from cnn_gui.core.model.structure import build_tree
    from cnn_gui.gui.analysis.tabs import CANVAS_TEXT, TABS, AnalysisTabs
    from cnn_gui.gui.panels.structure.panel import StructurePanel

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    analysis = AnalysisTabs(tabs, later=True)
    assert not analysis.built and [tabs.tabText(i) for i in range(tabs.count())] == [t for _, t, _ in TABS]
    tabs.setCurrentIndex(2)  # the user is on Explain before it is built
    image = np.zeros((28, 28), np.float32)
    image[6:22, 13:16] = 1.0
    analysis.set_weights(pretrained, (1, 28, 28), "mnist", None, "Weights: pretrained")
    analysis.set_weights_label("Weights: pretrained (saved)")
    analysis.set_canvas_image(image)
    analysis.set_blocked(True)
    structure = StructurePanel()
    qtbot.addWidget(structure)
    model = CNN()
    structure.show_tree(build_tree(model, (1, 28, 28)), model)
    analysis.connect_tree(structure)
    assert structure.select("layer2.0")  # chosen in the tree before the views exist
    assert analysis.shutdown(1.0) and not analysis.built  # nothing to stop yet, nothing built for it
    analysis.build()
    assert analysis.built and [tabs.tabText(i) for i in range(tabs.count())] == [t for _, t, _ in TABS]
    assert tabs.currentWidget() is analysis.explain  # still where the user was
    assert analysis.layer.layer_name == "layer2.0"  # the row chosen before the build reached the Layer tab
    assert [tabs.indexOf(getattr(analysis, name)) for name, _, _ in TABS] == list(range(len(TABS)))
    assert analysis.explain.weights_label.text() == "Weights: pretrained (saved)"
    assert analysis.feature_maps.source == CANVAS_TEXT
    analysis.feature_maps.refresh()
    assert "for the drawing on the canvas" in analysis.feature_maps.caption.text()
    assert not analysis.confusion.compute_button.isEnabled()  # a run is training
    structure.convLayersRequested.emit()  # the tree's links were made at build
    assert tabs.currentWidget() is analysis.layer
    assert analysis.shutdown(5.0)


def test_reading_a_view_builds_the_tabs_at_once(qtbot):
    from PySide6.QtWidgets import QTabWidget

    from cnn_gui.gui.analysis.tabs import AnalysisTabs

    tabs = QTabWidget()
    qtbot.addWidget(tabs)
    analysis = AnalysisTabs(tabs, later=True)
    probes = analysis.probes
    assert analysis.built and tabs.indexOf(probes) == 3


def test_cnn_gui_paints_the_window_then_builds_the_back_tabs(qtbot, make_window):
    from PySide6.QtWidgets import QWidget

    from cnn_gui.gui.panels.runs.view import RunsView

    window = make_window(back_tabs_later=True)
    window.structure_dock.hide()  # a layout saved with the Network dock closed: the tree never paints
    runs_index = window.tabs.count() - 1
    assert not window.analysis.built and type(window.tabs.widget(runs_index)) is QWidget  # empty pages for now
    painted = []
    window.firstPainted.connect(lambda: painted.append(window.analysis.built))
    qtbot.waitUntil(lambda: window.analysis.built and isinstance(window.tabs.widget(runs_index), RunsView),
                    timeout=20000)
    assert painted == [False]  # painted first, built after
    eager = make_window()
    assert ([window.tabs.tabText(i) for i in range(window.tabs.count())]
            == [eager.tabs.tabText(i) for i in range(eager.tabs.count())])
    assert window.analysis.explain.weights_label.text().startswith("Weights: pretrained")
    assert window.tabs.widget(runs_index) is window.runs_view


@pytest.mark.slow
def test_quitting_before_torch_has_loaded_leaves_the_collector_on(tmp_path):
    code = """
import gc
from cnn_gui.gui import app
assert app.run() == 0  # CNN_GUI_EXIT_AFTER_SHOW=1: quits once the loading window shows
print(gc.isenabled())
"""
    proc = child(code, CNN_GUI_SETTINGS_DIR=str(tmp_path / "s"), CNN_GUI_EXIT_AFTER_SHOW="1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "True"
