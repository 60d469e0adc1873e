"""The Embedding tab's images: the hovered dot's image, and the gallery of the box's images.

Both show rows of the embedding (indices into its features); the view says how a row
looks (``grey``) and what it is (``describe``). Hover a gallery image for its classes,
click it to send it on (``rowChosen``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnn_gui.core.analysis.inspection import tile_at, tile_maps
from cnn_gui.gui.widgets.grid_image import GridImage

GALLERY_MAX = 60
GALLERY_COLUMNS = 10
PAD = 2
HOVER_TEXT = "Hover a dot to see its image."


class EmbeddingImages(QWidget):
    """The preview with its words above the gallery's caption and the gallery.

    Signals: ``rowChosen(row)``, a clicked gallery image.
    """

    rowChosen = Signal(int)

    def __init__(self, grey: Callable[[int], np.ndarray], describe: Callable[[int], str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grey = grey
        self._describe = describe
        self._selected = np.zeros(0, np.int64)  # rows in the gallery
        self._tile: tuple[int, int] | None = None  # (H, W) of one gallery image
        self.preview = GridImage()
        self.preview.setMinimumSize(84, 84)
        self.preview.setFixedSize(112, 112)
        self.preview_text = QLabel(HOVER_TEXT)
        self.preview_text.setWordWrap(True)
        self.gallery_caption = QLabel()
        self.gallery_caption.setWordWrap(True)
        self.gallery = GridImage()
        self.gallery.tooltip_for = self._gallery_tooltip
        self.gallery.cellClicked.connect(self._on_gallery_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        hover_row = QHBoxLayout()
        hover_row.addWidget(self.preview)
        hover_row.addWidget(self.preview_text, 1)
        layout.addLayout(hover_row)
        layout.addWidget(self.gallery_caption)
        layout.addWidget(self.gallery, 1)

    def reset(self) -> None:
        """No embedding: an empty preview and gallery."""
        self.preview.set_grid(None)
        self.preview_text.setText(HOVER_TEXT)
        self.set_rows(np.zeros(0, np.int64), "", None)

    def show_hovered(self, row: int) -> None:
        self.preview.set_grid(self._grey(row))
        self.preview_text.setText(self._describe(row) + "<br><i>click: send it on</i>")

    def set_rows(self, rows: np.ndarray, caption: str, tile: tuple[int, int] | None,
                 empty: str = "No images in the box.") -> None:
        """The first :data:`GALLERY_MAX` of ``rows``, images of ``tile`` (H, W) pixels (None:
        no images to show), under ``caption``; ``empty`` in their place when there are none."""
        self._selected = np.asarray(rows[:GALLERY_MAX], dtype=np.int64)
        self._tile = tile
        self.gallery_caption.setText(caption)
        if self._selected.size == 0 or tile is None:
            self.gallery.set_grid(None)
            self.gallery.set_message(empty if caption else "")
            return
        images = np.stack([self._grey(r) for r in self._selected])
        self.gallery.set_grid(tile_maps(images, columns=GALLERY_COLUMNS, pad=PAD, scale_each=False))

    def selected_rows(self) -> np.ndarray:
        """The rows in the gallery (a copy)."""
        return self._selected.copy()

    def _gallery_row(self, row: int, col: int) -> int | None:
        if self._selected.size == 0 or self.gallery.grid is None or self._tile is None:
            return None
        i = tile_at(row, col, self._tile, self.gallery.grid.shape[1], PAD)
        return None if i is None or i >= self._selected.size else int(self._selected[i])

    def _gallery_tooltip(self, row: int, col: int) -> str | None:
        r = self._gallery_row(row, col)
        return None if r is None else self._describe(r) + " (click: send it on)"

    @Slot(int, int)
    def _on_gallery_clicked(self, row: int, col: int) -> None:
        r = self._gallery_row(row, col)
        if r is not None:
            self.rowChosen.emit(r)
