"""How an image becomes the network's input: the one rule, for every place that reads an image.

Weights only read well what is prepared the way their training images were. There are two
ways, and every set of weights records which one it was trained with (the checkpoint's
``preparation`` field, the export metadata, :class:`~cnn_gui.core.weights.Normalization`):

- ``digit`` (MNIST's): a drawing or a photo of a digit is reduced to its ink, cropped to it,
  scaled into a 20x20 box and centred by its centre of mass in 28x28
  (:func:`~cnn_gui.core.inputs.preprocess.to_mnist`, photos through
  :func:`~cnn_gui.core.inputs.images.read_digit_image`). Only the bundled MNIST is prepared so.
  A canvas drawing whose strokes are known is written again from them with a pen in
  proportion to its size (:func:`~cnn_gui.core.inputs.strokes.strokes_to_mnist`), as MNIST's
  writers' pens were, instead of scaling the canvas's fixed-width raster.
- ``fit`` (every other dataset, your own image folders above all): the whole image is
  scaled to fit inside the input, keeping its aspect and padded with its border colour,
  exactly as :mod:`cnn_gui.core.data.image_reading` reads a folder's images for training.

``ink`` says whether the training images are drawings and which way round: ``light`` (light
strokes on a dark ground, as MNIST and the canvas), ``dark`` (dark strokes on light paper;
a canvas drawing is inverted to match), or ``""`` (photos, colour: the canvas cannot stand
in for them, and the window asks for an image file instead). A folder's ink is measured from
its training images' borders when it is loaded (:func:`~cnn_gui.core.data.image_folder.ink_of`).

Both functions return float32 (C, H, W) in [0, 1]; :class:`~cnn_gui.core.analysis.predictor.Predictor`
normalises with the training mean and std.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cnn_gui.core.errors import CnnGuiError

from cnn_gui.core.data.image_dataset import DARK, DIGIT, FIT, INKS, LIGHT, METHODS

DIGIT_SHAPE = (1, 28, 28)


class PreparationError(CnnGuiError):
    """A preparation that cannot apply (a digit preparation for a colour model...)."""


@dataclass(frozen=True)
class Preparation:
    """How images were prepared for some weights; see the module's docstring."""

    method: str = FIT
    ink: str = ""

    def __post_init__(self) -> None:
        if self.method not in METHODS or self.ink not in INKS:
            raise PreparationError(f"unknown preparation {self.method!r} / ink {self.ink!r}")

    @classmethod
    def for_shape(cls, method: str, ink: str, input_shape) -> "Preparation":
        """``method``/``ink`` as recorded, made to fit ``input_shape``: the digit preparation
        makes 1x28x28 images only, so for any other shape it reads as ``fit``."""
        if method == DIGIT and tuple(input_shape) != DIGIT_SHAPE:
            method = FIT
        return cls(method, ink)

    @property
    def reads_drawings(self) -> bool:
        """Whether a canvas drawing can stand in for these weights' images."""
        return bool(self.ink)

    def to_dict(self) -> dict:
        return {"method": self.method, "ink": self.ink}

    def describe(self) -> str:
        """One line for metadata and tooltips."""
        if self.method == DIGIT:
            return "cropped to its ink, scaled into 20x20 and centred by mass in 28x28 (as MNIST)"
        kind = {LIGHT: "light strokes on dark", DARK: "dark strokes on light", "": "photos"}[self.ink]
        return f"the whole image scaled to fit the input keeping its aspect, padded with its border colour ({kind})"


def prepare_drawing(drawing: np.ndarray, prep: Preparation, input_shape,
                    strokes: Sequence[np.ndarray] | None = None) -> np.ndarray | None:
    """A canvas drawing (2-D, ink 1.0 on 0.0) as the network's input; None when nothing is drawn.

    ``strokes`` (the canvas's, :meth:`DrawingCanvas.strokes`), when given, are what a digit
    preparation reads; the raster is for the others. PreparationError when these weights do
    not read drawings (:attr:`Preparation.reads_drawings`).
    """
    from cnn_gui.core.inputs.preprocess import as_unit_float, to_mnist

    if prep.method == DIGIT:
        if strokes:
            from cnn_gui.core.inputs.strokes import strokes_to_mnist

            img = strokes_to_mnist(strokes)
        else:
            img = to_mnist(drawing)
        return None if img is None else img[None]
    if not prep.reads_drawings:
        raise PreparationError("these weights read photos, not drawings: open or drop an image file instead")
    a = as_unit_float(drawing, "the drawing")
    if a.ndim != 2 or not (a > 0.05).any():
        return None
    if prep.ink == DARK:
        a = 1.0 - a
    return _fitted(np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8), input_shape)


def too_little_to_read(drawing: np.ndarray, strokes: Sequence[np.ndarray] | None = None) -> bool:
    """Whether a drawing is too small to be a digit (a dot is no "0"): by its strokes' centre
    line when they are known (:func:`~cnn_gui.core.inputs.strokes.too_small`: small digits are
    read), else by its ink (:func:`~cnn_gui.core.inputs.preprocess.too_little_ink`)."""
    if strokes:
        from cnn_gui.core.inputs.strokes import too_small

        return too_small(strokes, max(np.shape(drawing)))
    from cnn_gui.core.inputs.preprocess import too_little_ink

    return too_little_ink(drawing)


def prepare_file(path: str | os.PathLike, prep: Preparation, input_shape) -> np.ndarray | None:
    """An image file as the network's input, prepared as the weights were trained; None: no ink
    found in a digit photo. Raises a one-line CnnGuiError for a file that cannot be read."""
    if prep.method == DIGIT:
        from cnn_gui.core.inputs.images import read_digit_image
        from cnn_gui.core.inputs.preprocess import to_mnist

        img = to_mnist(read_digit_image(path))
        return None if img is None else img[None]
    from cnn_gui.core.data.image_reading import read_image

    return read_image(path, tuple(input_shape)).astype(np.float32) / np.float32(255.0)


def _fitted(grey: np.ndarray, input_shape) -> np.ndarray:
    """uint8 (H, W) fitted into ``input_shape`` as a folder's images are (channels repeated)."""
    from PIL import Image

    from cnn_gui.core.data.image_reading import fit_image

    c, h, w = (int(v) for v in input_shape)
    im = fit_image(Image.fromarray(grey, "L"), w, h)
    out = np.asarray(im, dtype=np.float32)[None] / np.float32(255.0)
    return np.ascontiguousarray(np.repeat(out, c, axis=0)) if c > 1 else out
