"""The watch list in the window: pinning, keeping the pins with the settings, reading them.

:class:`WatchFlow` keeps the pinned images (:mod:`cnn_gui.core.analysis.watch`; at most 16,
in the settings as :mod:`cnn_gui.core.files.watch_file` writes them) and their readings for
the run the time slider follows (:class:`~cnn_gui.gui.flows.time_flow.TimeFlow`):

- each snapshot of that run is read on a job thread by a predictor built from it, as soon
  as the snapshot exists (a run training now) or the run is followed (a past run's weights);
- while a run trains, the training thread reads the pins with its progress reports
  (``TrainingController.watchRead``, at most twice a second).

A drawing is pinned as the canvas prepared it, with the class the network reads in it now
as the class it should be; a test image (the last one clicked in the Test set or Embedding
tab) with its true class.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from cnn_gui.core.errors import CnnGuiError
from cnn_gui.core.analysis.watch import MAX_PINNED, WatchHistory, as_pinned, read_pinned
from cnn_gui.core.files.watch_file import pins_from_text, pins_to_text, quantized
from cnn_gui.core.runs.timeline import snapshot_predictor
from cnn_gui.gui import settings as settings_mod
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.widgets.live_refresh import LiveRefresh

READ_JOB = "watch-snapshots"
NOW_JOB = "watch-now"


def _read_snapshots(snapshots, like, pins, cancel) -> list:
    """The job: (snapshot, probabilities or None) of ``pins`` at each of ``snapshots``; None:
    no pin could be read there (another image size, NaN weights), tried all the same.
    ``like`` is a spare copy, which no viewer hooks while this copies it."""
    out = []
    for snap in snapshots:
        if cancel.is_set():
            break
        try:
            out.append((snap, read_pinned(snapshot_predictor(snap, like), pins)))
        except CnnGuiError:  # a snapshot deleted meanwhile, or not this network's
            out.append((snap, None))
    return out


class WatchFlow(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.view = window.watch_view
        self.jobs = JobRunner(self)
        settings = settings_mod.open_settings()
        self.pins, unreadable = pins_from_text(settings_mod.read_str(settings, settings_mod.KEY_WATCH))
        if unreadable:
            window.statusBar().showMessage(f"Watch list: {unreadable} pinned image(s) could not be read back", 10000)
        self.history = WatchHistory()
        self.tried: set = set()  # snapshot files read for this history (read or unreadable): never again
        self.run_pins: list | None = None  # the pins the run training now reads live
        self.folder = None  # the run the readings are of
        self.snapshots: tuple = ()
        self.x_max = 1
        self.moment: int | None = None
        self.now = None  # the shown weights' readings (pins, classes)
        self.canvas_image = None
        self.test_choice = None  # (image, name, true class)
        self._now_of = None  # the predictor the views show, read by the tiles while the tab is in front
        self._now_live = LiveRefresh(self.view, self._read_now)
        # The tiles are drawn while the tab is in front, and once when it comes back: not at
        # every live reading of a run watched from the Curves tab.
        self._drawn = LiveRefresh(self.view, self._draw)
        v = self.view
        v.pinDrawingRequested.connect(self.pin_drawing)
        v.pinTestRequested.connect(self.pin_test_image)
        v.removeRequested.connect(self.remove)
        v.clearRequested.connect(lambda: self._set_pins([]))
        window.canvas_panel.controller.inputRead.connect(self._on_canvas)
        window.analysis.testImageChosen.connect(self._on_test_image)  # the Test set's or the Embedding's
        window.time.timelineChanged.connect(self._on_timeline)
        window.time.momentShown.connect(self._on_moment)
        window.controller.started.connect(self._on_started)
        window.controller.watchRead.connect(self._on_live)
        v.set_pins(self.pins)

    # -- pinning ------------------------------------------------------------------------
    @Slot(object)
    def _on_canvas(self, image) -> None:
        self.canvas_image = image

    @Slot(object, str, str)
    def _on_test_image(self, image, name: str, target: str) -> None:
        self.test_choice = (image, name, target)
        self.view.set_test_choice(name)

    def _room(self) -> bool:
        if len(self.pins) < MAX_PINNED:
            return True
        self.w.statusBar().showMessage(f"The watch list holds {MAX_PINNED} images: remove one first", 6000)
        return False

    @Slot()
    def pin_drawing(self) -> bool:
        predictor = self.w.predictor
        if self.canvas_image is None or predictor is None:
            self.w.statusBar().showMessage("Draw a digit on the canvas first, then pin it", 6000)
            return False
        if not self._room():
            return False
        try:
            probs = predictor.predict(self.canvas_image)
        except CnnGuiError as exc:  # weights that give NaN: nothing to say what the drawing should be
            self.w.statusBar().showMessage(f"Cannot pin the drawing: {exc}", 8000)
            return False
        target = predictor.classes[int(probs.argmax())]
        count = sum(p.name.startswith("drawing") for p in self.pins) + 1
        return self._add(as_pinned(self.canvas_image, target, f"drawing {count}"))

    @Slot()
    def pin_test_image(self) -> bool:
        if self.test_choice is None or not self._room():
            return False
        image, name, target = self.test_choice
        return self._add(as_pinned(image, target, name))

    def _add(self, pin) -> bool:
        self._set_pins(self.pins + [quantized(pin)])
        self.w.tabs.setCurrentWidget(self.view)
        return True

    @Slot(int)
    def remove(self, index: int) -> None:
        if 0 <= index < len(self.pins):
            self._set_pins(self.pins[:index] + self.pins[index + 1:])

    def _set_pins(self, pins) -> None:
        self.pins = list(pins)[:MAX_PINNED]
        settings_mod.open_settings().setValue(settings_mod.KEY_WATCH, pins_to_text(self.pins))
        self.view.set_pins(self.pins)
        self._restart()  # other rows: the readings start again (a run's live ones from its next report)

    # -- reading ------------------------------------------------------------------------
    def _restart(self) -> None:
        self._new_history()
        self.now = None
        self._read_new_snapshots()
        self.weights_shown(self._now_of)

    def _new_history(self) -> None:
        self.history = WatchHistory()
        self.tried = set()
        self.jobs.cancel(READ_JOB)

    def pins_for_run(self) -> list:
        """The pins a run starting now reads live (Train's); pins changed during the run are read
        at its snapshots, and live from the next run on."""
        self.run_pins = self.pins
        return list(self.pins)

    @Slot(object)
    def _on_started(self, _ev) -> None:
        self._new_history()

    @Slot(object)
    def _on_timeline(self, timeline) -> None:
        folder = timeline.folder if timeline is not None else None
        if folder != self.folder:
            self.folder = folder
            if self.w.controller.is_running():  # the run's live readings stay; another run's snapshots don't
                self.jobs.cancel(READ_JOB)
                self.tried = set()
            else:
                self._new_history()
        self.snapshots = timeline.snapshots if timeline is not None else ()
        self.x_max = timeline.last_step if timeline is not None else 1
        self._read_new_snapshots()
        self._drawn.invalidate()

    def _read_new_snapshots(self) -> None:
        like = self.w.time.live_predictor or self.w.predictor
        todo = [s for s in self.snapshots if s.path not in self.tried]
        if not self.pins or not todo or like is None or self.jobs.pending(READ_JOB):
            return
        pins, folder = list(self.pins), self.folder
        self.jobs.submit(_read_snapshots, todo, like.spare(), pins, key=READ_JOB,
                         on_done=lambda readings: self._on_snapshot_readings(readings, pins, folder),
                         on_error=lambda exc: self.w.statusBar().showMessage(f"Watch list: {exc}", 8000))

    def _on_snapshot_readings(self, readings, pins, folder) -> None:
        if pins != self.pins or folder != self.folder:
            return
        for snap, probs in readings:
            self.tried.add(snap.path)
            if probs is not None:
                self.history.record(snap.step, probs, snapshot=True)
        self._drawn.invalidate()
        self._read_new_snapshots()  # those that arrived meanwhile (each file is tried once)

    @Slot(int, object)
    def _on_live(self, step: int, probs) -> None:
        if self.run_pins is self.pins and len(probs) == len(self.pins):
            self.history.record(step, probs, snapshot=False)
            self.x_max = max(self.x_max, step)
            self._drawn.invalidate()

    @Slot(object)
    def _on_moment(self, snap) -> None:
        self.moment = snap.step if snap is not None else None
        self.view.set_moment(self.moment)

    def weights_shown(self, predictor) -> None:
        """The canvas and the views show ``predictor`` now: each tile says what it reads (a job,
        run once the Watch tab is in front)."""
        self.now = None
        self._now_of = predictor
        self._now_live.invalidate()

    def _read_now(self) -> None:
        request = self._now_live.start()
        predictor, pins = self._now_of, list(self.pins)
        if not pins or predictor is None:
            self._now_live.shown(request)
            self._drawn.invalidate()
            return
        self.jobs.submit(read_pinned, predictor.spare(), pins, key=NOW_JOB,
                         on_done=lambda probs: self._on_now(probs, pins, request), on_error=lambda exc: None)

    def _on_now(self, probs, pins, request: int) -> None:
        if pins == self.pins and self._now_live.is_current(request):
            self._now_live.shown(request)
            self.now = probs
            self._drawn.invalidate()

    def _draw(self) -> None:
        self._drawn.refreshed()
        classes = tuple(self.w.predictor.classes or ()) if self.w.predictor is not None else ()
        for i, tile in enumerate(self.view.tiles):
            steps, probs = self.history.series(i)
            target = classes.index(tile.pin.target) if tile.pin.target in classes else None
            forgotten = self.history.last_forgotten(i, target) if target is not None else None
            now = self.now[i] if self.now is not None and i < len(self.now) else None
            tile.set_readings(steps, probs, classes, target, forgotten, self.x_max, now)

    def shutdown(self, timeout: float) -> bool:
        return self.jobs.shutdown(timeout)
