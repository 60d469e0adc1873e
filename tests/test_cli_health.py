"""`cnn-gui train` prints the health watch's alerts, each on a line beginning with `health:`."""

import json

import pytest

from cnn_gui.cli import main


def train(tmp_path, *options):
    return main(["train", "--epochs", "1", "--max-batches", "12", "--device", "cpu", "--quiet",
                 "--out", str(tmp_path / "out.safetensors"), "--runs-dir", str(tmp_path / "runs"), *options])


@pytest.mark.slow
def test_adam_at_rate_one_is_alerted_and_recorded(tmp_path, capsys):
    assert train(tmp_path, "--lr", "1.0") == 0  # BatchNorm keeps it finite, wildly wrong: the alerts say why
    lines = capsys.readouterr().out.splitlines()
    alerts = [line for line in lines if line.startswith("health: ")]
    assert any("the learning rate is too high" in line for line in alerts), lines
    first_alert = lines.index(alerts[0])
    assert not any(line.startswith("epoch 1/1") for line in lines[:first_alert])  # during training, not after
    record = json.loads(next((tmp_path / "runs").glob("*/run.json")).read_text())
    assert [a["alert"] for a in record["health_alerts"]] == [line[len("health: "):] for line in alerts]


@pytest.mark.slow
def test_the_tutorial_preset_prints_no_alert(tmp_path, capsys):
    assert train(tmp_path, "--preset", "tutorial") == 0
    out = capsys.readouterr().out
    assert "health:" not in out and "epoch 1/1" in out
