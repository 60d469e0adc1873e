"""Fixtures for the window tests: private settings, a small MNIST, a window that records errors."""

import pytest


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    """QSettings go to a temporary folder, never the user's own (see cnn_gui.gui.settings)."""
    folder = tmp_path / "settings"
    monkeypatch.setenv("CNN_GUI_SETTINGS_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def mnist_small():
    from cnn_gui.core.data.datasets import load_dataset

    return load_dataset("mnist").subset(2000, 500)


@pytest.fixture(scope="session")
def mnist_large():
    from cnn_gui.core.data.datasets import load_dataset

    return load_dataset("mnist").subset(20000, 500)


@pytest.fixture
def make_window(qtbot):
    """``make_window(**kwargs)``: a shown MainWindow whose show_error records into ``window.errors``."""
    from cnn_gui.gui.app import create_window

    windows = []

    def make(**kwargs):
        window = create_window(**kwargs)
        window.errors = []
        window.show_error = lambda title, text: window.errors.append((title, text))
        window.discard_asked = []  # a test that wants "save" or "cancel" replaces ask_discard itself
        window.ask_discard = lambda what: window.discard_asked.append(what) or "discard"
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        try:
            window.shutdown(10000)
        except RuntimeError:
            pass  # already deleted
