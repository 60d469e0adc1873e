"""The LayerView (kernels, maps, run up to here) driven by the StructurePanel, as the window wires them."""

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import torch  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from torch import nn  # noqa: E402

from cnn_gui.core.analysis.inspection import feature_maps  # noqa: E402
from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into  # noqa: E402
from cnn_gui.core.model.models import CNN, SimpleCNN  # noqa: E402
from cnn_gui.core.analysis.predictor import Predictor  # noqa: E402
from cnn_gui.core.resources import pretrained_checkpoint  # noqa: E402
from cnn_gui.core.model.structure import build_tree  # noqa: E402
from cnn_gui.gui.analysis.layer_view import BLANK_TEXT, HINT, NO_DRAWING, LayerView  # noqa: E402
from cnn_gui.gui.panels.structure.panel import StructurePanel  # noqa: E402


@pytest.fixture(scope="module")
def pretrained():
    model = CNN()
    load_weights_into(model, load_checkpoint(pretrained_checkpoint()))
    return model


@pytest.fixture
def rig(qtbot, pretrained):
    """A panel and a view wired as the window wires them, on the pretrained weights."""
    panel, view = StructurePanel(), LayerView()
    qtbot.addWidget(panel)
    qtbot.addWidget(view)
    live = CNN()
    live.load_state_dict(pretrained.state_dict())
    panel.show_tree(build_tree(live, (1, 28, 28)), live)
    panel.layerSelected.connect(lambda name: view.set_layer(name, panel.module_for(name)))
    panel.runUpToRequested.connect(view.run_up_to)
    panel.convLayersRequested.connect(view.run_conv_layers)
    view.set_predictor(Predictor(live), (1, 28, 28))
    view.show()
    qtbot.waitExposed(view)
    return panel, view, live


@pytest.fixture(scope="module")
def test_image():
    from cnn_gui.core.data.datasets import load_dataset

    data = load_dataset("mnist")
    return data.test_images[0, 0].numpy() / 255.0, int(data.test_labels[0])


def test_selecting_the_first_conv_shows_its_16_kernels_on_one_symmetric_scale(rig, qtbot):
    panel, view, live = rig
    assert view.title.text() == HINT and view.kernels is None
    with qtbot.waitSignal(panel.layerSelected, timeout=1000) as sig:
        assert panel.select("layer1.0")
    assert sig.args == ["layer1.0"] and view.layer_name == "layer1.0"

    weight = live.layer1[0].weight.detach().numpy()
    assert view.kernels.shape == (16, 3, 3)
    np.testing.assert_array_equal(view.kernels, weight[:, 0])
    scale = float(np.abs(weight).max())
    assert view.kernel_scale == pytest.approx(scale)
    grid = view.layer_page.kernel_image.grid
    assert grid.shape == (4 * 3 + 3, 4 * 3 + 3)  # 4x4 tiles of 3x3, one pixel between
    # tile 5 (row 1, column 1): 0.5 is a zero weight, 0 and 1 are -scale and +scale
    np.testing.assert_allclose(grid[4:7, 4:7], 0.5 + 0.5 * weight[5, 0] / scale, rtol=1e-6)
    assert np.nanmin(grid) >= 0 and np.nanmax(grid) <= 1 and np.isclose(np.nanmax(np.abs(grid - 0.5)), 0.5)
    assert view.layer_page.scale_bar.labels == (f"−{scale:.3g}", "0", f"+{scale:.3g}")
    assert not view.layer_page.channel_spin.isEnabled()  # one input channel: nothing to choose
    assert "Conv2d" in view.title.text() and "16 kernels of 3x3" in view.layer_page.kernel_caption.text()


def test_a_deeper_layer_one_input_map_at_a_time_or_the_norm_matrix(rig):
    panel, view, live = rig
    panel.select("layer2.0")
    weight = live.layer2[0].weight.detach().numpy()
    assert view.layer_page.channel_spin.isEnabled() and view.layer_page.channel_spin.maximum() == 15
    np.testing.assert_array_equal(view.kernels, weight[:, 0])
    view.layer_page.channel_spin.setValue(7)
    np.testing.assert_array_equal(view.kernels, weight[:, 7])
    assert view.layer_page.kernel_image.grid.shape == (4 * 3 + 3, 8 * 3 + 7)  # 32 kernels: 8 x 4
    assert "input map 7 of 16" in view.layer_page.kernel_caption.text()

    view.set_mode("norms")
    norms = np.sqrt((weight.astype(np.float64) ** 2).sum(axis=(2, 3)))
    assert view.kernels.shape == (32, 16) and not view.layer_page.channel_spin.isEnabled()
    np.testing.assert_allclose(view.kernels, norms, rtol=1e-5)
    assert view.kernel_scale == pytest.approx(norms.max(), rel=1e-5)
    np.testing.assert_allclose(view.layer_page.kernel_image.grid, norms / norms.max(), rtol=1e-5)
    assert view.layer_page.scale_bar.labels[0] == "0"
    r, c = np.unravel_index(norms.argmax(), norms.shape)
    assert view.layer_page.kernel_image.tooltip_for(r, c) == f"filter {r} ← input map {c}: L2 norm {norms[r, c]:.3g}"


def test_the_layers_maps_of_the_image_beside_the_kernels(rig, test_image):
    panel, view, live = rig
    panel.select("layer1.0")
    assert view.maps is None and view.layer_page.maps_image.grid is None  # no drawing yet
    image, _ = test_image
    view.set_image(image)
    predictor = Predictor(live)
    expected = feature_maps(predictor.model, predictor.input_tensor(image), ["layer1.0"])["layer1.0"]
    assert view.maps.shape == (16, 26, 26)
    np.testing.assert_array_equal(view.maps, expected)
    assert "16 maps of 26x26" in view.layer_page.maps_caption.text()
    view.set_image(None)
    assert view.maps is None


def test_modules_without_kernels_or_maps_say_so(rig, test_image):
    panel, view, _ = rig
    view.set_image(test_image[0])
    panel.select("layer1.1")
    assert view.kernels is None and view.layer_page.scale_bar.labels is None
    assert view.maps.shape == (16, 26, 26)  # a BatchNorm still has maps
    panel.select("fc.0")
    assert view.kernels is None and view.maps is None
    assert panel.select("layer1.0.weight", "param")
    assert view.layer_name == "" and view.title.text() == HINT


def test_layer_selected_is_empty_for_parameters_the_model_and_a_new_tree(rig):
    panel, _, _ = rig
    seen = []
    panel.layerSelected.connect(seen.append)
    panel.select("layer3.0")
    panel.select("layer3.0.bias", "param")
    panel.select("layer3")
    panel.select("")  # the model's own row
    other = SimpleCNN()
    panel.select("layer1")
    panel.show_tree(build_tree(other, (3, 32, 32)), other)  # another network's tree clears the selection
    assert seen == ["layer3.0", "", "layer3", "", "layer1", ""]


def test_run_up_to_layer2_on_an_mnist_test_image(rig, test_image):
    panel, view, live = rig
    image, label = test_image
    view.set_image(image, "test image 0")
    panel.select("layer2")
    assert panel.run_up_to_action.isEnabled() and panel.run_up_to_action.text() == "Run the network up to layer2"
    panel.run_up_to_action.trigger()

    assert view.tabs.currentWidget() is view.run_page
    assert view.output.shape == (1, 32, 12, 12)
    assert "output shape <b>(1, 32, 12, 12)</b>" in view.run_page.shape_label.text()
    assert "test image 0" in view.run_page.shape_label.text()
    text = view.run_page.code_edit.toPlainText()
    assert text.startswith("# nn.Sequential(*list(model.children())[:2])\n")
    assert text.endswith(str(nn.Sequential(live.layer1, live.layer2)))
    predictor = Predictor(live)
    with torch.inference_mode():
        expected = live.eval().layer2(live.layer1(predictor.input_tensor(image)))
    np.testing.assert_allclose(view.output, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert view.run_page.output_image.grid is not None and "32 maps of 12x12" in view.run_page.values_label.text()

    # up to fc: the whole network, its ten scores; the largest is the prediction
    view.run_up_to("fc")
    assert view.output.shape == (1, 10) and "nn.Flatten()" in view.run_page.code_edit.toPlainText()
    top = int(np.argmax(predictor.predict(image)))
    assert top == label  # the pretrained net reads this test image right
    assert f"largest: {top}" in view.run_page.values_label.text()

    # the run follows new images
    view.set_image(None)
    assert BLANK_TEXT in view.run_page.shape_label.text() and view.output.shape == (1, 10)


def test_run_all_conv_layers_and_run_up_to_only_for_direct_children(rig):
    panel, view, _ = rig
    panel.select("layer2.0")
    assert not panel.run_up_to_action.isEnabled()
    menu = panel.context_menu_for(panel.tree_view.currentIndex())
    assert not any(a.text().startswith("Run the network up to") for a in menu.actions())
    panel.run_convs_action.trigger()
    assert view.output.shape == (1, 128, 20, 20)
    assert "without the BatchNorm, ReLU and pooling" in view.run_page.code_edit.toPlainText()
    assert view.run_page.code_edit.toPlainText().count("Conv2d(") == 4

    panel.select("layer4")
    menu = panel.context_menu_for(panel.tree_view.currentIndex())
    action = next(a for a in menu.actions() if a.text() == "Run the network up to layer4")
    action.trigger()
    assert view.output.shape == (1, 128, 4, 4)


def test_weights_come_from_the_snapshot_not_the_live_model(rig):
    panel, view, live = rig
    panel.select("layer1.0")
    shown = view.kernels.copy()
    with torch.no_grad():
        live.layer1[0].weight.add_(1.0)  # training moves the live weights
    view.refresh()
    np.testing.assert_array_equal(view.kernels, shown)
    view.set_predictor(Predictor(live))  # the next snapshot shows them
    np.testing.assert_array_equal(view.kernels, live.layer1[0].weight.detach().numpy()[:, 0])
    view.set_predictor(None)  # no snapshot: the live module given to set_layer
    np.testing.assert_array_equal(view.kernels, live.layer1[0].weight.detach().numpy()[:, 0])
    assert view.maps is None


def test_clear_forgets_layer_and_run(rig):
    panel, view, _ = rig
    panel.select("layer1.0")
    view.run_up_to("layer1")
    view.clear()
    assert view.layer_name == "" and view.kernels is None and view.output is None
    assert view.title.text() == HINT and view.run_page.code_edit.toPlainText() == ""


def test_no_drawing_message(rig):
    panel, view, _ = rig
    panel.select("layer3.0")
    assert view.maps is None and view.kernels.shape == (64, 3, 3)
    # the message the empty maps pane paints
    assert view.layer_page.maps_image._message == NO_DRAWING


# ------------------------------------------------------------------ freezing from the tree


def name_index(panel, name):
    return panel.model.index_for_name(name)


def test_unticking_train_freezes_the_module_and_updates_the_counts(rig, qtbot):
    panel, _, live = rig
    total = sum(p.numel() for p in live.parameters())
    layer1 = sum(p.numel() for p in live.layer1.parameters())
    index = name_index(panel, "layer1")
    assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert panel.model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable

    with qtbot.waitSignal(panel.trainableChanged, timeout=1000):
        assert panel.model.setData(index, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert not any(p.requires_grad for p in live.layer1.parameters())
    assert all(p.requires_grad for p in live.layer2.parameters())
    assert panel.totals_label.text() == (f"Parameters: {total:,} total · {total - layer1:,} trainable"
                                         " · frozen: layer1")
    assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert name_index(panel, "layer1.0").data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    root = name_index(panel, "")
    assert root.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.PartiallyChecked
    details = lambda i: i.sibling(i.row(), 4).data()  # noqa: E731
    assert details(index) == "frozen"
    assert details(root) == f"{total - layer1:,} of {total:,} trainable"
    weight = panel.model.index_for_name("layer1.0.weight", "param")
    assert "frozen" in details(weight)
    panel.select("layer1")
    assert "<b>frozen</b>" in panel.details_label.text()

    # ticking the partly frozen model again unfreezes everything
    panel.model.setData(root, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert all(p.requires_grad for p in live.parameters())
    assert panel.totals_label.text() == f"Parameters: {total:,} total · {total:,} trainable"


def test_context_menu_freezes_and_training_locks_the_boxes(rig, qtbot):
    panel, _, live = rig
    panel.select("fc.0")
    menu = panel.context_menu_for(panel.tree_view.currentIndex())
    freeze = next(a for a in menu.actions() if a.text() == "Freeze fc.0")
    with qtbot.waitSignal(panel.trainableChanged, timeout=1000):
        freeze.trigger()
    assert not live.fc[0].weight.requires_grad and live.fc[2].weight.requires_grad
    menu = panel.context_menu_for(panel.tree_view.currentIndex())
    assert any(a.text() == "Unfreeze fc.0" for a in menu.actions())

    panel.set_busy(True)  # the trainer owns the model now
    index = name_index(panel, "fc")
    assert not panel.model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable
    assert not panel.model.setData(index, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert not panel.set_trainable("fc", False) and live.fc[2].weight.requires_grad
    menu = panel.context_menu_for(panel.tree_view.currentIndex())
    assert not next(a for a in menu.actions() if a.text() == "Unfreeze fc.0").isEnabled()
    panel.set_busy(False)
    assert panel.model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable


def test_rows_without_parameters_have_no_box_and_show_tree_reads_the_model(qtbot):
    panel = StructurePanel()
    qtbot.addWidget(panel)
    model = CNN()
    tree = build_tree(model, (1, 28, 28))
    panel.show_tree(tree, None)  # no live model: nothing to freeze
    assert not panel.model.flags(name_index(panel, "layer1")) & Qt.ItemFlag.ItemIsUserCheckable
    assert name_index(panel, "layer1.2").data(Qt.ItemDataRole.CheckStateRole) is None  # a ReLU
    model.layer3.requires_grad_(False)  # frozen elsewhere (a session that carried it over)
    panel.show_tree(tree, model)
    assert name_index(panel, "layer3").data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert "frozen: layer3" in panel.totals_label.text()


def test_an_rgb_first_layer_one_colour_channel_at_a_time(qtbot):
    from cnn_gui.core.model.models import SimpleCNN
    from cnn_gui.gui.analysis.layer_view import NO_TEST_IMAGE

    view = LayerView()
    qtbot.addWidget(view)
    model = SimpleCNN()
    view.set_predictor(Predictor(model, input_shape=(3, 32, 32)), (3, 32, 32))
    view.set_layer("layer1.conv1")
    view.refresh()
    assert view.layer_page.channel_spin.isEnabled() and view.layer_page.channel_spin.maximum() == 2
    view.layer_page.channel_spin.setValue(2)
    view.refresh()
    np.testing.assert_array_equal(view.kernels, model.layer1.conv1.weight.detach().numpy()[:, 2])
    assert view.layer_page.maps_image._message == NO_TEST_IMAGE.format(shape="3x32x32")
    image = np.random.default_rng(0).random((3, 32, 32), dtype=np.float32)
    view.set_image(image, "test image 5")
    view.refresh()
    assert view.maps.shape == (32, 32, 32)
