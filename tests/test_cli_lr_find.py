"""``cnn-gui lr-find``: train's options, the suggestion's line, nothing written."""

import re

import pytest

from cnn_gui.cli import main


@pytest.mark.slow
def test_it_prints_the_suggested_rate_and_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNN_GUI_RUNS_DIR", str(tmp_path / "runs"))
    code = main(["lr-find", "--steps", "40", "--batch-size", "32", "--device", "cpu", "--optimizer", "sgd"])
    out = capsys.readouterr().out
    assert code == 0
    found = re.search(r"^suggested learning rate: ([0-9.e+-]+) \(", out, re.M)
    assert found is not None, out
    assert 1e-7 <= float(found.group(1)) <= 10
    assert "sgd, batch 32, cpu" in out  # train's options apply
    assert f"cnn-gui train --lr {found.group(1)}" in out
    assert list(tmp_path.iterdir()) == []  # no checkpoint, no run folder


@pytest.mark.slow
def test_quiet_prints_only_the_suggestion(capsys):
    assert main(["lr-find", "--steps", "12", "--batch-size", "16", "--device", "cpu", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(("suggested learning rate: ", "no suggestion"))


def test_a_range_that_does_not_grow_is_refused_in_one_line(capsys):
    assert main(["lr-find", "--start", "1", "--end", "0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "cnn-gui: error: --start (1) must be below --end (0.5)"
    with pytest.raises(SystemExit) as exited:
        main(["lr-find", "--steps", "3"])
    assert exited.value.code == 2 and "--steps" in capsys.readouterr().err
