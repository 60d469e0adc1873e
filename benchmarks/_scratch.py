"""Temporary folders for a benchmark's settings, runs and data, removed when it exits.

A benchmark that trains records runs (tens of MB each, with their snapshots); left in the
system's temporary folder, a few benchmark sessions fill a disk.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Set in a benchmark's environment once its folders are chosen: the processes it starts
# (a headless child, a benchmark importing another) keep them.
CHILD_ENV = "CNN_GUI_BENCH_FOLDERS_SET"


def scratch_dir(prefix: str) -> str:
    """A new empty folder, removed with everything in it when the process exits."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, True)
    return folder


def bench_folders(name: str) -> None:
    """The window's settings and runs folders (CNN_GUI_SETTINGS_DIR, CNN_GUI_RUNS_DIR) in
    scratch folders: never the user's, not even folders the user exported these variables for.
    A process the benchmark started keeps its parent's (it inherits :data:`CHILD_ENV`)."""
    if os.environ.get(CHILD_ENV) == "1":
        return
    os.environ["CNN_GUI_SETTINGS_DIR"] = scratch_dir(prefix=f"cnn-gui-{name}-settings-")
    os.environ["CNN_GUI_RUNS_DIR"] = scratch_dir(prefix=f"cnn-gui-{name}-runs-")
    os.environ[CHILD_ENV] = "1"
