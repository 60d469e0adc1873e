"""Guards against a Qt binding that corrupts Python's reference counts.

PySide6 6.12.0 on Python 3.11 loses one reference to None each time Qt calls a Python
``paintEvent``; live plots repaint often enough to free None within minutes and abort
the interpreter. pyproject.toml excludes that release; this test catches the next one.
"""

import sys

from PySide6.QtWidgets import QWidget


class _Painted(QWidget):
    def paintEvent(self, event):  # noqa: N802 (Qt's name)
        pass


def test_repaints_keep_none_alive(qtbot):
    widget = _Painted()
    qtbot.addWidget(widget)
    widget.resize(50, 50)
    widget.show()
    qtbot.waitExposed(widget)
    before = sys.getrefcount(None)
    for _ in range(500):
        widget.repaint()
    assert sys.getrefcount(None) >= before - 50, "the Qt binding leaks references to None on paint"
