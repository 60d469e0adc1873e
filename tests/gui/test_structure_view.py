import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QModelIndex  # noqa: E402

from cnn_gui.core.model.models import CNN, MODELS, SimpleCNN  # noqa: E402
from cnn_gui.core.model.structure import ModuleNode, build_tree, search  # noqa: E402
from cnn_gui.gui.panels.structure.choosers import USER_MODEL_TEXT  # noqa: E402
from cnn_gui.gui.panels.structure.panel import SEARCH_PLACEHOLDER, StructurePanel  # noqa: E402
from cnn_gui.gui.panels.structure.tree_model import (  # noqa: E402
    COL_DETAILS,
    COL_NAME,
    COL_OUTPUT,
    COL_PARAMS,
    COL_TYPE,
    FULLNAME_ROLE,
    KIND_ROLE,
    NODE_ROLE,
    StructureModel,
)

MODEL_CASES = [(CNN, "mnist-cnn"), (SimpleCNN, "simple-cnn")]


def walk(model, parent=QModelIndex()):
    """(index, parent index) for every row, depth first, in row order."""
    for r in range(model.rowCount(parent)):
        idx = model.index(r, 0, parent)
        yield idx, parent
        yield from walk(model, idx)


def rows(model, kind=None):
    return [idx for idx, _ in walk(model) if kind is None or idx.data(KIND_ROLE) == kind]


def make(cls, registry):
    torch_model = cls()
    return torch_model, build_tree(torch_model, MODELS[registry].input_shape)


@pytest.fixture
def panel(qtbot):
    p = StructurePanel()
    qtbot.addWidget(p)
    return p


@pytest.mark.parametrize("cls,registry", MODEL_CASES)
def test_model_mirrors_named_modules_and_parameters(cls, registry):
    torch_model, tree = make(cls, registry)
    qmodel = StructureModel()
    qmodel.set_tree(tree)

    assert qmodel.rowCount() == 1
    root = qmodel.index(0, 0)
    assert root.data() == cls.__name__ and root.data(FULLNAME_ROLE) == ""

    modules = [i.data(FULLNAME_ROLE) for i in rows(qmodel, "module")]
    assert set(modules) == {n for n, _ in torch_model.named_modules()}
    assert len(modules) == len(list(torch_model.named_modules()))
    params = [i.data(FULLNAME_ROLE) for i in rows(qmodel, "param")]
    assert params == [n for n, _ in torch_model.named_parameters()]

    for idx, parent in walk(qmodel):
        assert idx.parent() == parent
        name = idx.data(FULLNAME_ROLE)
        if idx.data(KIND_ROLE) == "module" and name:
            assert parent.data(FULLNAME_ROLE) == name.rpartition(".")[0]
        if idx.data(KIND_ROLE) == "param":
            assert parent.data(KIND_ROLE) == "module"
            assert name == (f"{parent.data(FULLNAME_ROLE)}.{name.rpartition('.')[2]}".lstrip("."))
            assert qmodel.rowCount(idx) == 0


def test_columns_show_names_types_shapes_counts():
    torch_model, tree = make(SimpleCNN, "simple-cnn")
    qmodel = StructureModel()
    qmodel.set_tree(tree)
    by_name = {(i.data(KIND_ROLE), i.data(FULLNAME_ROLE)): i for i in rows(qmodel)}
    assert ("param", "layer1.conv1.weight") in by_name

    conv = by_name[("module", "layer1.conv1")]
    cell = lambda idx, col: idx.sibling(idx.row(), col).data()  # noqa: E731
    assert cell(conv, COL_NAME) == "conv1"
    assert cell(conv, COL_TYPE) == "Conv2d"
    assert "in_channels=3, out_channels=32" in cell(conv, COL_DETAILS)
    assert cell(conv, COL_OUTPUT) == "32x32x32"
    assert cell(conv, COL_PARAMS) == "896"
    assert conv.data(NODE_ROLE).type_name == "Conv2d"

    weight = by_name[("param", "layer1.conv1.weight")]
    assert cell(weight, COL_NAME) == "weight"  # under layer1 > conv1; the full name is in the tooltip
    assert "[32, 3, 3, 3]" in cell(weight, COL_DETAILS) and "trainable" in cell(weight, COL_DETAILS)
    assert cell(weight, COL_PARAMS) == "864"

    root = qmodel.index(0, 0)
    total = sum(p.numel() for p in torch_model.parameters())
    assert cell(root, COL_PARAMS) == f"{total:,}"
    assert "," in cell(root, COL_PARAMS)


@pytest.mark.parametrize("cls,registry,convs", [
    (CNN, "mnist-cnn", {"layer1.0", "layer2.0", "layer3.0", "layer4.0"}),
    (SimpleCNN, "simple-cnn", {"layer1.conv1", "layer2.conv2", "layer3.conv3"}),
])
def test_type_filter_shows_conv_layers_only(panel, cls, registry, convs):
    torch_model, tree = make(cls, registry)
    panel.show_tree(tree, torch_model)
    assert panel.type_combo.itemText(0) == "All types"
    assert panel.type_combo.findText("Conv2d") > 0

    panel.set_type_filter("Conv2d")
    visible = rows(panel.proxy)
    module_types = {i.data(FULLNAME_ROLE): i.data(NODE_ROLE).type_name for i in visible if i.data(KIND_ROLE) == "module"}
    assert {n for n, t in module_types.items() if t == "Conv2d"} == convs
    assert "Linear" not in module_types.values()
    params = {i.data(FULLNAME_ROLE) for i in visible if i.data(KIND_ROLE) == "param"}
    assert params == {f"{c}.{p}" for c in convs for p in ("weight", "bias")}
    conv_params = sum(m.numel() for m in torch_model.modules() if type(m).__name__ == "Conv2d" for m in m.parameters())
    assert f"{len(convs)} Conv2d modules, {conv_params:,} parameters" in panel.totals_label.text()
    # every visible conv row is expanded into view
    for i in visible:
        if i.data(KIND_ROLE) == "module" and panel.proxy.rowCount(i):
            assert panel.tree_view.isExpanded(i)

    panel.set_type_filter(None)
    assert "Conv2d modules" not in panel.totals_label.text()
    assert len(rows(panel.proxy)) == len(rows(panel.model))


def test_totals_label(panel):
    torch_model, tree = make(CNN, "mnist-cnn")
    panel.show_tree(tree, torch_model)
    total = sum(p.numel() for p in torch_model.parameters())
    assert panel.totals_label.text() == f"Parameters: {total:,} total · {total:,} trainable"


def test_search_fc1_shows_module_and_its_parameters(panel):
    torch_model, tree = make(SimpleCNN, "simple-cnn")
    panel.show_tree(tree, torch_model)
    assert panel.search_edit.placeholderText() == SEARCH_PLACEHOLDER
    panel.set_search("FC1")
    visible = {(i.data(KIND_ROLE), i.data(FULLNAME_ROLE)) for i in rows(panel.proxy)}
    assert ("module", "layer4.fc1") in visible
    assert ("param", "layer4.fc1.weight") in visible and ("param", "layer4.fc1.bias") in visible
    assert ("module", "layer4.fc2") not in visible
    assert ("module", "layer1.conv1") not in visible
    assert ("module", "layer4") in visible and ("module", "") in visible  # ancestors for context
    panel.set_search("")
    assert len(rows(panel.proxy)) == len(rows(panel.model))


def test_the_filter_shows_what_the_core_search_finds_and_its_ancestors(panel):
    torch_model, tree = make(CNN, "mnist-cnn")
    panel.show_tree(tree, torch_model)
    panel.set_type_filter("Conv2d")
    panel.set_search("layer2")
    found = {("module" if isinstance(r, ModuleNode) else "param", r.name) for r in search(tree, "layer2", "Conv2d")}
    assert found == {("module", "layer2.0"), ("param", "layer2.0.weight"), ("param", "layer2.0.bias")}
    visible = {(i.data(KIND_ROLE), i.data(FULLNAME_ROLE)) for i in rows(panel.proxy)}
    assert visible == found | {("module", ""), ("module", "layer2")}
    panel.set_type_filter(None)
    panel.set_search("param")  # the Type column of every parameter row
    visible = {(i.data(KIND_ROLE), i.data(FULLNAME_ROLE)) for i in rows(panel.proxy)}
    assert {n for k, n in visible if k == "param"} == {n for n, _ in torch_model.named_parameters()}


def test_default_expansion(panel):
    torch_model, tree = make(CNN, "mnist-cnn")
    panel.show_tree(tree, torch_model)
    root = panel.proxy.index(0, 0)
    assert panel.tree_view.isExpanded(root)
    layer1 = next(i for i in rows(panel.proxy) if i.data(FULLNAME_ROLE) == "layer1")
    assert panel.tree_view.isExpanded(layer1)


def test_model_combo_emits_and_set_current_model_does_not(panel, qtbot):
    combo = panel.model_combo
    assert combo.itemText(combo.count() - 1) == USER_MODEL_TEXT
    pos = combo.findData("simple-cnn")
    assert pos >= 0 and combo.itemText(pos) == MODELS["simple-cnn"].title
    with qtbot.waitSignal(panel.modelRequested, timeout=1000) as blocker:
        combo.setCurrentIndex(pos)
    assert blocker.args == ["simple-cnn"]

    seen = []
    panel.modelRequested.connect(seen.append)
    panel.set_current_model("mnist-cnn", MODELS["mnist-cnn"].title)
    assert combo.currentData() == "mnist-cnn"
    panel.set_current_model("my/net.py:Net", "Net")
    assert combo.currentText() == "Net" and combo.itemText(combo.count() - 1) == USER_MODEL_TEXT
    assert seen == []


def test_user_model_entry_asks_and_emits(panel, qtbot, monkeypatch):
    monkeypatch.setattr(panel, "ask_user_model", lambda: "x.py:Foo")
    before = panel.model_combo.currentIndex()
    with qtbot.waitSignal(panel.modelRequested, timeout=1000) as blocker:
        panel.model_combo.setCurrentIndex(panel.model_combo.count() - 1)
    assert blocker.args == ["x.py:Foo"]
    assert panel.model_combo.currentIndex() == before  # until the window confirms the load

    seen = []
    panel.modelRequested.connect(seen.append)
    monkeypatch.setattr(panel, "ask_user_model", lambda: None)
    panel.model_combo.setCurrentIndex(panel.model_combo.count() - 1)
    assert seen == [] and panel.model_combo.currentIndex() == before


def test_a_model_loading_says_so_and_turns_the_chooser_off(panel):
    torch_model, tree = make(CNN, "mnist-cnn")
    panel.show_tree(tree, torch_model)
    totals = panel.totals_label.text()
    panel.set_loading("Loading your model from net.py…")
    assert panel.loading == panel.totals_label.text() == "Loading your model from net.py…"
    assert not panel.model_combo.isEnabled() and not panel.init_button.isEnabled()
    panel.set_busy(True)
    panel.set_busy(False)  # a run ending while the model loads leaves the chooser off
    assert not panel.model_combo.isEnabled()
    panel.show_tree(tree, torch_model)  # a redraw meanwhile keeps saying it
    assert panel.totals_label.text() == panel.loading
    panel.set_loading("")
    assert panel.loading == "" and panel.totals_label.text() == totals
    assert panel.model_combo.isEnabled() and panel.init_button.isEnabled()


def test_extraction_texts(panel):
    assert "No model" in panel.conv_layers_text()
    torch_model, tree = make(CNN, "mnist-cnn")
    panel.show_tree(tree, torch_model)

    convs = panel.conv_layers_text()
    assert convs.count("Conv2d(") == 4
    for key in ("layer1_0", "layer2_0", "layer3_0", "layer4_0"):
        assert f"({key}): Conv2d" in convs

    first = panel.first_layers_text()
    assert first.startswith("# nn.Sequential(*list(model.children())[:2])\n")
    first = first.split("\n", 1)[1]  # the print() output
    assert first.count("Sequential(") == 3  # the outer one and the two blocks
    top_level = [line for line in first.splitlines() if line.startswith("  (")]
    assert top_level == ["  (0): Sequential(", "  (1): Sequential("]
    assert first.count("Conv2d(") == 2 and "Linear" not in first


def test_init_button_emits_chosen_scheme(panel, qtbot, monkeypatch):
    torch_model, tree = make(CNN, "mnist-cnn")
    panel.show_tree(tree, torch_model)
    monkeypatch.setattr(panel, "ask_init_scheme", lambda: "kaiming-normal")
    with qtbot.waitSignal(panel.initRequested, timeout=1000) as blocker:
        panel.init_button.click()
    assert blocker.args == ["kaiming-normal"]


def test_show_tree_keeps_type_filter_and_is_fast(panel):
    import time

    torch_model, tree = make(CNN, "mnist-cnn")
    panel.show_tree(tree, torch_model)
    panel.set_type_filter("Linear")
    start = time.perf_counter()
    panel.show_tree(build_tree(torch_model, (1, 28, 28)), torch_model)
    assert time.perf_counter() - start < 0.5
    assert panel.type_combo.currentText() == "Linear"
    visible = [i for i in rows(panel.proxy) if i.data(KIND_ROLE) == "module"]
    assert {i.data(FULLNAME_ROLE) for i in visible if i.data(NODE_ROLE).type_name == "Linear"} == {"fc.0", "fc.2", "fc.3"}
    assert "3 Linear modules" in panel.totals_label.text()


def test_selecting_a_conv_layer_explains_its_hyperparameters(qtbot):
    from cnn_gui.core.model.models import SimpleCNN
    from cnn_gui.core.model.structure import build_tree
    from cnn_gui.gui.panels.structure.details import DETAILS_HINT
    from cnn_gui.gui.panels.structure.panel import StructurePanel

    panel = StructurePanel()
    qtbot.addWidget(panel)
    model = SimpleCNN()
    panel.show_tree(build_tree(model, (3, 32, 32)), model)
    assert panel.details_label.text() == DETAILS_HINT
    source = panel.model.index_for_name("layer1.conv1")
    panel.tree_view.setCurrentIndex(panel.proxy.mapFromSource(source))
    text = panel.details_label.text()
    assert "layer1.conv1" in text and "Conv2d" in text and "32x32x32" in text
    for key in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"):
        assert f"<code>{key}</code>" in text
    assert "number of filters" in text and "divide" in text  # the tutorial's notes on out_channels, groups
    pool = panel.model.index_for_name("layer1.pool1")
    panel.tree_view.setCurrentIndex(panel.proxy.mapFromSource(pool))
    assert "<code>ceil_mode</code>" in panel.details_label.text()
    assert "<code>return_indices</code>" in panel.details_label.text()
