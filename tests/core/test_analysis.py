"""Feature maps of one image and the confusion matrix of a test split (core, no Qt)."""

import numpy as np
import pytest
import torch
from torch import nn

from cnn_gui.core.analysis.inspection import (confusion_matrix, feature_maps, grid_columns, spatial_layers, tile_at,
                                   tile_maps)
from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.model.models import build_model
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.resources import pretrained_checkpoint


@pytest.fixture(scope="module")
def pretrained():
    ckpt = load_checkpoint(pretrained_checkpoint())
    model = build_model(ckpt.meta.architecture)
    load_weights_into(model, ckpt)
    return model.eval()


def test_spatial_layers_of_the_tutorial_cnn_in_forward_order():
    layers = spatial_layers(build_model("mnist-cnn").eval(), (1, 28, 28))
    names = [layer.name for layer in layers]
    assert names[:4] == ["layer1.0", "layer1.1", "layer1.2", "layer1"]
    conv = {layer.name: layer for layer in layers if layer.type == "Conv2d"}
    assert [(c.channels, c.height, c.width) for c in conv.values()] == [
        (16, 26, 26), (32, 24, 24), (64, 10, 10), (128, 8, 8)]
    assert "fc" not in names and "fc.0" not in names  # Linear outputs are not maps
    assert layers[0].label == "layer1.0 (Conv2d): 16 maps of 26x26"


def test_feature_maps_are_the_layer_outputs_and_hooks_are_removed(pretrained):
    img = np.zeros((28, 28), dtype=np.float32)
    img[6:22, 13:15] = 1.0  # a "1"
    x = Predictor(pretrained).input_tensor(img)
    maps = feature_maps(pretrained, x, ["layer1.0", "layer2", "fc.0", "nope"])
    assert set(maps) == {"layer1.0", "layer2"}
    assert maps["layer1.0"].shape == (16, 26, 26) and maps["layer1.0"].dtype == np.float32
    with torch.inference_mode():
        expected = pretrained.layer1[0](x)[0].numpy()
    np.testing.assert_allclose(maps["layer1.0"], expected, rtol=1e-5, atol=1e-6)
    assert (maps["layer2"] >= 0).all()  # after its ReLU and max-pool
    assert all(not m._forward_hooks for m in pretrained.modules())


def test_feature_maps_want_one_image(pretrained):
    with pytest.raises(ValueError, match="one image"):
        feature_maps(pretrained, torch.zeros(2, 1, 28, 28), ["layer1"])


def test_tile_maps_scales_each_map_and_leaves_gaps():
    maps = np.stack([np.arange(4, dtype=np.float32).reshape(2, 2) * k for k in (1, 100, 0)])
    grid = tile_maps(maps, columns=2, pad=1)
    assert grid.shape == (5, 5)
    np.testing.assert_allclose(grid[0:2, 0:2], [[0, 1 / 3], [2 / 3, 1]])
    np.testing.assert_allclose(grid[0:2, 3:5], [[0, 1 / 3], [2 / 3, 1]])  # scaled on its own
    np.testing.assert_array_equal(grid[3:5, 0:2], 0)  # a constant map is black
    assert np.isnan(grid[2]).all() and np.isnan(grid[:, 2]).all()  # the gaps
    assert np.isnan(grid[3:5, 3:5]).all()  # no fourth map
    assert tile_maps(np.zeros((16, 26, 26))).shape == (4 * 27 - 1, 4 * 27 - 1)


def test_tile_maps_can_keep_values_and_tile_at_finds_each_tile():
    images = np.stack([np.full((3, 2), v, dtype=np.float32) for v in (0.25, 0.5, 2.0, 0.75, 0.1)])
    grid = tile_maps(images, columns=3, pad=1, scale_each=False)
    assert grid.shape == (2 * 4 - 1, 3 * 3 - 1)
    np.testing.assert_allclose(grid[0:3, 0:2], 0.25)  # as given, not stretched to [0, 1]
    np.testing.assert_allclose(grid[0:3, 6:8], 1.0)  # clipped
    for i in range(5):
        r, q = divmod(i, 3)
        assert tile_at(r * 4 + 2, q * 3 + 1, (3, 2), grid.shape[1]) == i
    assert tile_at(3, 0, (3, 2), grid.shape[1]) is None  # the gap between rows
    assert tile_at(0, 2, (3, 2), grid.shape[1]) is None  # the gap between columns
    assert tile_at(4, 7, (3, 2), grid.shape[1]) == 5  # past the last tile: >= count


@pytest.mark.parametrize("count, columns", [(1, 1), (10, 5), (16, 4), (32, 8), (64, 8), (128, 16), (7, 4)])
def test_grid_columns_fill_the_grid(count, columns):
    assert grid_columns(count) == columns


def test_confusion_matrix_counts_true_against_predicted(pretrained):
    data = load_dataset("mnist").subset(0, 1000)
    result = confusion_matrix(pretrained, data, batch_size=300)
    assert result.matrix.shape == (10, 10) and result.matrix.sum() == 1000
    np.testing.assert_array_equal(result.matrix.sum(axis=1), np.bincount(data.test_labels.numpy(), minlength=10))
    assert result.accuracy > 0.97  # the shipped weights (99.0 % on all 10,000)
    truth = data.test_labels.numpy()
    np.testing.assert_array_equal(result.misclassified, np.flatnonzero(result.predicted != truth))
    assert len(result.misclassified) == 1000 - np.trace(result.matrix)


def test_confusion_matrix_of_a_constant_model_and_stopping():
    data = load_dataset("mnist").subset(0, 200)

    class AlwaysThree(nn.Module):
        def forward(self, x):
            out = torch.zeros(x.shape[0], 10)
            out[:, 3] = 1
            return out

    result = confusion_matrix(AlwaysThree(), data)
    assert (result.matrix[:, 3] == np.bincount(data.test_labels.numpy(), minlength=10)).all()
    assert result.matrix.sum() == result.matrix[:, 3].sum()
    assert result.accuracy == pytest.approx(int((data.test_labels == 3).sum()) / 200)


def test_confusion_matrix_stops_at_the_next_batch_once_cancelled():
    import threading

    data = load_dataset("mnist").subset(0, 1000)
    batches = []
    cancel = threading.Event()

    class CancelAfterTwo(nn.Module):
        def forward(self, x):
            batches.append(x.shape[0])
            if len(batches) == 2:
                cancel.set()  # as the GUI thread would, mid-pass
            return torch.zeros(x.shape[0], 10)

    assert confusion_matrix(CancelAfterTwo(), data, batch_size=100, cancel=cancel) is None
    assert batches == [100, 100]  # not one batch more
    assert confusion_matrix(CancelAfterTwo(), data, cancel=lambda: True) is None  # a callable works too
    assert len(batches) == 2
    result = confusion_matrix(CancelAfterTwo(), data.subset(0, 150), batch_size=100, cancel=threading.Event())
    assert result.matrix.sum() == 150  # an Event never set: the whole split, last batch partial
