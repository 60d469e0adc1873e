"""Opening, saving and exporting files from the window: the dialogs, the background read, the messages.

:class:`CheckpointFlow` belongs to the main window. A checkpoint is read on a job thread
(:class:`~cnn_gui.gui.background.jobs.JobRunner`; a newer open supersedes an older one) and swapped
in on the GUI thread only if everything fits: the model spec (never imported because the
file names it), every weight's name and shape, and a resumable session's optimizer
state. Whatever fails leaves the window exactly as it was and says why in one line.
Saves and exports say where the file went; a missing extension is added.

A checkpoint in a run folder (the Runs tab's *Load weights*, or the same file through
*File > Open*) is labelled by its run: "Weights: file run <the run's name>", not
"checkpoint.safetensors", which every run's file is called.
"""

from __future__ import annotations

from pathlib import Path

from cnn_gui.core.errors import CnnGuiError
from cnn_gui.core.formatting import middle_elide
from cnn_gui.core.model.models import NeedsModelFile, load_user_spec
from cnn_gui.core.weights import read_checkpoint, resolve_spec, weights_file_stem, weights_from
from cnn_gui.gui.flows.model_flow import LOAD_TIMEOUT_S

from cnn_gui.gui.dialogs import CHECKPOINT_FILTER, error_text
from cnn_gui.gui.background.jobs import JobRunner

MODEL_FILTER = "ONNX models (*.onnx);;TorchScript models (*.pt)"
HELD_TIMEOUT = 5.0  # seconds to wait for a paused run to reach the end of its batch before saving


class CheckpointFlow:
    def __init__(self, window) -> None:
        self.w = window
        self.jobs = JobRunner(window)
        self._run_name: str | None = None  # the run whose checkpoint is being opened, if it is one

    # ------------------------------------------------------------------ open
    def ask_open(self) -> None:
        if not self.w.idle_or_say("opening a checkpoint"):
            return
        path = self.w.ask_open_path()
        if path:
            self.w.remember_dir(path)
            self.open(path)

    def open(self, path, background: bool = True) -> None:
        """Open ``path``; ``openFinished(bool)`` follows every call."""
        w, path = self.w, str(path)
        if w.controller.is_running():
            w.show_error("Cannot open a checkpoint now", "Stop training before opening a checkpoint.")
            w.openFinished.emit(False)
            return
        if not w.confirm_replace("Opening a checkpoint"):
            w.openFinished.emit(False)
            return
        w.statusBar().showMessage(f"Opening {middle_elide(Path(path).name)}…")
        if not background:
            try:
                (ckpt, run_name), error = _read_for_open(path), None
            except Exception as exc:  # noqa: BLE001 - shown as one line by _done
                ckpt, run_name, error = None, None, exc
            self._done(path, ckpt, error, run_name)
            return
        w.training_panel.set_busy(True)
        self.jobs.submit(_read_for_open, path, key="open",
                         on_done=lambda read: self._done(path, read[0], None, read[1]),
                         on_error=lambda exc: self._done(path, None, exc))

    def _done(self, path: str, ckpt, error, run_name: str | None = None) -> None:
        w = self.w
        self._run_name = run_name  # kept for _adopt, which may follow a model file's import
        w.training_panel.set_busy(False)
        if w.closing:
            return
        w.statusBar().clearMessage()
        if error is None and w.controller.is_running():
            error = CnnGuiError("Stop training before opening a checkpoint.")
        try:
            if error is not None:
                raise error
            spec = resolve_spec(ckpt, current=w.session.spec)
        except NeedsModelFile as need:
            self._ask_model_file(path, ckpt, need)
            return
        except Exception as exc:  # noqa: BLE001 - CheckpointError, ModelError
            self._failed(exc)
            return
        try:
            opened = weights_from(ckpt, spec)  # every name and shape checked before anything changes
        except Exception as exc:  # noqa: BLE001 - CheckpointError, a user's constructor failing
            self._failed(exc)
            return
        self._adopt(path, opened)

    def _ask_model_file(self, path: str, ckpt, need: NeedsModelFile) -> None:
        """The file is of the user's own class: they choose its .py, which is imported off the
        GUI thread with the same bound as choosing a model (a file that loops never freezes the window)."""
        w = self.w
        chosen = w.ask_model_file(need.class_name, need.recorded_path)
        if not chosen:
            w.statusBar().showMessage(f"Not opened: {middle_elide(Path(path).name)} needs its model file", 8000)
            w.openFinished.emit(False)
            return
        ref = f"{chosen}:{need.class_name}"
        shown = middle_elide(Path(chosen).name)
        w.training_panel.set_busy(True)
        w.statusBar().showMessage(f"Loading {shown}…")
        self.jobs.submit(_open_with_model_file, ckpt, ref, key="open-model", timeout=LOAD_TIMEOUT_S,
                         on_done=lambda opened: self._model_file_done(path, opened, None),
                         on_error=lambda exc: self._model_file_done(path, None, exc),
                         on_timeout=lambda: self._model_file_timed_out(shown))

    def _model_file_done(self, path: str, opened, error) -> None:
        w = self.w
        w.training_panel.set_busy(False)
        w.statusBar().clearMessage()
        if w.closing:
            return
        if error is None and w.controller.is_running():
            error = CnnGuiError("Stop training before opening a checkpoint.")
        if error is not None:
            self._failed(error)
            return
        self._adopt(path, opened)

    def _model_file_timed_out(self, shown: str) -> None:
        self.jobs.cancel("open-model")  # its result, if it ever comes, is dropped
        self.w.training_panel.set_busy(False)
        self._failed(CnnGuiError(f"your model file {shown} did not finish importing within {LOAD_TIMEOUT_S:g} s; "
                                 "it may loop forever (nothing was opened)"))

    def _failed(self, exc: BaseException) -> None:
        self.w.show_error("Cannot open checkpoint", error_text(exc))
        self.w.openFinished.emit(False)

    def _adopt(self, path: str, opened) -> None:
        w, ckpt = self.w, opened.checkpoint
        w.session.open(opened, detail=f"run {self._run_name}" if self._run_name else None)
        w.training_panel.reset()
        w.canvas_panel.weights_label.setToolTip(str(ckpt.path))
        if w.session.resumable:
            saved = ckpt.meta.train_config
            # Its own recipe; Epochs (at least the next epoch while Continue is ticked) is the
            # session's default total, as the session's change set it.
            w.training_panel.set_config(saved.with_(device=w.training_panel.config().device, max_batches=None,
                                                    epochs=w.session.default_resume_total()))
        opened_what = f"the weights of run {self._run_name}" if self._run_name else middle_elide(Path(path).name)
        w.statusBar().showMessage(f"Opened {opened_what}", 5000)
        w.checkpointOpened.emit(path)
        w.openFinished.emit(True)

    # ------------------------------------------------------------------ save
    def ask_save(self) -> bool:
        """Ask where, save, say where it went; False when cancelled or failed."""
        w = self.w
        stem = weights_file_stem(w.session.spec, w.session.dataset)
        path = w.ask_save_path("Save checkpoint", f"{stem}.safetensors", CHECKPOINT_FILTER)
        if not path:
            return False
        path = with_suffix(path, ".safetensors")
        w.remember_dir(path)
        try:
            saved = self.save(path)
        except Exception as exc:  # noqa: BLE001 - CheckpointError, OSError: one line
            w.show_error("Cannot save checkpoint", error_text(exc))
            return False
        w.statusBar().showMessage(f"Saved {saved}", 8000)
        return True

    def save(self, path) -> Path:
        """The current weights; a finished or paused run's whole resumable session (optimizer too)."""
        w = self.w
        controller = w.controller
        if controller.is_running():
            trainer = controller.trainer
            if not controller.is_paused() or trainer is None or not trainer.control.wait_until_held(HELD_TIMEOUT):
                raise CnnGuiError("Pause or stop training before saving a checkpoint.")
            # Held between two batches: the weights, optimizer and position agree.
            return Path(trainer.save_checkpoint(path) or path)
        return w.session.save(path, w.training_panel.config())

    # ------------------------------------------------------------------ exports
    def ask_export_csv(self) -> None:
        self._export("metrics", "metrics.csv", ".csv", "CSV files (*.csv);;All files (*)", self.w.plots.export_csv)

    def ask_export_png(self) -> None:
        self._export("plot", "training.png", ".png", "PNG images (*.png);;All files (*)", self.w.plots.export_png)

    def _export(self, what: str, default_name: str, suffix: str, filters: str, write) -> None:
        w = self.w
        path = w.ask_save_path(f"Export {what}", default_name, filters)
        if not path:
            return
        path = with_suffix(path, suffix)
        w.remember_dir(path)
        try:
            written = write(path)
        except Exception as exc:  # noqa: BLE001 - OSError as a sentence with the path
            w.show_error(f"Cannot export {what}", error_text(exc))
            return
        w.statusBar().showMessage(f"Exported the {what} to {written or path}", 8000)

    def ask_export_model(self) -> None:
        """The current weights as ONNX or TorchScript, written and compared with PyTorch off the GUI thread."""
        import copy

        from cnn_gui.core.files.export import export_with_check, format_for

        w = self.w
        if w.controller.is_running() and not w.controller.is_paused():
            w.show_error("Cannot export the model now", "Pause or stop training before exporting the model.")
            return
        stem = weights_file_stem(w.session.spec, w.session.dataset)
        path = w.ask_save_path("Export model", f"{stem}.onnx", MODEL_FILTER)
        if not path:
            return
        path = with_suffix(path, ".onnx")
        w.remember_dir(path)
        try:
            fmt = format_for(path)
            meta = w.session.checkpoint_meta(w.training_panel.config())
            model = copy.deepcopy(w.session.model).cpu()  # the weights as they are now; training may go on
        except Exception as exc:  # noqa: BLE001 - one line
            w.show_error("Cannot export the model", error_text(exc))
            return
        prov = w.session.provenance
        source = Path(prov.kept_in).name if prov.kept_in else prov.label()
        w.statusBar().showMessage(f"Exporting {middle_elide(Path(path).name)}…")
        self.jobs.submit(export_with_check, (model, meta), fmt, path, source_name=source, key="export-model",
                         on_done=self._exported,
                         on_error=lambda exc: w.show_error("Cannot export the model", error_text(exc)))

    def _exported(self, report) -> None:
        self.w.statusBar().showMessage(report.summary(), 15000)
        if not report.ok:
            self.w.show_error("The exported model differs from PyTorch's", report.summary())

    def shutdown(self, timeout: float) -> bool:
        return self.jobs.shutdown(timeout)


def with_suffix(path: str, suffix: str) -> str:
    """``path`` with ``suffix`` added when it has none (a name typed without an extension)."""
    return path if Path(path).suffix else path + suffix


def run_name_of(path) -> str | None:
    """The name of the run whose folder holds checkpoint ``path`` (its run.json's, as the
    Runs tab shows it), or None for a file elsewhere or a run.json that cannot be read."""
    from cnn_gui.core.errors import one_line
    from cnn_gui.core.runs.layout import is_run_folder
    from cnn_gui.core.runs.reader import read_info

    folder = Path(path).parent
    if not is_run_folder(folder):
        return None
    try:
        name = read_info(folder).get("name")
    except Exception:  # noqa: BLE001 - an unreadable run.json: the file's own name then
        return None
    return one_line(name, 60) if isinstance(name, str) and name.strip() else folder.name


def _read_for_open(path):
    """The job: the checkpoint, and the name of its run when it lies in a run folder."""
    return read_checkpoint(path), run_name_of(path)


def _open_with_model_file(ckpt, ref: str):
    """The job: import the user's file (their choice), build their class, load the checkpoint into it."""
    return weights_from(ckpt, load_user_spec(ref, tuple(ckpt.meta.input_shape)))
