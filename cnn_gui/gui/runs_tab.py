"""The window's Runs tab: its folders from the settings, and its links to the session.

Made when the window first needs it (:attr:`MainWindow.runs_view`): right after the first
paint in ``cnn-gui``, at once in a window made with ``back_tabs_later=False``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnn_gui.core.runs.followed import followed_folders, stored_form
from cnn_gui.core.runs.layout import resolve_runs_dir
from cnn_gui.gui import settings as settings_mod

if TYPE_CHECKING:
    from cnn_gui.gui.panels.runs.view import RunsView


def build_runs_view(window, runs_dir=None) -> "RunsView":
    """A RunsView of ``runs_dir`` (default: the settings' folder), wired to ``window``."""
    from cnn_gui.gui.panels.runs.view import RunsView  # its plots load when the tab is made

    settings = settings_mod.open_settings()
    own_runs = resolve_runs_dir(runs_dir or settings_mod.read_str(settings, settings_mod.KEY_RUNS_DIR) or None)
    view = RunsView(own_runs, followed=followed_folders(settings_mod.read_str(settings, settings_mod.KEY_RUNS_FOLLOWED),
                                                        own_runs))
    session = window.session
    view.loadWeightsRequested.connect(lambda path: window.open_checkpoint(path))
    view.holds_canvas_weights = session.kept_only_in  # the delete dialog says so
    view.runsDeleted.connect(session.files_removed)  # weights kept only there: unsaved
    view.runRenamed.connect(session.run_renamed)
    view.runsDirChanged.connect(lambda path: settings_mod.open_settings().setValue(settings_mod.KEY_RUNS_DIR, path))
    view.followedChanged.connect(lambda folders: settings_mod.open_settings().setValue(
        settings_mod.KEY_RUNS_FOLLOWED, stored_form(folders)))
    return view
