"""Embedding: penultimate features, PCA against a direct SVD, the live point, t-SNE."""

import threading

import numpy as np
import pytest
import torch
from torch import nn

from cnn_gui.core.analysis import embedding
from cnn_gui.core.analysis.embedding import (EmbeddingUnavailable, compute_embedding, fit_pca, image_features, last_linear,
                                    project, dataset_features, tsne)
from cnn_gui.core.model.models import SimpleCNN





pytestmark = pytest.mark.usefixtures("serial_torch")  # see tests/conftest.py


@pytest.fixture(scope="module")
def mnist():
    from cnn_gui.core.data.datasets import load_dataset

    return load_dataset("mnist").subset(0, 600)


@pytest.fixture(scope="module")
def result(pretrained, mnist):
    return compute_embedding(pretrained.model, mnist, count=500, precision="fp32")


def test_features_are_the_input_of_the_last_linear_layer(pretrained, mnist, result):
    assert last_linear(pretrained.model)[0] == "fc.3"
    assert last_linear(SimpleCNN())[0] == "layer4.f3"
    feats = result.features
    assert feats.features.shape == (500, 128) and feats.features.dtype == np.float32
    assert feats.layer == "fc.3"
    np.testing.assert_array_equal(feats.labels, mnist.test_labels[:500].numpy())
    np.testing.assert_array_equal(feats.indices, np.arange(500))
    # The last layer applied to the features gives the logits the network outputs.
    layer = pretrained.model.fc[3]
    with torch.no_grad():
        logits = layer(torch.from_numpy(feats.features[:20]))
        x = mnist.normalize(mnist.test_images[:20])
        np.testing.assert_allclose(logits.numpy(), pretrained.model(x).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(feats.predicted[:20], logits.argmax(1).numpy())
    assert 0 < feats.mistakes.sum() < 10  # a 99 % model on 500 test images
    # The hook is gone, and the caller's model was never hooked at all.
    for m in pretrained.model.modules():
        assert not m._forward_pre_hooks and not m._forward_hooks


@pytest.mark.parametrize("use_sklearn", [False, True])
def test_pca_matches_a_direct_svd_up_to_sign(result, use_sklearn):
    if use_sklearn:
        pytest.importorskip("sklearn")
    f = result.features.features.astype(np.float64)
    pca = fit_pca(f, 2, use_sklearn=use_sklearn)
    assert pca.backend == ("scikit-learn" if use_sklearn else "torch")
    centred = f - f.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    for k in range(2):
        assert abs(float(pca.components[k] @ vt[k])) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(pca.explained_variance_ratio, (s ** 2 / (s ** 2).sum())[:2], rtol=1e-6)
    points = pca.transform(f)
    direct = centred @ vt[:2].T
    for k in range(2):
        np.testing.assert_allclose(np.abs(points[:, k]), np.abs(direct[:, k]), rtol=1e-4, atol=1e-3)
    # Signs are fixed the same way whichever library did the work.
    assert (pca.components[np.arange(2), np.abs(pca.components).argmax(1)] > 0).all()


def test_scikit_learn_and_torch_give_the_same_plane(result):
    pytest.importorskip("sklearn")
    a = fit_pca(result.features.features, use_sklearn=True)
    b = fit_pca(result.features.features, use_sklearn=False)
    np.testing.assert_allclose(a.components, b.components, atol=1e-6)
    np.testing.assert_allclose(a.transform(result.features.features), b.transform(result.features.features),
                               rtol=1e-4, atol=1e-3)


def test_the_live_point_of_a_test_image_lands_on_its_point(pretrained, mnist, result):
    spread = result.points.max(0) - result.points.min(0)
    for i in (0, 7, 123):
        image = mnist.test_images[i, 0].numpy().astype(np.float32) / 255.0
        live = project(pretrained, image, result.pca)
        assert live.shape == (2,)
        assert (np.abs(live - result.points[i]) <= 1e-4 * spread).all()
        np.testing.assert_allclose(image_features(pretrained, image), result.features.features[i],
                                   rtol=1e-4, atol=1e-4)


def test_bf16_features_stay_close_to_fp32_and_the_live_point_follows_them(pretrained, mnist, result):
    fast = compute_embedding(pretrained.model, mnist, count=500, precision="bf16")
    assert fast.features.bf16 and not result.features.bf16
    a, b = fast.features.features, result.features.features
    assert np.median(np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)) < 0.01
    assert (fast.features.predicted == result.features.predicted).mean() > 0.99
    spread = fast.points.max(0) - fast.points.min(0)
    image = mnist.test_images[7, 0].numpy().astype(np.float32) / 255.0
    live = project(pretrained, image, fast.pca, bf16=True)
    assert (np.abs(live - fast.points[7]) <= 0.01 * spread).all()
    with pytest.raises(ValueError, match="precision"):
        compute_embedding(pretrained.model, mnist, count=10, precision="fp16")


def test_cancel_and_progress(pretrained, mnist):
    cancel = threading.Event()
    cancel.set()
    assert compute_embedding(pretrained.model, mnist, count=500, cancel=cancel) is None
    seen = []
    dataset_features(pretrained.model, mnist, count=250, batch_size=100, progress=lambda f, what: seen.append(f))
    assert seen == [0.4, 0.8, 1.0]


def test_a_model_without_linear_layers_says_so(mnist):
    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 10, 28)

        def forward(self, x):
            return self.conv(x).flatten(1)

    with pytest.raises(EmbeddingUnavailable, match="no nn.Linear"):
        compute_embedding(Conv().eval(), mnist, count=10)


def test_tsne_reports_progress_and_stops_when_cancelled(result):
    pytest.importorskip("sklearn")
    feats = result.features.features[:150]
    seen = []
    points = tsne(feats, progress=lambda f, what: seen.append(f), iterations=250)
    assert points.shape == (150, 2) and np.isfinite(points).all()
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert any(0 < f < 1 for f in seen)  # progress from inside the optimisation

    cancel = threading.Event()
    calls = []

    def stop_soon(fraction, what):
        calls.append(fraction)
        if fraction > 0:
            cancel.set()

    assert tsne(feats, cancel=cancel, progress=stop_soon, iterations=250) is None
    assert max(calls) < 1.0


def test_tsne_without_scikit_learn_names_the_extra(monkeypatch, result):
    monkeypatch.setattr(embedding, "sklearn_available", lambda: False)
    with pytest.raises(EmbeddingUnavailable, match=r"pip install -e '\.\[embedding\]'"):
        tsne(result.features.features)
    assert fit_pca(result.features.features, use_sklearn=None).backend == "torch"


def test_keep_drops_the_features_t_sne_will_not_read(pretrained, mnist, result):
    kept = compute_embedding(pretrained.model, mnist, count=500, precision="fp32", keep=100)
    assert kept.features.features.shape == (100, 128)
    assert kept.features.features.base is None  # its own rows, not a view holding all 500
    np.testing.assert_array_equal(kept.features.features, result.features.features[:100])
    np.testing.assert_allclose(kept.points, result.points, atol=1e-5)  # the plane of all 500
    assert len(kept.features.labels) == len(kept.points) == 500
