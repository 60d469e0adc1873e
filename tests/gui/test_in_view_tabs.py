"""Every view of the centre is in view at once at 1280x720: no tab behind scroll arrows.

The tabs have short names (full names in their tooltips and the View menu's shortcuts);
when the centre is narrower than their names (docks dragged wider) the names elide and
every tab stays on screen. The views the window switches to by itself (a clicked test
image -> Explain, "run up to here" -> Layer, Train -> Curves) still come to the front.
"""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QToolButton

SCREENS = [(1280, 720), (1366, 768)]


def settle(qtbot, ms=60):
    for _ in range(4):
        QApplication.processEvents()
        qtbot.wait(ms // 4)


def tabs_in_view(window) -> list[str]:
    """The names of the tabs NOT wholly inside the visible tab bar (empty: all in view)."""
    bar = window.tabs.tabBar()
    visible = bar.rect()
    out = [bar.tabText(i) for i in range(bar.count()) if not visible.contains(bar.tabRect(i))]
    arrows = [b for b in bar.findChildren(QToolButton) if b.isVisible()]
    return out + (["<scroll arrows shown>"] if arrows else [])


@pytest.fixture
def window(make_window, mnist_small, qtbot):
    return make_window(data_override=mnist_small)


@pytest.mark.parametrize("size", SCREENS)
def test_every_tab_is_in_view_and_whole_at_the_default_layout(window, qtbot, size):
    window.resize(*size)
    settle(qtbot)
    assert window.size().toTuple() == size
    assert window.tabs.count() == 10
    assert tabs_in_view(window) == []
    bar = window.tabs.tabBar()
    for i in range(bar.count()):  # whole names at the default layout, not "Embed…"
        assert bar.tabRect(i).width() >= bar.tabSizeHint(i).width(), bar.tabText(i)
        assert window.tabs.tabToolTip(i), bar.tabText(i)


def test_tabs_stay_in_view_with_a_larger_font_or_wider_docks(window, qtbot):
    """A desktop with a larger font (or docks dragged wider): the names elide, no tab hides."""
    window.resize(1280, 720)
    settle(qtbot)
    bar = window.tabs.tabBar()
    font = bar.font()
    font.setPointSizeF(font.pointSizeF() * 1.5)
    bar.setFont(font)
    window.resizeDocks([window.structure_dock, window.canvas_dock], [520, 520], Qt.Orientation.Horizontal)
    settle(qtbot)
    assert bar.width() < sum(bar.tabSizeHint(i).width() for i in range(bar.count()))  # names must elide
    assert tabs_in_view(window) == []


def test_views_switched_to_programmatically_still_come_to_the_front(window, qtbot):
    import numpy as np

    window.resize(1280, 720)
    settle(qtbot)
    tabs = window.analysis
    tabs.show_image(np.zeros((28, 28), np.float32), "test image #1")
    assert window.tabs.currentWidget() is tabs.explain
    window.structure.runUpToRequested.emit("layer1")
    assert window.tabs.currentWidget() is tabs.layer
    window.tab_actions[-1].trigger()
    assert window.tabs.currentWidget() is window.runs_view
    for i, action in enumerate(window.tab_actions):
        action.trigger()
        assert window.tabs.currentIndex() == i
