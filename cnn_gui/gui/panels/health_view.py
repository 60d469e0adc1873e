"""The Health tab: how each layer is doing as the network trains, in one compact view.

A strip per quantity (layers down, the health watch's looks across, colour on a log scale:
update ratio, gradient norm, weight norm; the share of dead ReLU channels on a linear
one), and above them the alerts in plain words with the step that raised them. Fed by
the run's :class:`~cnn_gui.core.events.HealthChecked` events
(:mod:`cnn_gui.core.training.health`); built on first show, so the window starts as fast.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

from cnn_gui.core.events import HealthChecked

# (title, key, its values in an event, log scale); the dead-ReLU strip has the ReLUs' rows,
# the others the layers'
STRIPS = (
    ("update/weight (log10, healthy ~-3)", "update_ratio", lambda ev: ev.update_ratio, True),
    ("gradient norm (log10)", "grad_norm", lambda ev: ev.grad_norm, True),
    ("weight norm (log10)", "weight_norm", lambda ev: ev.weight_norm, True),
    ("dead ReLUs (share)", "dead_share", lambda ev: ev.dead_share, False),
)
VALUES = {key: values for _title, key, values, _log in STRIPS}
IDLE_TEXT = ("No run yet. Train, and every layer's update ratio, gradient and weight norms and dead "
             "ReLUs show here as it trains, with an alert in plain words when something goes wrong.")
QUIET_TEXT = "No alerts so far: every layer learns at a healthy pace."


class HealthView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.alerts_label = QLabel(IDLE_TEXT)
        self.alerts_label.setWordWrap(True)
        self.alerts_label.setObjectName("healthAlerts")
        self.frozen_label = QLabel()
        self.frozen_label.setWordWrap(True)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 8, 8, 8)
        alerts = QScrollArea()  # many alerts scroll; the strips keep their room
        alerts.setWidget(self.alerts_label)
        alerts.setWidgetResizable(True)
        alerts.setMaximumHeight(110)
        alerts.setFrameShape(QScrollArea.Shape.NoFrame)
        self._layout.addWidget(alerts)
        self._layout.addWidget(self.frozen_label)
        self.graphics: pg.GraphicsLayoutWidget | None = None  # built on first show
        self.images: list[pg.ImageItem] = []
        self.plots: list[pg.PlotItem] = []
        self.looks: list[HealthChecked] = []
        self.alerts: list[tuple[int, str]] = []

    # -- data in -----------------------------------------------------------------------------
    def clear(self) -> None:
        self.looks, self.alerts = [], []
        self.alerts_label.setText(IDLE_TEXT)
        self.frozen_label.setText("")
        self._draw()

    def add(self, ev: HealthChecked) -> None:
        if self.looks and (ev.layers != self.looks[-1].layers or ev.step <= self.looks[-1].step):
            self.looks = []  # another network, or a new run without a clear: start over
        self.looks.append(ev)
        self.alerts.extend((ev.step, a) for a in ev.alerts)
        if self.alerts:
            self.alerts_label.setText("<br>".join(f"<b>step {s:,}</b>: {html.escape(a)}" for s, a in self.alerts))
        else:
            self.alerts_label.setText(QUIET_TEXT)
        frozen = [name for name, f in zip(ev.layers, ev.frozen) if f]
        self.frozen_label.setText(f"Frozen (not trained, never alarming): {', '.join(frozen)}" if frozen else "")
        if self.isVisible():
            self._draw()

    def matrix(self, field: str) -> np.ndarray:
        """The strip of ``field``: rows the layers (or ReLUs), columns the looks; NaN where a
        value is missing or not positive on a log strip."""
        if not self.looks:
            return np.zeros((0, 0))
        rows = [list(VALUES[field](ev)) for ev in self.looks]
        width = max(len(r) for r in rows)
        values = np.full((width, len(rows)), np.nan)
        for j, r in enumerate(rows):
            values[:len(r), j] = r
        return values

    # -- drawing -------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.graphics is None:
            self._build()
        self._draw()

    def _build(self) -> None:
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        font = QFont()
        font.setPointSize(7)  # a row per layer: eleven of them in ~130 px
        for i, (title, _key, _values, _log) in enumerate(STRIPS):
            plot = self.graphics.addPlot(row=i // 2, col=i % 2)  # 2x2: each strip twice as tall
            for side in ("left", "bottom"):
                plot.getAxis(side).setStyle(tickFont=font)
            plot.setTitle(title, size="9pt", color="#333333", justify="left")
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.invertY(True)  # the first layer on top, as in the Network tree
            image = pg.ImageItem()
            image.setColorMap(pg.colormap.get("viridis"))
            plot.addItem(image)
            self.plots.append(plot)
            self.images.append(image)
        self._layout.addWidget(self.graphics, 1)

    def _draw(self) -> None:
        if self.graphics is None:
            return
        steps = [ev.step for ev in self.looks]
        for (title, field, _values, log), plot, image in zip(STRIPS, self.plots, self.images):
            values = self.matrix(field)
            if values.size == 0:
                image.clear()
                plot.setTitle(title, size="9pt", color="#333333", justify="left")
                continue
            if log:
                with np.errstate(divide="ignore", invalid="ignore"):
                    values = np.where(values > 0, np.log10(values), np.nan)
            finite = values[np.isfinite(values)]
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            if not log:
                low, high = 0.0, 1.0
            if high <= low:
                high = low + 1.0
            image.setImage(np.nan_to_num(values, nan=low).T, levels=(low, high))
            names = self.looks[-1].relus if field == "dead_share" else self.looks[-1].layers
            plot.getAxis("left").setTicks([[(i + 0.5, n) for i, n in enumerate(names)]])
            every = max(1, math.ceil(len(steps) / 5))
            plot.getAxis("bottom").setTicks([[(j + 0.5, f"{s:,}") for j, s in enumerate(steps) if j % every == 0]])
            # The range on a line of its own: on one line the two titles were wider than the tab
            # at 1366x768, and the right-hand strips ran past its edge.
            shown = f"{title}<br>{low:.2g} to {high:.2g}" if log else f"{title}<br>0 (dark) to 1"
            plot.setTitle(shown, size="9pt", color="#333333", justify="left")
