"""Growable float64 columns: where the training plots keep their points."""

from __future__ import annotations

import numpy as np


class GrowBuffer:
    """Named float64 columns in one ``(columns, capacity)`` array that doubles when full.

    Each column is a contiguous row, so ``view(name)`` is a cheap contiguous slice.
    """

    def __init__(self, names: tuple[str, ...], capacity: int) -> None:
        self.names = names
        self._index = {name: i for i, name in enumerate(names)}
        self.initial_capacity = capacity
        self.data = np.empty((len(names), capacity), dtype=np.float64)
        self.size = 0

    @property
    def capacity(self) -> int:
        return self.data.shape[1]

    def append(self, values: tuple[float, ...]) -> None:
        if self.size == self.capacity:
            grown = np.empty((len(self.names), 2 * self.capacity), dtype=np.float64)
            grown[:, : self.size] = self.data[:, : self.size]
            self.data = grown
        self.data[:, self.size] = values
        self.size += 1

    def view(self, name: str) -> np.ndarray:
        """The column's filled part, a view: do not keep it past the next append/clear."""
        return self.data[self._index[name], : self.size]

    def truncate(self, size: int) -> None:
        self.size = max(0, min(size, self.size))

    def clear(self) -> None:
        """Empty, back at the initial capacity (a fresh array: old views stay intact)."""
        self.data = np.empty((len(self.names), self.initial_capacity), dtype=np.float64)
        self.size = 0

