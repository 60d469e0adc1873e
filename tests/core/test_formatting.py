"""How numbers read: the same words in the window, the CLI and the run folders."""

import math

from cnn_gui.core.formatting import (
    clock_duration,
    dataset_title,
    middle_elide,
    percent,
    plural,
    shape_text,
    spoken_duration,
)


def test_numbers_read_as_words():
    assert shape_text((1, 28, 28)) == "1x28x28" and shape_text(None) == ""
    assert plural(1, "epoch") == "1 epoch" and plural(3, "epoch") == "3 epochs" and plural(1200, "image") == "1,200 images"
    assert clock_duration(45) == "0:45" and clock_duration(3723) == "1:02:03" and clock_duration(math.nan) == "?"
    assert spoken_duration(42) == "42 s" and spoken_duration(187) == "3 min 07 s" and spoken_duration(None) == "–"
    assert percent(0.99012) == "99.0 %" and percent(math.nan) == "?" and percent(None) == "?"
    assert dataset_title("cifar10") == "CIFAR-10" and dataset_title("folder:/data/shapes") == "shapes"


def test_long_names_keep_their_start_and_end():
    name = "x" * 180 + ".safetensors"
    short = middle_elide(name)
    assert len(short) == 40 and short.startswith("xxx") and short.endswith(".safetensors"[-15:]) and "…" in short
    assert middle_elide("run.safetensors") == "run.safetensors"
