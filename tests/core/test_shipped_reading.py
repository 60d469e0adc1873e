"""The shipped weights read handwriting that is not MNIST's: scikit-learn's UCI digits
(1,797 8x8 scans by 43 other writers), prepared by ``to_mnist`` as an image file of a
digit is, with the scans enlarged either way (issue 19's goals)."""

from collections import Counter

import numpy as np
import pytest
import torch

from cnn_gui.core.inputs.preprocess import to_mnist

load_digits = pytest.importorskip("sklearn.datasets").load_digits


def enlarged(img8: np.ndarray, how: str) -> np.ndarray:
    if how == "repeated":
        return np.kron(img8, np.ones((4, 4)))
    t = torch.from_numpy(img8.astype(np.float32))[None, None]
    return torch.nn.functional.interpolate(t, size=(32, 32), mode="bilinear", align_corners=False)[0, 0].numpy()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["repeated", "bilinear"])
def test_uci_digits_read_at_95_percent_and_no_digit_under_85(pretrained, how):
    digits = load_digits()
    right, total = Counter(), Counter()
    for img8, label in zip(digits.images / 16.0, digits.target):
        probabilities = pretrained.predict(to_mnist(enlarged(img8, how)))
        total[int(label)] += 1
        right[int(label)] += int(np.argmax(probabilities)) == label
    overall = sum(right.values()) / sum(total.values())
    per_digit = {d: right[d] / total[d] for d in range(10)}
    assert sum(total.values()) == 1797
    assert overall >= 0.95, f"{overall:.1%}"
    assert min(per_digit.values()) >= 0.85, per_digit
