"""Temporary folders for a benchmark's settings, runs and data, removed when it exits.

A benchmark that trains records runs (tens of MB each, with their snapshots); left in the
system's temporary folder, a few benchmark sessions fill a disk.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile


def scratch_dir(prefix: str) -> str:
    """A new empty folder, removed with everything in it when the process exits."""
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, True)
    return folder
