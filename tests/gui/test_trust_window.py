"""The window meets hostile files of its own: a damaged settings file, a FIFO where a file is read or written."""

import os
import stat

import pytest
from bounded import finishes

from cnn_gui.gui import settings as settings_mod


def test_a_settings_file_nested_200000_deep_never_keeps_the_window_from_opening(make_window):
    s = settings_mod.open_settings()
    s.setValue(settings_mod.KEY_TRAINING, "[" * 200_000 + "]" * 200_000)
    s.sync()
    assert settings_mod.read_json(s, settings_mod.KEY_TRAINING) is None
    window = make_window()
    assert window.training_panel.config().epochs >= 1


def test_the_model_file_dialog_never_waits_on_a_fifo_and_reads_classes_in_linear_time(tmp_path, monkeypatch):
    from cnn_gui.gui.panels.structure import dialogs

    fifo = tmp_path / "model.py"
    os.mkfifo(fifo)
    big = tmp_path / "big.py"
    big.write_text("\n" * 500_000 + "class Net(nn.Module):\n    pass\n")
    offered = []
    for path in (fifo, big):
        monkeypatch.setattr(dialogs.QFileDialog, "getOpenFileName", lambda *a, p=path, **k: (str(p), ""))
        monkeypatch.setattr(dialogs.QInputDialog, "getItem", lambda *a, **k: (offered.append(a[3]) or "Net", True))
        monkeypatch.setattr(dialogs.QInputDialog, "getText", lambda *a, **k: (offered.append([]) or "Net", True))
        assert finishes(lambda: dialogs.ask_user_model(None), 5).endswith(":Net")
    assert offered == [[], ["Net"]]  # the FIFO: nothing read, the class typed; the big file: its class found


def test_exporting_the_plot_onto_a_fifo_is_refused_at_once(make_window, tmp_path):
    window = make_window()
    fifo = tmp_path / "plot.png"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="FIFO|regular"):  # on the GUI thread, as the menu calls it
        window.plots.export_png(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    written = window.plots.export_png(tmp_path / "plot2.png")
    assert written.read_bytes().startswith(b"\x89PNG")


def test_the_training_panel_shows_a_files_rate_and_epochs_as_they_are(make_window):
    from cnn_gui.core.config import TrainConfig

    panel = make_window().training_panel
    panel.set_config(TrainConfig(lr=1.2345e-4, epochs=5000))
    cfg = panel.config()
    assert cfg.lr == pytest.approx(1.23e-4, rel=0.01) and cfg.epochs == 5000
    panel.set_config(TrainConfig(lr=2e-6))
    assert panel.config().lr == pytest.approx(2e-6)
