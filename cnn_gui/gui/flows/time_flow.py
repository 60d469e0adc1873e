"""Going back through training in the window: the time slider's flow.

:class:`TimeFlow` follows one run's timeline (:mod:`cnn_gui.core.runs.timeline`): the run
training now (its snapshots arrive as ``snapshotSaved``), else the run folder the current
weights were kept in (a finished run, a run's weights loaded from the Runs tab). Choosing a
snapshot loads it into a frozen predictor on a job thread (file I/O and the copy off the GUI
thread; a newer choice supersedes an older one) and shows it in every view at once, the
canvas and its label included ("Weights: snapshot, step 200 of 1,800, epoch 1"), with a marker on the
curves. Live shows the current weights again: while a run trains, the last epoch's (the
epochs that end meanwhile are kept for it, not shown over the snapshot).

Rule: new weights in the session (opened, trained, re-initialised) always go back to live.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from cnn_gui.core.runs.snapshots import Snapshot
from cnn_gui.core.runs.timeline import Timeline, snapshot_predictor, timeline_of


def _ready_predictor(snap: Snapshot, like, cancel):
    """The job: ``snap``'s predictor, and its spare copy (the Robustness tab's) made here, off the
    GUI thread. ``like`` is a spare copy: never hooked by a viewer while this reads it."""
    if cancel.is_set():  # superseded by a newer move before it started (a fast drag)
        return None
    predictor = snapshot_predictor(snap, like)
    if not cancel.is_set():
        predictor.spare()
    return predictor
from cnn_gui.gui import dialogs
from cnn_gui.gui.background.jobs import JobRunner

LOAD_JOB = "snapshot"
READ_AHEAD_JOB = "snapshot-near-"
READ_JOB = "timeline"


class TimeFlow(QObject):
    """Owns the timeline shown by ``window.time_slider``; see the module docstring."""

    timelineChanged = Signal(object)  # Timeline | None: the run followed, its snapshots so far
    momentShown = Signal(object)  # Snapshot | None (live): what the views show now

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.slider = window.time_slider
        self.timeline: Timeline | None = None
        self.shown: Snapshot | None = None
        self.live_predictor = None  # what Live shows again (taken when the slider left live)
        self._ready: dict[Path, object] = {}  # snapshot file -> its predictor: the shown one and its neighbours
        self.jobs = JobRunner(self)
        self.slider.momentChosen.connect(self.show_moment)
        self.slider.liveRequested.connect(self.go_live)
        c = window.controller
        c.snapshotSaved.connect(self._on_saved)
        c.started.connect(self._on_started)

    @property
    def live(self) -> bool:
        return self.shown is None and not self.jobs.pending(LOAD_JOB)

    # -- which run -------------------------------------------------------------------
    def follow_weights(self) -> None:
        """The session has new weights: live, and the timeline of the run they were kept in
        (read on a job; the run training now keeps its own)."""
        self._back_to_live()
        if self.w.controller.is_running():
            return
        self.jobs.submit(timeline_of, self.w.session.provenance.kept_in, key=READ_JOB,
                         on_done=self._set_timeline, on_error=lambda exc: self._set_timeline(None))

    def _set_timeline(self, timeline: Timeline | None) -> None:
        self.timeline = timeline if timeline is not None and len(timeline) else None
        if self.timeline is not None and not self.w.controller.is_running():  # a past run: its curve, its marks' axis
            self.w.plots.show_recorded_steps(list(self.timeline.steps), self.timeline.batches_per_epoch,
                                             self.timeline.last_step)
        self.slider.set_moments([self.timeline.label(i) for i in range(len(self.timeline))] if self.timeline else [])
        self.timelineChanged.emit(self.timeline)

    @Slot(object)
    def _on_saved(self, ev) -> None:
        """A snapshot of the run training now (the first comes before ``started``)."""
        snap = Snapshot(ev.step, ev.epoch, Path(ev.path))
        self._set_timeline(self._following(snap.path.parent.parent).with_snapshot(snap))

    @Slot(object)
    def _on_started(self, ev) -> None:
        writer = self.w.runs.writer
        folder = writer.folder if writer is not None else None
        if folder is None:
            return
        base = self._following(folder)
        self._set_timeline(Timeline(folder, base.snapshots, ev.epochs * ev.batches_per_epoch, ev.batches_per_epoch))

    def _following(self, folder: Path) -> Timeline:
        """The timeline of the run in ``folder`` so far; another run than the one followed
        (Train pressed while a snapshot of the last one was shown) brings the views back to live."""
        self.jobs.cancel(READ_JOB)
        if self.timeline is not None and self.timeline.folder == folder:
            return self.timeline
        if not self.live:
            self.go_live()
        return Timeline(folder)

    # -- showing a moment ------------------------------------------------------------
    @Slot(int)
    def show_moment(self, index: int) -> None:
        """Every view with snapshot ``index``'s weights (loaded on a job)."""
        timeline, like = self.timeline, self.w.predictor
        if timeline is None or like is None or not 0 <= index < len(timeline):
            return
        if self.shown is None and not self.jobs.pending(LOAD_JOB):
            self.live_predictor = like  # what Live shows again
        snap = timeline.snapshots[index]
        label = f"Weights: snapshot, {timeline.label(index)}"
        ready = self._ready.get(snap.path)
        if ready is not None:  # a neighbour read ahead: no file to read, no copy to make
            self.jobs.cancel(LOAD_JOB)
            self._show(index, snap, ready, label)
            return
        self.jobs.submit(_ready_predictor, snap, self._base(), key=LOAD_JOB,
                         on_done=lambda predictor: self._show(index, snap, predictor, label),
                         on_error=self._failed)

    def _base(self):
        """What a snapshot's predictor is copied from on a job: the live weights' spare copy,
        which no viewer hooks (the views' own copy may be hooked on the GUI thread meanwhile)."""
        return (self.live_predictor or self.w.predictor).spare()

    def _show(self, index: int, snap: Snapshot, predictor, label: str) -> None:
        if predictor is None:  # its job was superseded before it started
            return
        self.shown = snap
        self.w.show_predictor(predictor, label)
        self.w.plots.mark_moment(snap.step, self.timeline.epoch_position(snap.step) if self.timeline else None)
        self.momentShown.emit(snap)
        self._read_ahead(index, snap, predictor)

    def _read_ahead(self, index: int, snap: Snapshot, predictor) -> None:
        """Keep the shown snapshot's predictor and read its neighbours' on jobs: the next
        step of Play, an arrow key or a drag shows at once (three models in memory at most)."""
        timeline = self.timeline
        near = {s.path: s for s in timeline.snapshots[max(index - 1, 0):index + 2]} if timeline else {}
        self._ready = {path: p for path, p in self._ready.items() if path in near}
        self._ready[snap.path] = predictor
        base = self._base()
        for side, (path, neighbour) in enumerate((k, v) for k, v in near.items() if k != snap.path):
            if path not in self._ready:
                self.jobs.submit(_ready_predictor, neighbour, base, key=f"{READ_AHEAD_JOB}{side}",
                                 on_done=lambda p, path=path: self._read_ahead_done(path, p), on_error=lambda exc: None)

    def _read_ahead_done(self, path: Path, predictor) -> None:
        timeline = self.timeline
        if predictor is not None and self.shown is not None and timeline is not None and any(
                s.path == path for s in timeline.snapshots):
            self._ready[path] = predictor

    def _failed(self, exc: BaseException) -> None:
        """A snapshot that cannot be shown (deleted meanwhile, another network): said, and live again."""
        self.go_live()
        self.w.statusBar().showMessage(f"Could not show the snapshot: {dialogs.error_text(exc)}", 10000)

    def keep_live(self, predictor) -> bool:
        """Newer weights of the run training now: shown when live (True), else kept for Live."""
        if self.live:
            return True
        self.live_predictor = predictor
        return False

    @Slot()
    def go_live(self) -> None:
        """The current weights in every view again."""
        predictor = self.live_predictor
        self._back_to_live()
        if predictor is not None:
            self.w.show_predictor(predictor, self.w.session.provenance.label())

    def _back_to_live(self) -> None:
        for key in (LOAD_JOB, f"{READ_AHEAD_JOB}0", f"{READ_AHEAD_JOB}1"):
            self.jobs.cancel(key)
        self._ready = {}
        self.shown = None
        self.live_predictor = None
        self.slider.show_live()
        self.w.plots.mark_moment(None)
        self.momentShown.emit(None)

    def shutdown(self, timeout: float) -> bool:
        return self.jobs.shutdown(timeout)
