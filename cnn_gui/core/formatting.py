"""How numbers read in cnn-gui's words: shapes, counts, durations, percentages, names.

Qt-free, so the window, the CLI and the run folders say things the same way.
"""

from __future__ import annotations

import math


def shape_text(shape, sep: str = "x") -> str:
    """``1x28x28``; "" for no shape."""
    return sep.join(str(int(v)) for v in shape) if shape else ""


def plural(n: int, word: str, words: str | None = None) -> str:
    """"1 epoch", "3 epochs", "1,200 images"."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def clock_duration(seconds: float | None) -> str:
    """A time left or taken, as a clock reads: 0:45, 3:07, 1:02:03 ("?" when unknown)."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        return "?"
    h, rem = divmod(int(round(seconds)), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def spoken_duration(seconds: float | None, unknown: str = "–") -> str:
    """A run's length in words: "42 s", "3 min 07 s", "1 h 02 min"."""
    if seconds is None or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return unknown
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def percent(value: float | None, digits: int = 1) -> str:
    """``99.2 %``; ``?`` for a missing or non-finite value (never ``nan%``)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "?"
    return f"{100 * value:.{digits}f} %"


def middle_elide(text: str, limit: int = 40) -> str:
    """``a-very-long-…-name.safetensors``: long names keep their start and their end."""
    if len(text) <= limit:
        return text
    keep = limit - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2:]


def dataset_title(name: str) -> str:
    """"MNIST", "Fashion-MNIST", "CIFAR-10": a dataset's own spelling; a folder by its name."""
    from cnn_gui.core.data.registry import DATASETS

    info = DATASETS.get(name)
    if info is not None:
        return info.title.split(" ")[0]
    if name.startswith("folder:"):
        return name.rstrip("/").rsplit("/", 1)[-1]
    return name
