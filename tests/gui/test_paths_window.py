"""The window opens a folder checkpoint that records the folder's name only (issue 17, "Paths"):
the dataset list finds the folder through the run's run.json, the same-named folder already
listed, or says it is not found; the session and the Test set tab get the folder's path."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from cnn_gui.core.data import folder_record, image_folder
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.folder_names import located_name
from cnn_gui.core.files.checkpoints import load_checkpoint
from cnn_gui.core.training.engine import Trainer
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.runs.writer import write_info
from tests.core.test_own_images import draw_doodles


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    image_folder.clear_cache()
    monkeypatch.setattr(folder_record, "_used", type(folder_record._used)())
    monkeypatch.setenv("CNN_GUI_RUNS_DIR", str(tmp_path / "no-runs"))
    monkeypatch.chdir(tmp_path)
    yield
    image_folder.clear_cache()


@pytest.fixture
def saved(tmp_path):
    """A folder checkpoint (trained for one step) in a run folder whose run.json names the folder."""
    folder = draw_doodles(tmp_path / "home" / "zq-private" / "shapes", train=4, test=2, size=28)
    data = load_dataset(f"folder:{folder}")
    trainer = Trainer(TrainConfig(dataset=data.name, epochs=1, batch_size=8, max_batches=1, device="cpu"), data=data)
    trainer.fit()
    run = tmp_path / "run"
    run.mkdir()
    path = trainer.save_checkpoint(run / "checkpoint.safetensors")
    assert load_checkpoint(path).meta.dataset == "folder:shapes"
    write_info(run / "run.json", {"format": "cnn-gui-run", "format_version": 1, "status": "finished",
                                  "started": "2025-01-01T00:00:00+00:00", "config": trainer.config.to_dict()})
    image_folder.clear_cache()
    folder_record._used.clear()
    return folder, run


def _current(window):
    combo = window.training_panel.dataset_combo
    return combo.currentData(), combo.currentText(), combo.itemData(combo.currentIndex(), Qt.ItemDataRole.ToolTipRole)


def test_a_run_checkpoint_finds_its_folder_through_run_json(make_window, qtbot, saved):
    folder, run = saved
    window = make_window()
    window.open_checkpoint(str(run / "checkpoint.safetensors"), background=False)
    assert window.errors == []
    assert window.session.dataset == located_name(folder)  # what the Test set tab loads
    data, text, tip = _current(window)
    assert (data, text, tip) == (located_name(folder), "Folder: shapes", str(folder.resolve()))


def test_a_checkpoint_alone_takes_the_listed_folder_of_its_name_or_says_it_is_not_found(make_window, qtbot, saved,
                                                                                       tmp_path):
    folder, run = saved
    alone = tmp_path / "shared.safetensors"
    alone.write_bytes((run / "checkpoint.safetensors").read_bytes())
    window = make_window()
    window.open_checkpoint(str(alone), background=False)
    assert window.errors == []
    data, text, tip = _current(window)
    assert (data, text) == ("folder:shapes", "Folder: shapes (not found)") and "Image folder…" in tip

    window.training_panel.set_dataset(located_name(folder))  # the user chooses it (Image folder…)
    window.open_checkpoint(str(alone), background=False)
    assert _current(window)[0] == located_name(folder)
    assert window.session.dataset == located_name(folder)  # remembered: the session finds it too


def test_the_runs_table_shows_names_and_the_paths_only_in_tooltips(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from cnn_gui.gui.panels.runs.table_model import RunsTableModel
    from tests.core.test_paths_records import _run_folder, read_run

    run = read_run(_run_folder(tmp_path, "r", "folder:/home/zqxj/pictures/shapes", "/home/zqxj/nets/my.py:Net"))
    table = RunsTableModel()
    table.set_runs([run])
    cols = table.COLUMNS
    cell = {c: table.index(0, cols.index(c)) for c in ("Model", "Dataset")}
    shown = {c: table.data(i, Qt.ItemDataRole.DisplayRole) for c, i in cell.items()}
    tips = {c: table.data(i, Qt.ItemDataRole.ToolTipRole) for c, i in cell.items()}
    assert "zqxj" not in shown["Model"] + shown["Dataset"]
    assert tips == {"Model": "/home/zqxj/nets/my.py:Net", "Dataset": "folder:/home/zqxj/pictures/shapes"}
