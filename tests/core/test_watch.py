"""The watch list's core: pins, their text in the settings, readings, the last forgetting."""

import numpy as np
import pytest
import torch
from torch import nn

from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.analysis.watch import LiveWatch, Pinned, WatchHistory, as_pinned, read_pinned
from cnn_gui.core.files.watch_file import pins_from_text, pins_to_text, quantized


def pin(value=0.5, target="3", name="p", shape=(1, 28, 28)):
    return Pinned(np.full(shape, value, np.float32), target, name)


def test_pins_round_trip_through_the_settings_text_at_eight_bits():
    pins = [quantized(as_pinned(np.random.default_rng(0).random((28, 28)), "7", "drawing 1")), pin(1.0, "cat", "x",
                                                                                                (3, 32, 32))]
    back, bad = pins_from_text(pins_to_text(pins))
    assert bad == 0 and [(p.name, p.target, p.image.shape) for p in back] == [
        ("drawing 1", "7", (1, 28, 28)), ("x", "cat", (3, 32, 32))]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(pins, back))


GOOD = '{"shape": [1, 1, 1], "pixels": "/w==", "target": "1", "name": "good"}'


@pytest.mark.parametrize("bad", [
    '{"shape": [1, 2, 2], "pixels": "AAAA", "target": "1", "name": "a"}',  # 3 bytes for 4 pixels
    '{"shape": [1, 1, 1], "pixels": "AA==", "target": 1, "name": "a"}',
    '{"shape": [9, 1, 1], "pixels": "AA==", "target": "1", "name": "a"}',
    '{"shape": [1, 1, 1], "pixels": "!!", "target": "1", "name": "a"}',
    '{"shape": [1, 4294967296, 4294967296], "pixels": "", "target": "1", "name": "a"}',  # numpy's product wraps to 0
    '{"shape": [1, 4611686018427387904, 4], "pixels": "", "target": "1", "name": "a"}',
    '{"shape": [1, 1, true], "pixels": "AA==", "target": "1", "name": "a"}',
    '5',
])
def test_a_damaged_or_foreign_entry_is_left_out_counted_and_the_good_one_kept(bad):
    pins, bad_count = pins_from_text('{"format": "cnn-gui-watch-1", "pins": [' + bad + ", " + GOOD + "]}")
    assert bad_count == 1 and [(p.name, p.target, p.image.shape) for p in pins] == [("good", "1", (1, 1, 1))]
    assert pins[0].image[0, 0, 0] == 1.0


@pytest.mark.parametrize("text", ["not json", '{"format": "other", "pins": []}', "[1, 2]", '{"pins": 5}'])
def test_a_settings_text_that_is_not_a_watch_list_gives_no_pins(text):
    assert pins_from_text(text) == ([], 1)


def test_as_pinned_refuses_what_is_not_an_image_in_0_1():
    for bad in (np.full((4, 4), 2.0), np.full((4, 4), np.nan), np.zeros((2, 2, 2, 2))):
        with pytest.raises(ValueError):
            as_pinned(bad, "1", "x")


def test_history_keeps_steps_in_order_snapshots_win_and_finds_the_last_forgetting():
    h = WatchHistory()
    right, wrong = np.array([[0.9, 0.1]]), np.array([[0.2, 0.8]])
    for step, probs in ((10, wrong), (0, wrong), (20, right), (30, wrong), (40, right), (50, right)):
        h.record(step, probs, snapshot=False)
    assert h.steps == [0, 10, 20, 30, 40, 50]
    assert h.last_forgotten(0, 0) == 30  # right at 20, wrong again at 30
    h.record(30, right, snapshot=True)  # the snapshot's reading replaces the live one
    assert h.has_snapshot(30) and h.last_forgotten(0, 0) is None
    h.record(30, wrong, snapshot=False)  # a live reading never replaces a snapshot's
    assert np.array_equal(h.at(30), right.astype(np.float32))
    h.record(60, np.zeros((2, 2)), snapshot=False)  # another network's shape: not mixed in
    assert 60 not in h.steps
    unsure = WatchHistory()  # right by a near-even guess, then wrong: nothing was learnt, nothing forgotten
    for step, probs in ((0, [[0.45, 0.4]]), (1, [[0.3, 0.7]])):
        unsure.record(step, np.array(probs), snapshot=True)
    assert unsure.last_forgotten(0, 0) is None


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 3))

    def forward(self, x):
        return self.net(x)


class Data:  # what Normalization.of_data reads
    class info:
        mean, std, classes = (0.5,), (0.25,), ("a", "b", "c")
        input_shape = (1, 4, 4)
        preparation = None


def test_the_live_read_is_the_frozen_copys_reading_and_leaves_training_state_alone(monkeypatch):
    from cnn_gui.core import weights

    monkeypatch.setattr(weights.Normalization, "of_data", classmethod(lambda cls, data: weights.Normalization(
        (0.5,), (0.25,), ("a", "b", "c"))))
    torch.manual_seed(0)
    model = Tiny().train()
    model(torch.randn(8, 1, 4, 4))  # running statistics of its own
    pins = [pin(0.2, "a", "x", (1, 4, 4)), pin(0.9, "b", "y", (1, 8, 8)), pin(0.7, "c", "z", (1, 4, 4))]
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    model.net[2].eval()  # a frozen module's BatchNorm: kept in eval by the trainer
    live = LiveWatch(pins, Data, (1, 4, 4)).read(model)
    assert model.training and torch.equal(rng, torch.get_rng_state())
    assert [m.training for m in model.net] == [True, True, False, True, True]  # each module's own mode back
    assert all(torch.equal(v, buffers[k]) for k, v in model.state_dict().items())
    frozen = Predictor(model, (0.5,), (0.25,), ("a", "b", "c"), (1, 4, 4))
    expected = read_pinned(frozen, pins)
    assert np.isnan(live[1]).all() and np.isnan(expected[1]).all()  # the 8x8 pin does not fit: a gap, not a failure
    np.testing.assert_allclose(live[[0, 2]], expected[[0, 2]], rtol=1e-5, atol=1e-6)


def test_a_long_run_keeps_a_bounded_history_and_every_snapshot(monkeypatch):
    from cnn_gui.core.analysis import watch

    monkeypatch.setattr(watch, "MAX_LIVE", 10)
    h = WatchHistory()
    for step in range(100):
        h.record(step, np.array([[0.5, 0.5]]), snapshot=step % 25 == 0)
    assert sum(not s for s in h.from_snapshot) <= 10
    assert [s for s, snap in zip(h.steps, h.from_snapshot) if snap] == [0, 25, 50, 75]
    assert h.steps == sorted(h.steps) and h.steps[-1] == 99


def test_pins_of_two_sizes_are_read_each_on_its_own_when_the_network_takes_any_size():
    class AnySize(nn.Module):  # a network whose input shape is known only in part
        input_shape = None

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3)

        def forward(self, x):
            return self.conv(x).mean(dim=(2, 3))

    predictor = Predictor(AnySize(), (0.5,), (0.5,))
    pins = [pin(0.2, "0", "a", (1, 8, 8)), pin(0.7, "1", "b", (1, 12, 12))]
    probs = read_pinned(predictor, pins)
    np.testing.assert_allclose(probs, np.stack([predictor.predict(p.image) for p in pins]), atol=1e-6)
