"""1,000+ mutated checkpoints: each one loads cleanly or is a one-line CheckpointError.

The corpus (``tests/checkpoint_corpus.py``) is seeded, so a failure names a case that
can be replayed. ``CNN_GUI_FUZZ_CASES=20000`` runs a larger corpus.
"""

from __future__ import annotations

import math
import os
import time

import pytest
import torch
from torch import nn

from checkpoint_corpus import corpus
from cnn_gui.core.files.checkpoints import (
    CheckpointError,
    CheckpointMeta,
    load_checkpoint,
    load_weights_into,
    save_checkpoint,
)
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.training.resume import check_session_fits

CASES = int(os.environ.get("CNN_GUI_FUZZ_CASES", "1200"))


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(2 * 26 * 26, 10)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).flatten(1))


def _good_file(tmp_path) -> bytes:
    torch.manual_seed(0)
    model = Tiny()
    config = TrainConfig(epochs=2, schedule="onecycle", lr=3e-3)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=10)
    model(torch.randn(4, 1, 28, 28)).sum().backward()
    optimizer.step()
    scheduler.step()
    history = [{"epoch": 1, "train_loss": 0.3, "train_accuracy": 0.9, "test_loss": 0.2, "test_accuracy": 0.95,
                "seconds": 2.0, "samples_per_sec": 100.0, "lr": 0.003}]
    meta = CheckpointMeta(
        architecture="mnist-cnn", input_shape=(1, 28, 28), classes=[str(i) for i in range(10)], mean=[0.5],
        std=[0.5], dataset="mnist", epoch=1, history=history, config=config.to_dict(),
        training={"epoch": 1, "batch": 0, "step": 5, "loss_sum": 0.0, "correct": 0, "seen": 0,
                  "train_seconds": 0.0},
        scheduler={k: v for k, v in scheduler.state_dict().items()
                   if isinstance(v, (int, float, str, bool, list, type(None)))})
    path = save_checkpoint(tmp_path / "good.safetensors", model, meta, optimizer.state_dict())
    return path.read_bytes()


def _check_meta_is_typed(meta: CheckpointMeta) -> None:
    """What a successful load promises: every value typed and in range."""
    assert all(isinstance(v, int) and v > 0 for v in meta.input_shape)
    assert all(isinstance(v, float) and math.isfinite(v) for v in meta.mean + meta.std)
    assert 0 <= meta.epoch <= 10_000
    for h in meta.history:
        assert isinstance(h["epoch"], int) and 0 <= h["test_accuracy"] <= 1 and 0 <= h["train_accuracy"] <= 1
    if meta.config:
        TrainConfig.from_dict(meta.config)  # would raise if it were not a valid config


def test_good_file_loads(tmp_path):
    good = tmp_path / "g.safetensors"
    good.write_bytes(_good_file(tmp_path))
    ckpt = load_checkpoint(good)
    model = Tiny()
    load_weights_into(model, ckpt)
    check_session_fits(ckpt, model)
    _check_meta_is_typed(ckpt.meta)


def test_mutated_checkpoints_load_or_fail_in_one_line(tmp_path):
    good = _good_file(tmp_path)
    reference = Tiny()
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    outcomes = {"loaded": 0, "refused": 0}
    slowest = 0.0
    path = tmp_path / "case.safetensors"
    for label, data in corpus(good, CASES, seed=1234):
        path.write_bytes(data)
        started = time.perf_counter()
        try:
            ckpt = load_checkpoint(path)
            _check_meta_is_typed(ckpt.meta)
            model = Tiny()
            model.load_state_dict(before)
            try:
                load_weights_into(model, ckpt)
            except CheckpointError:
                after = model.state_dict()
                assert all(torch.equal(after[k], before[k]) for k in before), f"{label}: model changed on failure"
                raise
            # The window swaps a model in only after this check too (on a fresh model object).
            check_session_fits(ckpt, model)
            outcomes["loaded"] += 1
        except CheckpointError as exc:
            _assert_one_line(label, exc)
            outcomes["refused"] += 1
        except Exception as exc:  # noqa: BLE001 - the point of the test
            pytest.fail(f"case {label}: {type(exc).__name__}: {str(exc)[:200]}")
        slowest = max(slowest, time.perf_counter() - started)
    # A hang guard, not a speed test: no single file may take long.
    assert slowest < 5.0, f"one case took {slowest:.1f} s"
    assert outcomes["refused"] > CASES // 2  # the corpus really is hostile
    assert outcomes["loaded"] > 0  # and harmless edits (a flipped bit in a weight) still open


def _assert_one_line(label: str, exc: CheckpointError) -> None:
    text = exc.full_text()
    assert "\n" not in text and len(str(exc)) <= 300, f"{label}: {text[:400]!r}"
    assert all(ch.isprintable() for ch in text), f"{label}: control characters in {text[:200]!r}"
