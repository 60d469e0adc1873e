"""The two ways loading a dataset fails: :class:`DatasetError` and :class:`DownloadCancelled`.

Every failure is one line saying what failed (the host that did not answer, the corrupt
file, the folder that cannot be written) and a hint saying what to do.
"""

from __future__ import annotations

from cnn_gui.core.errors import CnnGuiError


class DatasetError(CnnGuiError, RuntimeError):
    """A dataset that cannot be loaded: one line saying what failed, a hint saying what to do.

    Still a RuntimeError, as it was before :class:`CnnGuiError` existed, for callers that
    catch that.
    """


class DownloadCancelled(DatasetError):
    """``load_dataset(cancel=...)`` was told to stop during a download; no partial file is left."""
