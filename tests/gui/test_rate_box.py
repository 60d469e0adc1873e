"""The learning-rate box takes rates as people type them (a new user's 1e-3 became 1.0)."""

import pytest
from PySide6.QtCore import Qt

from cnn_gui.gui.widgets.rate_box import RateSpinBox


@pytest.fixture
def box(qtbot):
    box = RateSpinBox()
    box.setRange(0.000001, 10)
    box.setValue(0.01)
    qtbot.addWidget(box)
    box.show()
    return box


def type_rate(qtbot, box, text: str) -> None:
    box.lineEdit().selectAll()
    qtbot.keyClicks(box.lineEdit(), text)
    qtbot.keyClick(box.lineEdit(), Qt.Key.Key_Return)


@pytest.mark.parametrize("text, rate", [("1e-3", 0.001), ("3e-4", 0.0003), ("3E-4", 0.0003), ("0.0005", 0.0005),
                                        ("2.5e-5", 2.5e-5), ("0.0000005e1", 5e-6), ("1", 1.0), ("8.1e-05", 8.1e-5)])
def test_a_typed_rate_is_taken_as_written(qtbot, box, text, rate):
    type_rate(qtbot, box, text)
    assert box.value() == pytest.approx(rate, rel=1e-12)
    assert float(box.text()) == pytest.approx(rate, rel=1e-6)


@pytest.mark.parametrize("text", ["1e-9", "20", "abc", "1e-", "-1"])
def test_what_is_not_a_rate_in_range_keeps_the_last_rate(qtbot, box, text):
    type_rate(qtbot, box, text)
    box.clearFocus()
    box.editingFinished.emit()
    assert box.value() == 0.01  # never a part of the entry, such as the 1 of 1e-9


def test_the_arrows_step_through_rounded_rates(qtbot, box):
    box.setValue(0.001)
    seen = []
    for _ in range(3):
        box.stepBy(1)
        seen.append(box.value())
    assert seen == [0.002, 0.005, 0.01]
    box.stepBy(-4)
    assert box.value() == 0.0005
    box.setValue(0.0003)
    box.stepUp()
    assert box.value() == 0.0005
    box.setValue(0.000001)
    box.stepDown()
    assert box.value() == 0.000001  # the minimum holds


def test_the_training_panel_s_rate_is_typed_in_scientific_notation(qtbot):
    from cnn_gui.gui.panels.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.show()
    type_rate(qtbot, panel.lr_spin, "1e-3")
    assert panel.config().lr == pytest.approx(0.001, rel=1e-12)  # a QDoubleSpinBox kept the 1: lr 1.0
    type_rate(qtbot, panel.lr_spin, "3e-4")
    assert panel.config().lr == pytest.approx(0.0003, rel=1e-12)
