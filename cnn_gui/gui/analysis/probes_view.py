"""The *Robustness* view: does the answer survive a nudge? One small plot per transform.

For the image on the canvas (or a clicked test image) the network reads ~60 variants
in one batch (:mod:`cnn_gui.core.analysis.probes`): shifted right and down by up to 4 px, turned
by up to 30 degrees, scaled 0.6-1.4, strokes thinned and thickened, noise added. Each
plot shows, along its range, the probability of the original answer (solid blue) and
of whatever the network answers there (dashed orange). The answer is written once over
each stretch of points that give it (grey while it is the original, red where it flips),
shortened to the stretch's width ("tri…", at worst its first letter) so that long class
names never run into each other; the plot's tooltip names every stretch in full.
Thumbnails show the two ends of the range.

The footer says how the input was prepared for the weights shown (the MNIST way for
digits, fitted into the input for other datasets), and that shift and scale act on that
input, not on the drawing or the file. Weights that read photos (no ink side) get no
"Stroke width" probe: thickening a photo's brightest pixels is not a stroke.

The batch (~15-30 ms) runs on a worker thread with a private copy of the snapshot, at
most ten times a second while drawing, and only while the view is visible; a result
for an image that has changed since is dropped.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from cnn_gui.core.errors import describe_line, one_line
from cnn_gui.core.analysis.predictor import Predictor
from cnn_gui.core.analysis.probes import TRANSFORMS, Curve, ProbeResult, Transform, run_probes, transforms_for

from cnn_gui.gui.widgets.grid_image import GridImage
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.widgets.live_refresh import STROKE_THROTTLE_MS, LiveRefresh
from cnn_gui.gui.widgets.small_text import make_small

CANVAS_INPUT = (1, 28, 28)
COLUMNS = 3
THUMB = 44  # the thumbnails of a range's two ends: three plots side by side fit a 1280-wide window
UNIT_MARGIN = 12  # pixels kept free on either side of the x axis's unit
ORIGINAL_COLOUR = "#1f77b4"
PREDICTED_COLOUR = "#ff7f0e"
FLIP_COLOUR = "#d62728"
SAME_COLOUR = "#888888"
LABEL_GAP = 4  # pixels kept free between two stretches' answers
Y_TOP = 1.22  # the y axis's top: room above probability 1 for the answers, more in a short plot
NOTE_TEXT = ("The canvas already centres and scales drawings the MNIST way, so shift/scale here act on "
             "the 28x28 input the network reads.")
NO_STROKE_TEXT = "No stroke width probe: these weights read photos, which have no strokes to thicken."
NO_MODEL_TEXT = "No weights to probe yet."
NO_IMAGE_TEXT = "Draw a digit on the canvas (or click a test image) to see how its answer holds up."
LEGEND_HTML = (f"<span style='color:{ORIGINAL_COLOUR}'>━ probability of the original answer</span> · "
               f"<span style='color:{PREDICTED_COLOUR}'>╍ probability of the answer there</span> · "
               f"text: the answer there, <span style='color:{FLIP_COLOUR}'>red where it flips</span>")


def note_text(predictor: Predictor | None, input_shape: tuple[int, ...]) -> str:
    """The footer: how the weights shown prepare an image, and what shift/scale act on."""
    if predictor is None:
        return ""
    prep = predictor.preparation
    if prep.method == "digit":
        return NOTE_TEXT
    h, w = input_shape[-2:]
    text = (f"Images are prepared as these weights were trained ({prep.describe()}), so shift/scale "
            f"here act on the {h}x{w} input the network reads.")
    return text if prep.reads_drawings else f"{text} {NO_STROKE_TEXT}"


def answer_runs(predicted) -> list[tuple[int, int]]:
    """(first, last) index of each stretch of equal answers, in order."""
    runs, start = [], 0
    for i in range(1, len(predicted) + 1):
        if i == len(predicted) or predicted[i] != predicted[start]:
            runs.append((start, i - 1))
            start = i
    return runs


def fit_name(name: str, width: float, fm: QFontMetrics) -> str:
    """``name`` whole when it fits ``width`` pixels, else elided ("tri…"), else its first
    letter, else nothing (the plot's tooltip still names it)."""
    if fm.horizontalAdvance(name) <= width:
        return name
    elided = fm.elidedText(name, Qt.TextElideMode.ElideRight, max(int(width), 0))
    if elided not in ("", "…"):
        return elided
    return name[:1] if fm.horizontalAdvance(name[:1]) <= width else ""


def _value_text(t: Transform, value: float) -> str:
    if t.key == "scale":
        return f"×{value:g}"
    if t.key == "noise":
        return f"σ {value:g}"
    if t.key == "rotation":
        return f"{value:+g}°"
    return f"{value:+g} px"


class _TransformPlot(QWidget):
    """One transform: its plot and the thumbnails of the two ends of its range."""

    def __init__(self, transform: Transform, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.transform = transform
        self.plot = pg.PlotWidget(background="w")
        item = self.plot.getPlotItem()
        item.setTitle(transform.title, size="9pt", color="#333333")
        self._unit_shown = ""
        self._original, self._classes = 0, ()
        self.plot.setToolTip(f"{transform.title}: {transform.unit}")
        self.fit_unit_label(10_000)
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.showGrid(x=False, y=True, alpha=0.25)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        item.setMenuEnabled(False)
        values = np.asarray(transform.values, dtype=float)
        pad = (values[-1] - values[0]) * 0.06
        item.setXRange(values[0] - pad, values[-1] + pad, padding=0)
        item.setYRange(0.0, Y_TOP, padding=0)  # room above 1 for the answers written over the points
        item.getAxis("left").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        item.addItem(pg.InfiniteLine(transform.identity, angle=90, pen=pg.mkPen("#bbbbbb", style=Qt.PenStyle.DotLine)))
        self.original_curve = item.plot(pen=pg.mkPen(ORIGINAL_COLOUR, width=2), symbol="o", symbolSize=5,
                                         symbolBrush=ORIGINAL_COLOUR, symbolPen=None)
        self.predicted_curve = item.plot(pen=pg.mkPen(PREDICTED_COLOUR, width=1.5, style=Qt.PenStyle.DashLine))
        self.flip_marks = pg.ScatterPlotItem(symbol="x", size=9, pen=pg.mkPen(FLIP_COLOUR, width=2), brush=None)
        item.addItem(self.flip_marks)
        self.labels: list[pg.TextItem] = []
        for _ in transform.values:
            text = pg.TextItem("", anchor=(0.5, 1.0))
            text.textItem.document().setDocumentMargin(0)  # as wide as its letters: the widths below hold
            item.addItem(text)
            self.labels.append(text)
        item.getViewBox().sigResized.connect(self._place_labels)
        self.plot.setMinimumSize(140, 110)

        self.first_thumb, self.last_thumb = GridImage(), GridImage()
        for thumb in (self.first_thumb, self.last_thumb):
            thumb.setFixedSize(THUMB, THUMB)
        self.first_label = QLabel(_value_text(transform, transform.values[0]))
        self.last_label = QLabel(_value_text(transform, transform.values[-1]))
        make_small(self.first_label, self.last_label)
        thumbs = QHBoxLayout()
        thumbs.setContentsMargins(0, 0, 0, 0)
        thumbs.addWidget(self.first_thumb)
        thumbs.addWidget(self.first_label)
        thumbs.addStretch(1)
        thumbs.addWidget(self.last_label)
        thumbs.addWidget(self.last_thumb)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plot, 1)
        layout.addLayout(thumbs)
        self.curve: Curve | None = None

    def answer_name(self, k: int) -> str:
        return self._classes[k] if 0 <= k < len(self._classes) else str(k)

    def _place_labels(self, *_) -> None:
        """One answer over each stretch of equal answers, as wide as the stretch allows."""
        for text in self.labels:
            text.setText("")
        curve = self.curve
        if curve is None:
            return
        x = curve.values
        vb = self.plot.getPlotItem().getViewBox()
        (x0, x1), _ = vb.viewRange()
        px = vb.width() / (x1 - x0) if x1 > x0 else 0.0  # pixels per unit of x
        half = (x[1] - x[0]) / 2 if len(x) > 1 else 0.0
        fm = QFontMetrics(self.labels[0].textItem.font())
        self._make_room(vb, fm.height() + 2)
        top = np.maximum(curve.confidence, curve.original_probability)
        for first, last in answer_runs(curve.predicted):
            k = int(curve.predicted[first])
            left, right = max(x[first] - half, x0), min(x[last] + half, x1)  # the stretch, inside the plot
            text = self.labels[first]
            text.setText(fit_name(self.answer_name(k), (right - left) * px - LABEL_GAP, fm),
                         color=FLIP_COLOUR if k != self._original else SAME_COLOUR)
            text.setPos((left + right) / 2, float(top[first:last + 1].max()) + 0.01)

    def _make_room(self, vb, pixels: int) -> None:
        """The y axis's top high enough that an answer over probability 1 stays in the plot
        (a short plot at 1280x720 cut the answers' tops off)."""
        height = vb.height()
        top = Y_TOP if height <= pixels else max(Y_TOP, min(1.01 * height / (height - pixels), 2.0))
        if abs(vb.viewRange()[1][1] - top) > 1e-3:
            vb.setYRange(0.0, top, padding=0)

    def fit_unit_label(self, width: int) -> None:
        """The x axis's unit whole when it fits ``width`` pixels, else its first clause
        ("degrees" for "degrees, + = counter-clockwise"), else elided; whole in the tooltip."""
        axis = self.plot.getPlotItem().getAxis("bottom")
        fm = QFontMetrics(axis.label.font())
        unit = self.transform.unit
        shown = next((t for t in (unit, unit.split(",")[0]) if fm.horizontalAdvance(t) <= width),
                     fm.elidedText(unit.split(",")[0], Qt.TextElideMode.ElideRight, max(width, 0)))
        if shown != self._unit_shown:
            self._unit_shown = shown
            self.plot.getPlotItem().setLabel("bottom", shown)

    def unit_shown(self) -> str:
        return self._unit_shown

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        left = self.plot.getPlotItem().getAxis("left")
        self.fit_unit_label(self.plot.width() - int(left.width()) - UNIT_MARGIN)

    def show_curve(self, curve: Curve | None, original: int = 0, classes: tuple[str, ...] = ()) -> None:
        self.curve = curve
        self._original, self._classes = original, tuple(classes)
        t = self.transform
        if curve is None:
            self.original_curve.setData([], [])
            self.predicted_curve.setData([], [])
            self.flip_marks.setData([], [])
            self._place_labels()
            self.first_thumb.set_grid(None)
            self.last_thumb.set_grid(None)
            self.plot.setToolTip(f"{t.title}: {t.unit}")
            return
        x = curve.values
        self.original_curve.setData(x, curve.original_probability)
        self.predicted_curve.setData(x, curve.confidence)
        flips = curve.flips(original)
        self.flip_marks.setData(x[flips], curve.confidence[flips])
        self._place_labels()
        stretches = [(_value_text(t, t.values[a]) + ("" if a == b else f"…{_value_text(t, t.values[b])}"),
                      self.answer_name(int(curve.predicted[a]))) for a, b in answer_runs(curve.predicted)]
        self.plot.setToolTip(f"{t.title}: {t.unit}\nAnswers: " + "; ".join(f"{r} {n}" for r, n in stretches))
        images = curve.images if curve.images.ndim == 3 else curve.images.mean(axis=1)
        self.first_thumb.set_grid(images[0])
        self.last_thumb.set_grid(images[-1])


class ProbesView(QWidget):
    """A summary line, one plot per transform, the note on the canvas's own centring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.legend = QLabel(LEGEND_HTML)
        self.legend.setWordWrap(True)
        # The six plots are built when first needed (the tab shown, a result to draw), not
        # with the window: ~0.1 s of pyqtgraph set-up off the start-up (benchmarks/startup.py).
        self._plots: list[_TransformPlot] | None = None
        self._grid = grid = QGridLayout()
        grid.setSpacing(10)
        self._transforms: tuple[Transform, ...] = TRANSFORMS
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.weights_label = QLabel()
        make_small(self.note, self.weights_label, self.legend, grey=(self.note, self.weights_label))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.summary)
        layout.addWidget(self.legend)
        layout.addLayout(grid, 1)
        layout.addWidget(self.note)
        layout.addWidget(self.weights_label)

        self._predictor: Predictor | None = None
        self._private: Predictor | None = None  # the worker's own copy of the snapshot
        self._input_shape = CANVAS_INPUT
        self._image: np.ndarray | None = None
        self._label = ""
        self.result: ProbeResult | None = None
        self._live = LiveRefresh(self, self._run, STROKE_THROTTLE_MS)
        self._runner = JobRunner(self, give_back_memory=True)
        self._clear(NO_MODEL_TEXT)

    @property
    def plots(self) -> list[_TransformPlot]:
        """One plot per transform (built on first use), those not probed hidden."""
        if self._plots is None:
            self._plots = [_TransformPlot(t) for t in TRANSFORMS]
            self._place_plots()
        return self._plots

    def showEvent(self, event) -> None:
        self.plots  # noqa: B018 -- built before the first paint, so the tab never shows empty
        super().showEvent(event)

    def _lay_out(self, transforms: tuple[Transform, ...]) -> None:
        """The plots of ``transforms`` in the grid, in order; the others hidden."""
        if transforms == self._transforms:
            return
        self._transforms = transforms
        if self._plots is not None:
            self._place_plots()

    def _place_plots(self) -> None:
        transforms = self._transforms
        for plot in self.plots:
            self._grid.removeWidget(plot)
        shown = [p for p in self.plots if p.transform in transforms]
        for i, plot in enumerate(shown):
            self._grid.addWidget(plot, i // COLUMNS, i % COLUMNS)
        for plot in self.plots:
            plot.setVisible(plot in shown)

    def shown_plots(self) -> list[_TransformPlot]:
        return [p for p in self.plots if p.transform in self._transforms]

    # -- inputs ----------------------------------------------------------------------------
    def set_predictor(self, predictor: Predictor | None, input_shape: tuple[int, ...] = CANVAS_INPUT) -> None:
        """New weights (or none) for ``input_shape`` images; another shape drops the image.
        Weights that read photos get no stroke width probe (:func:`transforms_for`)."""
        if tuple(input_shape) != self._input_shape:
            self._input_shape = tuple(input_shape)
            self._image, self._label = None, ""
        self._predictor = predictor
        self._lay_out(transforms_for(predictor is None or predictor.preparation.reads_drawings))
        self.note.setText(note_text(predictor, self._input_shape))
        self._private = None
        self._runner.cancel()
        self._live.invalidate()

    @Slot(object, str)
    def set_image(self, image: np.ndarray | None, label_text: str = "") -> None:
        """The image to probe, in [0, 1] as the network reads it; None clears."""
        self._image = None if image is None else np.array(image, dtype=np.float32, copy=True)
        self._label = label_text
        self._live.invalidate()

    def set_weights_label(self, text: str) -> None:
        self.weights_label.setText(f"Weights: {text}" if text else "")

    def is_busy(self) -> bool:
        return self._live.pending() or self._runner.busy()

    def shutdown(self, timeout: float = 5.0) -> bool:
        self._live.cancel()
        return self._runner.shutdown(timeout)

    # -- computing -------------------------------------------------------------------------
    def refresh(self) -> None:
        """Compute now on this thread (tests)."""
        self._live.cancel()
        self._run(here=True)

    def _private_predictor(self) -> Predictor:
        # A private copy: a viewer's forward hook on the shared snapshot must not fire in
        # the worker's batch, and the two threads never share a module.
        if self._private is None:
            self._private = self._predictor.spare()
        return self._private

    @Slot()
    def _run(self, here: bool = False) -> None:
        request = self._live.start()
        if self._predictor is None or self._image is None:
            self._live.shown(request)
            self._clear(NO_MODEL_TEXT if self._predictor is None else NO_IMAGE_TEXT)
            return
        try:
            predictor = self._private_predictor()
        except Exception as exc:  # noqa: BLE001 -- a user's model that cannot be copied
            self._on_error(request, exc)
            return
        if here:
            try:
                result = run_probes(predictor, self._image, self._transforms)
            except Exception as exc:  # noqa: BLE001
                self._on_error(request, exc)
                return
            self._show(request, result)
            return
        if self._runner.busy():
            self._live.defer()
            return
        self._runner.submit(run_probes, predictor, self._image, self._transforms, key="probes",
                            on_done=lambda result, r=request: self._after(r, result, None),
                            on_error=lambda exc, r=request: self._after(r, None, exc))

    def _after(self, request: int, result: ProbeResult | None, error: BaseException | None) -> None:
        if error is not None:
            self._on_error(request, error)
        else:
            self._show(request, result)
        self._live.worker_done()

    # -- showing ---------------------------------------------------------------------------
    def _on_error(self, request: int, exc: BaseException) -> None:
        if not self._live.is_current(request):
            return
        self._live.shown(request)
        self._clear(one_line(f"No probes: {describe_line(exc)}"))

    def _show(self, request: int, result: ProbeResult) -> None:
        if not self._live.is_current(request) or self._image is None:
            return
        self._live.shown(request)
        self.result = result
        name = result.classes[result.original]
        held = []
        plots = {p.transform.key: p for p in self.plots}
        for curve in result.curves:
            plots[curve.transform.key].show_curve(curve, result.original, result.classes)
            t = curve.transform
            lo, hi = curve.stable_range(result.original)
            if (lo, hi) != (t.values[0], t.values[-1]):
                held.append(f"{t.title.lower()} {_value_text(t, lo)}…{_value_text(t, hi)}")
        what = self._label or "the image"
        if held:
            self.summary.setText(f"{what}: read as <b>{name}</b> ({result.original_probability:.1%}). "
                                 f"It stays {name} only for " + "; ".join(held) + f" ({result.variants} variants, "
                                 f"{result.seconds * 1000:.0f} ms).")
        else:
            self.summary.setText(f"{what}: read as <b>{name}</b> ({result.original_probability:.1%}), and still "
                                 f"{name} in all {result.variants} variants ({result.seconds * 1000:.0f} ms).")

    def _clear(self, message: str) -> None:
        self.result = None
        for plot in self._plots or ():
            plot.show_curve(None)
        self.summary.setText(message)
