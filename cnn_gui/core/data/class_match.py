"""A test set read by weights trained on other classes: matched by class name, never by position.

Output k of the network means the k-th class it was trained on. A folder with fewer classes
(``sub/`` with ``square`` and ``triangle`` of a ``circle, square, triangle`` model), or the
same classes found in another order, is scored by renumbering its labels to the weights'
order. A class the weights never learned cannot be scored at all: that is refused in one
line, rather than an accuracy that compares unrelated classes (the ``evaluate`` command).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

import torch

from cnn_gui.core.data.errors import DatasetError
from cnn_gui.core.errors import one_line

if TYPE_CHECKING:
    from cnn_gui.core.data.image_dataset import ImageDataset


def labelled_as_weights(data: "ImageDataset", classes: Sequence[str], weights: str) -> "ImageDataset":
    """``data``'s test split with its labels in the order of ``classes`` (the weights' classes,
    one per output) and with those names; ``data`` itself when the classes are the same, or
    when the weights name none. DatasetError when a class of ``data`` is not one of the
    weights' (``weights``: their name, for the message)."""
    known = [str(c) for c in classes]
    mine = [str(c) for c in data.classes]
    if mine == known or not known:
        return data
    unknown = [c for c in mine if c not in known]
    if unknown:
        many = len(unknown) > 1
        raise DatasetError(
            f"{weights} cannot score {one_line(data.name, 80)}: its class{'es' if many else ''} {_names(unknown)} "
            f"{'are' if many else 'is'} not among the {len(known)} the weights learned ({_names(known)})",
            hint="evaluate on the data the weights were trained on, or on a folder of some of their classes")
    from cnn_gui.core.data.image_dataset import ImageDataset

    if not isinstance(data, ImageDataset):  # streamed from disk (a folder over the memory limit)
        raise DatasetError(f"{one_line(data.name, 80)} is read from disk as it goes: {weights} scores it only when "
                           f"its classes are the weights' own, in their order ({_names(known)})")
    order = torch.tensor([known.index(c) for c in mine], dtype=torch.int64)
    test = data.test_only()
    return ImageDataset(replace(data.info, classes=tuple(known)), test.train_images, test.train_labels,
                      test.test_images, order[test.test_labels.to(torch.int64)], skipped=data.skipped,
                      skipped_examples=data.skipped_examples, remark=data.remark)


def _names(names: Sequence[str]) -> str:
    return one_line(", ".join(names), 120)
