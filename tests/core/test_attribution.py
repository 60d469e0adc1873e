"""Attribution maps (Captum) and conv kernels, checked against direct computations and the
sanity checks of Adebayo et al. (2018), on the pretrained CNN and real MNIST test digits."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn_gui.core.analysis import attribution
from cnn_gui.core.analysis.attribution import (METHODS, AttributionUnavailable, Explainer, explainer_for,
                                      occlusion_window_for)
from cnn_gui.core.analysis.kernels import conv_weight, kernel_grid, kernel_norms, kernel_stack
from cnn_gui.core.model.models import SimpleCNN
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.model.structure import initialize

captum = pytest.importorskip("captum")





pytestmark = pytest.mark.usefixtures("serial_torch")  # see tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    """The first 12 MNIST test images in [0, 1] and their labels."""
    from cnn_gui.core.data.datasets import load_dataset

    data = load_dataset("mnist")
    return data.test_images[:12, 0].numpy().astype(np.float32) / 255.0, data.test_labels[:12].numpy()


@pytest.fixture(scope="module")
def explainer(pretrained):
    return Explainer(pretrained)


class Tiny(nn.Module):
    """Two convs with in-place ReLUs right after them: what breaks naive gradient hooks."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(1, 3, 3)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(3, 4, 3)
        self.relu2 = nn.ReLU(inplace=True)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        return self.fc(self.relu2(self.conv2(self.relu1(self.conv1(x)))).flatten(1))


def rank_correlation(a, b):
    """Spearman's rho with tied values given their mean rank."""
    def ranks(v):
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v))
        _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=r)
        return (sums / counts)[inverse]
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def in_one_half(image, right):
    """The digit's ink, squeezed to at most 14 px wide, in the left (or right) half of 28x28."""
    ys, xs = np.nonzero(image > 0)
    crop = torch.from_numpy(image[ys.min():ys.max() + 1, xs.min():xs.max() + 1])
    if crop.shape[1] > 14:
        crop = F.interpolate(crop[None, None], size=(crop.shape[0], 14), mode="area")[0, 0]
    h, w = crop.shape
    out = np.zeros((28, 28), np.float32)
    top = (28 - h) // 2
    if right:
        out[top:top + h, 28 - w:] = crop.numpy()
    else:
        out[top:top + h, :w] = crop.numpy()
    return out


def test_gradcam_equals_a_direct_computation_from_hooked_activations_and_gradients():
    tiny = Tiny().eval()
    predictor = Predictor(tiny)
    explainer = Explainer(predictor, (1, 10, 10))
    image = np.random.default_rng(0).random((10, 10)).astype(np.float32)

    result = explainer.explain(image, "gradcam", target=2, layer="conv2")

    # Directly: the conv2 output A (kept apart from the in-place ReLU), the gradient of
    # the class-2 logit with respect to it, each map weighted by its mean gradient.
    model = copy.deepcopy(tiny)
    model.relu1.inplace = model.relu2.inplace = False
    caught = {}
    model.conv2.register_forward_hook(lambda _m, _i, out: caught.setdefault("a", out))
    x = predictor.input_tensor(image)
    logits = model(x)
    grad, = torch.autograd.grad(logits[0, 2], caught["a"])
    alpha = grad.mean(dim=(2, 3), keepdim=True)
    direct = (alpha * caught["a"]).sum(1)[0].detach().numpy()

    assert result.layer == "conv2" and result.target == 2
    np.testing.assert_allclose(result.layer_map, direct, rtol=1e-5, atol=1e-7)
    up = F.interpolate(torch.from_numpy(direct)[None, None], size=(10, 10), mode="bilinear")[0, 0].numpy()
    np.testing.assert_allclose(result.map, up, rtol=1e-5, atol=1e-7)
    # The predictor's own model is untouched: the explainer changed its private copy only.
    assert predictor.model.relu1.inplace and predictor.model.relu2.inplace
    assert not explainer.model.relu1.inplace


def test_input_x_gradient_is_pixels_times_the_gradient_in_pixel_space():
    tiny = Tiny().eval()
    predictor = Predictor(tiny)
    image = np.random.default_rng(1).random((10, 10)).astype(np.float32)
    image[:3] = 0.0  # empty rows

    result = Explainer(predictor, (1, 10, 10)).explain(image, "ixg", target=4)

    model = copy.deepcopy(tiny)
    model.relu1.inplace = model.relu2.inplace = False
    u = torch.from_numpy(image)[None, None].requires_grad_()
    score = model((u - 0.5) / 0.5)[0, 4]
    grad, = torch.autograd.grad(score, u)
    np.testing.assert_allclose(result.map, (u * grad)[0, 0].detach().numpy(), rtol=1e-5, atol=1e-7)
    assert (result.map[:3] == 0).all()


def test_integrated_gradients_add_up_to_the_score_change_from_an_empty_canvas(explainer, digits):
    images, _ = digits
    for image in images[:4]:
        result = explainer.explain(image, "ig")
        x = torch.from_numpy(image)[None, None]
        with torch.no_grad():
            gap = float(explainer.net(x)[0, result.target] - explainer.net(torch.zeros_like(x))[0, result.target])
        assert result.map.sum() == pytest.approx(gap, rel=0.05, abs=0.05)


def test_empty_pixels_get_exactly_nothing_and_a_digit_in_one_half_gets_its_mass_there(explainer, digits):
    images, _ = digits
    for i, image in enumerate(images[:6]):
        right = bool(i % 2)
        placed = in_one_half(image, right)
        ink = placed > 0
        for method in ("ixg", "ig"):
            amap = np.abs(explainer.explain(placed, method).map)
            assert (amap[~ink] == 0).all(), method
            assert amap.sum() > 0
            other_half = amap[:, :14] if right else amap[:, 14:]
            assert (other_half == 0).all(), method


def test_occlusion_is_zero_wherever_no_patch_touches_ink(explainer, digits):
    images, _ = digits
    window = occlusion_window_for(28, 28)
    stride = max(1, window // 2)
    for image in images[:3]:
        result = explainer.explain(image, "occlusion")
        # A patch over empty pixels blanks nothing: the input, and so the score, is unchanged.
        touched = np.zeros((28, 28), bool)
        for top in range(0, 28 - window + 1, stride):
            for left in range(0, 28 - window + 1, stride):
                if (image[top:top + window, left:left + window] > 0).any():
                    touched[top:top + window, left:left + window] = True
        assert (~touched).sum() > 100  # the test covers a real empty area
        assert (result.map[~touched] == 0).all()
        assert np.abs(result.map[touched]).max() == result.scale > 0


def test_occlusion_equals_captums_occlusion(explainer, digits):
    from captum.attr import Occlusion

    images, _ = digits
    window = occlusion_window_for(28, 28)
    for image in images[:3]:
        ours = explainer.explain(image, "occlusion")
        x = torch.from_numpy(image)[None, None]
        theirs = Occlusion(explainer.net).attribute(x, sliding_window_shapes=(1, window, window),
                                                    strides=(1, window // 2, window // 2), baselines=0.0,
                                                    target=ours.target, perturbations_per_eval=64)[0, 0]
        np.testing.assert_allclose(ours.map, theirs.numpy(), rtol=1e-4, atol=1e-4 * ours.scale)


def test_maps_of_the_trained_network_differ_from_those_of_random_weights(pretrained, explainer, digits):
    """Adebayo et al.'s model randomisation test. Grad-CAM's |map| decorrelates. The |maps| of
    Input x Gradient and Integrated Gradients keep the digit's shape whatever the weights (they
    are zero off the ink), the paper's finding too, so their signed maps are compared."""
    randomised = copy.deepcopy(pretrained.model)
    initialize(randomised, "default", seed=0)
    random_explainer = Explainer(Predictor(randomised))
    images, _ = digits
    rho = {m: [] for m in ("gradcam", "ixg", "ig")}
    for image in images[:8]:
        for method in rho:
            trained = explainer.explain(image, method)
            rand = random_explainer.explain(image, method, target=trained.target)
            a, b = trained.map.ravel(), rand.map.ravel()
            if method == "gradcam":
                a, b = np.abs(a), np.abs(b)
            rho[method].append(rank_correlation(a, b))
    for method, values in rho.items():
        assert abs(np.median(values)) < 0.5, (method, values)


def test_a_class_other_than_the_top_one_and_each_conv_layer(explainer, digits):
    images, labels = digits
    image = images[0]
    top = explainer.explain(image, "gradcam")
    assert top.predicted == top.target == labels[0]
    assert explainer.default_layer == "layer4.0" == top.layer
    assert top.layer_map.shape == (8, 8) and top.map.shape == (28, 28) and top.map.dtype == np.float32
    assert top.probabilities.shape == (10,) and top.probabilities.argmax() == top.predicted

    why_not = explainer.explain(image, "ixg", target=3)
    assert why_not.target == 3 and why_not.predicted == top.predicted
    assert "towards 3" in why_not.reading
    assert not np.allclose(why_not.map, explainer.explain(image, "ixg").map)

    assert explainer.conv_layers == ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    fine = explainer.explain(image, "gradcam", layer="layer1.0")
    assert fine.layer_map.shape == (26, 26) and "layer1.0" in fine.reading
    with pytest.raises(ValueError, match="not a Conv2d"):
        explainer.explain(image, "gradcam", layer="layer1.1")
    with pytest.raises(ValueError, match="no layer named"):
        explainer.explain(image, "gradcam", layer="nope")
    with pytest.raises(ValueError, match="out of range"):
        explainer.explain(image, "ixg", target=10)
    with pytest.raises(ValueError, match="1x28x28"):
        explainer.explain(np.zeros((32, 32), np.float32), "ixg")


def test_every_method_on_simplecnn_colour_input():
    torch.manual_seed(0)
    predictor = Predictor(SimpleCNN(), mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
    explainer = Explainer(predictor, (3, 32, 32))
    image = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    for method in METHODS:
        result = explainer.explain(image, method)
        assert result.map.shape == (32, 32) and np.isfinite(result.map).all() and result.scale > 0
        assert result.reading
    assert predictor.model.layer1.relu1.inplace  # untouched


def test_explainer_is_made_once_per_snapshot(pretrained):
    first = explainer_for(pretrained)
    assert explainer_for(pretrained) is first
    other = Predictor(pretrained.model)
    assert explainer_for(other) is not first


def test_without_captum_the_window_gets_the_install_line(monkeypatch, explainer, digits):
    monkeypatch.setattr(attribution, "captum_available", lambda: False)
    with pytest.raises(AttributionUnavailable, match=r"pip install -e '\.\[explain\]'"):
        explainer.explain(digits[0][0], "gradcam")


# -- kernels ------------------------------------------------------------------------------

def test_first_layer_kernels_directly_deeper_ones_per_input_channel_or_as_norms(pretrained):
    w1 = conv_weight(pretrained.model, "layer1.0")
    assert w1.shape == (16, 1, 3, 3)
    stack = kernel_stack(w1)
    np.testing.assert_array_equal(stack, pretrained.model.layer1[0].weight[:, 0].numpy())
    grid, scale = kernel_grid(stack)
    assert grid.shape == (4 * 4 - 1, 4 * 4 - 1) and scale == np.abs(stack).max()
    tile = grid[:3, :3]  # kernel 0, mapped so that -scale..+scale -> 0..1
    np.testing.assert_allclose(tile, 0.5 + 0.5 * stack[0] / scale, rtol=1e-6)

    w2 = conv_weight(pretrained.model, "layer2.0")
    with pytest.raises(ValueError, match="16 input channels"):
        kernel_stack(w2)
    np.testing.assert_array_equal(kernel_stack(w2, 5), w2[:, 5])
    norms = kernel_norms(w2)
    assert norms.shape == (32, 16)
    np.testing.assert_allclose(norms[7, 5], np.linalg.norm(w2[7, 5]), rtol=1e-6)
    with pytest.raises(ValueError, match="not a Conv2d"):
        conv_weight(pretrained.model, "layer2.1")
    zero_grid, zero_scale = kernel_grid(np.zeros((4, 3, 3), np.float32))
    assert zero_scale == 0 and np.nanmax(zero_grid) == np.nanmin(zero_grid) == 0.5
