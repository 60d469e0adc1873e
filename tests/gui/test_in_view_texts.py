"""Texts in view at 1280x720: no label cut off by its widget's edge (Robustness's axis units)."""

import numpy as np
import pytest
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from cnn_gui.gui.analysis.probes_view import ProbesView


def settle(qtbot, ms=40):
    for _ in range(4):
        QApplication.processEvents()
        qtbot.wait(ms // 4)


def unit_overflow(view: ProbesView) -> list[str]:
    """The x-axis units wider than their axis (cut off by the plot's edge)."""
    out = []
    for plot in view.plots:
        axis = plot.plot.getPlotItem().getAxis("bottom")
        text = axis.labelText
        if QFontMetrics(axis.label.font()).horizontalAdvance(text) > axis.geometry().width():
            out.append(text)
    return out


@pytest.mark.parametrize("width", [490, 560, 620])
def test_robustness_axis_units_fit_their_plots(qtbot, width):
    """At 1280x720 the tab is about 560 px wide: "degrees, + = counter-clockwise" did not fit."""
    view = ProbesView()
    qtbot.addWidget(view)
    view.resize(width, 460)
    view.show()
    settle(qtbot)
    assert view.width() == width
    assert unit_overflow(view) == []
    rotation = next(p for p in view.plots if p.transform.key == "rotation")
    assert "counter-clockwise" in rotation.plot.toolTip()  # the whole unit, when the axis shows less
    assert rotation.unit_shown() in (rotation.transform.unit, "degrees")


def test_robustness_shows_the_whole_unit_where_it_fits(qtbot):
    view = ProbesView()
    qtbot.addWidget(view)
    view.resize(1500, 600)
    view.show()
    settle(qtbot)
    assert [p.unit_shown() for p in view.plots] == [p.transform.unit for p in view.plots]
    assert unit_overflow(view) == []
    view.resize(560, 460)  # and shortens it again when narrowed
    settle(qtbot)
    assert unit_overflow(view) == []
