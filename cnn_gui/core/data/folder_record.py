"""Finding the image folder a checkpoint names, and saying when it changed since training.

A checkpoint records a folder dataset by its name, image count and fingerprint only
(:mod:`cnn_gui.core.data.folder_names`). Whatever needs its images (``train --resume``,
``evaluate``, the Test set tab, the window's dataset list) finds the folder again with
:func:`locate_folder`, looking, in this order, at:

1. the folder the user names (``--dataset folder:PATH``; the window's Image folder…);
2. the path itself, when the name is one (a checkpoint from before names were recorded,
   whose absolute path still exists: it opens as it always did);
3. ``run.json`` beside the checkpoint: a run's own record keeps the absolute path;
4. the folders of that name loaded or chosen in this process (one whose fingerprint
   matches first), newest first;
5. the newest :data:`RUNS_LOOKED_AT` runs of the runs folder that trained on a folder of
   that name, newest first;
6. a folder of that name in the current directory.

Only a folder that exists and has the recorded name is taken (2 and 1 excepted), and it
is remembered as 4 for the rest of the process (the window's list, a resumed run). The
images found are then checked against the checkpoint (:func:`folder_change`): a different
fingerprint, image count or class list is one line in the dataset's ``note``
("the folder changed since training: 180 images then, 192 now").
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from cnn_gui.core.data.folder_names import (folder_name, folder_path, is_folder_dataset, is_located,
                                            located_name)
from cnn_gui.core.errors import one_line

if TYPE_CHECKING:
    from cnn_gui.core.data.image_dataset import ImageDataset

RUNS_LOOKED_AT = 200  # run.json files read at most when looking for a folder (~20 ms)
_REMEMBERED = 50
_NAMES = 60  # characters of a class list in a note

_used: "OrderedDict[str, str]" = OrderedDict()  # absolute path -> fingerprint ("" unknown), newest last
_used_lock = threading.Lock()


def remember_folder(path: str | os.PathLike, fingerprint: str = "") -> None:
    """``path`` (absolute) was loaded or chosen in this process; a known fingerprint is kept."""
    key = str(path)
    with _used_lock:
        old = _used.pop(key, "")
        _used[key] = fingerprint or old
        while len(_used) > _REMEMBERED:
            _used.popitem(last=False)


def locate_folder(recorded: str, *, near: str | os.PathLike | None = None, explicit: str | None = None,
                  fingerprint: str = "") -> str | None:
    """The ``folder:<absolute path>`` that ``recorded`` (``folder:<name>``, or a legacy
    ``folder:<absolute path>``) means on this machine, or None when it is nowhere to be found.

    ``near``: the checkpoint's path (its run folder's run.json); ``explicit``: what the user
    gave (``folder:PATH`` or a path; taken as it is, loading says if it is not a folder);
    ``fingerprint``: the checkpoint's, to prefer the matching one among same-named folders.
    """
    if explicit:
        return located_name(folder_path(explicit) if is_folder_dataset(explicit) else explicit)
    if not is_folder_dataset(recorded):
        return None
    name = folder_name(recorded)
    legacy = [recorded] if is_located(recorded) else []
    for candidate in _candidates(name, near, fingerprint, legacy):
        try:
            if (candidate in legacy or folder_name(candidate) == name) and os.path.isdir(folder_path(candidate)):
                found = located_name(folder_path(candidate))
                remember_folder(folder_path(found))  # the window's list and a resumed run find it too
                return found
        except (OSError, ValueError):  # a NUL byte, a path too long: not this one
            continue
    return None


def _candidates(name: str, near, fingerprint: str, legacy: list[str]) -> Iterator[str]:
    yield from legacy
    if near is not None:
        own = _run_dataset(Path(near).parent)
        if own:
            yield own
    with _used_lock:
        used = list(reversed(_used.items()))
    yield from (located_name(p) for p, fp in used if fingerprint and fp == fingerprint)
    yield from (located_name(p) for p, _ in used)
    yield from _recent_runs_datasets()
    if name:
        yield located_name(Path.cwd() / name)


def _run_dataset(folder: Path) -> str | None:
    """The folder dataset a run folder's run.json names (absolute), else None."""
    from cnn_gui.core.runs.layout import RunsError
    from cnn_gui.core.runs.reader import read_info

    try:
        doc = read_info(folder)
    except (RunsError, OSError, ValueError):
        return None
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    for value in (config.get("dataset"), doc.get("dataset")):
        if is_located(value):
            return value
    return None


def _recent_runs_datasets() -> Iterator[str]:
    from cnn_gui.core.runs.layout import RunsError, resolve_runs_dir, run_folders

    try:
        folders = sorted(run_folders(resolve_runs_dir()), key=lambda f: f.name, reverse=True)
    except (RunsError, OSError):
        return
    for folder in folders[:RUNS_LOOKED_AT]:  # named by their start time: the newest first
        found = _run_dataset(folder)
        if found:
            yield found


def require_folder(recorded: str, meta=None, *, near=None, explicit: str | None = None) -> str:
    """:func:`locate_folder`, or a one-line DatasetError saying how to give the folder."""
    from cnn_gui.core.data.errors import DatasetError

    found = locate_folder(recorded, near=near, explicit=explicit,
                          fingerprint=getattr(meta, "dataset_fingerprint", "") or "")
    if found is not None:
        return found
    images = int(getattr(meta, "dataset_images", 0) or 0)
    count = f", {images:,} images" if images else ""
    raise DatasetError(
        f"these weights were trained on the image folder {one_line(folder_name(recorded), 80)!r}{count}; "
        "a checkpoint records its name, not where it is, and it is not beside the run or in the recent runs",
        hint="give it: --dataset folder:PATH, or Dataset > Image folder… in the window")


def folder_change(data: "ImageDataset", meta) -> str:
    """One line when ``data`` (a folder) is not the folder ``meta`` (a checkpoint's
    metadata) was trained on as recorded, else "". A checkpoint from before the
    fingerprint was recorded is compared by its classes only."""
    recorded = getattr(meta, "dataset", "")
    if not (is_folder_dataset(recorded) and is_folder_dataset(data.name)):
        return ""
    info = data.info
    then_images = int(getattr(meta, "dataset_images", 0) or 0)
    then_print = getattr(meta, "dataset_fingerprint", "") or ""
    if then_print and then_print == info.fingerprint:
        return ""
    old, new = folder_name(recorded), folder_name(data.name)
    if tuple(meta.classes) != tuple(info.classes):
        detail = f"classes {_names(meta.classes)} then, {_names(info.classes)} now"
    elif then_images and then_images != info.images:
        detail = f"{then_images:,} images then, {info.images:,} now"
    elif then_print and info.fingerprint:
        detail = f"{info.images:,} images then and now, but not the same ones"
    else:
        return ""
    lead = ("the folder changed since training" if old == new
            else f"not the folder these weights were trained on ({one_line(old, 60)})")
    return one_line(f"{lead}: {detail}")


def checked_against(data: "ImageDataset", meta) -> "ImageDataset":
    """``data`` with :func:`folder_change`'s line as its remark (in ``data.note``), if any."""
    change = folder_change(data, meta)
    return data.with_remark(change) if change else data


def _names(classes) -> str:
    return one_line(", ".join(str(c) for c in classes), _NAMES)
