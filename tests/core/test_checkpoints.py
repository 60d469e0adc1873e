"""Checkpoints: safetensors round trips, atomic writes, and files that must be refused."""

from __future__ import annotations

import json
import os
import pickle
import struct
import sys

import pytest
import torch
from torch import nn

from cnn_gui.core.files import checkpoints
from cnn_gui.core.files.checkpoint_meta import FORMAT, FORMAT_VERSION
from cnn_gui.core.files.checkpoints import (
    CheckpointError,
    CheckpointMeta,
    load_checkpoint,
    load_weights_into,
    read_meta,
    save_checkpoint,
)
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.model.models import CNN, SimpleCNN


def make_meta(**changes) -> CheckpointMeta:
    values = dict(
        architecture="mnist-cnn",
        input_shape=(1, 28, 28),
        classes=[str(i) for i in range(10)],
        mean=[0.1307],
        std=[0.3081],
        dataset="mnist",
        epoch=2,
        history=[
            {"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.9, "test_loss": 0.1, "test_accuracy": 0.97,
             "seconds": 20.0, "samples_per_sec": 3000.0, "lr": 0.001},
            {"epoch": 2, "train_loss": 0.2, "train_accuracy": 0.95, "test_loss": 0.05, "test_accuracy": 0.985,
             "seconds": 19.5, "samples_per_sec": 3100.0, "lr": 0.001},
        ],
        config=TrainConfig(epochs=3).to_dict(),
        training={"epoch": 2, "batch": 17, "step": 1217, "loss_sum": 3.5, "correct": 1600, "seen": 1700,
                  "train_seconds": 1.5},
        scheduler={"last_epoch": 1217, "base_lrs": [0.003], "anneal": "cos"},
    )
    values.update(changes)
    if "epoch" in changes and "training" not in changes:
        values["training"] = dict(values["training"], epoch=changes["epoch"])
    return CheckpointMeta(**values)


def trained_cnn(seed: int = 0) -> CNN:
    """A CNN whose BatchNorm running stats and counters are not the defaults."""
    torch.manual_seed(seed)
    model = CNN()
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 1, 28, 28))
    return model


def state_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert torch.equal(a[name], b[name]), name


def assert_no_temp_files(folder) -> None:
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------------------- round trips


def test_round_trip_weights_and_meta(tmp_path):
    model = trained_cnn()
    meta = make_meta()
    path = save_checkpoint(tmp_path / "sub" / "dir" / "run.safetensors", model, meta)
    assert path.is_file()

    ckpt = load_checkpoint(path)
    assert ckpt.path == path
    assert ckpt.optimizer_state is None
    state_equal(ckpt.weights, model.state_dict())
    assert "layer1.1.num_batches_tracked" in ckpt.weights
    assert ckpt.weights["layer1.1.num_batches_tracked"].dtype == torch.int64
    assert ckpt.weights["layer1.1.num_batches_tracked"].item() == 1

    got = ckpt.meta
    for name in ("architecture", "classes", "mean", "std", "dataset", "epoch", "history",
                 "config", "training", "scheduler"):
        assert getattr(got, name) == getattr(meta, name), name
    assert got.input_shape == (1, 28, 28) and isinstance(got.input_shape, tuple)
    assert set(got.versions) == {"cnn_gui", "torch", "python", "safetensors"}
    assert got.versions["torch"] == torch.__version__
    assert got.created and got.created[:4].isdigit()
    assert meta.created == "" and meta.versions == {}  # the caller's meta is not changed

    assert read_meta(path) == got

    fresh = CNN()
    load_weights_into(fresh, ckpt)
    state_equal(fresh.state_dict(), model.state_dict())


def test_meta_json_round_trip_and_malformed():
    meta = make_meta(created="2024-01-01T00:00:00+00:00", versions={"torch": "x"})
    doc = json.loads(meta.to_json())
    assert doc["format"] == FORMAT and doc["format_version"] == FORMAT_VERSION
    assert CheckpointMeta.from_json(meta.to_json()) == meta

    with pytest.raises(CheckpointError, match="not valid JSON"):
        CheckpointMeta.from_json("{nope")
    del doc["classes"]
    with pytest.raises(CheckpointError, match="lacks classes"):
        CheckpointMeta.from_json(json.dumps(doc))
    doc = json.loads(meta.to_json())
    doc["input_shape"] = [1, 28]
    with pytest.raises(CheckpointError, match="input_shape"):
        CheckpointMeta.from_json(json.dumps(doc))
    doc = json.loads(meta.to_json())
    doc["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(CheckpointError, match="newer"):
        CheckpointMeta.from_json(json.dumps(doc))


def test_scheduler_none_and_state_dict_input(tmp_path):
    model = SimpleCNN()
    meta = make_meta(architecture="simple-cnn", input_shape=(3, 32, 32), scheduler=None, history=[])
    path = save_checkpoint(tmp_path / "s.safetensors", model.state_dict(), meta)
    ckpt = load_checkpoint(path)
    assert ckpt.meta.scheduler is None and ckpt.meta.history == []
    state_equal(ckpt.weights, model.state_dict())


def test_tied_and_non_contiguous_tensors_are_saved(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 4)
            self.b.weight = self.a.weight  # tied: one storage, two names

    model = Tied()
    path = save_checkpoint(tmp_path / "t.safetensors", model, make_meta())
    state_equal(load_checkpoint(path).weights, model.state_dict())

    odd = {"t": torch.arange(12.0).reshape(3, 4).t(), "v": torch.arange(10.0)[2:5]}
    path = save_checkpoint(tmp_path / "o.safetensors", odd, make_meta())
    state_equal(load_checkpoint(path).weights, odd)


def _steps(model, optimizer, batches):
    model.train()
    for x, y in batches:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


def test_adam_state_round_trip_continues_identically(tmp_path):
    torch.manual_seed(1)
    batches = [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))) for _ in range(4)]
    model = CNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.95), weight_decay=1e-4)
    _steps(model, optimizer, batches[:2])

    path = save_checkpoint(tmp_path / "adam.safetensors", model, make_meta(), optimizer.state_dict())
    ckpt = load_checkpoint(path)
    state = ckpt.optimizer_state
    assert state is not None
    group = state["param_groups"][0]
    assert group["betas"] == (0.8, 0.95) and isinstance(group["betas"], tuple)
    assert group["params"] == list(range(len(list(model.parameters()))))
    original = optimizer.state_dict()
    assert state["state"].keys() == original["state"].keys()
    for index, entries in original["state"].items():
        assert entries.keys() == state["state"][index].keys()
        for key, value in entries.items():
            assert torch.equal(state["state"][index][key], value), (index, key)

    restored = CNN()
    load_weights_into(restored, ckpt)
    restored_optimizer = torch.optim.Adam(restored.parameters())
    restored_optimizer.load_state_dict(ckpt.optimizer_state)
    assert restored_optimizer.param_groups[0]["betas"] == (0.8, 0.95)

    _steps(model, optimizer, batches[2:])
    _steps(restored, restored_optimizer, batches[2:])
    state_equal(restored.state_dict(), model.state_dict())


def test_sgd_plain_number_state_round_trip(tmp_path):
    # Non-tensor per-parameter state goes into the JSON, and comes back.
    model = nn.Linear(3, 2)
    state = {"state": {0: {"momentum_buffer": None, "count": 3}, 1: {"momentum_buffer": torch.ones(2)}},
             "param_groups": [{"lr": 0.1, "momentum": 0.9, "nesterov": False, "maximize": False,
                               "foreach": None, "params": [0, 1]}]}
    path = save_checkpoint(tmp_path / "sgd.safetensors", model, make_meta(), state)
    got = load_checkpoint(path).optimizer_state
    assert got["state"][0] == {"momentum_buffer": None, "count": 3}
    assert torch.equal(got["state"][1]["momentum_buffer"], torch.ones(2))
    assert got["param_groups"] == state["param_groups"]
    torch.optim.SGD(model.parameters(), lr=0.5).load_state_dict(got)


# --------------------------------------------------------------------------- atomic write


def test_failed_replace_leaves_target_untouched(tmp_path, monkeypatch):
    target = tmp_path / "run.safetensors"
    save_checkpoint(target, CNN(), make_meta(epoch=1))
    before = target.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.os, "replace", broken_replace)
    with pytest.raises(CheckpointError, match="cannot save .*run.safetensors.*No space left"):
        save_checkpoint(target, trained_cnn(5), make_meta(epoch=2))
    assert target.read_bytes() == before
    assert_no_temp_files(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.safetensors"]


def test_failed_write_midway_leaves_target_untouched(tmp_path, monkeypatch):
    target = tmp_path / "run.safetensors"
    save_checkpoint(target, CNN(), make_meta(epoch=1))
    before = target.read_bytes()

    real_fsync = os.fsync
    calls = []

    def broken_fsync(fd):
        calls.append(fd)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(checkpoints.os, "fsync", broken_fsync)
    with pytest.raises(CheckpointError, match="Input/output error"):
        save_checkpoint(target, trained_cnn(5), make_meta(epoch=2))
    monkeypatch.setattr(checkpoints.os, "fsync", real_fsync)
    assert calls
    assert target.read_bytes() == before
    assert_no_temp_files(tmp_path)
    assert read_meta(target).epoch == 1


def test_failed_serializer_leaves_target_untouched(tmp_path, monkeypatch):
    import safetensors.torch

    target = tmp_path / "run.safetensors"
    save_checkpoint(target, CNN(), make_meta(epoch=1))
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise RuntimeError("serializer exploded")

    monkeypatch.setattr(safetensors.torch, "save", boom)
    with pytest.raises(RuntimeError, match="exploded"):
        save_checkpoint(target, trained_cnn(5), make_meta(epoch=2))
    assert target.read_bytes() == before
    assert_no_temp_files(tmp_path)


# --------------------------------------------------------------------------- refused files


def test_missing_file(tmp_path):
    path = tmp_path / "nope.safetensors"
    with pytest.raises(CheckpointError, match=r"not found: .*nope\.safetensors"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        read_meta(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.safetensors is corrupt or truncated \(the file is empty"):
        load_checkpoint(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.safetensors"
    gen = torch.Generator().manual_seed(3)
    data = bytes(torch.randint(0, 256, (4096,), generator=gen, dtype=torch.uint8).tolist())
    data = b"\x07" + data[1:]  # not a pickle/zip signature by chance
    path.write_bytes(data)
    with pytest.raises(CheckpointError, match=r"noise\.safetensors is corrupt or truncated"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_meta(path)


def test_truncated_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "cut.safetensors", CNN(), make_meta())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors is corrupt or truncated"):
        load_checkpoint(path)
    # Cut inside the header too.
    path.write_bytes(data[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)
    path.write_bytes(data[:5])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_corrupt_header_json(tmp_path):
    header = b"{not json at all"
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(CheckpointError, match="corrupt or truncated.*not valid JSON"):
        load_checkpoint(path)


def test_wrong_dtype_in_header_is_corrupt(tmp_path):
    # A plausible header that safetensors itself rejects.
    header = json.dumps({"w": {"dtype": "NOPE", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "dtype.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_torch_save_file_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"a": torch.zeros(1)}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "model.pt" in message
    assert "PyTorch pickle file" in message
    assert "arbitrary code" in message
    hint = info.value.hint  # the window shows it under the message, the CLI after it
    assert "save_file(torch.load(" in hint and "weights_only=True" in hint
    assert "\n" not in info.value.full_text()
    with pytest.raises(CheckpointError, match="PyTorch pickle file"):
        read_meta(path)


class _Payload:
    """Unpickling this creates a directory: proof that something was unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickle_is_never_unpickled(tmp_path, monkeypatch):
    # The payload really works when unpickled...
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(_Payload(str(probe))))
    assert probe.exists()

    # ...but the loader refuses it without unpickling.
    marker = tmp_path / "marker"
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        path = tmp_path / f"evil{protocol}.pth"
        path.write_bytes(pickle.dumps(_Payload(str(marker)), protocol=protocol))

        def forbidden(*args, **kwargs):
            raise AssertionError("the checkpoint loader must never unpickle")

        monkeypatch.setattr(pickle, "load", forbidden)
        monkeypatch.setattr(pickle, "loads", forbidden)
        monkeypatch.setattr(torch, "load", forbidden)
        with pytest.raises(CheckpointError, match="PyTorch pickle file.*refuses"):
            load_checkpoint(path)
        with pytest.raises(CheckpointError, match="PyTorch pickle file"):
            read_meta(path)
        monkeypatch.undo()
        assert not marker.exists()


def test_wrong_format_and_newer_version(tmp_path):
    from safetensors.torch import save_file

    doc = json.loads(make_meta().to_json())
    doc["format"] = "someone-else"
    path = tmp_path / "other.safetensors"
    save_file({"model.w": torch.zeros(2)}, path, metadata={"cnn_gui": json.dumps(doc)})
    with pytest.raises(CheckpointError, match=r"other\.safetensors.*format 'someone-else'"):
        load_checkpoint(path)

    doc = json.loads(make_meta().to_json())
    doc["format_version"] = FORMAT_VERSION + 1
    path = tmp_path / "future.safetensors"
    save_file({"model.w": torch.zeros(2)}, path, metadata={"cnn_gui": json.dumps(doc)})
    with pytest.raises(CheckpointError, match=r"future\.safetensors.*newer") as info:
        read_meta(path)
    assert "update cnn-gui" in info.value.hint

    path = tmp_path / "garbled.safetensors"
    save_file({"model.w": torch.zeros(2)}, path, metadata={"cnn_gui": "{oops"})
    with pytest.raises(CheckpointError, match=r"garbled\.safetensors: its cnn-gui metadata is not valid JSON"):
        load_checkpoint(path)


# --------------------------------------------------------------------------- into a model


def test_wrong_architecture_is_refused_and_model_unchanged(tmp_path):
    path = save_checkpoint(
        tmp_path / "simple.safetensors", SimpleCNN(),
        make_meta(architecture="simple-cnn", input_shape=(3, 32, 32)),
    )
    ckpt = load_checkpoint(path)
    model = trained_cnn(7)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_weights_into(model, ckpt)
    message = str(info.value)
    assert "simple.safetensors" in message
    assert "'simple-cnn'" in message
    assert "unchanged" in message
    assert len(message) <= 300 and "\n" not in message  # one line, whatever the file
    # SimpleCNN's layer1.conv1.weight is not a CNN name; CNN's layer1.0.weight is not in the file.
    assert "not in the model" in message and "layer1.conv1.weight" in message
    assert "missing from the file" in message and "layer1.0.weight" in message
    assert "… " in message and "more" in message  # long lists are cut, with a count
    state_equal(model.state_dict(), before)


def test_shape_mismatch_is_named(tmp_path):
    class Wider(CNN):
        def __init__(self):
            super().__init__()
            self.layer1[0] = nn.Conv2d(1, 32, kernel_size=(3, 3))

    path = save_checkpoint(tmp_path / "cnn.safetensors", CNN(), make_meta())
    model = Wider()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_weights_into(model, load_checkpoint(path))
    message = str(info.value)
    assert "layer1.0.weight: file has (16, 1, 3, 3), model expects (32, 1, 3, 3)" in message
    assert "layer1.0.weight: file has (16, 1, 3, 3), model expects (32, 1, 3, 3)" in message
    assert "2 of another shape or type" in message and "1 more" in message
    state_equal(model.state_dict(), before)


def test_foreign_safetensors_state_dict_loads(tmp_path):
    from safetensors.torch import save_file

    source = trained_cnn(9)
    path = tmp_path / "plain.safetensors"
    save_file(source.state_dict(), path)

    meta = read_meta(path)
    assert meta.architecture == ""
    ckpt = load_checkpoint(path)
    assert ckpt.is_foreign and ckpt.optimizer_state is None
    state_equal(ckpt.weights, source.state_dict())  # nothing stripped

    model = CNN()
    load_weights_into(model, ckpt)
    state_equal(model.state_dict(), source.state_dict())


def test_foreign_mismatch_does_not_name_an_architecture(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(2, 2)}, path)
    with pytest.raises(CheckpointError) as info:
        load_weights_into(CNN(), load_checkpoint(path))
    message = str(info.value)
    assert "saved from" not in message
    assert "1 not in the model (weight)" in message


def test_float_dtype_is_cast_to_the_model(tmp_path):
    source = trained_cnn(2)
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in source.state_dict().items()}
    path = save_checkpoint(tmp_path / "half.safetensors", half, make_meta())
    model = CNN()
    load_weights_into(model, load_checkpoint(path))
    assert model.layer1[0].weight.dtype == torch.float32
    assert torch.equal(model.layer1[0].weight, source.layer1[0].weight.half().float())


@pytest.mark.slow
def test_safetensors_is_imported_lazily():
    import subprocess

    code = "import sys, cnn_gui.core.files.checkpoints; print('safetensors' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_stale_temporary_files_of_interrupted_saves_are_removed(tmp_path):
    import os
    import subprocess
    import sys
    import time

    target = tmp_path / "run.safetensors"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has ended
    stale = tmp_path / f".run.safetensors.{dead_pid}.abcd1234.tmp"
    stale.write_bytes(b"x" * 1000)
    legacy = tmp_path / ".run.safetensors.q1w2e3r4.tmp"  # an older cnn-gui's name: no pid
    legacy.write_bytes(b"x")
    old = time.time() - 120
    os.utime(legacy, (old, old))
    alive = tmp_path / f".run.safetensors.{os.getpid()}.ffff0000.tmp"  # a save in progress here
    alive.write_bytes(b"x")
    other = tmp_path / f".other.safetensors.{dead_pid}.abcd1234.tmp"  # another file's: not ours to touch
    other.write_bytes(b"x")
    save_checkpoint(target, CNN(), make_meta())
    assert not stale.exists() and not legacy.exists()
    assert alive.exists() and other.exists()
    assert load_checkpoint(target).meta.architecture == "mnist-cnn"


def test_oversized_files_are_refused_before_reading(tmp_path, monkeypatch):
    import cnn_gui.core.files.checkpoints as ck

    path = save_checkpoint(tmp_path / "big.safetensors", CNN(), make_meta())
    monkeypatch.setattr(ck, "MAX_CHECKPOINT_BYTES", 1024)
    with pytest.raises(CheckpointError, match=r"big\.safetensors is 0\.0 GiB; cnn-gui opens checkpoints of up to"):
        load_checkpoint(path)


def test_nan_weights_are_refused(tmp_path):
    model = CNN()
    with torch.no_grad():
        model.layer1[0].weight[0, 0, 0, 0] = float("nan")
    path = save_checkpoint(tmp_path / "nan.safetensors", model, make_meta())
    with pytest.raises(CheckpointError, match=r"NaN or infinite values in 'model.layer1.0.weight'"):
        load_checkpoint(path)


def test_nan_in_the_optimizer_state_alone_is_called_damage_not_divergence(tmp_path):
    torch.manual_seed(1)
    model = CNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    _steps(model, optimizer, [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))])
    state = optimizer.state_dict()
    state["state"][0]["exp_avg_sq"][0] = float("nan")  # the weights stay finite
    path = save_checkpoint(tmp_path / "damaged.safetensors", model, make_meta(), state)
    with pytest.raises(CheckpointError, match=r"NaN or infinite values in its optimizer state \('optim\..*'\): "
                                              r"the file is damaged$") as caught:
        load_checkpoint(path)
    assert "diverged" not in caught.value.hint and "predict" not in str(caught.value)
