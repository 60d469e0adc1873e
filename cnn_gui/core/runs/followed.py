"""Runs folders followed besides one's own: a mounted share of a GPU server, a synced folder.

The window writes its runs into its own runs folder and can also *follow* others, where
``cnn-gui train`` on another machine writes (``--runs-dir /shared/runs``). What is kept
is the list of their paths (in the window's settings); this module checks that list once,
where it is read, and says whether a followed folder can be reached.

Rules, decided here:

- A followed folder is never the own folder, never twice, at most :data:`MAX_FOLLOWED`.
- Following means polling (a ``stat`` per run file once a second), which also works on
  network file systems where change notifications never arrive.
- A followed folder that is missing is *unreachable* (an unmounted share, a sync client
  that has not started), not empty: its runs leave the table until it comes back, and
  one line says since when, never a dialog. The own folder missing simply has no runs
  yet (the first run makes it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cnn_gui.core.runs.layout import RunsError

MAX_FOLLOWED = 12  # each is polled once a second on its own thread
MAX_PATH_CHARS = 4096
UNREACHABLE_MISSING = "not found (an unmounted share or a removed folder?)"


def _same(a: Path, b: Path) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def _clean(value: object) -> Path | None:
    """A stored value as a folder path, or None when it cannot be one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_PATH_CHARS or any(ord(c) < 32 for c in text):
        return None
    return Path(text).expanduser()


def followed_folders(stored: object, own: str | os.PathLike) -> list[Path]:
    """The followed folders from what the settings hold: a JSON list of paths (or the list
    itself). Anything else, entries that are not paths, duplicates, the own folder and those
    past :data:`MAX_FOLLOWED` are dropped: a damaged settings file never stops the window."""
    if isinstance(stored, str):
        if len(stored) > MAX_FOLLOWED * (MAX_PATH_CHARS + 8):
            return []
        try:
            stored = json.loads(stored) if stored.strip() else []
        except (ValueError, RecursionError):
            return []
    if not isinstance(stored, list):
        return []
    out: list[Path] = []
    for value in stored:
        path = _clean(value)
        if path is None or _same(path, Path(own)) or any(_same(path, p) for p in out):
            continue
        out.append(path)
        if len(out) == MAX_FOLLOWED:
            break
    return out


def stored_form(folders: list[Path]) -> str:
    """What the settings keep: the folders as a JSON list of strings."""
    return json.dumps([str(f) for f in folders])


def with_folder(folders: list[Path], folder: str | os.PathLike, own: str | os.PathLike) -> list[Path]:
    """``folders`` and ``folder`` after them; RunsError (one line) when it cannot be followed."""
    path = _clean(str(folder))
    if path is None:
        raise RunsError(f"{str(folder)!r} is not a folder's path")
    if _same(path, Path(own)):
        raise RunsError(f"{path} is this window's own runs folder: its runs are shown already")
    if any(_same(path, p) for p in folders):
        raise RunsError(f"{path} is followed already")
    if len(folders) >= MAX_FOLLOWED:
        raise RunsError(f"at most {MAX_FOLLOWED} runs folders can be followed; stop following one first")
    return [*folders, path]


def without_folder(folders: list[Path], folder: str | os.PathLike) -> list[Path]:
    return [p for p in folders if not _same(p, Path(folder))]


def check_reachable(folder: Path) -> None:
    """RunsError with the reason when a followed ``folder`` cannot be reached now."""
    try:
        if not folder.is_dir():
            raise RunsError(UNREACHABLE_MISSING if not folder.exists() else f"{folder} is not a folder")
    except OSError as exc:  # a share that answers with an error (stale handle, no permission)
        raise RunsError(f"cannot be read: {exc.strerror or exc}") from exc


def short_names(folders: list[Path]) -> dict[Path, str]:
    """A short name for each folder that tells them apart: its own name, with as many of its
    parents as needed (``runs`` and ``runs``: ``home/runs``, ``gpu-server/runs``)."""
    parts = {f: Path(os.path.abspath(f)).parts for f in folders}
    names: dict[Path, str] = {}
    for folder in folders:
        mine = parts[folder]
        depth = 1
        while depth < len(mine):
            tail = mine[-depth:]
            if all(other == mine or other[-depth:] != tail for other in parts.values()):
                break
            depth += 1
        names[folder] = "/".join(p.strip("/\\") or "/" for p in mine[-depth:]) or str(folder)
    return names
