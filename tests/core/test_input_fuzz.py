"""Odd arrays through to_mnist and Predictor: a result or a deliberate error, nothing else.

Seeded, so a failure repeats.  Every case either gives finite probabilities summing to 1
(and to_mnist a finite 28x28 image in [0, 1], or None for no ink) or raises InputError /
PredictionError, the one-line errors the window and the CLI show.  Any other exception
fails the test with the case that caused it.
"""

import numpy as np
import pytest
import torch
from torch import nn

from cnn_gui.core.model.models import CNN
from cnn_gui.core.analysis.predictor import PredictionError, Predictor, read_out
from cnn_gui.core.inputs.preprocess import InputError, to_mnist, too_little_ink

DELIBERATE = (InputError, PredictionError)
DTYPES = [np.float16, np.float32, np.float64, np.longdouble, np.bool_, np.uint8, np.int8, np.uint16,
          np.int16, np.uint32, np.int32, np.int64, np.uint64, np.complex64, object, np.str_]
SIDES = [0, 1, 2, 3, 5, 28, 29, 64, 280]



pytestmark = pytest.mark.usefixtures("serial_torch")  # see tests/conftest.py


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8, 10))


def random_case(rng):
    """(description, array-like) for one odd input."""
    pick = rng.random()
    if pick < 0.04:
        return "None", None
    if pick < 0.07:
        return "ragged list", [[0.0, 1.0], [1.0]]
    if pick < 0.12:
        shape = [(5000, 5000), (1, 5000, 5000), (4097, 3), (3, 28, 5000)][rng.integers(4)]
        return f"huge view {shape}", np.broadcast_to(np.float32(rng.random()), shape)
    dtype = DTYPES[rng.integers(len(DTYPES))]
    ndim = int(rng.choice([0, 1, 2, 2, 2, 2, 3, 3, 4]))
    # leading axes short, as channels and batches are (and a 280^4 array would take seconds)
    shape = tuple(int(rng.choice(SIDES[:4] if i < ndim - 2 else SIDES)) for i in range(ndim))
    if ndim == 3 and rng.random() < 0.5:
        shape = (1,) + shape[1:]  # a channel axis the core accepts
    values = rng.random(shape) * 3.0 - 1.0  # outside [0, 1] on both sides
    if rng.random() < 0.3:
        values = np.where(rng.random(shape) < 0.9, 0.0, values)  # mostly paper, a few specks
    kind = np.dtype(dtype).kind
    with np.errstate(over="ignore", invalid="ignore"):  # 1e30 is inf in float16: on purpose
        if kind in "ui":
            top = min(np.iinfo(dtype).max, 2**31 - 1)
            arr = np.clip(values * top, np.iinfo(dtype).min, top).astype(dtype)
        elif kind == "f" and values.size:
            arr = values.astype(dtype)
            if rng.random() < 0.3:
                flat = arr.reshape(-1)
                flat[rng.integers(flat.size)] = [np.nan, np.inf, -np.inf, 1e30][rng.integers(4)]
        else:
            arr = values.astype(dtype)
    return f"{np.dtype(dtype).name} {shape}", arr


def check_probs(probs, where):
    assert isinstance(probs, np.ndarray) and probs.dtype == np.float32 and probs.ndim == 1, where
    assert np.isfinite(probs).all() and (probs >= 0).all(), where
    assert abs(float(probs.sum()) - 1.0) < 1e-4, where
    read_out(probs)  # a caption can always be made of it


def attempt(call):
    """The call's result, or None for a deliberate error; anything else propagates."""
    try:
        return call()
    except DELIBERATE as exc:
        text = str(exc)
        assert text and "\n" not in text and len(text) <= 300, text
        return None


def test_odd_arrays_give_probabilities_or_deliberate_errors():
    rng = np.random.default_rng(20240611)
    tiny = Predictor(tiny_model())
    real = Predictor(CNN())
    counts = {"read": 0, "refused": 0, "predicted": 0}
    for k in range(1200):
        where, arr = random_case(rng)
        img28 = attempt(lambda: to_mnist(arr))
        counts["refused" if img28 is None else "read"] += 1
        if img28 is not None:
            assert img28.shape == (28, 28) and img28.dtype == np.float32, where
            assert np.isfinite(img28).all() and img28.min() >= 0 and img28.max() <= 1, where
            check_probs(tiny.predict(img28), where)
            if k % 8 == 0:
                check_probs(real.predict(img28), where)
        attempt(lambda: too_little_ink(arr))
        probs = attempt(lambda: tiny.predict(arr))
        if probs is not None:
            check_probs(probs, where)
            counts["predicted"] += 1
        if k % 8 == 1:
            probs = attempt(lambda: real.predict(arr))
            if probs is not None:
                check_probs(probs, where)
    # the fuzzing reached both sides of every check
    assert counts["read"] >= 40 and counts["refused"] >= 100 and counts["predicted"] >= 60, counts


@pytest.mark.parametrize("poison", [float("nan"), float("inf"), 1e38])
def test_broken_weights_never_give_nan_probabilities(poison):
    model = tiny_model()
    with torch.no_grad():
        for param in model.parameters():
            param.fill_(poison)  # 1e38: finite weights whose scores overflow float32
    p = Predictor(model)
    rng = np.random.default_rng(0)
    for _ in range(5):
        with pytest.raises(PredictionError, match="not a number"):
            p.predict(rng.random((28, 28)).astype(np.float32) + 0.1)
