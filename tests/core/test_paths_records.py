"""A path stays on the machine it names (issue 17, "Paths"): a checkpoint and an export record
an image folder by its name, image count and fingerprint; run.json keeps the absolute path;
the folder is found again beside the run, among the recent runs, or where the user says.

The fast half: names, the metadata fields, locating, and the change note. Training,
resuming and exporting for real: tests/core/test_paths_runs.py."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import pytest
import torch

from cnn_gui.core.data import folder_record, image_folder
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.errors import DatasetError
from cnn_gui.core.data.folder_names import (folder_name, is_located, located_name, recorded_name, shown_dataset,
                                            shown_model)
from cnn_gui.core.data.folder_record import checked_against, folder_change, locate_folder, require_folder
from cnn_gui.core.files.checkpoint_meta import CheckpointError, CheckpointMeta, meta_from_doc
from cnn_gui.core.files.export import export_metadata
from cnn_gui.core.runs.layout import run_stem
from cnn_gui.core.runs.reader import read_run
from cnn_gui.core.runs.writer import write_info
from cnn_gui.core.weights import checkpoint_dataset

sys.path.insert(0, str(Path(__file__).parent))
from test_own_images import draw_doodles  # noqa: E402


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No folder remembered from another test, an empty runs folder, and a working directory
    without a folder of the same name."""
    image_folder.clear_cache()
    monkeypatch.setattr(folder_record, "_used", type(folder_record._used)())
    monkeypatch.setenv("CNN_GUI_RUNS_DIR", str(tmp_path / "no-runs"))
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    yield
    image_folder.clear_cache()


@pytest.fixture
def shapes(tmp_path) -> Path:
    return draw_doodles(tmp_path / "home" / "someone" / "shapes", train=4, test=2, size=28)


def _meta(dataset: str, **extra) -> CheckpointMeta:
    config = {"model": "mnist-cnn", "dataset": dataset, "epochs": 1}
    return CheckpointMeta(architecture="mnist-cnn", input_shape=(1, 28, 28), classes=["circle", "square", "triangle"],
                          mean=[0.5], std=[0.5], dataset=dataset, config=config, **extra)


def test_a_folder_is_named_by_its_name_where_it_is_recorded_or_shown():
    assert recorded_name("folder:/home/zqxj/pictures/shapes") == "folder:shapes"
    assert recorded_name("folder:C:\\Users\\zqxj\\shapes\\") == "folder:shapes"
    assert recorded_name("folder:shapes") == "folder:shapes"
    assert recorded_name("folder:/") == "folder:folder"
    assert recorded_name("mnist") == "mnist"
    assert folder_name("folder:/a/b/my shapes/") == "my shapes"
    assert is_located("folder:/a/b") and is_located("folder:C:\\a\\b")
    assert not is_located("folder:shapes") and not is_located("mnist") and not is_located(None)
    assert shown_dataset("folder:/home/zqxj/shapes") == "folder:shapes"
    assert shown_model("/home/zqxj/nets/my.py:Net") == "user:Net" and shown_model("mnist-cnn") == "mnist-cnn"
    when = datetime(2025, 1, 2, 3, 4, 5)
    assert run_stem("mnist-cnn", "folder:/home/zqxj/pictures/shapes", when) == "20250102-030405-mnist-cnn-shapes"
    assert "zqxj" not in run_stem("/home/zqxj/nets/my.py:Net", "folder:/home/zqxj/x", when)


def test_checkpoint_metadata_never_holds_the_folders_path(tmp_path):
    """Whoever builds the metadata (a trainer, the session, a re-saved old file), what is
    written names the folder only; the identity fields are checked like every other field."""
    secret = "/home/zqxj/pictures/shapes"
    meta = _meta(f"folder:{secret}", dataset_images=180, dataset_fingerprint="0a" * 16)
    text = meta.to_json()
    assert secret not in text and "zqxj" not in text
    doc = json.loads(text)
    assert doc["dataset"] == doc["config"]["dataset"] == "folder:shapes"
    assert (doc["dataset_images"], doc["dataset_fingerprint"]) == (180, "0a" * 16)
    assert meta.dataset == f"folder:{secret}"  # the object in memory keeps it: only the file does not
    back = meta_from_doc(doc)
    assert (back.dataset, back.dataset_images, back.dataset_fingerprint) == ("folder:shapes", 180, "0a" * 16)
    for field, value in (("dataset_fingerprint", "not hex!"), ("dataset_fingerprint", "A" * 32),
                         ("dataset_fingerprint", "0" * 129), ("dataset_fingerprint", 7),
                         ("dataset_images", -1), ("dataset_images", 1.5), ("dataset_images", 10**16)):
        with pytest.raises(CheckpointError, match=field):
            meta_from_doc({**doc, field: value})
    old = {k: v for k, v in doc.items() if not k.startswith("dataset_")}
    assert (meta_from_doc(old).dataset_images, meta_from_doc(old).dataset_fingerprint) == (0, "")


def test_export_metadata_names_the_folder_its_images_and_fingerprint_never_the_path():
    meta = _meta("folder:/home/zqxj/pictures/shapes", dataset_images=180, dataset_fingerprint="ab" * 16)
    doc = export_metadata(meta, 3, "checkpoint.safetensors")
    assert "zqxj" not in json.dumps(doc)
    assert (doc["dataset"], doc["dataset_images"], doc["dataset_fingerprint"]) == ("folder:shapes", 180, "ab" * 16)
    legacy = export_metadata(_meta("folder:/home/zqxj/shapes"), 3)  # an old checkpoint with the path
    assert legacy["dataset"] == "folder:shapes" and legacy["dataset_images"] is None
    assert export_metadata(_meta("mnist"), 3)["dataset"] == "mnist"


def test_a_folder_dataset_has_a_fingerprint_and_an_image_count_that_change_with_it(shapes):
    data = load_dataset(f"folder:{shapes}")
    assert data.name == located_name(shapes)  # the absolute path, in memory
    assert data.info.images == data.train_size + data.test_size == 18
    assert len(data.info.fingerprint) == 32 and int(data.info.fingerprint, 16) >= 0
    image_folder.clear_cache()
    assert load_dataset(f"folder:{shapes}").info.fingerprint == data.info.fingerprint  # computed, not cached
    (shapes / "test" / "circle" / "000.png").write_bytes((shapes / "test" / "square" / "000.png").read_bytes())
    image_folder.clear_cache()
    changed = load_dataset(f"folder:{shapes}")
    assert changed.info.images == 18 and changed.info.fingerprint != data.info.fingerprint
    assert load_dataset("mnist").info.fingerprint == ""  # a named dataset's name says it all


def _run_folder(runs: Path, name: str, dataset: str, model: str = "mnist-cnn") -> Path:
    folder = runs / name
    folder.mkdir(parents=True)
    write_info(folder / "run.json", {"format": "cnn-gui-run", "format_version": 1, "name": name,
                                     "status": "finished", "started": "2025-01-01T00:00:00+00:00",
                                     "model": model, "dataset": dataset,
                                     "config": {"model": model, "dataset": dataset}})
    return folder


def test_the_folder_is_found_beside_the_run_then_in_the_recent_runs(shapes, tmp_path, monkeypatch):
    assert locate_folder("folder:shapes") is None  # nowhere yet
    with pytest.raises(DatasetError, match=r"image folder 'shapes', 18 images") as missing:
        require_folder("folder:shapes", _meta("folder:shapes", dataset_images=18))
    assert "--dataset folder:PATH" in missing.value.full_text()

    run = _run_folder(tmp_path / "runs", "20250101-000000-mnist-cnn-shapes", located_name(shapes))
    assert locate_folder("folder:shapes", near=run / "checkpoint.safetensors") == located_name(shapes)
    monkeypatch.setenv("CNN_GUI_RUNS_DIR", str(tmp_path / "runs"))
    assert locate_folder("folder:shapes") == located_name(shapes)  # from the recent runs
    assert locate_folder("folder:other") is None  # only a folder of the recorded name
    assert checkpoint_dataset(_meta("folder:shapes")) == located_name(shapes)
    assert locate_folder("folder:shapes", explicit="folder:../x") == located_name(Path.cwd() / "../x")


def test_the_user_folder_and_an_old_checkpoints_path_are_taken_first(shapes, tmp_path):
    copy = draw_doodles(tmp_path / "elsewhere" / "shapes", train=4, test=2, size=28)
    assert locate_folder("folder:shapes") == located_name(copy)  # the current directory, last
    # an old checkpoint that recorded the absolute path: still opens with it while it exists,
    # and the folder found is remembered: it beats the current directory from now on
    assert locate_folder(f"folder:{shapes}") == located_name(shapes)
    assert locate_folder("folder:shapes") == located_name(shapes)
    # among several of that name, the one whose fingerprint matches the checkpoint's
    data = load_dataset(f"folder:{copy}")
    folder_record.remember_folder(str(shapes.resolve()))  # the newest, but not the same images
    assert locate_folder("folder:shapes", fingerprint=data.info.fingerprint) == located_name(copy)


def test_a_changed_folder_says_so_in_one_line(shapes):
    data = load_dataset(f"folder:{shapes}")
    same = _meta("folder:shapes", dataset_images=18, dataset_fingerprint=data.info.fingerprint)
    assert folder_change(data, same) == "" and checked_against(data, same).note == ""
    assert folder_change(data, _meta("folder:shapes")) == ""  # an old checkpoint: same classes, nothing to say
    more = _meta("folder:shapes", dataset_images=15, dataset_fingerprint="0" * 32)
    assert folder_change(data, more) == "the folder changed since training: 15 images then, 18 now"
    checked = checked_against(data, more)
    assert checked.note == "the folder changed since training: 15 images then, 18 now"
    assert torch.equal(checked.train_images, data.train_images)
    other = _meta("folder:shapes", dataset_images=18, dataset_fingerprint="0" * 32)
    assert folder_change(data, other) == "the folder changed since training: 18 images then and now, but not the same ones"
    classes = CheckpointMeta(**{**other.__dict__, "classes": ["circle", "square"]})
    assert "classes circle, square then, circle, square, triangle now" in folder_change(data, classes)
    renamed = _meta("folder:doodles", dataset_images=12, dataset_fingerprint="0" * 32)
    assert folder_change(data, renamed).startswith("not the folder these weights were trained on (doodles): 12 images")
    assert "\n" not in folder_change(data, classes)


def test_the_runs_list_shows_names_and_keeps_the_paths_for_a_tooltip(tmp_path):
    run = read_run(_run_folder(tmp_path, "r", "folder:/home/zqxj/pictures/shapes", "/home/zqxj/nets/my.py:Net"))
    assert (run.model, run.dataset) == ("user:Net", "folder:shapes")
    assert (run.model_source, run.dataset_source) == ("/home/zqxj/nets/my.py:Net", "folder:/home/zqxj/pictures/shapes")
    plain = read_run(_run_folder(tmp_path, "m", "mnist"))
    assert (plain.model, plain.dataset, plain.model_source) == ("mnist-cnn", "mnist", "mnist-cnn")

