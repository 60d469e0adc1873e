"""A folder over the in-memory limit is streamed from disk (cnn_gui/core/data/streaming.py, issue 22)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cnn_gui.core.data import image_folder
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.data.errors import DatasetError
from cnn_gui.core.data.image_folder import MEMORY_LIMIT_ENV, load_image_folder, max_dataset_bytes
from cnn_gui.core.data.image_reading import read_image
from bounded import finishes
from test_image_folder import draw_shapes

SHAPE = (1, 28, 28)


@pytest.fixture(autouse=True)
def fresh_cache():
    image_folder.clear_cache()
    yield
    image_folder.clear_cache()


@pytest.fixture(scope="module")
def shapes_dir(tmp_path_factory) -> Path:
    return draw_shapes(tmp_path_factory.mktemp("streamed") / "shapes", per_class=30)


def streamed(folder: Path, workers: int = 0):
    data = load_image_folder(folder, SHAPE, memory_limit=1000, workers=workers)
    assert data.streamed
    return data


def paths_of(data) -> tuple[str, ...]:
    return data._source.index.paths


def test_the_limit_comes_from_the_environment_or_the_caller(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT_ENV, raising=False)
    assert max_dataset_bytes() == image_folder.MAX_DATASET_BYTES == 2 << 30
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "12345")
    assert max_dataset_bytes() == 12345 and max_dataset_bytes(99) == 99


def test_over_the_limit_the_folder_streams_and_the_note_says_so(shapes_dir, monkeypatch):
    small = load_dataset(f"folder:{shapes_dir}")
    assert not small.streamed and small.note == ""  # in memory, as before
    monkeypatch.setenv(MEMORY_LIMIT_ENV, str(small.train_images.numel()))  # the train split fits, not all
    data = load_dataset(f"folder:{shapes_dir}")
    assert data.streamed and data.name == small.name and data.classes == small.classes
    assert data.note.startswith("streaming from disk: 90 images (")
    assert "over the 55.1 KiB in-memory limit; mean and std from 72 training images" in data.note


def test_the_split_and_order_are_the_in_memory_paths(shapes_dir):
    memory, data = load_image_folder(shapes_dir, SHAPE), streamed(shapes_dir)
    assert torch.equal(data.train_labels, memory.train_labels) and torch.equal(data.test_labels, memory.test_labels)
    assert (data.train_size, data.test_size) == (memory.train_size, memory.test_size) == (72, 18)
    assert data.mean == memory.mean and data.std == memory.std  # the sample is every training image here
    assert data.info.images == memory.info.images and data.info.ink == memory.info.ink
    assert torch.equal(data.test_images[:memory.test_size].to("cpu"), memory.test_images)


@pytest.mark.parametrize("workers", [0, 1])
def test_batches_by_index_are_what_read_image_gives(shapes_dir, workers):
    data = finishes(lambda: streamed(shapes_dir, workers), 60)
    try:
        idx = torch.tensor([5, 0, 71, 5, 33])
        batches = [idx, torch.arange(72)[40:56], torch.tensor([1, 2])]
        data.schedule(batches)  # decoded ahead by a worker process (workers=1) or on the spot (0)
        for batch in batches:
            got = finishes(lambda: data.train_images.index_select(0, batch), 60)
            want = np.stack([read_image(paths_of(data)[i], SHAPE) for i in batch.tolist()])
            assert got.dtype == torch.uint8 and np.array_equal(got.numpy(), want)
        if workers:
            assert data._source.failure == "" and data._source._loader is not None  # the processes read them
        n = data.train_size
        assert np.array_equal(data.test_images[3].numpy(), read_image(paths_of(data)[n + 3], SHAPE))
        rows = np.array([4, 1])
        assert np.array_equal(data.test_images[rows].numpy(), [read_image(paths_of(data)[n + i], SHAPE) for i in rows])
        head = data.test_images[:10]  # a view: read when used, as the test pass reads it
        assert head.shape == (10, *SHAPE)
        want = np.stack([read_image(paths_of(data)[n + i], SHAPE) for i in range(2, 6)])
        assert np.array_equal(head[2:6].to(torch.float32).numpy(), want)
    finally:
        data.close()


def test_an_unreadable_file_met_later_is_replaced_by_its_class_and_counted(shapes_dir, tmp_path):
    folder = draw_shapes(tmp_path / "shapes", per_class=10)
    data = streamed(folder)
    assert data.skipped == 0
    victim = 3
    Path(paths_of(data)[victim]).write_bytes(b"not an image at all")  # after the load: found at first touch
    got = data.train_images.index_select(0, torch.tensor([victim, 0]))
    label = int(data.train_labels[victim])
    same_class = [i for i in range(data.train_size) if int(data.train_labels[i]) == label and i != victim]
    choices = [read_image(paths_of(data)[i], SHAPE) for i in same_class]
    assert any(np.array_equal(got[0].numpy(), c) for c in choices)  # an image of the same class
    assert data.skipped == 1 and "skipped 1 unreadable image, each replaced by another of its class" in data.note
    again = data.train_images.index_select(0, torch.tensor([victim]))
    assert torch.equal(again[0], got[0]) and data.skipped == 1  # the same stand-in, counted once


def test_a_class_with_nothing_readable_left_is_one_line(tmp_path):
    folder = draw_shapes(tmp_path / "shapes", per_class=4)
    data = streamed(folder)
    label = int(data.train_labels[0])
    for i in range(len(paths_of(data))):
        if int(data._source.index.labels[i]) == label:
            Path(paths_of(data)[i]).write_bytes(b"broken")
    with pytest.raises(DatasetError, match="no readable image found"):
        finishes(lambda: data.train_images.index_select(0, torch.tensor([0])), 30)
