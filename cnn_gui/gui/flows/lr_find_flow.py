"""The learning-rate finder seen from the window: the *Find…* button beside the LR box.

It plans the run Train would start now without beginning it (``lr_finder.trial_plan``: the
same network, data, batch size, optimizer and seed; the session does not change), and runs
the range test (``lr_finder.find_lr``) on a :class:`JobRunner` thread, on a private copy of
the network: the window's weights never change. The dialog shows the loss
as it comes, the suggestion at the end, and *Use* puts the rate in the LR box. The dialog
is window-modal (a run cannot start meanwhile); Cancel, Escape or closing the window stop
the test after its current batch.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from cnn_gui.core.training import lr_finder
from cnn_gui.gui import dialogs
from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.panels.lr_find_dialog import LrFindDialog

JOB = "lr-find"


def _find(plan, data, cancel, progress):
    """The job: the run's data and network as a trainer would have them, then the test."""
    from cnn_gui.core.training.plan import build_trainer, load_run_data

    data = load_run_data(plan, cancel=cancel.is_set, override=data)
    trainer = build_trainer(plan, data)  # sized to the data's classes, frozen modules kept; never trained here
    return lr_finder.find_lr(trainer.model, data, trainer.config, cancel=cancel, progress=progress)


class LrFindFlow(QObject):
    """Owns the finder's job and dialog; ``start()`` is the button's slot."""

    _point = Signal(int, int, float, float)  # from the job's thread: done, steps, rate, smoothed loss

    def __init__(self, window) -> None:
        super().__init__(window)
        self.w = window
        self.jobs = JobRunner(self, give_back_memory=True)
        self.dialog: LrFindDialog | None = None
        self.found: lr_finder.LrFinding | None = None
        self._point.connect(self._on_point)
        window.training_panel.findLrRequested.connect(self.start)

    @Slot()
    def start(self) -> bool:
        w = self.w
        if w.controller.is_running() or not self.idle():
            return False
        try:  # on the GUI thread: the copy of the current weights is taken before anything else reads them
            plan = lr_finder.trial_plan(w.session, w.training_panel.config(), fresh=w.runs.trains_new_weights(),
                                        resume=w.runs.resumes())
        except ValueError as exc:
            w.show_error("Cannot find a learning rate", dialogs.error_text(exc))
            return False
        dialog = self._dialog()
        cfg = plan.config
        dialog.begin(lr_finder.STEPS, lr_finder.START_LR, lr_finder.END_LR,
                     f"{plan.spec.title}, {cfg.optimizer}, batch {cfg.batch_size}")
        self.found = None
        try:
            self.jobs.submit(_find, plan, w.data_override, key=JOB, threads="training", on_done=self._on_done,
                             on_error=self._on_error, progress=self._emit_point)
        except RuntimeError:
            return False  # shut down: the window is closing
        dialog.open()
        return True

    def idle(self) -> bool:
        """No test running, a cancelled one included (it stops after its current batch): a run
        or another test must not start beside it."""
        return not self.jobs.busy() and self.jobs.join(0.0)

    def _dialog(self) -> LrFindDialog:
        if self.dialog is None:
            self.dialog = LrFindDialog(self.w)
            self.dialog.rateChosen.connect(self._use)
            self.dialog.cancelRequested.connect(self.cancel)
        return self.dialog

    def _emit_point(self, done: int, steps: int, rate: float, loss: float) -> None:
        try:
            self._point.emit(done, steps, float(rate), float(loss))
        except RuntimeError:
            pass  # the window is gone

    @Slot(int, int, float, float)
    def _on_point(self, done: int, _steps: int, rate: float, loss: float) -> None:
        if self.dialog is not None:
            self.dialog.add_point(done, rate, loss)

    def _on_done(self, found: lr_finder.LrFinding) -> None:
        self.found = found
        if self.dialog is not None:
            self.dialog.show_finding(found, self.w.training_panel.lr_spin.minimum())

    def _on_error(self, error: BaseException) -> None:
        if self.dialog is not None:
            self.dialog.show_failure(f"Could not try the rates: {dialogs.error_text(error)}")

    @Slot(float)
    def _use(self, rate: float) -> None:
        panel = self.w.training_panel
        panel.lr_spin.setValue(rate)  # clamped to the box's range
        self.w.statusBar().showMessage(f"Learning rate set to {panel.lr_spin.value():g} (the finder's suggestion)",
                                       8000)

    @Slot()
    def cancel(self) -> None:
        if self.jobs.busy():
            self.jobs.cancel(JOB)
            if self.dialog is not None:
                self.dialog.show_failure("Cancelled.")

    def shutdown(self, timeout: float = 10.0) -> bool:
        return self.jobs.shutdown(timeout)
