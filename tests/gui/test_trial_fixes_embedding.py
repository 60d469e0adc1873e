"""Issue 17's trial, Embedding tab with an 18-image folder: only sizes the test set has are
offered, "1 mistake" (not "1 mistakes"), and no box until the user drags one."""

import re

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QComboBox

from cnn_gui.gui.analysis.embedding_counts import count_choices, fill_counts
from cnn_gui.gui.analysis.embedding_view import NO_BOX_TEXT, EmbeddingView

pytestmark = pytest.mark.usefixtures("serial_torch")


@pytest.fixture(scope="module")
def small():
    from cnn_gui.core.data.datasets import load_dataset

    return load_dataset("mnist").subset(0, 18)


def test_count_choices_fit_the_test_set(qtbot):
    assert count_choices(18) == [("all 18 test images", 18)]
    assert count_choices(1) == [("all 1 test image", 1)]
    assert [n for _, n in count_choices(3000)] == [1000, 2000, 3000]
    assert count_choices(10000)[-1] == ("all 10,000 test images", 10000)
    assert [n for _, n in count_choices(None)] == [1000, 2000, 5000, 10000]
    combo = QComboBox()
    fill_counts(combo, 20000)
    assert combo.currentData() == 10000  # up to 10,000 by default
    combo.setCurrentIndex(0)
    fill_counts(combo, 3000)
    assert combo.currentData() == 1000  # a choice still offered stays chosen
    fill_counts(combo, 18)
    assert combo.currentData() == 18


def drag(widget, start: QPoint, end: QPoint, steps: int = 6) -> None:
    """A left-button drag, as the mouse does it (QTest's moves carry no buttons)."""
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    mods = Qt.KeyboardModifier.NoModifier

    def send(kind, at, button, buttons):
        p = QPointF(at)
        QApplication.sendEvent(widget, QMouseEvent(kind, p, widget.mapToGlobal(p), button, buttons, mods))
        QApplication.processEvents()

    send(QEvent.Type.MouseButtonPress, start, left, left)
    for i in range(1, steps + 1):
        send(QEvent.Type.MouseMove, start + (end - start) * i / steps, none, left)
    send(QEvent.Type.MouseButtonRelease, end, left, none)


def test_a_small_folder_gets_its_own_sizes_plural_texts_and_no_box_until_dragged(qtbot, pretrained, small):
    view = EmbeddingView()
    qtbot.addWidget(view)
    view.resize(900, 640)
    view.show()
    qtbot.waitExposed(view)
    assert "10,000" in view.count_combo.itemText(view.count_combo.count() - 1)  # no dataset yet: MNIST's sizes
    view.set_predictor(pretrained)
    view.set_dataset("folder:shapes", small)
    assert [view.count_combo.itemText(i) for i in range(view.count_combo.count())] == ["all 18 test images"]
    assert view.compute()
    qtbot.waitUntil(lambda: not view.is_running(), timeout=30000)
    f = view.result.features
    assert len(f.labels) == 18
    wrong = int(f.mistakes.sum())
    status = view.status.text()
    assert status.startswith("18 test images · ")
    assert re.search(rf"\b{wrong} mistakes? ", status) and ("1 mistakes" not in status)
    assert (f"{wrong} mistake " if wrong == 1 else f"{wrong} mistakes ") in status

    # No box on empty space: none at all until a drag draws one.
    assert not view.plot.has_box()
    assert view.images.gallery_caption.text() == NO_BOX_TEXT and "In the box" not in NO_BOX_TEXT
    assert len(view.images.selected_rows()) == 0

    qtbot.wait(300)  # the plot's range settles first (slower under a loaded machine)
    vb = view.plot.getPlotItem().getViewBox()
    lo, hi = view.result.points.min(0), view.result.points.max(0)
    span = hi - lo
    corner_a = vb.mapViewToScene(QPointF(*(lo - 0.02 * span)))
    corner_b = vb.mapViewToScene(QPointF(*(hi + 0.02 * span)))
    to_widget = view.plot.mapFromScene
    drag(view.plot.viewport(), to_widget(corner_a), to_widget(corner_b))
    qtbot.waitUntil(lambda: len(view.images.selected_rows()) == 18, timeout=15000)
    assert view.plot.has_box()
    assert view.images.gallery_caption.text().startswith("In the box: 18 images")
    view.compute()  # a new map: the box is gone again
    qtbot.waitUntil(lambda: not view.is_running() and view.result is not None, timeout=30000)
    assert not view.plot.has_box() and view.images.gallery_caption.text() == NO_BOX_TEXT
    view.shutdown()
