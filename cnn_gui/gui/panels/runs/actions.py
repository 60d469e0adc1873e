"""What the Runs tab does to the selected runs: rename, delete, export metrics, load weights,
open their folder; as buttons and as the table's context menu.

Files are touched on job threads (:mod:`~cnn_gui.gui.panels.runs.reading`); what an action
did, or why it could not, is one line under the table. Dialogs go through :meth:`confirm`,
:meth:`ask_name` and :meth:`ask_save_path`, which tests replace.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QUrl, Slot
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox

from cnn_gui.core.errors import describe
from cnn_gui.core.runs.manage import rename_run, run_metrics_csv
from cnn_gui.core.runs.reader import Run
from cnn_gui.gui.panels.runs import reading


class RunActions:
    """The actions on the selected runs, mixed into :class:`~cnn_gui.gui.panels.runs.view.RunsView`
    (which has the table, the signals, ``jobs``, ``show_message`` and ``refresh`` they use)."""

    def _build_actions(self) -> None:
        self.rename_action = QAction("Rename…", self)
        self.delete_action = QAction("Delete…", self)
        self.export_action = QAction("Export metrics CSV…", self)
        self.load_action = QAction("Load weights", self)
        self.open_folder_action = QAction("Open folder", self)
        self.rename_action.triggered.connect(self.rename_selected)
        self.delete_action.triggered.connect(self.delete_selected)
        self.export_action.triggered.connect(self.export_selected)
        self.load_action.triggered.connect(self.load_selected)
        self.open_folder_action.triggered.connect(self._open_folder)
        self.load_action.setToolTip("Load this run's final weights (its checkpoint) into the window")

    def _update_actions(self) -> None:
        runs = self.selected_runs()
        one = runs[0] if len(runs) == 1 else None
        self.rename_action.setEnabled(one is not None and one.readable)
        self.delete_action.setEnabled(bool(runs))
        self.export_action.setEnabled(one is not None and one.readable)
        checkpoint = self._checkpoints.get(one.folder) if one is not None else None
        self.load_action.setEnabled(checkpoint is not None)
        self.open_folder_action.setEnabled(True)
        for key, action in (("rename", self.rename_action), ("delete", self.delete_action),
                            ("export", self.export_action), ("load", self.load_action)):
            self.buttons[key].setEnabled(action.isEnabled())
        if one is not None and checkpoint is None and one.readable:
            why = ("it is still running" if one.status == "running" else
                   f"it has no checkpoint ({one.checkpoint_error or one.status})")
            self.buttons["load"].setToolTip(f"Load weights: {why}")
        else:
            self.buttons["load"].setToolTip(self.load_action.toolTip())

    def _context_menu(self, pos) -> None:
        menu = QMenu(self)
        for action in (self.rename_action, self.delete_action, self.export_action, self.load_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.open_folder_action)
        menu.exec(self.table.viewport().mapToGlobal(pos))

    @Slot()
    def rename_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        run = runs[0]
        name = self.ask_name(run.name)
        if name is None or name.strip() == run.name:
            return
        def renamed(new: Run) -> str:
            self.runRenamed.emit(str(run.folder), new.name)
            return ""

        self._act("Renaming", "Could not rename", renamed, rename_run, run.folder, name)

    @Slot()
    def delete_selected(self) -> None:
        runs = self.selected_runs()
        if not runs:
            return
        folders = [run.folder for run in runs]
        if len(runs) == 1:
            text = f"Delete the run “{runs[0].name}” and its folder?\n{runs[0].folder}"
        else:
            where = {run.folder.parent for run in runs}
            text = (f"Delete {len(runs)} runs and their folders in {next(iter(where))}?" if len(where) == 1
                    else f"Delete {len(runs)} runs and their folders in {len(where)} runs folders?")
        if self.holds_canvas_weights(folders):
            which = "this run" if len(runs) == 1 else "one of these runs"
            text += (f"\n\nThe weights on the canvas exist only in {which}: they stay on the canvas, "
                     "unsaved (File > Save checkpoint keeps them).")
        if not self.confirm("Delete runs", text + "\n\nThis cannot be undone."):
            return

        def said(problems: list[str]) -> str:
            self.runsDeleted.emit(folders)  # the window forgets the files that are gone
            if problems:
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                return f"Not deleted: {problems[0]}{more}"
            return f"Deleted {len(runs)} run{'s' if len(runs) > 1 else ''}."

        self._act("Deleting", "Could not delete", said, reading.delete_runs, folders)

    @Slot()
    def export_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        run = runs[0]
        path = self.ask_save_path(f"{run.id}-metrics.csv")
        if not path:
            return
        self._act("Exporting", "Could not export", lambda _path: f"Saved the metrics of “{run.name}” to {path}",
                  run_metrics_csv, run, path)

    def _act(self, doing: str, failed: str, said: Callable[[Any], str], fn: Callable, *args) -> None:
        """Run ``fn(*args)`` on a job thread; then ``said(result)`` (or ``failed`` and why) under
        the table and a fresh listing. Slower than ``reading.SLOW_S``: a line says so meanwhile."""
        self.show_message(f"{doing}…")

        def finish(text: str) -> None:
            self.show_message(text)
            self.refresh()

        self.jobs.submit(fn, *args, timeout=reading.SLOW_S,
                         on_done=lambda result: finish(said(result)),
                         on_error=lambda exc: finish(f"{failed}: {describe(exc)[0]}"),
                         on_timeout=lambda: self.show_message(f"{doing} is taking long; the window goes on…"))

    @Slot()
    def load_selected(self) -> None:
        runs = self.selected_runs()
        checkpoint = self._checkpoints.get(runs[0].folder) if len(runs) == 1 else None
        if checkpoint is not None:
            self.loadWeightsRequested.emit(str(checkpoint))

    @Slot()
    def _open_folder(self) -> None:
        runs = self.selected_runs()
        folder = runs[0].folder if len(runs) == 1 else self.runs_dir
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- dialogs (tests replace these) ----

    def confirm(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def ask_name(self, current: str) -> str | None:
        text, ok = QInputDialog.getText(self, "Rename run", "Name:", text=current)
        return text if ok else None

    def ask_save_path(self, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics CSV", suggested, "CSV files (*.csv)")
        return path or None
