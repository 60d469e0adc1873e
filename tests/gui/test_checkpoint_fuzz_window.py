"""Mutated real checkpoints through `cnn-gui predict` and the window's Open (see tests/core/test_checkpoint_fuzz.py)."""

from __future__ import annotations

import pytest

from checkpoint_corpus import corpus


@pytest.mark.slow
def test_a_sample_through_the_cli_and_the_window(tmp_path, capsys, make_window):
    """Real CNN checkpoints, mutated, through `cnn-gui predict` and the window's Open."""
    from PIL import Image

    from cnn_gui.cli import main
    from cnn_gui.core.resources import pretrained_checkpoint

    good = pretrained_checkpoint().read_bytes()
    image = tmp_path / "three.png"
    Image.new("L", (60, 60), 255).save(image)
    window = make_window(load_pretrained=False)
    model_before, weights_text = window.model, window.weights_text
    for i, (label, data) in enumerate(corpus(good, 36, seed=99)):
        path = tmp_path / f"case{i}.safetensors"
        path.write_bytes(data)
        status = main(["predict", str(image), "--checkpoint", str(path)])
        err = capsys.readouterr().err.strip()
        assert status in (0, 1, 2), label
        if status == 2:
            lines = err.splitlines()  # one error line, and at most a hint on a line of its own
            assert lines[0].startswith("cnn-gui: error:") and len(lines) <= 2, f"{label}: {err[:300]}"
            assert len(lines) == 1 or lines[1].startswith("cnn-gui: hint: "), f"{label}: {err[:300]}"
        window.errors.clear()
        window.open_checkpoint(path, background=False)
        if window.errors:
            title, text = window.errors[0]
            assert len(text.split("\n\n")[0]) <= 300 and "\n" not in text.split("\n\n")[0], label
            assert window.model is model_before and window.weights_text == weights_text, label
        else:
            model_before, weights_text = window.model, window.weights_text
        path.unlink()
