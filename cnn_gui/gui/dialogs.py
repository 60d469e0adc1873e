"""The window's dialogs, each one overridable method, and how errors read in them.

Tests replace these methods to answer them (``window.show_error = record``); nothing else
in the window opens a modal dialog, so a test never blocks on one.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox

from cnn_gui.core.errors import as_sentence, describe, one_line

from cnn_gui.gui import settings as settings_mod

CHECKPOINT_FILTER = "cnn-gui checkpoints (*.safetensors);;All files (*)"


def error_text(exc: BaseException) -> str:
    """An exception as the text of an error dialog: its one line, then its hint below it
    (the rule is :func:`cnn_gui.core.errors.describe`, shared with the CLI)."""
    message, hint = describe(exc)
    message = as_sentence(message)
    return f"{message}\n\n{hint}" if hint else message


def status_labels(window) -> tuple[QLabel, QLabel]:
    """(device label, run state label), permanent on the right of the status bar."""
    device, state = QLabel(), QLabel()
    window.statusBar().addPermanentWidget(device)
    window.statusBar().addPermanentWidget(state)
    return device, state


def about_text(version: str, python: str, torch_version: str) -> str:
    import pyqtgraph
    import PySide6

    from cnn_gui.core.devices import available_devices

    devices = "<br>".join(f"&nbsp;&nbsp;{html.escape(d.label)}" for d in available_devices())
    return (f"<b>cnn-gui {version}</b><br>See a convolutional network, train it live, "
            f"and let it read your handwriting.<br><br>"
            f"Python {python} · torch {torch_version} · "
            f"PySide6 {PySide6.__version__} · pyqtgraph {pyqtgraph.__version__}<br><br>"
            f"Devices:<br>{devices}")


def existing_folder(path: str | None) -> str:
    """``path`` if it is a folder that exists, else its nearest existing parent, else home."""
    folder = Path(path) if path else Path.home()
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            return str(candidate)
    return str(Path.home())


class DialogsMixin:
    """Dialog methods of the main window (a QMainWindow)."""

    def show_error(self, title: str, text: str) -> None:
        """Every error dialog goes through here (tests replace it to record the call)."""
        QMessageBox.warning(self, title, text)

    def last_dir(self) -> str:
        """The folder of the last file dialog, if it still exists (else the nearest one that does)."""
        return existing_folder(settings_mod.read_str(settings_mod.open_settings(), settings_mod.KEY_LAST_DIR, ""))

    def remember_dir(self, path: str) -> None:
        settings_mod.open_settings().setValue(settings_mod.KEY_LAST_DIR, str(Path(path).parent))

    def ask_open_path(self) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", self.last_dir(), CHECKPOINT_FILTER)
        return path or None

    def ask_save_path(self, title: str, name: str, file_filter: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, str(Path(self.last_dir()) / name), file_filter)
        return path or None

    def ask_discard(self, what: str) -> str:
        """The weights exist only in memory (never saved, or their file or run was deleted):
        "save", "discard" or "cancel"."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Unsaved weights")
        box.setText(f"{what} replaces weights that are not saved anywhere "
                    "(never saved, or their file or run was deleted since).")
        box.setInformativeText("Save them to a checkpoint first?")
        box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                               | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(QMessageBox.StandardButton(answer), "cancel")

    def ask_model_file(self, class_name: str, recorded_path: str = "") -> str | None:
        """Ask for the .py file defining ``class_name`` (tests replace this). None: cancelled."""
        recorded = (f"<br><br>The checkpoint says it came from:<br><code>{html.escape(one_line(recorded_path))}</code>"
                    if recorded_path else "")
        name = html.escape(class_name)
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Open checkpoint: your own model")
        box.setText(f"These weights belong to your own model class <b>{name}</b>.")
        box.setInformativeText(
            f"cnn-gui never runs code named in a checkpoint. Choose the Python file that defines {name} "
            f"yourself; it will run as Python, so choose only a file you trust.{recorded}")
        choose = box.addButton("Choose model file…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is not choose:
            return None
        path, _ = QFileDialog.getOpenFileName(self, f"Python file defining {class_name}", self.last_dir(),
                                              "Python files (*.py);;All files (*)")
        return path or None

    def show_about(self) -> None:
        QMessageBox.about(self, "About cnn-gui", self.about_text())
