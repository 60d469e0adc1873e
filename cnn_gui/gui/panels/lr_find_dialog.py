"""The learning-rate finder's dialog: the loss against the rate as the test runs, the
suggested rate marked, and one click to use it (:mod:`cnn_gui.gui.flows.lr_find_flow`)."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from cnn_gui.core.training.lr_finder import LrFinding

LOSS_COLOUR = "#1f77b4"
RAW_COLOUR = "#b8cde0"
SUGGESTION_COLOUR = "#d62728"
INTRO = ("Trains a <b>copy</b> of the network for up to {steps} batches while the learning rate grows from "
         "{start:g} to {end:g}, and stops once the loss diverges; the weights stay as they are. The "
         "suggestion is a point two thirds down the longest fall of the smoothed loss (fastai's "
         "<i>valley</i> rule): a rate at which the network still learns fast, before it blows up.")


class LrFindDialog(QDialog):
    """Signals: ``rateChosen(float)`` (Use), ``cancelRequested()`` (Cancel while it runs)."""

    rateChosen = Signal(float)
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find a learning rate")
        self.setObjectName("lrFindDialog")
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.plot = pg.PlotWidget(background="w")
        item = self.plot.getPlotItem()
        item.setLogMode(x=True, y=False)
        item.setLabel("bottom", "learning rate (log scale)")
        item.setLabel("left", "training loss")
        item.showGrid(x=True, y=True, alpha=0.2)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.getAxis("bottom").enableAutoSIPrefix(False)  # rates read as 1e-05, not "x1e-06" units
        item.addLegend(offset=(10, -10))  # bottom left: the blow-up is top right
        self.raw_curve = item.plot(pen=pg.mkPen(RAW_COLOUR, width=1), name="each batch")
        self.loss_curve = item.plot(pen=pg.mkPen(LOSS_COLOUR, width=2), name="smoothed")
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen(SUGGESTION_COLOUR, width=2, style=Qt.PenStyle.DashLine))
        self.marker.setVisible(False)
        item.addItem(self.marker)
        self.plot.setMinimumSize(460, 260)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.use_button = QPushButton("Use")
        self.use_button.setDefault(True)
        self.use_button.clicked.connect(self._use)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.suggestion: float | None = None
        self._running = False
        self._rates: list[float] = []
        self._losses: list[float] = []
        self.resize(620, 460)

    # -- the test's life -----------------------------------------------------------------------
    def begin(self, steps: int, start: float, end: float, what: str) -> None:
        self.intro.setText(INTRO.format(steps=steps, start=start, end=end))
        self._rates, self._losses, self.suggestion = [], [], None
        self.raw_curve.setData([], [])
        self.loss_curve.setData([], [])
        self.marker.setVisible(False)
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        self.status.setText(f"Loading the data and trying rates: {what}…")
        self._set_running(True)

    def add_point(self, done: int, rate: float, loss: float) -> None:
        """One batch's smoothed loss, live."""
        if not self._running:
            return
        self._rates.append(rate)
        self._losses.append(loss)
        self.loss_curve.setData(self._rates, self._losses)
        self.progress.setValue(done)
        self.status.setText(f"batch {done}: rate {rate:.2e}, smoothed loss {loss:.3f}")

    def show_finding(self, found: LrFinding, lowest_settable: float) -> None:
        self._set_running(False)
        finite = np.isfinite(found.losses)
        self.loss_curve.setData(found.rates[finite], found.losses[finite])
        raw = np.isfinite(found.raw)
        self.raw_curve.setData(found.rates[raw], found.raw[raw])
        self._fit_y(found)
        self.progress.setValue(self.progress.maximum())
        self.suggestion = found.suggestion
        text = found.summary()
        if found.suggestion is not None:
            self.marker.setPos(math.log10(found.suggestion))  # the axis is log10 of the rate
            self.marker.setVisible(True)
            shown = max(found.suggestion, lowest_settable)
            self.use_button.setText(f"Use {shown:.2g}")
            if shown != found.suggestion:
                text += f"; the LR box goes down to {lowest_settable:g}, which Use sets"
        self.use_button.setEnabled(found.suggestion is not None)
        self.status.setText(text[0].upper() + text[1:])

    def show_failure(self, line: str) -> None:
        self._set_running(False)
        self.use_button.setEnabled(False)
        self.status.setText(line)

    def _fit_y(self, found: LrFinding) -> None:
        """Room for the fall (each batch's too), not for the blow-up at the end (which can be
        100x the start)."""
        losses = found.losses[np.isfinite(found.losses)]
        raw = found.raw[np.isfinite(found.raw)]
        if len(losses):
            low = min(float(losses.min()), float(raw.min()) if len(raw) else math.inf)
            top = min(float(losses.max()), 1.5 * float(losses[0]))
            self.plot.getPlotItem().setYRange(low * 0.9, max(top, low * 1.1))

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.use_button.setEnabled(False)
        self.use_button.setText("Use")
        self.cancel_button.setText("Cancel" if running else "Close")

    @property
    def running(self) -> bool:
        return self._running

    def _use(self) -> None:
        if self.suggestion is not None:
            self.rateChosen.emit(self.suggestion)
            self.accept()

    def _cancel_or_close(self) -> None:
        if self._running:
            self.cancelRequested.emit()
        else:
            self.reject()

    def reject(self) -> None:  # Escape or the title bar's close: a running test is cancelled
        if self._running:
            self.cancelRequested.emit()
        super().reject()
