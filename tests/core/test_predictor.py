import numpy as np
import torch
from torch import nn

import pytest

from cnn_gui.core.model.models import CNN, SimpleCNN
from cnn_gui.core.analysis.predictor import MIN_CONFIDENCE, PredictionError, Predictor, read_out
from cnn_gui.core.inputs.preprocess import InputError, normalize


def sample_image(seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((28, 28)).astype(np.float32)


def test_probabilities_sum_to_one():
    torch.manual_seed(0)
    p = Predictor(CNN())
    probs = p.predict(sample_image())
    assert probs.shape == (10,) and probs.dtype == np.float32
    assert np.isclose(probs.sum(), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    assert p.classes == tuple(str(i) for i in range(10))


def test_snapshot_is_independent_of_the_live_model():
    torch.manual_seed(0)
    model = CNN()
    p = Predictor(model)
    img = sample_image(1)
    before = p.predict(img)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param))
    model.train()
    model(torch.randn(4, 1, 28, 28))  # updates the live BatchNorm running stats
    after = p.predict(img)
    np.testing.assert_array_equal(before, after)
    assert all(not q.requires_grad for q in p.model.parameters())
    assert not p.model.training
    live = {id(t) for t in list(model.parameters()) + list(model.buffers())}
    assert not live & {id(t) for t in list(p.model.parameters()) + list(p.model.buffers())}
    assert all(t.data_ptr() != s.data_ptr() for t, s in zip(model.parameters(), p.model.parameters()))


def test_eval_mode_with_batchnorm_matches_model_eval():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    model.train()
    for _ in range(3):  # give BatchNorm non-trivial running statistics
        model(torch.randn(8, 1, 28, 28) * 2 + 1)
    p = Predictor(model, classes=list("abcdefghij"))
    assert model.training  # the live model's mode is untouched
    img = sample_image(2)
    a, b = p.predict(img), p.predict(img)
    np.testing.assert_array_equal(a, b)
    model.eval()
    with torch.no_grad():
        ref = torch.softmax(model(torch.from_numpy(normalize(img))[None]), dim=1)[0].numpy()
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)
    assert p.classes == tuple("abcdefghij")


def test_hooks_are_not_copied():
    model = CNN()
    calls = []
    model.layer1.register_forward_hook(lambda *args: calls.append(1))
    p = Predictor(model)
    p.predict(sample_image())
    assert calls == []


# ----------------------------------------------------------------------------- bad input
def one_line(exc_type, call, *words):
    with pytest.raises(exc_type) as info:
        call()
    text = str(info.value)
    assert "\n" not in text and len(text) <= 300 and "Traceback" not in text
    for w in words:
        assert w in text, text
    return text


def test_input_shape_is_given_or_inferred():
    assert Predictor(CNN()).input_shape == (1, None, None)  # the first Conv2d's channels
    assert Predictor(SimpleCNN()).input_shape == (3, None, None)
    assert Predictor(CNN(), input_shape=(1, 28, 28)).input_shape == (1, 28, 28)

    class Declared(nn.Module):
        input_shape = (1, 32, 32)

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(32 * 32, 10)

        def forward(self, x):
            return self.fc(x.flatten(1))

    assert Predictor(Declared()).input_shape == (1, 32, 32)
    assert Predictor(nn.Sequential(nn.Flatten(), nn.Linear(784, 10))).input_shape is None
    with pytest.raises(ValueError):
        Predictor(CNN(), input_shape=(28, 28))


def test_wrong_shapes_are_named_not_torch_errors():
    torch.manual_seed(0)
    p = Predictor(CNN())
    one_line(InputError, lambda: p.predict(np.zeros((3, 28, 28), np.float32)), "1x?x?", "3x28x28")
    fixed = Predictor(CNN(), input_shape=(1, 28, 28))
    # a 32x32 input once gave a raw torch error from deep inside the network
    one_line(InputError, lambda: fixed.predict(np.zeros((32, 32), np.float32)), "1x28x28", "1x32x32")
    one_line(InputError, lambda: p.predict(np.zeros((1, 1, 28, 28), np.float32)), "1x1x28x28")
    one_line(InputError, lambda: p.predict(np.zeros((0, 28), np.float32)), "empty")
    one_line(InputError, lambda: p.predict(np.broadcast_to(np.float32(0), (1, 5000, 5000))), "too large")
    one_line(InputError, lambda: p.predict(np.full((28, 28), np.nan, np.float32)), "784 NaN")
    # a model that says nothing about its input: its own failure, in one line
    flat = Predictor(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)))
    one_line(PredictionError, lambda: flat.predict(sample_image()), "cannot read a 1x28x28 image", "RuntimeError")


def test_integer_images_are_scaled_by_their_range():
    torch.manual_seed(0)
    p = Predictor(CNN())
    img = sample_image(3)
    ref = p.predict(img)
    np.testing.assert_allclose(p.predict((img * 255).round().astype(np.uint8)), ref, atol=2e-3)
    np.testing.assert_allclose(p.predict((img * 65535).round().astype(np.uint16)), ref, atol=1e-4)
    np.testing.assert_allclose(p.predict(img.astype(np.float64)), ref, atol=1e-6)
    np.testing.assert_allclose(p.predict(img > 0.5), p.predict((img > 0.5).astype(np.float32)), atol=1e-6)


def test_nan_weights_raise_instead_of_nan_probabilities():
    model = CNN()
    with torch.no_grad():
        model.fc[0].weight[0, 0] = float("nan")
    p = Predictor(model)
    one_line(PredictionError, lambda: p.predict(sample_image()), "not a number", "weights")


def test_a_model_returning_no_scores_is_named():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    one_line(PredictionError, lambda: Predictor(Pair()).predict(sample_image()), "tuple")


def test_read_out_captions():
    probs = np.array([0.05, 0.05, 0.3, 0.41, 0.03, 0.04, 0.03, 0.03, 0.03, 0.03])
    r = read_out(probs)
    assert (r.index, r.label, r.confident) == (3, "3", False)
    assert r.caption == "Not sure: maybe 3 (41.0%)"
    sure = read_out(np.array([0.017] * 9 + [0.847]), classes=list("abcdefghij"))
    assert sure.confident and sure.caption == "Prediction: j (84.7%)"
    assert MIN_CONFIDENCE == 0.5
    assert read_out(np.array([0.5, 0.5])).confident  # at the threshold: confident
    with pytest.raises(PredictionError):
        read_out(np.array([np.nan] * 10))


def test_class_names_keep_their_places_when_the_model_has_more_outputs():
    import numpy as np

    from cnn_gui.core.model.models import CNN
    from cnn_gui.core.analysis.predictor import Predictor

    predictor = Predictor(CNN(), classes=["circle", "square", "triangle"])
    probs = predictor.predict(np.zeros((28, 28), np.float32))
    assert probs.shape == (10,)
    assert predictor.classes[:3] == ("circle", "square", "triangle") and predictor.classes[3] == "#3"
