"""The *Embedding* view: the test set as the network sees it, one dot per image.

**Compute** runs a frozen copy of the weights over the test split (the first 1,000 ...
10,000 images) and keeps, per image, the input of the last ``nn.Linear``: the network's
own description of the image just before it becomes class scores. PCA flattens those
to the two directions in which they vary most (:mod:`cnn_gui.core.analysis.embedding`). Dots
are coloured by the true class; a black ring marks a mistake (predicted != true). Images
the network finds alike lie close together, so a mistake usually sits in the cluster of
the class it was taken for.

Hover a dot to see its image and classes; click it to send it on (``imageChosen``:
the window shows its maps). Drag across the plot to draw a box and see the images inside it. The
drawing on the canvas appears as a star (:meth:`EmbeddingView.set_live_image`), moving
as you draw: where the network puts your digit among the test images. **t-SNE** lays
out the first 2,000 of them again, on demand (scikit-learn; ~10-30 s, with progress):
it separates clusters better, but distances between clusters mean little there and it
cannot place a new image, so the star shows in the PCA layout only.

The feature pass and PCA (a few seconds for 10,000 images on one CPU thread) and t-SNE
run on worker threads (:class:`~cnn_gui.gui.background.jobs.JobRunner`, serial torch); progress
comes back through a queued signal; Cancel, new weights or another Compute drop a
result still on its way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget

from cnn_gui.core.analysis import embedding
from cnn_gui.core.analysis.embedding import Embedding, compute_embedding, project, tsne
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.errors import CnnGuiError, describe_line, one_line
from cnn_gui.core.formatting import dataset_title as _title, plural
from cnn_gui.gui.analysis.embedding_counts import fill_counts
from cnn_gui.gui.analysis.embedding_images import GALLERY_MAX, EmbeddingImages
from cnn_gui.gui.analysis.embedding_plot import EmbeddingPlot, class_colour
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.widgets.flow_layout import FlowLayout, labelled
from cnn_gui.gui.widgets.small_text import make_small

if TYPE_CHECKING:
    from cnn_gui.core.data.image_dataset import ImageDataset

CANVAS_INPUT = (1, 28, 28)
TSNE_MAX = 2000  # t-SNE lays out at most this many (the first) images: ~10-30 s on a CPU
IDLE_TEXT = "Compute maps the test images by the network's penultimate-layer features (PCA)."
NO_MODEL_TEXT = "No weights yet."
NO_BOX_TEXT = ("Drag across the plot to draw a box: the images inside it show here, mistakes first. "
               "Hover a dot for its image, click it to send it on.")
TSNE_MISSING = f"t-SNE needs scikit-learn: {embedding.INSTALL_HINT}"


class EmbeddingView(QWidget):
    """Compute / t-SNE / Cancel, the scatter plot with its box, the hovered image, the box's gallery.

    Signals: ``imageChosen(image, text)``: a clicked dot or gallery image, (H, W) or
    (C, H, W) in [0, 1], and what it is ("test image #12: true 5, predicted 3").
    """

    imageChosen = Signal(object, str)
    testImageChosen = Signal(object, str, str)  # the same, and its true class by name (the watch list's pin)
    _progress = Signal(int, float, str)  # request, fraction done, stage: worker -> GUI thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._build_controls()
        self._build_plot_side()
        self.images = EmbeddingImages(self._grey, self.describe)
        self.images.rowChosen.connect(self.choose)
        self.weights_label = QLabel()
        make_small(self.weights_label, self.axes_note, self.legend, grey=(self.weights_label, self.axes_note))
        self._build_layout()

        self._predictor: Predictor | None = None
        self._input_shape = CANVAS_INPUT
        self._dataset_name = "mnist"
        self._data: "ImageDataset | None" = None
        self._cached: dict[str, "ImageDataset"] = {}
        self.result: Embedding | None = None
        self.tsne_points: np.ndarray | None = None
        self._result_data: "ImageDataset | None" = None
        self._live_image: np.ndarray | None = None
        self._live_label = ""
        self._legend_classes = ""
        self.live_point: np.ndarray | None = None
        self._request = 0
        self._blocked = False
        self._runner = JobRunner(self, give_back_memory=True, collect_first=True)
        self._progress.connect(self._on_progress)
        self._clear_plot()
        self._update_buttons()

    def _build_controls(self) -> None:
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip("Features of the test images and their PCA, off the GUI thread")
        self.compute_button.clicked.connect(self.compute)
        self.count_combo = QComboBox()
        fill_counts(self.count_combo, None)
        self.tsne_button = QPushButton("t-SNE")
        self.tsne_button.setToolTip(f"Lay out the first {TSNE_MAX:,} images with t-SNE (scikit-learn; slower)")
        self.tsne_button.clicked.connect(self.compute_tsne)
        self.layout_combo = QComboBox()
        self.layout_combo.addItem("PCA", "pca")
        self.layout_combo.addItem(f"t-SNE (first {TSNE_MAX:,})", "tsne")
        self.layout_combo.currentIndexChanged.connect(self._on_layout_changed)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(160)
        self.status = QLabel(NO_MODEL_TEXT)
        self.status.setWordWrap(True)

    def _build_plot_side(self) -> None:
        self.plot = EmbeddingPlot()
        self.plot.boxChanged.connect(self._on_box_changed)
        self.plot.mouseMovedTo.connect(self.hover)
        self.plot.clickedAt.connect(self._on_clicked)
        self.legend = QLabel()
        self.legend.setWordWrap(True)  # ten class names in one line would widen the tab
        self.axes_note = QLabel()
        self.axes_note.setWordWrap(True)

    def _build_layout(self) -> None:
        top = FlowLayout()  # wraps rather than widen the window
        top.addWidget(self.compute_button)
        top.addWidget(self.count_combo)
        top.addWidget(self.tsne_button)
        top.addWidget(labelled(QLabel("Layout:"), self.layout_combo))
        top.addWidget(self.cancel_button)
        top.addWidget(self.progress)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.plot, 1)
        left_layout.addWidget(self.legend)
        left_layout.addWidget(self.axes_note)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.images)
        split.setSizes([560, 340])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        layout.addWidget(self.weights_label)

    # -- inputs ----------------------------------------------------------------------------
    def set_predictor(self, predictor: Predictor | None, input_shape: tuple[int, ...] = CANVAS_INPUT) -> None:
        """New weights (or none) for ``input_shape`` images: a shown map is stale, and cleared."""
        if predictor is self._predictor and tuple(input_shape) == self._input_shape:
            return
        had = self.result is not None
        self._predictor = predictor
        if tuple(input_shape) != self._input_shape:
            self._input_shape = tuple(input_shape)
            self._live_image = None
        self.cancel(quiet=True)
        self._clear_plot()
        self.status.setText(NO_MODEL_TEXT if predictor is None else
                            "The weights changed: compute again." if had else IDLE_TEXT)
        self._update_buttons()

    def set_dataset(self, name: str, data: "ImageDataset | None" = None) -> None:
        """The dataset whose test split is mapped (``data``: use it instead of loading ``name``)."""
        if name != self._dataset_name or data is not self._data:
            self._dataset_name, self._data = name, data
            cached = data if data is not None else self._cached.get(name)
            fill_counts(self.count_combo, None if cached is None else cached.test_size)
            self.cancel(quiet=True)
            had = self.result is not None
            self._clear_plot()
            if had:
                self.status.setText("The dataset changed: compute again.")
            self._update_buttons()

    @Slot(object, str)
    def set_image(self, image: np.ndarray | None, label_text: str = "") -> None:
        """The image to place as the live point (a chosen test image), and what it is."""
        self._live_label = label_text
        self._place_live(image)

    @Slot(object)
    def set_live_image(self, image: np.ndarray | None) -> None:
        """Place (or, with None, remove) the star for the canvas's drawing: the legend says so
        again, whatever test image the star marked before."""
        self._live_label = ""
        self._place_live(image)

    def _place_live(self, image: np.ndarray | None) -> None:
        self._live_image = None if image is None else np.array(image, dtype=np.float32, copy=True)
        self._update_live()

    def set_weights_label(self, text: str) -> None:
        self.weights_label.setText(f"Weights: {text}" if text else "")

    def set_blocked(self, blocked: bool) -> None:
        """While training runs, Compute and t-SNE are off (both would fight for the same cores)."""
        self._blocked = blocked
        if blocked:
            self.cancel(quiet=True)
        self._update_buttons()

    def is_running(self) -> bool:
        return self._runner.busy()

    def shutdown(self, timeout: float = 5.0) -> bool:
        return self._runner.shutdown(timeout)

    # -- computing -------------------------------------------------------------------------
    @Slot()
    def compute(self) -> bool:
        """Features + PCA of the chosen number of test images, on a worker thread."""
        if self._predictor is None or self._blocked:
            return False
        self._runner.cancel()
        self._request += 1
        request = self._request
        # A private copy, made here on the GUI thread: a viewer's hook set on the snapshot
        # for a moment must not be copied (or fire) in the worker.
        p = self._predictor
        model = Predictor(p.model, p.mean, p.std, p.classes).model
        data = self._data or self._cached.get(self._dataset_name)
        count = int(self.count_combo.currentData())
        name, shape = self._dataset_name, self._input_shape

        def work(cancel):
            d = data
            if d is None:
                from cnn_gui.core.data.datasets import load_dataset

                self._emit_progress(request, 0.0, f"loading {name}")
                # A folder: at this shape. The test split alone is kept (and cached by the view).
                d = load_dataset(name, input_shape=tuple(shape), cancel=cancel.is_set).test_only()
            if tuple(d.input_shape) != tuple(shape):
                raise embedding.EmbeddingUnavailable(
                    f"these weights read {'x'.join(map(str, shape))} images, and the {_title(name)} test set "
                    f"has {'x'.join(map(str, d.input_shape))}")
            return compute_embedding(model, d, count, cancel=cancel, keep=TSNE_MAX,
                                     progress=lambda f, what: self._emit_progress(request, f, what)), d

        self.progress.setValue(0)
        self.status.setText(f"Computing the features of {count:,} test images…")
        self._runner.submit(work, key="embedding", on_done=lambda out: self._on_computed(request, *out),
                            on_error=lambda exc: self._on_failed(request, exc))
        self._update_buttons()
        return True

    @Slot()
    def compute_tsne(self) -> bool:
        """t-SNE of the first :data:`TSNE_MAX` mapped images, on a worker thread."""
        if self.result is None or self._blocked:
            return False
        if not embedding.sklearn_available():
            self.status.setText(TSNE_MISSING)
            return False
        self._runner.cancel()
        self._request += 1
        request = self._request
        feats = self.result.features.features[:TSNE_MAX]

        def work(cancel):
            return tsne(feats, cancel=cancel, progress=lambda f, what: self._emit_progress(request, f, what))

        self.progress.setValue(0)
        self.status.setText(f"t-SNE of {len(feats):,} images…")
        self._runner.submit(work, key="tsne", on_done=lambda pts: self._on_tsne(request, pts),
                            on_error=lambda exc: self._on_failed(request, exc))
        self._update_buttons()
        return True

    def cancel(self, quiet: bool = False) -> None:
        """Stop a computation in progress; a result still on its way is dropped."""
        running = self._runner.busy()
        self._runner.cancel()
        self._request += 1
        if running and not quiet:
            self.status.setText("Cancelled.")
        self.progress.setValue(0)
        self._update_buttons()

    def _emit_progress(self, request: int, fraction: float, what: str) -> None:
        try:
            self._progress.emit(request, float(fraction), what)
        except RuntimeError:
            pass  # the view is gone

    @Slot(int, float, str)
    def _on_progress(self, request: int, fraction: float, what: str) -> None:
        if request == self._request and self._runner.busy():
            self.progress.setValue(int(fraction * 1000))
            if what.startswith("t-SNE"):
                self.status.setText(f"{what}: {fraction:.0%}")

    def _on_computed(self, request: int, result: Embedding | None, data: "ImageDataset") -> None:
        if request != self._request or result is None:
            return
        if self._data is None:
            self._cached[self._dataset_name] = data
        fill_counts(self.count_combo, data.test_size)
        self.result = result
        self._result_data = data
        self.tsne_points = None
        self.progress.setValue(1000)
        f = result.features
        precision = "bf16" if f.bf16 else "fp32, as the Test set tab"
        self.status.setText(f"{plural(len(f.labels), 'test image')} · {plural(int(f.mistakes.sum()), 'mistake')} "
                            f"(ringed; {precision}) · {result.seconds:.1f} s.")
        self._set_layout_choice("pca")
        self._show_layout()
        self._update_buttons()

    def _on_tsne(self, request: int, points: np.ndarray | None) -> None:
        if request != self._request or points is None or self.result is None:
            return
        self.tsne_points = points
        self.progress.setValue(1000)
        self.status.setText(f"t-SNE of the first {len(points):,} images. Distances between clusters mean "
                            "little here, and new images cannot be placed: the star shows in PCA only.")
        self._set_layout_choice("tsne")
        self._show_layout()
        self._update_buttons()

    def _on_failed(self, request: int, exc: BaseException) -> None:
        if request != self._request:
            return
        self.progress.setValue(0)
        self.status.setText(one_line(f"Could not compute: {exc}" if isinstance(exc, CnnGuiError)
                                     else f"Could not compute: {describe_line(exc)}"))
        self._update_buttons()

    def _update_buttons(self) -> None:
        running = self._runner.busy()
        self.compute_button.setEnabled(self._predictor is not None and not self._blocked and not running)
        self.count_combo.setEnabled(not running)
        has_sklearn = embedding.sklearn_available()
        self.tsne_button.setEnabled(self.result is not None and has_sklearn and not self._blocked and not running)
        self.tsne_button.setToolTip(f"Lay out the first {TSNE_MAX:,} images with t-SNE (scikit-learn; slower)"
                                    if has_sklearn else TSNE_MISSING)
        self.layout_combo.setEnabled(self.tsne_points is not None)
        self.cancel_button.setEnabled(running)

    # -- showing ---------------------------------------------------------------------------
    def layout_name(self) -> str:
        return str(self.layout_combo.currentData())

    def _set_layout_choice(self, key: str) -> None:
        self.layout_combo.blockSignals(True)
        self.layout_combo.setCurrentIndex(self.layout_combo.findData(key))
        self.layout_combo.blockSignals(False)

    @Slot(int)
    def _on_layout_changed(self, _index: int) -> None:
        self._show_layout()

    def _clear_plot(self) -> None:
        self.result = None
        self.tsne_points = None
        self._result_data = None
        self._set_layout_choice("pca")
        self.plot.clear_points()
        self.live_point = None
        self.legend.setText("")
        self.axes_note.setText("")
        self.images.reset()
        self.progress.setValue(0)

    def _show_layout(self) -> None:
        if self.result is None:
            return
        f = self.result.features
        features = f"the {f.features.shape[1]} features that the last Linear layer ({f.layer}) reads"
        if self.layout_name() == "tsne" and self.tsne_points is not None:
            points = self.tsne_points
            self.axes_note.setText(f"Axes: t-SNE of {features}, for the first {len(points):,} images; "
                                   "the axes have no units, and only neighbourhoods mean something.")
        else:
            points = self.result.points
            ratio = self.result.pca.explained_variance_ratio
            self.axes_note.setText(f"Axes: the first two principal components of {features}; they hold "
                                   f"{ratio[0]:.0%} and {ratio[1]:.0%} of their variance ({self.result.pca.backend}).")
        labels, mistakes = f.labels[:len(points)], f.mistakes[:len(points)]
        classes = self._result_data.classes if self._result_data is not None else tuple(
            str(i) for i in range(int(labels.max()) + 1))
        self.plot.show_points(points, labels, mistakes, len(classes))
        self._legend_classes = "Colour = true class: " + " ".join(
            f"<span style='color:{class_colour(c)}'>●</span>&nbsp;{name}" for c, name in enumerate(classes))
        self._update_live()
        self._on_box_changed()

    def _update_live(self) -> None:
        self.live_point = None
        if self.result is not None:
            star = self._live_label or "the drawing on the canvas"
            where = "" if self.layout_name() == "pca" else " (PCA layout only)"
            self.legend.setText(f"{self._legend_classes} · ◯ a mistake · "
                                f"<span style='color:#b8860b'>★</span> {star}{where}")
        if (self._live_image is None or self.result is None or self._predictor is None
                or self.layout_name() != "pca"):
            self.plot.set_live(None)
            return
        try:
            point = project(self._predictor, self._live_image, self.result.pca, self.result.features.bf16)
        except Exception:  # noqa: BLE001 -- an image of another shape: no star
            self.plot.set_live(None)
            return
        self.live_point = point
        self.plot.set_live(point)

    # -- hover, click, box -----------------------------------------------------------------
    @Slot(object)
    def hover(self, view_pos: QPointF) -> int | None:
        """Show the dot under ``view_pos`` (data coordinates) in the preview; its row or None."""
        row = self.plot.point_at(view_pos)
        self.plot.highlight(row)
        if row is not None:
            self.images.show_hovered(row)
        return row

    @Slot(object)
    def _on_clicked(self, view_pos: QPointF) -> None:
        row = self.plot.point_at(view_pos)
        if row is not None:
            self.choose(row)

    @Slot(int)
    def choose(self, row: int) -> None:
        """Send mapped image ``row`` on through ``imageChosen``."""
        image = self._image(row)
        if image is not None:
            f = self.result.features
            true = self._result_data.classes[int(f.labels[row])]
            self.testImageChosen.emit(image, f"test image #{int(f.indices[row])}", str(true))
            self.imageChosen.emit(image[0] if image.shape[0] == 1 else image, self.describe(row))

    def select_box(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Move the box to data rectangle (x0, y0)-(x1, y1) and show its images; their rows."""
        self.plot.move_box(x0, y0, x1, y1)
        return self.images.selected_rows()

    @Slot()
    def _on_box_changed(self) -> None:
        if self.result is None or not self.plot.has_points():
            return
        f = self.result.features
        if not self.plot.has_box():
            self.images.set_rows(np.zeros(0, np.int64), NO_BOX_TEXT, None, empty="")
            return
        rows = self.plot.rows_in_box()
        rows = np.concatenate([rows[f.mistakes[rows]], rows[~f.mistakes[rows]]])  # mistakes first
        wrong = int(f.mistakes[rows].sum())
        more = f" (the first {GALLERY_MAX} shown)" if len(rows) > GALLERY_MAX else ""
        first = ", mistakes first" if wrong else ""
        self.images.set_rows(rows, f"In the box: {len(rows):,} image{'s' if len(rows) != 1 else ''}, "
                                   f"{wrong:,} mistake{'s' if wrong != 1 else ''}{more}{first}. Drag or resize the "
                                   "box; hover an image for its classes, click to send it on.",
                             tuple(self._result_data.input_shape[1:]))

    # -- images ----------------------------------------------------------------------------
    def _image(self, row: int) -> np.ndarray | None:
        """Mapped image ``row`` as (C, H, W) float32 in [0, 1]."""
        if self._result_data is None or self.result is None:
            return None
        index = int(self.result.features.indices[row])
        return self._result_data.test_images[index].cpu().numpy().astype(np.float32) / 255.0

    def _grey(self, row: int) -> np.ndarray:
        image = self._image(row)
        return image.mean(axis=0)  # colour images as grey, for the overview

    def describe(self, row: int) -> str:
        f = self.result.features
        classes = self._result_data.classes
        true, predicted = classes[int(f.labels[row])], classes[int(f.predicted[row])]
        verdict = "right" if true == predicted else "a mistake"
        return f"test image #{int(f.indices[row])}: true {true}, predicted {predicted} ({verdict})"
