"""The prediction's rows (class names too wide for columns): every class shown when the rows
can tighten to the font's height; else the most probable, and a row saying how many are not."""

import numpy as np
import pytest

from cnn_gui.gui.panels.prediction_view import ProbabilityBars

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture
def bars(qtbot):
    bars = ProbabilityBars()
    qtbot.addWidget(bars)
    bars.set_classes(CIFAR)
    return bars


def test_ten_classes_fit_where_eight_rows_of_the_old_height_did(bars):
    fm = bars.fontMetrics()
    bars.resize(300, 8 * (fm.height() + 4) + 2)  # at 1366x768: ship and truck were left out, unsaid
    assert bars.row_layout(fm)[1] == list(range(10))


def test_when_they_cannot_fit_the_likeliest_are_shown_and_the_rest_counted(bars):
    fm = bars.fontMetrics()
    bars.setMinimumHeight(0)
    bars.resize(300, 5 * fm.height() + 1)  # five rows: four classes and "+6 more classes"
    probs = np.array([0.01, 0.02, 0.03, 0.3, 0.04, 0.2, 0.05, 0.1, 0.15, 0.1], dtype=np.float32)
    bars.set_probabilities(probs, CIFAR)
    row_h, shown = bars.row_layout(fm)
    assert shown == [3, 5, 7, 8] and row_h >= fm.height()  # cat, dog, horse, ship: in class order
    image = bars.grab()  # painting the note row must not fail
    assert not image.isNull()


def test_column_percentages_never_overlap_and_the_likeliest_is_always_written(qtbot):
    from PySide6.QtCore import QRectF

    bars = ProbabilityBars()
    qtbot.addWidget(bars)
    bars.resize(220, 160)  # the canvas's bars at 1366x768: a slot narrower than "11%"
    probs = np.array([0.11, 0.11, 0.11, 0.10, 0.12, 0.09, 0.08, 0.11, 0.07, 0.10], dtype=np.float32)
    bars.set_probabilities(probs / probs.sum())
    fm = bars.fontMetrics()
    area = QRectF(bars.rect()).adjusted(4, fm.height() + 2, -4, -(fm.height() + 2))
    labels = bars.value_labels(fm, area, area.width() / 10)
    assert labels[0][0] == 4  # the likeliest
    rects = [r for _, r in labels]
    assert all(not a.intersects(b) for k, a in enumerate(rects) for b in rects[k + 1:])  # a trial saw "11%11%"
    assert 2 <= len(labels) < 10
    assert not bars.grab().isNull()
