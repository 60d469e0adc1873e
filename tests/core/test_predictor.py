import numpy as np
import torch
from torch import nn

from cnn_gui.core.models import CNN
from cnn_gui.core.predictor import Predictor
from cnn_gui.core.preprocess import normalize


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
