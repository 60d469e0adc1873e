"""Switching the model from the window: a built-in one at once, a user's own file off the GUI thread.

:class:`ModelFlow` belongs to the main window (``window.request_model``). A user's model
file is Python the user chose to run, and it may take long or loop forever: importing it,
building the model (:meth:`Session.prepare_model <cnn_gui.core.session.Session.prepare_model>`)
and its structure tree (one dummy pass through the model) run on a
:class:`~cnn_gui.gui.background.jobs.JobRunner` thread. Meanwhile the Network panel says
that it is loading, its model chooser and Train are off, and the rest of the window works.
After :data:`LOAD_TIMEOUT_S` the window stops waiting: one line says so and the current
model stays; the abandoned load's late result is dropped, never swapped in. So is a
result that arrives after the weights changed some other way (opened, re-initialised,
trained): the newest action wins.

Python cannot kill a thread: a file that loops forever keeps a daemon thread busy until
the application exits, and a loop inside one C call that holds the GIL (such as
``sum(range(10**12))`` at import) still slows the window; only another process could
contain that, and the model has to live in this one.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from cnn_gui.core.formatting import middle_elide
from cnn_gui.core.model.models import ModelError, ModelSpec
from cnn_gui.core.model.structure import ModuleNode, build_tree
from cnn_gui.core.session import Session
from cnn_gui.core.weights import Weights

from cnn_gui.gui.background.jobs import JobRunner
from cnn_gui.gui.dialogs import error_text

LOAD_TIMEOUT_S = 10.0  # seconds a user's model file may take to import and build; tests lower it
JOB = "model"


def is_model_file(choice: str) -> bool:
    """Whether ``choice`` names a user's file ("path/to/file.py:Class"), which is imported."""
    return ".py:" in choice


def _prepare(choice: str) -> tuple[ModelSpec, nn.Module, ModuleNode]:
    """On the job's thread: the user's file imported, its model built, and its tree."""
    spec, model = Session.prepare_model(choice)
    return spec, model, build_tree(model, spec.input_shape)


class ModelFlow:
    """``request(name)`` switches the window's model; ``modelSwitched(bool)`` follows every request."""

    def __init__(self, window) -> None:
        self.w = window
        self.jobs = JobRunner(window)
        self._tree: tuple[nn.Module, ModuleNode] | None = None  # built with a loaded model, for its first redraw

    def request(self, name: str) -> bool:
        """Switch to ``name``, untrained. False when refused or failed at once; True when a
        built-in model was switched to, or a user's file started loading (the outcome comes
        with the window's ``modelSwitched``). A request supersedes a load in progress."""
        w = self.w
        self.cancel()
        if not w.idle_or_say("changing the model") or not w.confirm_replace("Switching the model"):
            return self._refused()
        if not is_model_file(name):
            try:
                spec, model = Session.prepare_model(name)  # built-in: quick, and no stranger's code
            except Exception as exc:  # noqa: BLE001 - ModelError for an unknown name
                return self._failed(exc)
            return self._adopt(spec, model)
        before = w.session.current
        shown = middle_elide(Path(name.rpartition(":")[0]).name)
        w.structure.set_loading(f"Loading your model from {shown}…")
        w.training_panel.set_busy(True)
        w.statusBar().showMessage(f"Loading {shown}…")
        self.jobs.submit(_prepare, name, key=JOB, timeout=LOAD_TIMEOUT_S,
                         on_done=lambda out: self._loaded(before, *out),
                         on_error=self._load_failed,
                         on_timeout=lambda: self._timed_out(shown))
        return True

    def cancel(self) -> None:
        """Stop waiting for a load in progress (its result will be dropped)."""
        if self.jobs.pending(JOB):
            self.jobs.cancel(JOB)
            self._end_loading()
            self.w.modelSwitched.emit(False)

    def tree_for(self, model: nn.Module) -> ModuleNode | None:
        """The tree built with ``model`` on the job's thread, while it is being adopted; else None."""
        return self._tree[1] if self._tree is not None and self._tree[0] is model else None

    def shutdown(self, timeout: float) -> bool:
        """Deliver nothing more; True when no load is left running (one that loops never ends)."""
        return self.jobs.shutdown(timeout)

    # ------------------------------------------------------------------ outcomes (GUI thread)
    def _loaded(self, before: Weights, spec: ModelSpec, model: nn.Module, tree: ModuleNode) -> None:
        w = self.w
        self._end_loading()
        if w.closing:
            return
        if w.controller.is_running() or w.session.current is not before:
            w.statusBar().showMessage(f"{spec.title} not used: the weights changed while it loaded", 8000)
            self._refused()
            return
        self._tree = (model, tree)
        try:
            self._adopt(spec, model)
        finally:
            self._tree = None

    def _load_failed(self, exc: BaseException) -> None:
        self._end_loading()
        if not self.w.closing:
            self._failed(exc)

    def _timed_out(self, shown: str) -> None:
        self.jobs.cancel(JOB)
        self._end_loading()
        self._failed(ModelError(f"your model file {shown} did not finish importing within {LOAD_TIMEOUT_S:g} s; "
                                f"it may loop forever (the window keeps {self.w.spec.title})"))

    def _adopt(self, spec: ModelSpec, model: nn.Module) -> bool:
        w = self.w
        w.session.new_model(spec, model)
        w.training_panel.reset()
        w.statusBar().showMessage(f"Model: {spec.title}", 5000)
        w.modelSwitched.emit(True)
        return True

    def _refused(self) -> bool:
        w = self.w
        w.structure.set_current_model(w.spec.name, w.spec.title)
        w.modelSwitched.emit(False)
        return False

    def _failed(self, exc: BaseException) -> bool:
        w = self.w
        w.statusBar().clearMessage()
        w.structure.set_current_model(w.spec.name, w.spec.title)
        w.show_error("Cannot use this model", error_text(exc))
        w.modelSwitched.emit(False)
        return False

    def _end_loading(self) -> None:
        self.w.structure.set_loading("")
        self.w.training_panel.set_busy(False)
