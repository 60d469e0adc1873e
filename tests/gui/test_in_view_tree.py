"""The Network tree at 1280x720: every column it shows is whole (no "lay…ght", no Params
cut by the edge), and what the user did to it (selected row, rows opened, columns sized
by hand) survives new weights of the same network: a run's end, a checkpoint opened."""

import pytest
from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QApplication

from cnn_gui.core.config import TrainConfig
from cnn_gui.gui.panels.structure.tree_model import (COL_DETAILS, COL_NAME, COL_OUTPUT, COL_PARAMS, COL_TYPE,
                                                     FULLNAME_ROLE, KIND_ROLE)


def settle(qtbot, ms=40):
    for _ in range(4):
        QApplication.processEvents()
        qtbot.wait(ms // 4)


def start_at(window, qtbot, size):
    """The window as it opens on a screen of ``size`` (the test screen is smaller): its size,
    then the docks' default widths that the first show gives them."""
    window.resize(*size)
    settle(qtbot)
    window._default_dock_sizes()
    settle(qtbot)


def rows(view, parent=QModelIndex(), depth=0):
    model = view.model()
    for r in range(model.rowCount(parent)):
        index = model.index(r, 0, parent)
        yield index, depth
        yield from rows(view, index, depth + 1)


def cut_cells(structure) -> list[str]:
    """Cells of shown columns narrower than their text, and columns past the panel's edge."""
    view, header = structure.tree_view, structure.tree_view.header()
    out = []
    for index, depth in rows(view):
        if depth and not view.isExpanded(index.parent()):
            continue
        for col in (COL_NAME, COL_TYPE, COL_OUTPUT, COL_PARAMS):
            cell = index.siblingAtColumn(col)
            need = view.sizeHintForIndex(cell).width() + (view.indentation() * depth if col == COL_NAME else 0)
            if need > header.sectionSize(col):
                out.append(f"{cell.data()} ({need} > {header.sectionSize(col)})")
    if header.length() > view.viewport().width() or view.horizontalScrollBar().maximum() > 0:
        out.append(f"columns {header.length()} px in a {view.viewport().width()} px panel")
    if not header.isSectionHidden(COL_DETAILS) and header.sectionSize(COL_DETAILS) < 60:
        out.append(f"Details shown {header.sectionSize(COL_DETAILS)} px wide: cut to a few letters")
    return out


@pytest.fixture
def window(make_window, mnist_small, qtbot):
    return make_window(data_override=mnist_small)


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_every_shown_column_of_the_tree_is_whole(window, qtbot, size):
    start_at(window, qtbot, size)
    structure = structure_of(window)
    assert cut_cells(structure) == []
    structure.tree_view.expandAll()
    print("DBG1", window.structure_dock.width())  # the parameter rows too, the deepest
    structure.columns.fit()
    settle(qtbot)
    assert cut_cells(structure) == []
    weight = [i for i, _ in rows(structure.tree_view) if i.data(FULLNAME_ROLE) == "layer1.0.weight"][0]
    assert weight.data() == "weight" and "layer1.0.weight" in weight.data(3)  # full name in the tooltip


def test_a_wide_panel_shows_the_details_whole_enough(window, qtbot):
    start_at(window, qtbot, (1280, 720))
    structure = structure_of(window)
    structure.resize(640, structure.height())
    settle(qtbot)
    assert structure.columns.details_shown() and cut_cells(structure) == []


def structure_of(window):
    return window.structure


def user_state(structure):
    view = structure.tree_view
    return {"selected": (view.currentIndex().data(KIND_ROLE), view.currentIndex().data(FULLNAME_ROLE)),
            "open": sorted(i.data(FULLNAME_ROLE) for i, _ in rows(view) if view.isExpanded(i)),
            "widths": structure.column_widths()}


def touch_the_tree(structure, qtbot):
    """What a user does: open a module's parameters, select one, widen the Type column."""
    view = structure.tree_view
    assert structure.select("layer2.0.weight", "param")
    view.collapse([i for i, _ in rows(view) if i.data(FULLNAME_ROLE) == "layer3"][0])
    structure.tree_view.header().resizeSection(COL_TYPE, 130)  # a drag of the column's border
    settle(qtbot)
    return user_state(structure)


def test_the_users_tree_survives_new_weights_of_the_same_network(window, qtbot, tmp_path):
    start_at(window, qtbot, (1280, 720))
    before = touch_the_tree(window.structure, qtbot)
    assert before["selected"] == ("param", "layer2.0.weight") and "layer2.0" in before["open"]
    path = window.save_checkpoint(tmp_path / "same.safetensors")
    old_tree = window.structure.tree
    window.open_checkpoint(path, background=False)
    settle(qtbot)
    assert not window.errors and window.structure.tree is not old_tree  # the tree was rebuilt
    assert user_state(window.structure) == before


def test_the_layer_tab_reads_the_new_weights_of_the_row_kept(window, qtbot, tmp_path):
    structure = window.structure
    assert structure.select("layer2.0")
    seen = []
    structure.layerSelected.connect(seen.append)
    path = window.save_checkpoint(tmp_path / "same.safetensors")
    old_module = structure.module_for("layer2.0")
    window.open_checkpoint(path, background=False)
    settle(qtbot)
    assert structure.selected_module_name() == "layer2.0"
    assert seen == ["layer2.0"]  # said again: the Layer tab takes the new weights' module
    assert structure.module_for("layer2.0") is window.session.model.get_submodule("layer2.0") is not old_module


@pytest.mark.slow
def test_the_users_tree_survives_a_training_run(window, qtbot):
    start_at(window, qtbot, (1280, 720))
    before = touch_the_tree(window.structure, qtbot)
    window.training_panel.set_config(TrainConfig(epochs=1, max_batches=3, batch_size=50))
    old_tree = window.structure.tree
    with qtbot.waitSignal(window.controller.finished, timeout=60000):
        assert window.start_training()
    settle(qtbot)
    assert window.structure.tree is not old_tree  # the run's weights: the tree was rebuilt
    assert user_state(window.structure) == before


def test_another_network_starts_afresh(window, qtbot):
    start_at(window, qtbot, (1280, 720))
    touch_the_tree(window.structure, qtbot)
    assert window.request_model("simple-cnn")
    settle(qtbot)
    view = window.structure.tree_view
    assert not view.currentIndex().isValid()
    assert cut_cells(window.structure) == []  # its columns sized afresh, not the hand-made widths
