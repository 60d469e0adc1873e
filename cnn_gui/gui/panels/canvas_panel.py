"""The right-hand panel: which weights answer, the drawing canvas, its tools, the network's reading.

:class:`CanvasPanel` is layout only. The window tells it which weights answer
(:meth:`set_weights_text`), hands it a frozen predictor (:meth:`set_predictor`) or says
why there is none, and whether a run is training (:meth:`set_training`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from cnn_gui.core.analysis.predictor import Predictor

from cnn_gui.gui.panels.canvas import DrawingCanvas
from cnn_gui.gui.panels.prediction_view import CanvasPredictor, PredictionView

CANVAS_SHAPE = (1, 28, 28)


class CanvasPanel(QWidget):
    """Weights label, canvas, pen and Clear, the 28x28 input and the class probabilities."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.weights_label = QLabel("Weights: untrained")
        self.weights_label.setWordWrap(True)
        self.weights_label.setToolTip("Which weights the canvas reads your drawing with")
        font = self.weights_label.font()
        font.setBold(True)
        self.weights_label.setFont(font)
        self.weights_hint = QLabel("Training: the canvas switches to the new weights at each epoch's end")
        self.weights_hint.setWordWrap(True)
        self.weights_hint.setStyleSheet("color: #666;")
        self.weights_hint.setVisible(False)
        self.canvas = DrawingCanvas()
        self.canvas.setToolTip("Draw a digit with the mouse (or a pen); the network reads it when you lift it")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #a04000;")
        self.note.setVisible(False)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the drawing (Esc)")
        self.clear_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.pen_slider = QSlider(Qt.Orientation.Horizontal)
        self.pen_slider.setRange(6, 40)
        self.pen_slider.setValue(int(round(self.canvas.penWidth())))
        self.pen_slider.setToolTip("Pen width")
        self.pen_slider.setMinimumWidth(80)
        tools = QHBoxLayout()
        tools.addWidget(self.clear_button)
        tools.addSpacing(12)
        tools.addWidget(QLabel("Pen:"))
        tools.addWidget(self.pen_slider, 1)
        self.prediction_view = PredictionView()
        self.controller = CanvasPredictor(self.canvas, self.prediction_view)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.weights_label)
        layout.addWidget(self.weights_hint)
        layout.addWidget(self.canvas, 3)
        layout.addLayout(tools)
        layout.addWidget(self.note)
        layout.addWidget(self.prediction_view, 2)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.pen_slider.valueChanged.connect(lambda v: self.canvas.setPenWidth(float(v)))

    @property
    def predictor(self) -> Predictor | None:
        return self.controller.predictor

    def set_weights_text(self, text: str) -> None:
        self.weights_label.setText(text)

    def set_training(self, training: bool) -> None:
        self.weights_hint.setVisible(training and self.canvas.isEnabled())

    def set_predictor(self, predictor: Predictor | None, why_not: str = "") -> None:
        """The frozen weights the canvas reads with; ``why_not``: the canvas cannot serve this model."""
        if why_not:
            self.note.setText(why_not)
            self.note.setVisible(True)
            self.canvas.clear()
            self.canvas.setEnabled(False)
            self.controller.set_predictor(None)
            self.prediction_view.show_input_only(None, "The canvas needs a 1x28x28 model")
            return
        self.note.setVisible(False)
        self.canvas.setEnabled(True)
        self.controller.set_predictor(predictor)


def canvas_refusal(spec) -> str:
    """Why the canvas cannot read drawings for ``spec``'s model, or "" when it can.

    The canvas draws one grey 28x28 digit; any number of classes is fine (their names
    label the bars).
    """
    if tuple(spec.input_shape) == CANVAS_SHAPE:
        return ""
    shape = "x".join(map(str, spec.input_shape))
    return (f"The canvas needs a 1x28x28 model; {spec.title} takes {shape} images, "
            "so it cannot read drawings. Its Feature maps and Test set tabs still work.")
