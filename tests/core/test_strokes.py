"""A drawing's strokes written into 28x28 with a pen in proportion to the drawing's size."""

import numpy as np
import pytest

from cnn_gui.core.errors import CnnGuiError
from cnn_gui.core.inputs.preparation import DIGIT, LIGHT, Preparation, prepare_drawing, too_little_to_read
from cnn_gui.core.inputs.preprocess import MNIST_BOX, to_mnist
from cnn_gui.core.inputs.strokes import MAX_POINTS, PEN_PX, stroke_extent, strokes_to_mnist, too_small

DIGIT_PREP = Preparation(DIGIT, LIGHT)


def three(cx, cy, height, pressure=0.5, n=40):
    """A "3" (two arcs), ``height`` canvas pixels high, centred at (cx, cy)."""
    r = height / 4.0
    out = []
    for top in (cy - r, cy + r):
        a = np.linspace(-np.pi * 0.85, np.pi * 0.5, n)
        out.append(np.column_stack([cx + 1.25 * r * np.cos(a), top + r * np.sin(a), np.full(n, pressure)]))
    return [np.concatenate(out)]


def vertical_line(x, y0, y1, n=30):
    return [np.column_stack([np.full(n, x), np.linspace(y0, y1, n), np.full(n, 0.5)])]


def raster(strokes, side=280, pen=22.0):
    """The canvas's fixed-width raster of ``strokes`` (what to_mnist used to read)."""
    ys, xs = np.mgrid[0:side, 0:side] + 0.5
    img = np.zeros((side, side), np.float32)
    for s in strokes:
        for (x0, y0), (x1, y1) in zip(s[:-1, :2], s[1:, :2]):
            d = np.array([x1 - x0, y1 - y0])
            t = np.clip(((xs - x0) * d[0] + (ys - y0) * d[1]) / max(d @ d, 1e-9), 0, 1)
            dist = np.hypot(xs - x0 - t * d[0], ys - y0 - t * d[1])
            img = np.maximum(img, np.clip(pen / 2 + 0.5 - dist, 0, 1))
    return img


def ink_box(img, threshold=0.05):
    rows = np.flatnonzero((img > threshold).any(axis=1))
    cols = np.flatnonzero((img > threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_a_small_drawing_reads_like_a_big_one_not_like_a_blot():
    big = strokes_to_mnist(three(140, 140, 190))
    small = strokes_to_mnist(three(60, 200, 50))
    # Strokes: the same digit at any size (only the sampling of the points differs).
    assert np.abs(big - small).mean() < 0.02
    assert abs(int((big > 0.5).sum()) - int((small > 0.5).sum())) <= 4
    # The fixed-width raster scaled up (the old way) fills a small digit's loops in.
    old_big, old_small = to_mnist(raster(three(140, 140, 190))), to_mnist(raster(three(60, 200, 50)))
    assert (old_small > 0.5).sum() > 1.6 * (old_big > 0.5).sum()
    assert (small > 0.5).sum() < 1.15 * (old_big > 0.5).sum()


def test_the_digit_fills_mnists_box_and_sits_on_its_centre_of_mass():
    img = strokes_to_mnist(three(100, 120, 150))
    assert img.shape == (28, 28) and img.dtype == np.float32 and img.flags.c_contiguous
    assert 0.0 <= img.min() and img.max() <= 1.0
    h, w = ink_box(img)
    assert MNIST_BOX - 1 <= max(h, w) <= MNIST_BOX + 1
    ys, xs = np.indices(img.shape)
    assert abs((ys * img).sum() / img.sum() - 14) <= 0.5
    assert abs((xs * img).sum() / img.sum() - 14) <= 0.5


def test_the_pen_is_mnists_width_whatever_the_size():
    for height in (40, 120, 250):
        img = strokes_to_mnist(vertical_line(140, 140 - height / 2, 140 + height / 2))
        middle_rows = img[8:20]
        widths = middle_rows.sum(axis=1)  # ink across the stroke, one row at a time
        assert np.allclose(widths, PEN_PX, atol=0.15), (height, widths)


def test_a_stylus_presses_harder_for_wider_strokes_within_the_proportion():
    light = strokes_to_mnist(three(140, 140, 190, pressure=0.0))
    middle = strokes_to_mnist(three(140, 140, 190, pressure=0.5))
    hard = strokes_to_mnist(three(140, 140, 190, pressure=1.0))
    assert light.sum() < middle.sum() < hard.sum()
    assert 0.6 * middle.sum() < light.sum() and hard.sum() < 1.4 * middle.sum()


def test_prepare_drawing_reads_the_strokes_when_given_and_the_raster_otherwise():
    strokes = three(60, 200, 50)
    image = raster(strokes)
    assert np.array_equal(prepare_drawing(image, DIGIT_PREP, (1, 28, 28), strokes)[0], strokes_to_mnist(strokes))
    assert np.array_equal(prepare_drawing(image, DIGIT_PREP, (1, 28, 28))[0], to_mnist(image))
    # weights trained on whole images read the raster, strokes or not
    fit = Preparation("fit", LIGHT)
    assert np.array_equal(prepare_drawing(image, fit, (1, 28, 28), strokes), prepare_drawing(image, fit, (1, 28, 28)))


def test_a_dot_is_too_small_but_a_small_digit_is_not():
    dot = [np.array([[150.0, 150.0, 0.5]])]
    scribble = [np.array([[150.0, 150.0, 0.5], [160.0, 155.0, 0.5]])]
    small = three(60, 200, 45)
    side = np.zeros((280, 280), np.float32)
    assert too_small(dot, 280) and too_little_to_read(side, dot)
    assert too_small(scribble, 280)
    assert not too_small(small, 280) and not too_little_to_read(side, small)
    assert stroke_extent(small) == pytest.approx(45.0, abs=0.5)
    img = strokes_to_mnist(dot)
    assert img is not None and img.sum() > 0  # still shown in the preview


def test_nothing_drawn_is_nothing_to_read():
    assert strokes_to_mnist([]) is None
    assert stroke_extent([]) == 0.0


@pytest.mark.parametrize("bad, words", [
    ([np.array([[1.0, 2.0]])], "(N, 3)"),
    ([np.zeros((0, 3))], "(N, 3)"),
    ([np.array([[1.0, np.nan, 0.5]])], "not a number"),
    ([np.zeros((MAX_POINTS + 1, 3))], "is not a digit"),
])
def test_points_that_are_not_a_drawing_fail_in_one_line(bad, words):
    with pytest.raises(CnnGuiError) as err:
        strokes_to_mnist(bad)
    assert words in str(err.value) and "\n" not in str(err.value)
