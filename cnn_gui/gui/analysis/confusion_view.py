"""The *Test set* tab: the confusion matrix of the current weights, and what they get wrong.

**Compute** runs a frozen snapshot of the weights (the canvas's copy; never the model
being trained) over the test split of the dataset they were trained on, as a
:class:`~cnn_gui.gui.background.jobs.JobRunner` job on all the training threads (Compute is off
while training runs, so they are free). Weights that read another input shape than that
dataset's images (SimpleCNN after an MNIST run) are not run: the status line says why.
Rows are the true classes, columns the
predicted ones; the diagonal is green (share of the row right), mistakes are red (darker
= more). Click a cell to see its test images; by default the grid shows the first
misclassified ones, each with its true and predicted class in the tooltip. Click an
image to see its feature maps.

New weights (an epoch ended, a checkpoint was opened) make a shown result stale: it is
cleared, and Compute runs again on the new ones. Starting a training run cancels a
computation in progress; so does closing the window, within one batch (~20 ms).
"""

from __future__ import annotations

import copy
import html
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from cnn_gui.core.analysis.inspection import ConfusionResult, confusion_matrix, tile_at, tile_maps
from cnn_gui.core.errors import describe_line, one_line
from cnn_gui.core.formatting import dataset_title as _title
from cnn_gui.core.formatting import shape_text as _shape

from cnn_gui.gui.widgets.grid_image import GridImage
from cnn_gui.gui.background.jobs import JobRunner

if TYPE_CHECKING:
    from cnn_gui.core.data.image_dataset import ImageDataset
    from cnn_gui.core.analysis.predictor import Predictor

JOB = "confusion"
SAMPLES_SHOWN = 60
SAMPLE_COLUMNS = 12
PAD = 2
IDLE_TEXT = "Compute the confusion matrix of the current weights on the test set."


class ConfusionView(QWidget):
    """Compute button, status, the matrix as a table, and a grid of the selected test images.

    Signals: ``finished(object)`` with the :class:`ConfusionResult`, or None when the
    computation failed (a cancelled one reports nothing); ``sampleChosen(image, text)`` when a test image
    in the grid is clicked (the window shows its feature maps).
    """

    finished = Signal(object)
    sampleChosen = Signal(object, str)  # a clicked test image, (H, W) or (C, H, W) in [0, 1], and what it is
    testImageChosen = Signal(object, str, str)  # the same, and its true class by name (the watch list's pin)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.compute_button = QPushButton("Compute on the test set")
        self.compute_button.clicked.connect(self.compute)
        self.status = QLabel(IDLE_TEXT)
        self.status.setWordWrap(True)

        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Rows: true class. Columns: predicted class. Click a cell for its images.")
        self.table.cellClicked.connect(self.show_cell)
        self.axes_label = QLabel("rows: <b>true</b> class · columns: <b>predicted</b> class")

        self.samples = GridImage()
        self.samples.tooltip_for = self._sample_tooltip
        self.samples.cellClicked.connect(self._on_sample_clicked)
        self.samples_caption = QLabel()
        self.samples_caption.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.compute_button)
        top.addWidget(self.status, 1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.axes_label)
        left_layout.addWidget(self.table, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.samples_caption)
        right_layout.addWidget(self.samples, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([380, 260])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(split, 1)

        self._predictor: "Predictor | None" = None
        self._dataset_name = "mnist"
        self._data: "ImageDataset | None" = None
        self._input_shape: tuple[int, ...] | None = None  # what the weights read, when known
        self._cached: dict[str, "ImageDataset"] = {}
        self.jobs = JobRunner(self, give_back_memory=True, collect_first=True)
        self._blocked = False
        self.result: ConfusionResult | None = None
        self._result_data: "ImageDataset | None" = None
        self._sample_shape = (1, 1)  # (height, width) of one image in the sample grid
        self._shown: np.ndarray = np.zeros(0, dtype=np.int64)  # test indices in the sample grid
        self._update_button()

    # -- inputs ----------------------------------------------------------------------------
    def set_source(self, predictor: "Predictor | None", dataset_name: str, data: "ImageDataset | None" = None,
                   *, input_shape: tuple[int, ...] | None = None) -> None:
        """The weights to judge and the dataset they belong to (``data``: use this one instead
        of loading it); ``input_shape``: the (C, H, W) the weights' model reads, checked
        against the dataset's before anything runs."""
        shape = tuple(input_shape) if input_shape is not None else None
        changed = (predictor is not self._predictor or dataset_name != self._dataset_name or data is not self._data
                   or shape != self._input_shape)
        self._predictor, self._dataset_name, self._data, self._input_shape = predictor, dataset_name, data, shape
        if changed:
            self.cancel()
            had_result = self.result is not None
            self._clear_result()
            mismatch = self.mismatch()
            self.status.setText(html.escape(mismatch) if mismatch and predictor
                                else "The weights changed: compute again." if had_result and predictor
                                else IDLE_TEXT if predictor else "No weights yet.")
        self._update_button()

    def mismatch(self) -> str | None:
        """Why the weights cannot run on their test set (another input shape), or None."""
        if self._input_shape is None:
            return None
        if self._data is not None:
            have, title = tuple(self._data.input_shape), _title(self._data.name)
        else:
            from cnn_gui.core.data.registry import DATASETS

            info = DATASETS.get(self._dataset_name)
            if info is None:
                return None
            have, title = tuple(info.input_shape), _title(self._dataset_name)
        if have == self._input_shape:
            return None
        return (f"These weights read {_shape(self._input_shape)} images, but the {title} test set has "
                f"{_shape(have)} ones: train them on a dataset of their shape first.")

    def set_blocked(self, blocked: bool) -> None:
        """While training runs the button is off (both would fight for the same CPU cores)."""
        self._blocked = blocked
        if blocked:
            self.cancel()
        self._update_button()

    def is_running(self) -> bool:
        return self.jobs.pending(JOB)

    # -- computing -------------------------------------------------------------------------
    @Slot()
    def compute(self) -> bool:
        """Start computing; False (and nothing runs) when there is nothing to run or it cannot."""
        if self._predictor is None or self.is_running() or self._blocked:
            return False
        mismatch = self.mismatch()
        if mismatch:
            self.status.setText(html.escape(mismatch))
            return False
        # A private copy: the canvas and the Feature maps tab keep using the snapshot on the
        # GUI thread meanwhile, and the forward hooks the feature maps set for a moment
        # would otherwise fire inside the job's passes too.
        model = copy.deepcopy(self._predictor.model)
        data = self._data or self._cached.get(self._dataset_name)
        try:
            self.jobs.submit(_compute, model, self._dataset_name, data, key=JOB, threads="training",
                             on_done=self._on_done, on_error=self._on_error, input_shape=self._input_shape)
        except RuntimeError:
            return False  # shut down: the window is closing
        self.status.setText(f"Computing on the {_title(self._dataset_name)} test set…")
        self._update_button()
        return True

    def _on_done(self, outcome) -> None:
        result, data = outcome
        self._update_button()
        if self._data is None:
            self._cached[data.name] = data
        self._show_result(result, data)
        self.finished.emit(result)

    def _on_error(self, error: BaseException) -> None:
        self._update_button()
        # A CnnGuiError (a download that failed) speaks to the user; anything else names its type.
        text = describe_line(error)
        self.status.setText(html.escape(one_line(f"Could not compute: {text}")))
        self.finished.emit(None)

    def cancel(self) -> None:
        """Stop a computation in progress; its result, if it still arrives, is dropped."""
        if self.is_running():
            self.jobs.cancel(JOB)
            self.status.setText("Cancelled.")
        self._update_button()

    def join(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` s for a computation's thread (cancelled or not) to end.
        True when none is left."""
        return self.jobs.join(timeout)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """The window closes: cancel, deliver nothing more, wait up to ``timeout`` s for the thread."""
        ok = self.jobs.shutdown(timeout)
        self._update_button()
        return ok

    def _update_button(self) -> None:
        mismatch = self.mismatch()
        self.compute_button.setEnabled(self._predictor is not None and not self.is_running()
                                       and not self._blocked and not mismatch)
        self.compute_button.setToolTip(mismatch or "")

    # -- showing ---------------------------------------------------------------------------
    def _clear_result(self) -> None:
        self.result = None
        self._result_data = None
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.samples.set_grid(None)
        self.samples.set_message("")
        self.samples_caption.setText("")
        self._shown = np.zeros(0, dtype=np.int64)

    def _show_result(self, result: ConfusionResult, data: "ImageDataset") -> None:
        self.result = result
        self._result_data = data
        m = result.matrix
        k = m.shape[0]
        classes = list(result.names or data.classes)
        self.table.clear()
        self.table.setRowCount(k)
        self.table.setColumnCount(k)
        self.table.setHorizontalHeaderLabels(classes)
        self.table.setVerticalHeaderLabels(classes)
        rows = np.maximum(m.sum(axis=1), 1)
        off = m.copy()
        np.fill_diagonal(off, 0)
        worst = max(int(off.max()), 1)
        for t in range(k):
            for p in range(k):
                n = int(m[t, p])
                item = QTableWidgetItem(f"{n:,}" if n else "·")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if t == p:
                    share = n / rows[t]
                    item.setBackground(QBrush(QColor(46, 160, 67, int(40 + 140 * share))))
                    item.setToolTip(f"{classes[t]} read as {classes[p]}: {n:,} of {int(rows[t]):,} ({share:.1%})")
                elif n:
                    item.setBackground(QBrush(QColor(214, 39, 40, int(40 + 200 * n / worst))))
                    item.setToolTip(f"true {classes[t]}, predicted {classes[p]}: {n:,} images")
                self.table.setItem(t, p, item)
        wrong = len(result.misclassified)
        self.status.setText(f"Test accuracy <b>{result.accuracy:.2%}</b> on the {int(m.sum()):,} "
                            f"{_title(data.name)} test images · {wrong:,} misclassified (fp32, the same "
                            "pass as training's test).")
        self._show_samples(result.misclassified, f"The first misclassified test images ({min(wrong, SAMPLES_SHOWN)} "
                                                 f"of {wrong:,}); hover for the true and predicted class, "
                                                 "or click a cell above.")

    @Slot(int, int)
    def show_cell(self, true_class: int, predicted_class: int) -> None:
        """Show the test images of one cell (true class, predicted class)."""
        if self.result is None or self._result_data is None:
            return
        truth = self._result_data.test_labels.cpu().numpy()
        idx = np.flatnonzero((truth == true_class) & (self.result.predicted == predicted_class))
        classes = self.result.names or self._result_data.classes
        what = (f"{classes[true_class]} read correctly" if true_class == predicted_class
                else f"true {classes[true_class]}, predicted {classes[predicted_class]}")
        self._show_samples(idx, f"{what}: {len(idx):,} image{'s' if len(idx) != 1 else ''}" +
                           (f" (the first {SAMPLES_SHOWN} shown)" if len(idx) > SAMPLES_SHOWN else ""))

    def _show_samples(self, indices: np.ndarray, caption: str) -> None:
        data = self._result_data
        self._shown = np.asarray(indices[:SAMPLES_SHOWN], dtype=np.int64)
        self.samples_caption.setText(caption)
        if data is None or self._shown.size == 0:
            self.samples.set_grid(None)
            self.samples.set_message("No images here.")
            return
        images = data.test_images[self._shown].cpu().numpy().astype(np.float32) / 255.0  # (n, C, H, W)
        images = images.mean(axis=1)  # colour images as grey, for the overview
        self._sample_shape = images.shape[1:]
        self.samples.set_grid(tile_maps(images, columns=SAMPLE_COLUMNS, pad=PAD, scale_each=False))

    def shown_indices(self) -> np.ndarray:
        """Test-set indices of the images in the grid, in order."""
        return self._shown.copy()

    def _sample_at(self, row: int, col: int) -> int | None:
        """The test-set index of the image under a grid cell, or None."""
        if self.result is None or self._result_data is None or self._shown.size == 0:
            return None
        i = tile_at(row, col, self._sample_shape, self.samples.grid.shape[1], PAD)
        return None if i is None or i >= self._shown.size else int(self._shown[i])

    def describe(self, index: int) -> str:
        classes = self.result.names or self._result_data.classes
        true = classes[int(self._result_data.test_labels[index])]
        predicted = classes[int(self.result.predicted[index])]
        return f"test image #{index}: true {true}, predicted {predicted}"

    def _sample_tooltip(self, row: int, col: int) -> str | None:
        index = self._sample_at(row, col)
        return None if index is None else self.describe(index) + " (click: its feature maps)"

    @Slot(int, int)
    def _on_sample_clicked(self, row: int, col: int) -> None:
        index = self._sample_at(row, col)
        if index is not None:
            self.choose_sample(index)

    def choose_sample(self, index: int) -> None:
        """Send test image ``index`` (as the network reads it, before normalisation) on."""
        if self._result_data is None or self.result is None:
            return
        image = self._result_data.test_images[index].cpu().numpy().astype(np.float32) / 255.0
        self.sampleChosen.emit(image[0] if image.shape[0] == 1 else image, self.describe(index))
        true = self._result_data.classes[int(self._result_data.test_labels[index])]  # the data's name, not an output's
        self.testImageChosen.emit(image, f"test image #{index}", str(true))


def _compute(model, name: str, data: "ImageDataset | None", cancel,
             input_shape=None) -> "tuple[ConfusionResult | None, ImageDataset]":
    """The job: load the test set if needed, then the matrix (None once cancelled: never delivered)."""
    if data is None:
        from cnn_gui.core.data.datasets import load_dataset

        # A folder: read at this shape. The test split alone is kept (and cached by the view).
        data = load_dataset(name, input_shape=input_shape, cancel=cancel.is_set).test_only()
    return confusion_matrix(model, data, cancel=cancel), data
