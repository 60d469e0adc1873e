"""A spin box for a learning rate: typed as people write rates (``1e-3``, ``3e-4``, ``0.001``).

A plain QDoubleSpinBox refused the ``e`` and ``-`` of ``1e-3`` key by key and kept the ``1``,
so a rate of 0.001 silently became 1.0 (a run's loss went to 4e+07); and it cut a rate to six
decimals. Here the text is any decimal or scientific number in range; a partial one (``1e-``)
may be typed on the way; one that is not a rate in range when editing ends reverts to the
rate before the edit, never to a part of the entry. The arrows step 1-2-5 (0.001,
0.002, 0.005, 0.01), the rounded rates people try.
"""

from __future__ import annotations

import math
import re

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox

_PARTIAL = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d*)?([eE][-+]?\d*)?\s*")
_MANTISSAS = (1.0, 2.0, 5.0)


class RateSpinBox(QDoubleSpinBox):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setDecimals(15)  # the value is kept as typed; the text shows it in %g
        # The value changes when editing ends, not at each key: else the 1 of "1e-9" (or the
        # 2 of "20") would be taken on the way, and kept when the whole is out of range.
        self.setKeyboardTracking(False)

    def sizeHint(self):  # noqa: N802 - Qt's name
        hint = super().sizeHint()  # sized for the range's ends ("1e-06", "10"): room for 0.000123 too
        extra = self.fontMetrics().horizontalAdvance("0.000123") - self.fontMetrics().horizontalAdvance("1e-06")
        hint.setWidth(hint.width() + max(0, extra))
        return hint

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt's name
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt's name
        return float(text.strip())

    def validate(self, text: str, pos: int):
        try:
            value = float(text.strip())
        except ValueError:
            state = QValidator.State.Intermediate if _PARTIAL.fullmatch(text) else QValidator.State.Invalid
            return state, text, pos
        if math.isfinite(value) and self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos  # out of range: not taken when editing ends

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt's name
        value = self.value()
        for _ in range(abs(steps)):
            value = _next_rate(value, up=steps > 0)
        self.setValue(min(max(value, self.minimum()), self.maximum()))
        self.selectAll()


def _next_rate(value: float, *, up: bool) -> float:
    """The 1-2-5 rate just above (or below) ``value``."""
    exponent = math.floor(math.log10(value)) if value > 0 else -6
    ladder = [m * 10.0 ** e for e in (exponent - 1, exponent, exponent + 1) for m in _MANTISSAS]
    ladder = [float(f"{r:.6g}") for r in ladder]
    if up:
        return min(r for r in ladder if r > value * (1 + 1e-9))
    return max(r for r in ladder if r < value * (1 - 1e-9))
