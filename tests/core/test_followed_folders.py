"""Runs folders followed besides the own one: the list the settings keep is checked once,
and a followed folder that is missing reads as unreachable, not as empty."""

import json
from pathlib import Path

import pytest

from cnn_gui.core.runs.followed import (MAX_FOLLOWED, UNREACHABLE_MISSING, check_reachable, followed_folders,
                                        short_names, stored_form, with_folder, without_folder)
from cnn_gui.core.runs.layout import RunsError


def test_the_stored_list_round_trips(tmp_path):
    own = tmp_path / "own"
    folders = [tmp_path / "server", tmp_path / "synced"]
    assert followed_folders(stored_form(folders), own) == folders


@pytest.mark.parametrize("stored", ["", "not json", "{\"a\": 1}", "42", json.dumps("x"), "[" * 100_000,
                                    None, 3.5, {"x": 1}])
def test_damaged_settings_follow_nothing(tmp_path, stored):
    assert followed_folders(stored, tmp_path) == []


def test_entries_that_are_no_folders_duplicates_and_the_own_folder_are_dropped(tmp_path):
    own = tmp_path / "own"
    stored = json.dumps([str(own), str(tmp_path / "a"), 7, None, "", "  ", "bad\x00name", "x" * 5000,
                         str(tmp_path / "a"), str(tmp_path / "a" / ".." / "a"), str(tmp_path / "b")])
    assert followed_folders(stored, own) == [tmp_path / "a", tmp_path / "b"]


def test_at_most_max_followed_are_kept(tmp_path):
    stored = json.dumps([str(tmp_path / f"f{i}") for i in range(MAX_FOLLOWED + 5)])
    assert len(followed_folders(stored, tmp_path / "own")) == MAX_FOLLOWED


def test_adding_refuses_the_own_folder_a_repeat_and_one_too_many_in_one_line(tmp_path):
    own = tmp_path / "own"
    folders = with_folder([], tmp_path / "a", own)
    assert folders == [tmp_path / "a"]
    for folder, why in ((own, "own runs folder"), (tmp_path / "a", "followed already"),
                        ("bad\nname", "not a folder's path")):
        with pytest.raises(RunsError, match=why) as info:
            with_folder(folders, folder, own)
        assert "\n" not in str(info.value).replace("bad\\nname", "")
    full = [tmp_path / f"f{i}" for i in range(MAX_FOLLOWED)]
    with pytest.raises(RunsError, match=f"at most {MAX_FOLLOWED}"):
        with_folder(full, tmp_path / "one-more", own)
    assert without_folder([tmp_path / "a", tmp_path / "b"], tmp_path / "a") == [tmp_path / "b"]


def test_a_missing_followed_folder_is_unreachable_and_a_file_is_not_a_folder(tmp_path):
    check_reachable(tmp_path)  # there: no error
    with pytest.raises(RunsError) as info:
        check_reachable(tmp_path / "unmounted")
    assert str(info.value) == UNREACHABLE_MISSING
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunsError, match="is not a folder"):
        check_reachable(tmp_path / "file")


def test_short_names_tell_folders_of_the_same_name_apart():
    folders = [Path("/home/ann/runs"), Path("/mnt/gpu-server/runs"), Path("/mnt/sync/other")]
    assert short_names(folders) == {folders[0]: "ann/runs", folders[1]: "gpu-server/runs",
                                    folders[2]: "other"}
    assert short_names([Path("/a/b/c")]) == {Path("/a/b/c"): "c"}
