"""Robustness probes: exact identities, transforms that do what they say, one batch."""

import numpy as np
import pytest
import torch

from cnn_gui.core.model.models import SimpleCNN
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.analysis.probes import TRANSFORMS, affine, noise, run_probes, shift, stroke, variants





pytestmark = pytest.mark.usefixtures("serial_torch")  # see tests/conftest.py


@pytest.fixture(scope="module")
def digit():
    from cnn_gui.core.data.datasets import load_dataset

    return load_dataset("mnist").test_images[0, 0].numpy().astype(np.float32) / 255.0


def batch(image):
    return torch.from_numpy(image)[None, None]


def test_identity_of_every_transform_returns_the_input_bit_for_bit(digit):
    x = batch(digit)
    assert torch.equal(shift(x, 0, 0), x)
    assert torch.equal(affine(x, [0.0], [1.0])[0], x[0])  # rotation by 0, scale 1
    assert torch.equal(stroke(x, 0), x)
    assert torch.equal(noise(x, [0.0])[0], x[0])
    for t in TRANSFORMS:
        out = t.apply(x)
        assert out.shape == (len(t.values), 1, 28, 28)
        assert torch.equal(out[t.values.index(t.identity)], x[0]), t.key


def test_shifts_move_whole_pixels_and_leave_empty_canvas_behind(digit):
    x = batch(digit)
    moved = shift(x, 3, -2)[0, 0].numpy()
    expected = np.zeros_like(digit)
    expected[:-2, 3:] = digit[2:, :-3]
    np.testing.assert_array_equal(moved, expected)
    assert not shift(x, 28, 0).any()


def test_rotation_turns_counter_clockwise_and_scale_grows_about_the_centre():
    dot = np.zeros((28, 28), np.float32)
    dot[14, 22] = 1.0  # right of the centre (13.5, 13.5)
    turned = affine(batch(dot), [90.0], [1.0])[0, 0].numpy()
    assert np.unravel_index(turned.argmax(), turned.shape) == (5, 14)  # now above the centre
    assert turned.sum() == pytest.approx(1.0, abs=1e-4)

    square = np.zeros((28, 28), np.float32)
    square[10:18, 10:18] = 1.0
    big, small = affine(batch(square), [0.0, 0.0], [1.4, 0.6])[:, 0].numpy()
    for img, side in ((big, 8 * 1.4), (small, 8 * 0.6)):
        assert abs((img[13:15] >= 0.5).sum(1) - side).max() <= 1  # the 8 px square's new side
        assert abs((img[:, 13:15] >= 0.5).sum(0) - side).max() <= 1
        rows, cols = np.nonzero(img > 0.01)
        assert rows.mean() == pytest.approx(13.5, abs=0.01) and cols.mean() == pytest.approx(13.5, abs=0.01)


def test_stroke_thickens_by_grey_dilation_and_thins_by_erosion(digit):
    x = batch(digit)
    thick = stroke(x, 2)[0, 0].numpy()  # 3x3 square: 2 px wider
    padded = np.pad(digit, 1, constant_values=-np.inf)
    dilated = np.max([padded[r:r + 28, c:c + 28] for r in range(3) for c in range(3)], axis=0)
    np.testing.assert_array_equal(thick, dilated)
    thin = stroke(x, -2)[0, 0].numpy()
    padded = np.pad(digit, 1, constant_values=np.inf)
    eroded = np.min([padded[r:r + 28, c:c + 28] for r in range(3) for c in range(3)], axis=0)
    np.testing.assert_array_equal(thin, eroded)
    one = stroke(x, 1)[0, 0].numpy()  # 2x2 square: 1 px wider, reaching right and down
    padded = np.pad(digit, ((0, 1), (0, 1)), constant_values=-np.inf)
    np.testing.assert_array_equal(one, np.max([padded[r:r + 28, c:c + 28] for r in range(2) for c in range(2)], axis=0))
    ink = [stroke(x, s).sum().item() for s in range(-2, 5)]
    assert ink == sorted(ink) and len(set(ink)) == 7


def test_noise_is_one_pattern_scaled_and_stays_in_range(digit):
    out = noise(batch(digit), [0.1, 0.3])
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, noise(batch(digit), [0.1, 0.3]))  # fixed seed
    assert (out[1] - batch(digit)[0]).abs().mean() > (out[0] - batch(digit)[0]).abs().mean()


def test_all_variants_go_through_the_network_in_one_batch(pretrained, digit):
    calls = []
    handle = pretrained.model.register_forward_hook(lambda _m, inputs, _o: calls.append(inputs[0].shape[0]))
    try:
        result = run_probes(pretrained, digit)
    finally:
        handle.remove()
    n = sum(len(t.values) for t in TRANSFORMS)
    assert 50 <= n <= 70 and result.variants == n
    assert calls == [n + 1]  # the variants and the original together

    probs = pretrained.predict(digit)
    assert result.original == probs.argmax() == 7
    assert result.original_probability == pytest.approx(float(probs.max()), abs=1e-6)
    for curve in result.curves:
        t = curve.transform
        at = t.values.index(t.identity)
        assert curve.predicted[at] == result.original
        assert curve.original_probability[at] == pytest.approx(result.original_probability, abs=1e-5)
        assert curve.images.shape == (len(t.values), 28, 28)
        # Each variant's answer is what predict() says for that image alone.
        for i in (0, len(t.values) - 1):
            alone = pretrained.predict(curve.images[i])
            assert curve.predicted[i] == alone.argmax()
            assert curve.confidence[i] == pytest.approx(float(alone.max()), abs=1e-4)
            assert curve.original_probability[i] == pytest.approx(float(alone[result.original]), abs=1e-4)
    np.testing.assert_array_equal(variants(digit)[:9, 0].numpy(), result.curve("shift_x").images)

    noisy = result.curve("noise")
    assert len(noisy.flips(result.original)) > 0  # sigma 0.5 of noise is too much for this 7
    lo, hi = noisy.stable_range(result.original)
    assert lo == 0.0 and hi < 0.5 and noisy.predicted[noisy.transform.values.index(hi) + 1] != result.original


def test_colour_input_of_simplecnn():
    torch.manual_seed(0)
    predictor = Predictor(SimpleCNN(), mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
    image = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    result = run_probes(predictor, image)
    assert result.curve("rotation").images.shape == (13, 3, 32, 32)
    assert all(c.predicted[c.transform.values.index(c.transform.identity)] == result.original for c in result.curves)
