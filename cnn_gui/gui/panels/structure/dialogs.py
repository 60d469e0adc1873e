"""The structure panel's dialogs: a user's own model, an initialisation scheme, code to read."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog, QInputDialog, QPlainTextEdit, QVBoxLayout, QWidget

from cnn_gui.core.files.safe_io import read_regular
from cnn_gui.core.model.structure import INIT_SCHEMES

_CLASS_RE = re.compile(r"^[ \t]*class[ \t]+(\w+)[ \t]*\([^\n]*Module", re.MULTILINE)  # one line each: linear time
MAX_MODEL_FILE_BYTES = 1024 * 1024


def ask_user_model(parent: QWidget) -> str | None:
    """Ask for a .py file and a class name; "path/to/file.py:ClassName" or None."""
    path, _ = QFileDialog.getOpenFileName(parent, "Your own model", "", "Python files (*.py);;All files (*)")
    if not path:
        return None
    try:  # a hint for the class box only: regular files, capped, never waited on (a FIFO)
        text = read_regular(path, MAX_MODEL_FILE_BYTES).decode("utf-8", errors="replace")
        classes = _CLASS_RE.findall(text)
    except OSError:
        classes = []
    label = f"Class in {Path(path).name} (an nn.Module subclass):"
    if classes:
        name, ok = QInputDialog.getItem(parent, "Your own model", label, classes, 0, True)
    else:
        name, ok = QInputDialog.getText(parent, "Your own model", label)
    name = name.strip()
    return f"{path}:{name}" if ok and name else None


def ask_init_scheme(parent: QWidget) -> str | None:
    """One of INIT_SCHEMES, or None when cancelled."""
    scheme, ok = QInputDialog.getItem(
        parent, "Initialise parameters",
        "Re-initialise Conv2d and Linear weights (biases to zero; 'default' is PyTorch's own):",
        list(INIT_SCHEMES), 0, False)
    return scheme if ok and scheme else None


class CodeDialog(QDialog):
    """Read-only text in a monospace font: what the tutorial's print() shows."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.text_edit = QPlainTextEdit(text)
        self.text_edit.setReadOnly(True)
        self.text_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text_edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text_edit)
        layout.addWidget(buttons)
        self.resize(640, 480)
