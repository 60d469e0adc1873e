"""Network health (core/training/health.py): the numbers, the alerts, and a training run
that is bit-for-bit the same with the watch on."""

import pytest
import torch
from torch import nn

from cnn_gui.core.config import PRESETS, TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.events import HealthChecked
from cnn_gui.core.model.models import ModelSpec
from cnn_gui.core.training.engine import Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist").subset(3000, 100)


def tiny_spec() -> ModelSpec:
    def make():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    return ModelSpec("tiny", "tiny", (1, 28, 28), 10, "mnist", make)


def looks(config, data, model=None, spec=None, every=None):
    seen = []
    trainer = Trainer(config, data=data, model=model, spec=spec, callbacks=[seen.append])
    if every is not None:
        trainer.health_every = every
    trainer.fit()
    return trainer, [e for e in seen if isinstance(e, HealthChecked)]


def test_a_zeroed_layer_has_no_gradient_and_every_relu_dead(digits):
    spec = tiny_spec()
    model = spec.factory()
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.zero_()
    _, seen = looks(TrainConfig(epochs=1, max_batches=3, batch_size=50, device="cpu", optimizer="sgd", momentum=0.0),
                    digits, model=model, spec=spec)
    first = seen[0]
    assert first.step == 1 and first.layers == ("0", "3") and first.relus == ("1",)  # after the first step
    conv = first.layers.index("0")
    assert first.grad_norm[conv] == 0.0 and first.update_ratio[conv] == 0.0
    assert first.dead_share == (1.0,)
    assert any("100% of its ReLU channels are dead" in a for e in seen for a in e.alerts)


def test_looks_are_log_spaced_early_then_every_k(digits):
    _, seen = looks(TrainConfig(epochs=1, max_batches=60, batch_size=50, device="cpu"), digits, every=25)
    assert [e.step for e in seen] == [1, 2, 4, 8, 16, 25, 32, 50]  # steps done, as the curves count


@pytest.mark.slow
def test_the_tutorial_preset_raises_no_alert_and_trains_exactly_as_without_the_watch(digits):
    config = PRESETS["tutorial"].with_(epochs=1, max_batches=60, device="cpu")
    watched, seen = looks(config, digits)
    plain, none = looks(config, digits, every=0)
    assert none == [] and [e.step for e in seen] == [1, 2, 4, 8, 16]  # 30 batches of 100
    assert [a for e in seen for a in e.alerts] == []
    assert seen[0].first_loss == pytest.approx(2.30, abs=0.3)  # near ln(10): a fresh network
    for (k, a), b in zip(watched.model.state_dict().items(), plain.model.state_dict().values()):
        assert torch.equal(a, b), k  # the watch changes nothing in training


@pytest.mark.slow
def test_adam_at_rate_one_is_called_too_high_at_the_first_step(digits):
    _, seen = looks(PRESETS["tutorial"].with_(epochs=1, max_batches=5, lr=1.0, device="cpu"), digits)
    first = seen[0].alerts
    assert any(a.startswith("one step changes the weights of") and "the learning rate is too high" in a
               for a in first), first


def test_a_frozen_module_reads_as_frozen_and_raises_nothing(digits):
    spec = tiny_spec()
    model = spec.factory()
    for p in model[0].parameters():
        p.requires_grad_(False)
    _, seen = looks(TrainConfig(epochs=1, max_batches=3, batch_size=50, device="cpu"), digits, model=model, spec=spec)
    first = seen[0]
    assert first.frozen == (True, False) and first.update_ratio[0] == 0.0
    assert not any("0:" in a for e in seen for a in e.alerts)


def test_a_released_trainer_drops_its_hooks_and_a_resumed_run_has_no_first_loss(digits, tmp_path):
    trainer, seen = looks(TrainConfig(epochs=1, max_batches=3, batch_size=50, device="cpu"), digits)
    assert seen[0].first_loss is not None and trainer.step_hooks
    path = tmp_path / "s.safetensors"
    trainer.save_checkpoint(path)
    trainer.release_data()
    assert not trainer.optimizer._optimizer_step_pre_hooks and not trainer.optimizer._optimizer_step_post_hooks
    from cnn_gui.core.files.checkpoints import load_checkpoint

    events = []
    again = Trainer.from_checkpoint(load_checkpoint(path), data=digits, epochs=2, callbacks=[events.append])
    again.fit()
    later = [e for e in events if isinstance(e, HealthChecked)]
    assert later and later[0].step > 3 and all(e.first_loss is None for e in later)
