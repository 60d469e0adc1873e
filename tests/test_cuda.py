"""The engine on a CUDA GPU: device choice, bf16 autocast and fused Adam, the training step
replayed from a CUDA graph (learns, matches eager, one-cycle, stop/resume, augmentation,
falls back to eager when a model cannot be captured), checkpoints from GPU weights, the
test pass in eval mode.

Skipped without CUDA. Imports only the Qt-free core, so it runs where PySide6 is absent
(``python -m pytest -m cuda tests/test_cuda.py``; ``benchmarks/gpu_check.py`` runs it).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.devices import available_devices, device_label, resolve_device
from cnn_gui.core.training.engine import Trainer
from cnn_gui.core.events import BatchEnded, EpochEnded, FitStarted
from cnn_gui.core.model.models import CNN

ROOT = Path(__file__).resolve().parent.parent
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist").subset(6000, 1000)


def fit(config, data, **kw):
    events = []
    trainer = Trainer(config, data=data, callbacks=[events.append], **kw)
    end = trainer.fit()
    assert end.reason in ("completed", "stopped"), trainer.error
    return trainer, events, end


@pytest.mark.cuda
@requires_cuda
def test_auto_picks_cuda_and_names_the_gpu():
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    label = device_label(torch.device("cuda", 0))
    assert label == f"CUDA 0: {torch.cuda.get_device_name(0)}"
    devices = available_devices()
    assert devices[0].key == "auto" and label in devices[0].label
    assert "cuda:0" in [d.key for d in devices]


@pytest.mark.cuda
@requires_cuda
def test_training_on_cuda_runs_bf16_with_fused_adam_and_learns(small):
    dtypes = []
    config = TrainConfig(device="auto", epochs=1, batch_size=100, max_batches=60, report_interval=0,
                         amp=True, channels_last=True)
    trainer = Trainer(config, data=small)
    trainer.model.layer2[0].register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    events = []
    trainer.callbacks.append(events.append)
    assert trainer.fit().reason == "completed", trainer.error

    started = events[0]
    assert isinstance(started, FitStarted) and started.device.startswith("cuda")
    assert started.precision == "bf16 autocast, CUDA graph"  # graphed by default
    assert dtypes[0] == torch.bfloat16  # the convolutions really ran in bf16 (hooks run while capturing)
    assert trainer.optimizer.defaults.get("fused") is True
    conv = trainer.model.layer1[0].weight
    assert conv.is_cuda and conv.is_contiguous(memory_format=torch.channels_last)
    assert trainer.data.train_images.is_cuda  # batches are sliced on the GPU

    losses = [e.loss for e in events if isinstance(e, BatchEnded)]
    assert len(losses) == 60 and all(isinstance(v, float) for v in losses)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.5 * first, (first, last)
    (epoch,) = [e for e in events if isinstance(e, EpochEnded)]
    assert epoch.test_accuracy > 0.85 and isinstance(epoch.test_accuracy, float)


@pytest.mark.cuda
@requires_cuda
def test_stop_and_resume_on_cuda_continue_where_it_stopped(small, tmp_path, monkeypatch):
    # Deterministic cuDNN, so that the resumed run can be compared with an uninterrupted one.
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    config = TrainConfig(device="cuda", epochs=2, batch_size=100, max_batches=8, seed=3,
                         schedule="onecycle", lr=3e-3, report_interval=0)
    straight, _, _ = fit(config, small)

    holder = {}

    def stop_mid_epoch(event):
        if isinstance(event, BatchEnded) and event.epoch == 1 and event.batch == 5:
            holder["trainer"].stop()

    first = Trainer(config, data=small, callbacks=[stop_mid_epoch])
    holder["trainer"] = first
    assert first.fit().reason == "stopped"
    assert (first.position.epoch, first.position.batch, first.position.step) == (0, 5, 5)
    ckpt = load_checkpoint(first.save_checkpoint(tmp_path / "session.safetensors"))
    assert ckpt.meta.training["batch"] == 5 and ckpt.optimizer_state is not None

    events = []
    resumed = Trainer.from_checkpoint(ckpt, data=small, callbacks=[events.append], device="cuda")
    assert resumed.fit().reason == "completed", resumed.error
    assert (events[0].start_epoch, events[0].start_batch) == (1, 5)
    assert events[0].precision.endswith("CUDA graph")
    assert resumed.position.step == 16 and [h["epoch"] for h in resumed.history] == [1, 2]
    for p in resumed.model.parameters():  # Adam's moments followed the weights to the GPU, in their layout
        state = resumed.optimizer.state[p]
        assert int(state["step"]) == 16
        assert state["exp_avg"].is_cuda and state["exp_avg"].stride() == p.stride()
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    # A resume that lost the optimizer state, the position or the schedule drifts by ~lr per step.
    assert worst < 1e-4, f"resumed run drifted from the uninterrupted one by {worst:g}"


@pytest.mark.cuda
@requires_cuda
def test_checkpoint_of_cuda_weights_loads_on_the_cpu(small, tmp_path):
    trainer, _, _ = fit(TrainConfig(device="cuda", epochs=1, batch_size=100, max_batches=20), small)
    path = trainer.save_checkpoint(tmp_path / "gpu.safetensors")
    ckpt = load_checkpoint(path)
    assert all(t.device.type == "cpu" for t in ckpt.weights.values())

    cpu_model = CNN()
    load_weights_into(cpu_model, ckpt)
    gpu_state = trainer.model.state_dict()
    for name, value in cpu_model.state_dict().items():
        assert torch.equal(value, gpu_state[name].cpu()), name

    # The same weights read the same digits on the CPU as on the GPU (TF32 or bf16 there: nearly the same).
    gpu_loss, gpu_acc = trainer.evaluate()
    cpu = Trainer(TrainConfig(device="cpu", amp=False), model=cpu_model, data=small)
    cpu_loss, cpu_acc = cpu.evaluate()
    assert abs(cpu_acc - gpu_acc) <= 0.01 and abs(cpu_loss - gpu_loss) <= 0.05 * max(cpu_loss, 0.05)


@pytest.mark.cuda
@requires_cuda
def test_evaluate_on_cuda_is_in_eval_mode_and_leaves_batchnorm_alone(small):
    trainer, _, _ = fit(TrainConfig(device="cuda", epochs=1, batch_size=100, max_batches=3), small)
    modes = []
    trainer.model.layer1[1].register_forward_pre_hook(lambda m, i: modes.append(m.training))
    bn = trainer.model.layer1[1]
    before = bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone()
    loss, accuracy = trainer.evaluate()
    assert modes and not any(modes)
    assert all(torch.equal(x, y) for x, y in zip(before, (bn.running_mean, bn.running_var, bn.num_batches_tracked)))
    assert trainer.model.training and 0.0 <= accuracy <= 1.0 and loss > 0


def run_summary(config, data, **kw):
    trainer, events, end = fit(config, data, **kw)
    assert end.reason == "completed", trainer.error
    batches = [e for e in events if isinstance(e, BatchEnded)]
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    return events[0].precision, [e.lr for e in batches], [e.loss for e in batches], epochs, trainer


@pytest.mark.cuda
@requires_cuda
def test_graphed_training_learns_like_eager_and_follows_the_one_cycle_schedule(small):
    # 6000 images at batch 128: 46 graphed batches and an eager last one of 112, per epoch.
    config = TrainConfig(device="cuda", epochs=2, batch_size=128, lr=3e-3, schedule="onecycle", report_interval=0)
    precision, lrs, losses, epochs, trainer = run_summary(config, small)
    eager_precision, eager_lrs, _, eager_epochs, _ = run_summary(config.with_(cuda_graph=False), small)
    assert precision.endswith("CUDA graph") and "CUDA graph" not in eager_precision
    assert len(lrs) == 94 and lrs == eager_lrs  # the same rates, batch by batch
    assert max(lrs) > 10 * lrs[0] and lrs[-1] < lrs[0]
    assert sum(losses[-5:]) < 0.3 * sum(losses[:5]), losses
    # Epoch 2 learns on: the eager last batch of epoch 1 handed the gradients back to the graph.
    assert epochs[1].train_loss < epochs[0].train_loss
    accuracy, eager_accuracy = epochs[-1].test_accuracy, eager_epochs[-1].test_accuracy
    assert accuracy > 0.9 and abs(accuracy - eager_accuracy) <= 0.03, (accuracy, eager_accuracy)
    assert abs(epochs[-1].train_accuracy - eager_epochs[-1].train_accuracy) <= 0.03
    assert trainer.model.layer1[1].num_batches_tracked.item() == 94  # the warm-up steps were undone


@pytest.mark.cuda
@requires_cuda
def test_graphed_training_with_augmentation_learns_and_resumes_exactly(small, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    config = TrainConfig(device="cuda", epochs=1, batch_size=100, max_batches=50, augment=True, seed=2,
                         report_interval=0)
    precision, _, losses, epochs, straight = run_summary(config, small)
    assert precision.endswith("CUDA graph") and epochs[0].test_accuracy > 0.8
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5])

    holder = {}

    def stop(event):
        if isinstance(event, BatchEnded) and event.batch == 20:
            holder["trainer"].stop()

    first = Trainer(config, data=small, callbacks=[stop])
    holder["trainer"] = first
    assert first.fit().reason == "stopped"
    ckpt = load_checkpoint(first.save_checkpoint(tmp_path / "aug.safetensors"))
    resumed = Trainer.from_checkpoint(ckpt, data=small, device="cuda")
    assert resumed.fit().reason == "completed", resumed.error
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    # Other augmentation draws after the resume would move the weights by ~lr per step.
    assert worst < 1e-4, f"resumed augmented run drifted by {worst:g}"


class SyncsInForward(nn.Module):
    """A model that reads a value back to the host in forward: it cannot be captured."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = CNN()

    def forward(self, x):
        if float(x.abs().sum()) < 0:  # a host sync
            x = -x
        return self.inner(x)


@pytest.mark.cuda
@requires_cuda
def test_a_model_that_cannot_be_captured_trains_eagerly_with_a_note(small):
    # Last of the CUDA tests: a failed capture is the one thing here that may upset CUDA.
    config = TrainConfig(device="cuda", epochs=1, batch_size=100, max_batches=20, report_interval=0)
    trainer, events, end = fit(config, small, model=SyncsInForward())
    assert end.reason == "completed"
    precision = events[0].precision
    assert "eager (CUDA graph failed:" in precision and len(precision) < 200 and "\n" not in precision
    (epoch,) = [e for e in events if isinstance(e, EpochEnded)]
    assert epoch.test_accuracy > 0.5
    # Nothing of the failed capture is left: the loop and the test pass run on the usual stream.
    assert torch.cuda.current_stream() == torch.cuda.default_stream()


@pytest.mark.slow
def test_gpu_check_without_cuda_says_so_in_one_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: gpu_check would run for minutes")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1 and "CUDA is not available" in proc.stdout


@pytest.mark.slow
def test_gpu_check_cpu_smoke_writes_every_figure(tmp_path):
    import json

    out = tmp_path / "gpu.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--cpu-smoke",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=280, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["device"] == "cpu" and not figures["errors"], figures["errors"]
    for key in ("tutorial_epoch_s", "engine_epoch_s", "ratio_tutorial_over_engine", "fast_preset",
                "engine_precision", "engine_variants", "fast_preset_cold"):
        assert key in figures, key
    assert figures["tests"]["cuda"]["returncode"] == 0
    cold = figures["fast_preset_cold"]["cudnn_benchmark_off"]
    assert cold["seconds"] > 0 and cold["process_to_target_s"] > cold["seconds"] and cold["precision"]
