import time

import numpy as np
import pytest

from cnn_gui.core.preprocess import normalize, to_mnist


def centre_of_mass(img):
    total = img.sum()
    ys, xs = np.indices(img.shape)
    return (ys * img).sum() / total, (xs * img).sum() / total


def bbox(img, level=0.1):
    rows = np.flatnonzero((img > level).any(axis=1))
    cols = np.flatnonzero((img > level).any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def test_off_centre_blob_is_centred_by_mass():
    img = np.zeros((280, 280), np.float32)
    ys, xs = np.indices(img.shape)
    img[(ys - 40) ** 2 + (xs - 230) ** 2 < 15 ** 2] = 1.0
    img[30:60, 200:215] = 1.0  # make it lopsided so mass centre != bbox centre
    out = to_mnist(img)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 14) <= 1.0 and abs(cx - 14) <= 1.0


def test_tall_thin_stroke_scales_to_20_rows_keeping_aspect():
    img = np.zeros((280, 280), np.float32)
    img[40:240, 100:120] = 1.0  # 200 x 20: aspect 10:1
    out = to_mnist(img)
    r0, r1, c0, c1 = bbox(out)
    assert 19 <= r1 - r0 + 1 <= 21
    assert 1 <= c1 - c0 + 1 <= 3  # 20 * 20/200 = 2 px


def test_wide_shape_scales_width_to_20():
    img = np.zeros((100, 300), np.float32)
    img[40:70, 20:260] = 1.0
    out = to_mnist(img)
    r0, r1, c0, c1 = bbox(out)
    assert 19 <= c1 - c0 + 1 <= 21
    assert 2 <= r1 - r0 + 1 <= 4  # 30/240*20 = 2.5


def test_small_drawing_is_enlarged():
    img = np.zeros((280, 280), np.float32)
    img[100:105, 100:102] = 1.0
    out = to_mnist(img)
    r0, r1, _, _ = bbox(out)
    assert 19 <= r1 - r0 + 1 <= 21


def test_empty_is_none():
    assert to_mnist(np.zeros((280, 280), np.float32)) is None
    assert to_mnist(np.full((50, 50), 0.01, np.float32)) is None
    assert to_mnist(np.zeros((280, 280), np.uint8)) is None


def test_uint8_input_matches_float_input():
    f = np.zeros((280, 280), np.float32)
    f[50:200, 120:150] = 1.0
    u = (f * 255).astype(np.uint8)
    a, b = to_mnist(f), to_mnist(u)
    assert a.dtype == np.float32 and b.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_output_range_dtype_shape():
    rng = np.random.default_rng(0)
    img = (rng.random((280, 280)) > 0.97).astype(np.float32)
    out = to_mnist(img)
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    # the mass is preserved up to the crop: a full box downscale keeps the mean brightness
    full = np.ones((140, 140), np.float32)
    out = to_mnist(full)
    assert np.isclose(out.max(), 1.0) and np.isclose(out.sum(), 400.0)


def test_fast():
    img = np.zeros((280, 280), np.float32)
    img[30:250, 60:200] = 1.0
    to_mnist(img)
    n = 50
    t = time.perf_counter()
    for _ in range(n):
        to_mnist(img)
    assert (time.perf_counter() - t) / n < 0.005  # target < 2 ms; slack for busy CI machines


def test_normalize_shape_and_values():
    img = np.zeros((28, 28), np.float32)
    img[0, 0] = 1.0
    x = normalize(img)
    assert x.shape == (1, 28, 28) and x.dtype == np.float32
    assert x[0, 0, 0] == pytest.approx(1.0) and x[0, 1, 1] == pytest.approx(-1.0)
    y = normalize(np.ones((3, 4, 4)), mean=(0.5, 0.0, 1.0), std=(0.5, 1.0, 2.0))
    np.testing.assert_allclose(y[:, 0, 0], [1.0, 1.0, 0.0])
    with pytest.raises(ValueError):
        normalize(np.ones((3, 4, 4)), mean=(0.1, 0.2))
