"""The training panel's closing line: what a run did, in words, resumed runs included."""

from __future__ import annotations

from cnn_gui.core.events import FitEnded
from cnn_gui.core.formatting import clock_duration, plural


def finished_text(end: FitEnded, start_epoch: int = 1) -> str:
    """"Done: 1 epoch in 0:21 · test 99.2%", "Stopped after 2 complete epochs, step 1,234".

    A run resumed in epoch ``start_epoch`` > 1 ran only from there: ``end.epochs_completed``
    counts from the session's first epoch, so the text names the epochs this run trained
    ("Done: epochs 9–10 (resumed) in 0:02", not "10 epochs in 0:02")."""
    done = int(end.epochs_completed)
    if start_epoch > 1:
        return _resumed_text(end, int(start_epoch))
    epochs = plural(done, "epoch")
    if end.reason == "completed":
        return f"Done: {epochs} in {clock_duration(end.seconds)}{_test_text(end)}"
    if end.reason == "stopped":
        if not end.epochs_completed:
            return f"Stopped before the first epoch ended, at step {end.step:,}"
        return f"Stopped after {plural(int(end.epochs_completed), 'complete epoch')}, at step {end.step:,}"
    return "Training failed; see the message"


def _test_text(end: FitEnded) -> str:
    return f" · test {end.final_test_accuracy:.1%}" if end.final_test_accuracy is not None else ""


def _resumed_text(end: FitEnded, start: int) -> str:
    done = int(end.epochs_completed)
    epochs = f"epoch {done}" if done == start else f"epochs {start}–{done}"
    if end.reason == "completed":
        return f"Done: {epochs} (resumed) in {clock_duration(end.seconds)}{_test_text(end)}"
    if end.reason == "stopped":
        if done < start:
            return f"Stopped before epoch {start} ended (resumed in it), at step {end.step:,}"
        return f"Stopped after {epochs} (resumed), at step {end.step:,}"
    return "Training failed; see the message"
