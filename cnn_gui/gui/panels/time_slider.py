"""The time slider under the training curves: Play, the slider over a run's snapshots, the
label saying which snapshot answers, and Live.

It only shows and asks: :class:`~cnn_gui.gui.flows.time_flow.TimeFlow` gives it the run's
snapshots (``set_moments``) and answers ``momentChosen(index)`` and ``liveRequested()``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QSizePolicy, QSlider, QStyle, QToolButton, QWidget

from cnn_gui.gui.widgets.elided_text import ElidedLabel

PLAY_MS = 600  # between two snapshots when playing: time to see each one
LIVE_TEXT = "Live: the current weights"
NO_RUN_TEXT = "No snapshots: these weights come from no run folder"


class TimeSlider(QWidget):
    momentChosen = Signal(int)  # the index of the snapshot to show
    liveRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.play_button = QToolButton()
        self.play_button.setText("Play")
        self.play_button.setToolTip("Go through the run's snapshots (its weights at steps 0, 1, 2, 4 ... and each "
                                    "epoch's end) from the first one")
        # The style's icons, not the ▶/⏸ characters: a minimal Linux's fonts have no ⏸ (a box was drawn).
        self.play_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setPageStep(1)
        self.slider.setMinimumWidth(50)
        self.slider.setToolTip("Go back through training: every view shows the weights the run had then")
        self.label = ElidedLabel(NO_RUN_TEXT, min_chars=6)  # a narrow centre elides it, never widens the window
        self.live_button = QToolButton()
        self.live_button.setText("Live")
        self.live_button.setToolTip("Back to the current weights")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.play_button)
        layout.addWidget(self.slider, 3)
        layout.addWidget(self.label, 2)
        layout.addWidget(self.live_button)
        self._labels: list[str] = []
        self._live = True
        self._timer = QTimer(self)
        self._timer.setInterval(PLAY_MS)
        self._timer.timeout.connect(self._next)
        self.slider.valueChanged.connect(self._on_value)
        self.play_button.clicked.connect(self.toggle_play)
        self.live_button.clicked.connect(self.go_live)
        self._update()

    # -- what the flow tells it -------------------------------------------------------
    def set_moments(self, labels: list[str]) -> None:
        """The snapshots' labels, by step ("step 200 of 1,800, epoch 1"); the position stays
        where it was (live stays live: a run still training adds to the end)."""
        self._labels = list(labels)
        at = self.slider.value()
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(len(labels) - 1, 0))
        self.slider.setValue(len(labels) - 1 if self._live else min(at, max(len(labels) - 1, 0)))
        self.slider.blockSignals(False)
        if not labels:
            self._timer.stop()
        self._update()

    def show_live(self) -> None:
        """Live again (the views show the current weights), without asking for it."""
        self._timer.stop()
        self._live = True
        self.slider.blockSignals(True)
        self.slider.setValue(self.slider.maximum())
        self.slider.blockSignals(False)
        self._update()

    @property
    def live(self) -> bool:
        return self._live

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def count(self) -> int:
        return len(self._labels)

    # -- what the user does -----------------------------------------------------------
    def choose(self, index: int) -> None:
        """Show snapshot ``index`` (as a move of the slider does)."""
        if not self._labels:
            return
        index = min(max(int(index), 0), len(self._labels) - 1)
        if index == self.slider.value():
            self._on_value(index)
        else:
            self.slider.setValue(index)

    @Slot(int)
    def _on_value(self, index: int) -> None:
        if not self._labels:
            return
        self._live = False
        self._update()
        self.momentChosen.emit(index)

    @Slot()
    def toggle_play(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
        elif self._labels:
            if self._live or self.slider.value() >= self.slider.maximum():
                self.choose(0)  # from the start
            self._timer.start()
        self._update()

    @Slot()
    def _next(self) -> None:
        if self.slider.value() >= self.slider.maximum():
            self._timer.stop()
            self._update()
            return
        self.choose(self.slider.value() + 1)

    @Slot()
    def go_live(self) -> None:
        self.show_live()
        self.liveRequested.emit()

    def _update(self) -> None:
        has = bool(self._labels)
        self.slider.setEnabled(has)
        self.play_button.setEnabled(has)
        self.live_button.setEnabled(not self._live)
        playing = self._timer.isActive()
        self.play_button.setText("Pause" if playing else "Play")
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(icon))
        if not has:
            self.label.setText(NO_RUN_TEXT)
        elif self._live:
            self.label.setText(f"{LIVE_TEXT} ({len(self._labels)} snapshots to go back to)")
        else:
            self.label.setText(self._labels[self.slider.value()])
