"""The learning-rate range test (core/training/lr_finder.py): the suggestion, the stop on
divergence, and a model left as it was."""

import threading

import numpy as np
import pytest
import torch
from torch import nn

from cnn_gui.core.config import ConfigError, TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.training.lr_finder import find_lr, rate_at, suggest, valley


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist").subset(3000, 10)


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def test_the_rates_grow_exponentially_from_start_to_end():
    rates = [rate_at(i, 5, 1e-6, 1e-2) for i in range(5)]
    np.testing.assert_allclose(rates, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2])


def test_valley_picks_the_falling_stretch_of_a_u_shaped_curve():
    rates = np.logspace(-7, 1, 100)
    x = np.log10(rates)
    losses = 2.3 - 1.5 / (1 + np.exp(-(x + 3) * 3)) + np.where(x > -1, (x + 1) ** 2 * 3, 0.0)
    chosen = suggest(rates, losses)
    lowest = rates[int(np.argmin(losses))]
    assert 1e-5 < chosen < lowest  # before the minimum, where the loss falls
    i = int(np.argmin(np.abs(rates - chosen)))
    assert losses[i - 3] > losses[i] > losses[i + 3]  # falling there


def test_a_single_spike_does_not_move_the_suggestion():
    rates = np.logspace(-7, 1, 100)
    x = np.log10(rates)
    losses = 2.3 - 1.5 / (1 + np.exp(-(x + 3) * 3)) + np.where(x > -1, (x + 1) ** 2 * 3, 0.0)
    spiked = losses.copy()
    spiked[30] = 0.2  # a steepest-gradient rule would pick the fall into this spike
    assert suggest(rates, spiked) == pytest.approx(suggest(rates, losses), rel=0.6)
    assert valley(np.array([1.0])) is None and valley(np.array([1.0, 2.0, 3.0])) is None


@pytest.mark.slow
def test_on_a_tiny_model_it_suggests_a_rate_where_the_loss_falls_and_leaves_the_model_alone(digits):
    model = tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    seen = []
    found = find_lr(model, digits, TrainConfig(device="cpu", batch_size=64, lr=1e-3, optimizer="adam"),
                    progress=lambda done, steps, rate, loss: seen.append(done))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())
    assert seen == list(range(1, len(found.rates) + 1))
    i = found.suggestion_index
    lowest = int(np.argmin(found.losses))
    assert found.suggestion is not None and i < lowest
    assert found.losses[i] < found.losses[0]  # down the slope...
    assert found.losses[i + 3] < found.losses[i]  # ...and still falling
    assert "suggested learning rate: " in found.summary()


@pytest.mark.slow
def test_it_stops_once_the_loss_diverges(digits):
    found = find_lr(tiny(), digits, TrainConfig(device="cpu", batch_size=64, optimizer="sgd", momentum=0.0),
                    end=1e4)
    assert found.ended == "diverged" and len(found.rates) < 100
    assert not np.isfinite(found.losses[-1]) or found.losses[-1] > 4 * np.min(found.losses[:-1])
    assert found.suggestion is not None and found.suggestion < found.rates[-1]


def test_cancel_stops_it_without_a_suggestion(digits):
    cancel = threading.Event()
    cancel.set()
    found = find_lr(tiny(), digits, TrainConfig(device="cpu"), cancel=cancel)
    assert found.ended == "cancelled" and found.suggestion is None and len(found.rates) == 0


def test_nonsense_is_refused_in_one_line(digits):
    frozen = tiny()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(ConfigError, match="frozen"):
        find_lr(frozen, digits, TrainConfig(device="cpu"))
    with pytest.raises(ConfigError, match="grow"):
        find_lr(tiny(), digits, TrainConfig(device="cpu"), start=1.0, end=0.1)
    with pytest.raises(ConfigError, match="training images"):
        find_lr(tiny(), digits.subset(0, 10), TrainConfig(device="cpu"))


@pytest.mark.parametrize("fresh", [True, False])
def test_the_trial_plan_leaves_the_session_as_it_was(fresh):
    from cnn_gui.core.session import Session
    from cnn_gui.core.training.lr_finder import trial_plan

    session = Session.of_model("mnist-cnn")
    model, label, runs = session.model, session.provenance.label(), session.runs
    rng = torch.get_rng_state()
    plan = trial_plan(session, TrainConfig(seed=3), fresh=fresh, resume=False)
    assert (session.model, session.provenance.label(), session.runs) == (model, label, runs)
    assert torch.equal(rng, torch.get_rng_state())
    assert plan.model is not model and plan.config.seed == 3
    same = all(torch.equal(a, b) for a, b in zip(plan.model.state_dict().values(), model.state_dict().values()))
    assert same is not fresh  # current weights: a copy of them; new ones: from the seed
    with pytest.raises(ConfigError, match="no loaded session"):
        trial_plan(session, TrainConfig(), fresh=False, resume=True)
