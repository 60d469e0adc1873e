"""The *Explain* view: why did the network say that? The input beside its attribution map.

Red pixels pushed the network's score for the explained class up, blue ones pushed it
down, on one symmetric scale (the colour bar says its numbers); the digit is drawn
darker on top so the map can be read against the strokes. Choose the method (Grad-CAM,
Input x Gradient, Integrated Gradients, occlusion; see :mod:`cnn_gui.core.analysis.attribution`),
the class (the top class by default, or any other: "why not a 3?") and, for Grad-CAM,
the conv layer. A line under the map reads it in plain words.

The maps come from the same frozen snapshot of the weights as the canvas (a private,
gradient-ready copy of it, made once per snapshot), never from the model being trained.
The window calls :meth:`ExplainView.set_image` on every stroke; the view computes at
most ten times a second (a single-shot timer coalesces the calls) and only while it is
visible. Grad-CAM and Input x Gradient take ~5 ms and run on the GUI thread; Integrated
Gradients and occlusion (~30-50 ms each on one thread) run on a worker thread (one at a
time; a result for an image or a setting that has changed since is dropped).

Without Captum (an optional extra) the view says how to install it, in one line.
"""

from __future__ import annotations

import sys

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Slot
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter
from PySide6.QtWidgets import (QComboBox, QGridLayout, QLabel, QSizePolicy, QVBoxLayout,
                               QWidget)

from cnn_gui.core.analysis import attribution
from cnn_gui.core.analysis.attribution import LAYER_NOTE, METHODS, Attribution, Explainer
from cnn_gui.core.analysis.colormaps import STOP_RGB, STOPS, image_rgb, overlay_rgb
from cnn_gui.core.errors import describe_line, one_line
from cnn_gui.core.formatting import middle_elide
from cnn_gui.core.analysis.predictor import Predictor

from cnn_gui.gui.widgets.grid_image import GridImage
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.widgets.flow_layout import FlowLayout, labelled
from cnn_gui.gui.widgets.live_refresh import STROKE_THROTTLE_MS, LiveRefresh
from cnn_gui.gui.widgets.small_text import make_small

CANVAS_INPUT = (1, 28, 28)
FAST_METHODS = ("gradcam", "ixg")  # a few ms: computed on the GUI thread
ANSWER_TEXT = "its answer"  # the class choice that follows the network's answer (top class)
ITEM_CHARS = 28  # a longer layer or class name is cut in its combo, whole in the item's tooltip
NO_MODEL_TEXT = "No weights to explain yet."
NO_IMAGE_TEXT = ("Draw a digit on the canvas (or click a test image): the map shows which pixels "
                 "pushed the network towards its answer.")

class RgbImage(GridImage):
    """A uint8 (H, W, 3) array, scaled by whole pixels where it fits (no smoothing), or a message:
    the grey grid's widget (its scaling, centring and message) showing colour."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(112, 112)

    def sizeHint(self) -> QSize:
        return QSize(280, 280)

    def set_rgb(self, rgb: np.ndarray | None) -> None:
        self._grid = None
        if rgb is None:
            self._image = None
        else:
            h, w, _ = rgb.shape
            data = np.ascontiguousarray(rgb, dtype=np.uint8)
            self._image = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def has_image(self) -> bool:
        return self._image is not None

    def message(self) -> str:
        return self._message

    def image(self) -> QImage | None:
        return self._image


class ColourBar(QWidget):
    """The diverging scale, +scale at the top, 0 in the middle, -scale at the bottom, with numbers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scale: float | None = None
        self.setFixedWidth(84)
        self.setMinimumHeight(112)

    def set_scale(self, scale: float | None) -> None:
        self._scale = scale
        self.update()

    def labels(self) -> list[str]:
        """The numbers at the top, middle and bottom ([] when nothing is shown)."""
        if self._scale is None:
            return []
        return [f"+{self._scale:.3g}", "0", f"-{self._scale:.3g}"]

    def paintEvent(self, event) -> None:  # noqa: ARG002
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        labels = self.labels()
        if labels:
            bar = QRect(4, 10, 16, max(self.height() - 20, 10))
            gradient = QLinearGradient(0, bar.top(), 0, bar.bottom())
            for stop, rgb in zip(STOPS[::-1], STOP_RGB[::-1]):
                gradient.setColorAt((1.0 - stop) / 2.0, QColor(*(int(c) for c in rgb)))
            painter.fillRect(bar, gradient)
            painter.setPen(QColor("#444444"))
            painter.drawRect(bar)
            metrics = painter.fontMetrics()
            for text, y in zip(labels, (bar.top(), bar.center().y(), bar.bottom())):
                painter.drawLine(bar.right(), y, bar.right() + 4, y)
                painter.drawText(bar.right() + 7, y + metrics.ascent() // 2 - 1, text)
        painter.end()


class ExplainView(QWidget):
    """Method, class and layer choosers; the input and its attribution map; the reading."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method_combo = QComboBox()
        for method in METHODS.values():
            self.method_combo.addItem(method.title, method.key)
        self.method_combo.setToolTip("How the map is computed")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class to explain: the network's answer, or another one (why not a 3?)")
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip(LAYER_NOTE)
        self.layer_label = QLabel("Layer:")
        for combo in (self.method_combo, self.class_combo, self.layer_combo):
            combo.currentIndexChanged.connect(self._on_setting_changed)

        self.input_image = RgbImage()
        self.map_image = RgbImage()
        self.colour_bar = ColourBar()
        self.input_caption = QLabel()
        self.map_caption = QLabel()
        for caption in (self.input_caption, self.map_caption):
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            # A long caption must not take its column's width from the other image: both
            # images get the same size, so pixels can be compared across them.
            caption.setWordWrap(True)
            caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.reading = QLabel()
        self.reading.setWordWrap(True)
        self.layer_note = QLabel(LAYER_NOTE)
        self.layer_note.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.weights_label = QLabel()
        make_small(self.weights_label, self.layer_note, self.status, grey=(self.weights_label, self.layer_note))

        # The choices wrap onto more lines rather than widen the window (a 1280-pixel laptop).
        top = FlowLayout()
        for label, combo in ((QLabel("Method:"), self.method_combo), (QLabel("Explain class:"), self.class_combo),
                             (self.layer_label, self.layer_combo)):
            # As wide as their longest item, which is kept short (a long class name is cut, whole
            # in its tooltip): the flow layout wraps them, and no choice reads "its answer (top clas".
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            top.addWidget(labelled(label, combo))
        images = QGridLayout()
        images.addWidget(self.input_caption, 0, 0)
        images.addWidget(self.map_caption, 0, 1)
        images.addWidget(self.input_image, 1, 0)
        images.addWidget(self.map_image, 1, 1)
        images.addWidget(self.colour_bar, 1, 2)
        images.setColumnStretch(0, 1)
        images.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addLayout(images, 1)
        layout.addWidget(self.reading)
        layout.addWidget(self.layer_note)
        layout.addWidget(self.status)
        layout.addWidget(self.weights_label)

        self._predictor: Predictor | None = None
        self._input_shape = CANVAS_INPUT
        self._fast: Explainer | None = None  # GUI thread
        self._slow: Explainer | None = None  # worker thread, its own copy: the two never wait for each other
        self._image: np.ndarray | None = None
        self._label = ""
        self.result: Attribution | None = None
        self._live = LiveRefresh(self, self._run, STROKE_THROTTLE_MS)  # a result for an older request is dropped
        self._runner = JobRunner(self, give_back_memory=True)
        self._update_layer_row()
        self._clear(NO_MODEL_TEXT)

    # -- inputs ----------------------------------------------------------------------------
    def set_predictor(self, predictor: Predictor | None, input_shape: tuple[int, ...] = CANVAS_INPUT) -> None:
        """New weights (or none) for ``input_shape`` images. The layer and class choices are kept
        where the new model has them; another input shape drops the shown image."""
        if tuple(input_shape) != self._input_shape:
            self._input_shape = tuple(input_shape)
            self._image, self._label = None, ""
        self._predictor = predictor
        self._fast = self._slow = None  # made again on first use: one copy per snapshot
        self._runner.cancel()
        keep_layer, keep_class = self.layer_combo.currentData(), self.class_combo.currentData()
        layers = attribution.conv_layers(predictor.model) if predictor is not None else []
        classes = list(predictor.classes or ()) if predictor is not None else []
        for combo in (self.layer_combo, self.class_combo):
            combo.blockSignals(True)
            combo.clear()
        for i, name in enumerate(layers):
            where, tip = ((" (last)", ": the last conv layer, coarse but class-specific") if i == len(layers) - 1 else
                          (" (first)", ": the first conv layer, fine detail") if i == 0 else ("", ""))
            self.layer_combo.addItem(middle_elide(name, ITEM_CHARS) + where, name)
            self.layer_combo.setItemData(i, name + tip, Qt.ItemDataRole.ToolTipRole)
        if layers:
            self.layer_combo.setCurrentIndex(layers.index(keep_layer) if keep_layer in layers else len(layers) - 1)
        self.class_combo.addItem(ANSWER_TEXT, None)
        self.class_combo.setItemData(0, "the class the network gives this image, whichever it is",
                                     Qt.ItemDataRole.ToolTipRole)
        for i, name in enumerate(classes):
            self.class_combo.addItem(middle_elide(name, ITEM_CHARS), i)
            self.class_combo.setItemData(i + 1, name, Qt.ItemDataRole.ToolTipRole)
        if keep_class is not None and 0 <= keep_class < len(classes):
            self.class_combo.setCurrentIndex(keep_class + 1)
        for combo in (self.layer_combo, self.class_combo):
            combo.blockSignals(False)
        self._update_layer_row()
        self._live.invalidate()

    @Slot(object, str)
    def set_image(self, image: np.ndarray | None, label_text: str = "") -> None:
        """The image to explain, in [0, 1] as the network reads it ((H, W) or (C, H, W)), and
        what it is ("the drawing on the canvas", "test image #12 ..."); None clears.

        Another image (another test image, or a drawing after the canvas was cleared) is
        explained for its own answer again: a class picked for the previous image is not
        carried over. A drawing that grows stroke by stroke keeps the class picked for it."""
        another = image is None or self._image is None or label_text != self._label
        if another and self.class_combo.currentIndex() > 0:
            self.class_combo.blockSignals(True)
            self.class_combo.setCurrentIndex(0)
            self.class_combo.blockSignals(False)
        self._image = None if image is None else np.array(image, dtype=np.float32, copy=True)
        self._label = label_text
        self._live.invalidate()

    def set_weights_label(self, text: str) -> None:
        """Which weights the maps come from (e.g. "pretrained", "trained now: epoch 2")."""
        self.weights_label.setText(f"Weights: {text}" if text else "")

    def select_method(self, key: str) -> None:
        self.method_combo.setCurrentIndex(self.method_combo.findData(key))

    def select_class(self, index: int | None) -> None:
        self.class_combo.setCurrentIndex(0 if index is None else self.class_combo.findData(index))

    def select_layer(self, name: str) -> bool:
        i = self.layer_combo.findData(name)
        if i >= 0:
            self.layer_combo.setCurrentIndex(i)
        return i >= 0

    def method(self) -> str:
        return str(self.method_combo.currentData())

    def is_busy(self) -> bool:
        """Whether a map is still to come (timer pending or worker running)."""
        return self._live.pending() or self._runner.busy()

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop the worker (window closing); True when its thread has ended."""
        self._live.cancel()
        return self._runner.shutdown(timeout)

    # -- computing -------------------------------------------------------------------------
    @Slot(int)
    def _on_setting_changed(self, _index: int) -> None:
        self._update_layer_row()
        self._live.invalidate()

    def _update_layer_row(self) -> None:
        gradcam = self.method_combo.currentData() == "gradcam"
        for w in (self.layer_label, self.layer_combo, self.layer_note):
            w.setVisible(gradcam)

    def refresh(self) -> None:
        """Compute now, on this thread, whatever the method (tests; the window never needs it)."""
        self._live.cancel()
        self._run(force_here=True)

    @Slot()
    def _run(self, force_here: bool = False) -> None:
        request = self._live.start()
        if self._predictor is None:
            self._live.shown(request)
            self._clear(NO_MODEL_TEXT)
            return
        if self._image is None:
            self._live.shown(request)
            self._clear(NO_IMAGE_TEXT)
            return
        if not attribution.captum_available():
            self._live.shown(request)
            self._clear(attribution.MISSING_CAPTUM_TEXT)
            return
        method = self.method()
        args = (self._image, method, self.class_combo.currentData(),
                self.layer_combo.currentData() if method == "gradcam" else None)
        # Until Captum is imported (~0.3 s, once) even a fast method goes to the worker.
        if force_here or (method in FAST_METHODS and "captum.attr" in sys.modules):
            try:
                if self._fast is None:
                    self._fast = Explainer(self._predictor, self._input_shape)
                result = self._fast.explain(*args)
            except Exception as exc:  # keep the window alive whatever a user's model does
                self._on_error(request, exc)
                return
            self._show(request, result)
            return
        if self._runner.busy():
            self._live.defer()  # one worker at a time; the newest state runs when it is done
            return
        if self._slow is None:
            try:
                self._slow = Explainer(self._predictor, self._input_shape)
            except Exception as exc:
                self._on_error(request, exc)
                return
        self.status.setText(f"Computing {METHODS[method].title}…")
        if not self.map_image.has_image():
            self.map_image.set_message(f"Computing {METHODS[method].title}…")
        slow = self._slow
        self._runner.submit(slow.explain, *args, key="attribution",
                            on_done=lambda result, r=request: self._on_worker_done(r, result),
                            on_error=lambda exc, r=request: self._on_worker_error(r, exc))

    def _on_worker_done(self, request: int, result: Attribution) -> None:
        self._show(request, result)
        self._live.worker_done()

    def _on_worker_error(self, request: int, exc: BaseException) -> None:
        self._on_error(request, exc)
        self._live.worker_done()

    # -- showing ---------------------------------------------------------------------------
    def _on_error(self, request: int, exc: BaseException) -> None:
        if not self._live.is_current(request):
            return
        self._live.shown(request)
        self._clear(one_line(f"No map: {exc}" if isinstance(exc, (ValueError, RuntimeError))
                             else f"No map: {describe_line(exc)}"))

    def _show(self, request: int, result: Attribution) -> None:
        if not self._live.is_current(request) or self._image is None:
            return  # the image or a setting changed since: a newer map is on its way
        self._live.shown(request)
        self.result = result
        scale = result.scale
        self.input_image.set_rgb(image_rgb(self._image))
        ink = self._predictor.preparation.ink if self._predictor is not None else "light"
        self.map_image.set_rgb(overlay_rgb(result.map, scale, self._image, ink))
        self.colour_bar.set_scale(scale)
        p = result.probabilities
        what = self._label or "the image"
        self.input_caption.setText(f"{what}: read as <b>{result.predicted_name}</b> ({p[result.predicted]:.1%})")
        method = METHODS[result.method].title
        if result.target == result.predicted:
            self.map_caption.setText(f"{method}: why <b>{result.target_name}</b>?")
        else:
            self.map_caption.setText(f"{method}: why not <b>{result.target_name}</b>? "
                                     f"(it gets {p[result.target]:.1%})")
        self.reading.setText(result.reading)
        self.status.setText(f"Scale ±{scale:.3g} (score units), {result.seconds * 1000:.0f} ms."
                            if scale > 0 else "The map is zero everywhere: nothing in this image moves the score.")

    def _clear(self, message: str) -> None:
        self.result = None
        self.input_image.set_rgb(None)
        self.map_image.set_rgb(None)
        self.map_image.set_message(message)
        self.input_image.set_message("")
        self.colour_bar.set_scale(None)
        self.input_caption.setText("")
        self.map_caption.setText("")
        self.reading.setText("")
        self.status.setText("")

    @property
    def message(self) -> str:
        """What the map area says when there is no map."""
        return self.map_image.message() if not self.map_image.has_image() else ""
