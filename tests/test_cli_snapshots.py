"""`cnn-gui predict IMAGE --run RUN_DIR --snapshots [--json]`: how a run read an image as it trained."""

import json

import pytest
from PIL import Image

from cnn_gui.cli import main
from cnn_gui.core.data.datasets import load_dataset


@pytest.fixture(scope="module")
def run_and_image(tmp_path_factory):
    folder = tmp_path_factory.mktemp("snap")
    data = load_dataset("mnist")
    image = folder / "seven.png"
    Image.fromarray(data.test_images[0, 0].numpy()).resize((112, 112)).save(image)
    assert main(["train", "--epochs", "1", "--max-batches", "10", "--device", "cpu", "--quiet",
                 "--out", str(folder / "w.safetensors"), "--runs-dir", str(folder / "runs")]) == 0
    return next((folder / "runs").iterdir()), image


@pytest.mark.slow
def test_one_line_per_snapshot(run_and_image, capsys):
    run, image = run_and_image
    assert main(["predict", str(image), "--run", str(run), "--snapshots"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{image}: final answer ")
    steps = [int(line.split(",")[0].split()[-1]) for line in lines[1:]]
    assert steps == [0, 1, 2, 4, 8, 10]  # log-spaced, and the epoch's end
    assert all("epoch 1:" in line and "final answer" in line for line in lines[1:])


@pytest.mark.slow
def test_json_has_the_keys_and_probabilities_that_sum_to_one(run_and_image, capsys):
    run, image = run_and_image
    assert main(["predict", str(image), "--run", str(run), "--snapshots", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 4, 8, 10]
    for r in rows:
        assert {"step", "epoch", "top", "top_probability", "probabilities"} <= set(r)
        assert 0 <= r["top_probability"] <= 1 and r["probabilities"][r["top"]] == r["top_probability"]
        assert sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-4)


def test_snapshots_need_a_run_folder(tmp_path, capsys):
    image = tmp_path / "x.png"
    Image.new("L", (28, 28)).save(image)
    assert main(["predict", str(image), "--snapshots"]) == 2
    assert "--snapshots and --json go with --run RUN_DIR" in capsys.readouterr().err
    assert main(["predict", str(image), "--run", str(tmp_path / "nope"), "--snapshots"]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["predict", str(image), "--run", str(tmp_path)]) == 2  # a folder, but no run.json
    assert f"--run {tmp_path}: not a run folder (it has no run.json)" in capsys.readouterr().err
