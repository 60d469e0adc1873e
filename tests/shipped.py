"""What ships in resources/, read from the files: tests derive their expectations from these."""

from __future__ import annotations


def pretrained_accuracy() -> float:
    """The shipped weights' recorded MNIST test accuracy (tests derive their expectations from it)."""
    from cnn_gui.core.files.checkpoints import read_meta
    from cnn_gui.core.resources import pretrained_checkpoint

    return read_meta(pretrained_checkpoint()).history[-1]["test_accuracy"]


def pretrained_label() -> str:
    """What the canvas says about the shipped weights: "Weights: pretrained (99.4 % test)"."""
    from cnn_gui.core.formatting import percent

    return f"Weights: pretrained ({percent(pretrained_accuracy())} test)"
