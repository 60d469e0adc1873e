"""How a folder dataset is named where, without importing torch (the runs package uses it too).

**Decision (issue 17): a path stays on the machine it names.**

- In memory, in ``run.json`` and in the window, a folder dataset is ``folder:<absolute
  path>`` (:func:`located_name`): what loads it. ``run.json`` keeps it because it stays on
  the user's own machine; it is how a run's checkpoint finds its folder again.
- In a checkpoint (``dataset`` and ``config["dataset"]``) and in an export's metadata it is
  ``folder:<the folder's name>`` (:func:`recorded_name`), beside ``dataset_images`` (train
  + test) and ``dataset_fingerprint`` (a digest of the prepared images): enough to know the
  data again, nothing about the home folder it was in. A shared file does not leak names.
- A run folder is named after the folder's name, and the Runs tab shows ``folder:<name>``
  (:func:`shown_dataset`) and a user's model as ``user:<Class>`` (:func:`shown_model`); the
  whole path is in the tooltip only.

Finding a recorded folder again is :mod:`cnn_gui.core.data.folder_record`'s job.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
from pathlib import Path

FOLDER_PREFIX = "folder:"
USER_PREFIX = "user:"


def is_folder_dataset(name: object) -> bool:
    """``folder:PATH``: the user's own images (see :mod:`cnn_gui.core.data.image_folder`)."""
    return isinstance(name, str) and name.startswith(FOLDER_PREFIX)


def folder_path(name: str) -> str:
    """The PATH of ``folder:PATH`` (as written: a name, a relative or an absolute path)."""
    return name[len(FOLDER_PREFIX):].strip()


def folder_name(name: str) -> str:
    """The folder's own name: ``shapes`` of ``folder:/home/me/shapes``, ``folder:C:\\data\\shapes``
    or ``folder:shapes``; "" when there is none (``folder:/``)."""
    text = folder_path(name)
    windows = "\\" in text and not text.startswith("/")
    module = ntpath if windows else posixpath
    return module.basename(module.normpath(text).rstrip("/\\")) if text else ""


def is_located(name: object) -> bool:
    """A folder dataset named by an absolute path (what loads it), not by its name alone."""
    if not is_folder_dataset(name):
        return False
    text = folder_path(name)
    return os.path.isabs(text) or (ntpath.isabs(text) and ":" in text[:3])


def located_name(path: str | os.PathLike) -> str:
    """The name a folder is loaded and remembered under: ``folder:`` and its absolute path."""
    return FOLDER_PREFIX + str(Path(path).expanduser().resolve())


def recorded_name(name: str) -> str:
    """What a checkpoint or an export records for dataset ``name``: a folder by its name only
    (``folder:shapes``), every other dataset as it is."""
    if not is_folder_dataset(name):
        return name
    return FOLDER_PREFIX + (folder_name(name) or "folder")


def shown_dataset(name: str) -> str:
    """A dataset as a list shows it: a folder by its name (:func:`recorded_name`)."""
    return recorded_name(name) if name else name


def shown_model(name: str) -> str:
    """A model as a list shows it: a user's ``path/to/file.py:Net`` as ``user:Net``."""
    if isinstance(name, str) and ".py:" in name:
        return USER_PREFIX + name.rpartition(":")[2]
    return name
