"""The training engine: accuracy, events, stop/pause, NaN and OOM handling, determinism, resume."""

import math
import threading
import time
from dataclasses import fields

import pytest
import torch

from cnn_gui.core.files.checkpoints import load_checkpoint
from cnn_gui.core.config import ConfigError, TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.training.engine import Trainer
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted, HealthChecked


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist")


@pytest.fixture(scope="module")
def small(mnist):
    return mnist.subset(3000, 500)


def run(config, data, **kw):
    events = []
    trainer = Trainer(config, data=data, callbacks=[events.append], **kw)
    end = trainer.fit()
    return trainer, events, end


def test_short_real_run_beats_90_percent(mnist):
    # 250 batches of 64 = 16,000 real MNIST images, tested on 5,000 held-out ones.
    config = TrainConfig(epochs=1, batch_size=64, max_batches=250, device="cpu")
    trainer, events, end = run(config, mnist.subset(None, 5000))
    assert end.reason == "completed"
    epoch = [e for e in events if isinstance(e, EpochEnded)]
    assert len(epoch) == 1 and epoch[0].test_accuracy > 0.90
    assert trainer.history[0]["test_accuracy"] == epoch[0].test_accuracy


def test_events_are_plain_numbers_and_in_order(small):
    config = TrainConfig(epochs=2, batch_size=100, max_batches=4, device="cpu", report_interval=0)
    _, events, end = run(config, small)
    kinds = [type(e) for e in events]
    assert kinds[0] is FitStarted and kinds[-1] is FitEnded
    assert kinds.count(EpochEnded) == 2 and kinds.count(BatchEnded) == 8
    assert [e.step for e in events if isinstance(e, HealthChecked)] == [1, 2, 4, 8]
    for event in events:
        for f in fields(event):
            value = getattr(event, f.name)
            plain = value if isinstance(value, tuple) else (value,)  # HealthChecked: a value per layer
            assert all(v is None or isinstance(v, (int, float, str)) for v in plain), (event, f.name, type(value))
    batches = [e for e in events if isinstance(e, BatchEnded)]
    assert [b.step for b in batches] == list(range(1, 9))
    assert all(0 <= b.accuracy <= 1 and b.loss > 0 and b.samples_per_sec > 0 for b in batches)
    assert end.reason == "completed" and end.epochs_completed == 2 and end.step == 8


@pytest.mark.slow
def test_test_pass_uses_eval_mode_and_leaves_batchnorm_alone(small):
    trainer = Trainer(TrainConfig(device="cpu", max_batches=1, epochs=1), data=small)
    trainer.fit()
    bn = trainer.model.layer1[1]
    before = bn.running_mean.clone(), bn.num_batches_tracked.clone()
    trainer.evaluate()
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.num_batches_tracked, before[1])
    assert trainer.model.training  # restored after the test pass


@pytest.mark.slow
def test_stop_takes_effect_within_one_batch(small):
    holder = {}

    def on_event(event):
        if isinstance(event, BatchEnded) and event.batch == 3:
            holder["trainer"].stop()

    config = TrainConfig(epochs=2, batch_size=50, device="cpu", report_interval=0)
    trainer = Trainer(config, data=small, callbacks=[on_event])
    holder["trainer"] = trainer
    end = trainer.fit()
    assert end.reason == "stopped"
    assert trainer.position.epoch == 0 and trainer.position.batch == 3 and trainer.position.step == 3


@pytest.mark.slow
def test_pause_holds_training_until_resume(small):
    seen = []
    config = TrainConfig(epochs=1, batch_size=50, max_batches=20, device="cpu", report_interval=0)
    trainer = Trainer(config, data=small, callbacks=[seen.append])
    trainer.pause()
    thread = threading.Thread(target=trainer.fit)
    thread.start()
    time.sleep(0.5)
    assert not any(isinstance(e, BatchEnded) for e in seen)
    trainer.resume()
    thread.join(60)
    assert not thread.is_alive()
    assert isinstance(seen[-1], FitEnded) and seen[-1].reason == "completed"


@pytest.mark.slow
def test_nan_loss_stops_with_a_clear_error(small):
    trainer = Trainer(TrainConfig(epochs=1, batch_size=50, device="cpu", report_interval=0), data=small)
    calls = {"n": 0}

    def poison(_module, _inp, out):
        calls["n"] += 1
        return out * float("nan") if calls["n"] >= 3 else out

    trainer.model.fc.register_forward_hook(poison)
    events = []
    trainer.callbacks.append(events.append)
    end = trainer.fit()
    assert end.reason == "failed"
    failure = [e for e in events if isinstance(e, FitFailed)][0]
    assert failure.kind == "nan" and "nan" in failure.message.lower() and "learning rate" in failure.hint
    assert trainer.position.batch <= 3


@pytest.mark.slow
def test_out_of_memory_is_reported_with_a_hint(small, monkeypatch):
    trainer = Trainer(TrainConfig(epochs=1, batch_size=50, device="cpu"), data=small)

    def boom(*_a, **_k):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trainer.model, "forward", boom)
    events = []
    trainer.callbacks.append(events.append)
    end = trainer.fit()
    failure = [e for e in events if isinstance(e, FitFailed)][0]
    assert end.reason == "failed" and failure.kind == "oom"
    assert "smaller batch size" in failure.hint and "50" in failure.hint


def test_same_seed_same_result_other_seed_differs(small):
    config = TrainConfig(epochs=1, batch_size=50, max_batches=5, device="cpu", seed=7)
    a, _, _ = run(config, small)
    b, _, _ = run(config, small)
    c, _, _ = run(config.with_(seed=8), small)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["fc.0.weight"], sc["fc.0.weight"])
    assert a.history == [] or a.history[0]["test_accuracy"] == b.history[0]["test_accuracy"]


@pytest.mark.parametrize("schedule", ["constant", "onecycle"])
@pytest.mark.slow
def test_resume_from_checkpoint_continues_exactly(small, tmp_path, schedule):
    config = TrainConfig(epochs=2, batch_size=50, max_batches=6, device="cpu", seed=3, schedule=schedule,
                         report_interval=0)
    straight, _, _ = run(config, small)

    holder = {}

    def stop_mid_epoch(event):
        if isinstance(event, BatchEnded) and event.epoch == 1 and event.batch == 4:
            holder["t"].stop()

    first = Trainer(config, data=small, callbacks=[stop_mid_epoch])
    holder["t"] = first
    assert first.fit().reason == "stopped"
    path = first.save_checkpoint(tmp_path / "session.safetensors")

    ckpt = load_checkpoint(path)
    assert ckpt.meta.training["batch"] == 4 and ckpt.optimizer_state is not None
    events = []
    resumed = Trainer.from_checkpoint(ckpt, data=small, callbacks=[events.append])
    assert resumed.fit().reason == "completed"
    started = events[0]
    assert isinstance(started, FitStarted) and started.start_epoch == 1 and started.start_batch == 4
    s1, s2 = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(s1[k], s2[k]) for k in s1), "resumed run drifted from the uninterrupted one"
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert math.isclose(resumed.history[0]["train_accuracy"], straight.history[0]["train_accuracy"])


@pytest.mark.slow
def test_resume_can_train_longer(small, tmp_path):
    config = TrainConfig(epochs=1, batch_size=50, max_batches=3, device="cpu")
    first, _, _ = run(config, small)
    path = first.save_checkpoint(tmp_path / "one.safetensors")
    more = Trainer.from_checkpoint(load_checkpoint(path), data=small, epochs=2)
    assert more.fit().reason == "completed"
    assert [h["epoch"] for h in more.history] == [1, 2] and more.position.step == 6


def test_model_and_dataset_shapes_must_match(small):
    with pytest.raises(ConfigError, match="3x32x32"):
        Trainer(TrainConfig(model="simple-cnn", dataset="mnist", device="cpu"), data=small)


def test_onecycle_changes_the_learning_rate(small):
    config = TrainConfig(epochs=1, batch_size=50, max_batches=10, device="cpu", schedule="onecycle", lr=0.01,
                         report_interval=0)
    _, events, _ = run(config, small)
    lrs = [e.lr for e in events if isinstance(e, BatchEnded)]
    assert max(lrs) > lrs[0] and lrs[-1] < max(lrs) / 10


def test_bad_config_is_refused():
    with pytest.raises(ConfigError, match="batch size"):
        TrainConfig(batch_size=0).validate()
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="rmsprop").validate()


def test_cuda_graph_setting_is_checked_and_may_change_on_resume(small, tmp_path):
    with pytest.raises(ConfigError, match="cuda_graph must be true, false or null"):
        TrainConfig(cuda_graph="on").validate()
    first, _, _ = run(TrainConfig(epochs=1, batch_size=50, max_batches=2, device="cpu"), small)
    ckpt = load_checkpoint(first.save_checkpoint(tmp_path / "g.safetensors"))
    assert Trainer.from_checkpoint(ckpt, data=small, cuda_graph=False).config.cuda_graph is False


class _StandInGraph:
    """The CUDA graph's contract on the CPU: each replay is the captured step, run again
    with fresh gradients."""

    def __init__(self, step) -> None:
        self.step = step

    def replay(self) -> None:
        self.step()


@pytest.mark.slow
def test_graphed_loop_matches_the_eager_one_bit_for_bit_on_a_cpu_stand_in(small, monkeypatch):
    # Everything of the graphed path but the capture itself: static inputs, warm-up steps
    # undone, sums added by the step, the eager last partial batch handing the gradients
    # back, augmentation draws per batch. A real capture is tested in tests/test_cuda.py.
    import cnn_gui.core.training.cuda_graph as cuda_graph
    import cnn_gui.core.training.engine as engine

    def capture(self, sums, correct):
        buffers = list(self.model.buffers())
        saved = [b.detach().clone() for b in buffers]
        scratch = (torch.zeros((), dtype=torch.float64),)
        for _ in range(cuda_graph.GRAPH_WARMUP_STEPS):
            self._drop_grads()
            self._step(scratch, torch.zeros((), dtype=torch.int64))
        with torch.no_grad():
            for b, value in zip(buffers, saved):
                b.copy_(value)

        def step():
            self._drop_grads()
            self._step(sums, correct)
            self.grads = [p.grad for p in self.weights]

        self.graph, self.grads = _StandInGraph(step), [None] * len(self.weights)

    prepare = engine.Trainer._prepare

    def prepare_graphed(self):
        prepare(self)
        self._graph_wanted = self.config.cuda_graph is not False

    monkeypatch.setattr(cuda_graph.GraphedStep, "_capture", capture)
    monkeypatch.setattr(engine.Trainer, "_prepare", prepare_graphed)
    # 3000 images at batch 64: 46 full batches and a last one of 56, each epoch.
    config = TrainConfig(epochs=2, batch_size=64, device="cpu", seed=5, schedule="onecycle", augment=True,
                         report_interval=0, amp=False)
    graphed, graphed_events, _ = run(config, small)
    eager, eager_events, _ = run(config.with_(cuda_graph=False), small)
    assert graphed_events[0].precision == "fp32, CUDA graph" and eager_events[0].precision == "fp32"
    a, b = graphed.model.state_dict(), eager.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    reports = [[(e.loss, e.accuracy, e.lr) for e in ev if isinstance(e, BatchEnded)]
               for ev in (graphed_events, eager_events)]
    assert len(reports[0]) == 94 and reports[0] == reports[1]
    assert [h["train_loss"] for h in graphed.history] == [h["train_loss"] for h in eager.history]


@pytest.mark.slow
def test_a_failed_capture_leaves_the_run_eager_with_a_one_line_note(small, monkeypatch):
    import cnn_gui.core.training.cuda_graph as cuda_graph
    import cnn_gui.core.training.engine as engine

    def capture(self, sums, correct):
        raise RuntimeError("operation not permitted when stream is capturing\nsecond line")

    prepare = engine.Trainer._prepare

    def prepare_graphed(self):
        prepare(self)
        self._graph_wanted = True

    config = TrainConfig(epochs=1, batch_size=50, max_batches=3, device="cpu", amp=False)
    plain, _, _ = run(config, small)
    monkeypatch.setattr(cuda_graph.GraphedStep, "_capture", capture)
    monkeypatch.setattr(engine.Trainer, "_prepare", prepare_graphed)
    trainer, events, end = run(config, small)
    assert end.reason == "completed"
    assert events[0].precision.startswith(
        "fp32, eager (CUDA graph failed: RuntimeError: operation not permitted when stream is capturing")
    assert "\n" not in events[0].precision and len(events[0].precision) < 200
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.state_dict().values(),
                                                 plain.model.state_dict().values()))


def test_a_released_trainer_keeps_its_session_not_its_images(small, tmp_path):
    trainer = Trainer(TrainConfig(epochs=1, max_batches=3, batch_size=50, device="cpu"), data=small)
    trainer.fit()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.release_data()
    assert trainer.data.train_size == 0 and trainer.data.test_size == 0
    assert trainer.data.info == small.info  # classes, normalisation, preparation for Save and the session
    assert all(p.grad is None for p in trainer.model.parameters())
    saved = load_checkpoint(trainer.save_checkpoint(tmp_path / "after.safetensors") or tmp_path / "after.safetensors")
    assert saved.optimizer_state is not None and saved.meta.training["step"] == 3
    assert list(saved.meta.classes) == list(small.classes)
    assert all(torch.equal(saved.weights[k], v) for k, v in before.items())
    with pytest.raises(RuntimeError, match="released"):
        trainer.fit()
