"""Writing one run folder as the run goes: a Trainer callback.

``run.json`` is rewritten whole (:func:`~cnn_gui.core.files.safe_io.atomic_write`) when
the run starts, ends and is renamed; at each epoch's end ``checkpoint.safetensors`` is
replaced (atomically, on the training thread between two steps, so weights, optimizer
and position agree) and then ``epochs.jsonl`` is appended, flushed and fsynced, so a
checkpoint always holds at least the epochs the file lists and a kill loses at most the
epoch in progress; ``steps.jsonl`` takes the downsampled loss curve at each epoch's end
and every :data:`STEP_FLUSH_SECONDS` seconds. See :mod:`cnn_gui.core.runs.layout`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from cnn_gui.core.errors import as_sentence, describe, describe_line, one_line
from cnn_gui.core.runs.snapshots import SnapshotKeeper
from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitFailed, FitStarted, HealthChecked, RateChanged
from cnn_gui.core.files.processes import process_start
from cnn_gui.core.files.safe_io import append_regular, atomic_write, read_regular
from cnn_gui.core.runs.layout import (CHECKPOINT_FILE, EPOCHS_FILE, FORMAT, FORMAT_VERSION, MAX_RUN_JSON_BYTES,
                                      RUN_FILE, RUNS_DIR_ENV, STEPS_FILE, RunsError, now_iso, resolve_runs_dir,
                                      run_stem)
from cnn_gui.core.runs.step_sampler import MAX_STEP_POINTS, StepSampler
from cnn_gui.core.runs.strict_json import load_json

STEP_FLUSH_SECONDS = 2.0
_END_STATUS = {"completed": "finished", "stopped": "stopped", "failed": "failed"}


def _finite(value: object) -> object:
    """JSON has no NaN: a non-finite float is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain(record: dict) -> dict:
    return {k: _finite(v) for k, v in record.items()}


def _versions() -> dict:
    import platform

    from cnn_gui import __version__

    out = {"cnn_gui": __version__, "python": platform.python_version()}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = str(torch.__version__)
    else:
        try:
            from importlib.metadata import version

            out["torch"] = version("torch")
        except Exception:  # not installed as a distribution: leave it out
            pass
    return out


def write_info(path: Path, doc: dict) -> None:
    """Replace a run.json with ``doc``, whole."""
    atomic_write(path, json.dumps(doc, indent=1, allow_nan=False).encode("utf-8"))


def _append_lines(path: Path, records: list[dict], fsync: bool) -> None:
    text = "".join(json.dumps(_plain(r), allow_nan=False) + "\n" for r in records)
    append_regular(path, text.encode("utf-8"), fsync=fsync)


class RunWriter:
    """A Trainer callback that writes one run folder as the run goes.

    One writer per ``fit()``. The folder is made on :meth:`open` (called by itself on
    ``FitStarted``; call it first to fail early on an unwritable runs folder). While the
    run trains, an I/O error never stops it: the writer stops writing and keeps the
    reason in :attr:`error`. ``save_checkpoint(path)`` (e.g. ``trainer.save_checkpoint``)
    is called at every epoch's end and when the run is stopped (or completes past its
    last epoch's save); :meth:`attach` sets it and joins the trainer's callbacks. A
    checkpoint that cannot be saved (a full disk) is said in :attr:`error` too, but the
    run and its record go on (the previous checkpoint stays whole).
    """

    def __init__(
        self,
        runs_dir: str | os.PathLike | None,
        config: dict | None = None,
        *,
        name: str | None = None,
        preset: str | None = None,
        device_label: str | None = None,
        source: str = "",
        resumed_from: str | os.PathLike | None = None,
        save_checkpoint: Callable[[Path], Any] | None = None,
        max_step_points: int = MAX_STEP_POINTS,
    ) -> None:
        self.runs_dir = resolve_runs_dir(runs_dir)
        self.config = dict(config or {})
        self.name = name
        self.preset = preset
        self.device_label = device_label
        self.source = source
        self.resumed_from = str(resumed_from) if resumed_from is not None else None
        self.save_checkpoint = save_checkpoint
        self.folder: Path | None = None
        self.error: str | None = None
        self.ended = False
        self._stopped = False  # the record failed: write nothing more
        self._step = 0  # the last optimizer step reported
        self._saved: tuple[int, int] | None = None  # (epoch, step) of the last checkpoint saved at an epoch's end
        self._doc: dict = {}
        self._sampler = StepSampler(max_step_points)
        self._steps: list[dict] = []
        self._last_flush = time.monotonic()
        self._failure: FitFailed | None = None
        self._parallel: dict = {}  # world_size, backend, per_rank_batch of a data-parallel run
        self._trainer = None  # bind()'s: its snapshots are kept
        self._keeper: SnapshotKeeper | None = None
        self._created = now_iso()  # a run that fails before it starts was started then

    # -- wiring ----------------------------------------------------------------------
    def bind(self, trainer) -> "RunWriter":
        """Record ``trainer``'s config (a resumed run's comes from its checkpoint) and save
        its checkpoint at each epoch's end; for a caller that relays the events itself
        (on the training thread, as the engine calls its callbacks)."""
        if self.folder is None:
            self.config = trainer.config.to_dict()
        parallel = getattr(trainer, "parallel", None)  # several ranks: their number, backend, share
        self._parallel = parallel.record(trainer.config.batch_size) if parallel is not None else {}
        if self.save_checkpoint is None:
            self.save_checkpoint = trainer.save_checkpoint
        self._trainer = trainer  # its snapshots are kept once the folder exists (core/runs/snapshots.py)
        return self

    def attach(self, trainer) -> "RunWriter":
        """:meth:`bind` to ``trainer`` and join its callbacks: its events come as they happen."""
        self.bind(trainer)
        if self not in trainer.callbacks:
            trainer.callbacks.append(self)
        return self

    @classmethod
    def for_trainer(cls, trainer, runs_dir=None, **kwargs) -> "RunWriter":
        """A writer for ``trainer`` (its config, its checkpoint), already attached."""
        return cls(runs_dir, **kwargs).attach(trainer)

    # -- the folder ------------------------------------------------------------------
    def open(self, *, ending: dict | None = None) -> Path:
        """Make the run folder and its ``run.json`` (status running, or what ``ending`` says:
        a run that ended before it started); RunsError if it cannot."""
        if self.folder is not None:
            return self.folder
        model = str(self.config.get("model", "model"))
        dataset = str(self.config.get("dataset", "data"))
        stem = run_stem(model, dataset, datetime.now())
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            folder = None
            for n in range(1, 1000):
                candidate = self.runs_dir / (stem if n == 1 else f"{stem}-{n}")
                try:
                    candidate.mkdir()  # exclusive: two processes never share a folder
                except FileExistsError:
                    continue
                folder = candidate
                break
            if folder is None:
                raise RunsError(f"cannot make a run folder in {self.runs_dir}: too many named {stem}")
            self._doc = {
                "format": FORMAT, "format_version": FORMAT_VERSION,
                "name": self.name or folder.name, "status": "running",
                "model": model, "dataset": dataset, "preset": self.preset,
                "config": self.config, "seed": self.config.get("seed"),
                "device": self.config.get("device"), "device_label": self.device_label,
                "precision": None, "versions": _versions(),
                "started": now_iso(), "ended": None, "duration_seconds": None,
                "epochs_planned": self.config.get("epochs"), "source": self.source,
                "resumed_from": self.resumed_from,
                "pid": os.getpid(), "hostname": socket.gethostname(),
                "pid_started": process_start(os.getpid()),
            }
            self._doc.update(ending or {})
            write_info(folder / RUN_FILE, self._doc)
        except OSError as exc:
            raise RunsError(f"cannot write a run in {self.runs_dir}: {exc.strerror or exc}",
                            f"choose another runs folder ({RUNS_DIR_ENV} or --runs-dir)") from exc
        self.folder = folder
        return folder

    # -- events ----------------------------------------------------------------------
    def __call__(self, event) -> None:
        if self.ended:
            return
        if self._stopped:  # the record stopped; the checkpoint still keeps the work, where it can
            if isinstance(event, EpochEnded) and self.folder is not None and self.folder.is_dir():
                self._save_epoch(event.epoch)
            return
        try:
            if isinstance(event, BatchEnded):
                self._on_batch(event)
            elif isinstance(event, EpochEnded):
                self._on_epoch(event)
            elif isinstance(event, FitStarted):
                self._on_started(event)
            elif isinstance(event, FitFailed):
                self._failure = event
            elif isinstance(event, FitEnded):
                self._on_ended(event)
            elif isinstance(event, RateChanged) and self.folder is not None:
                # run.json's "rate_changes": the learning rate changed during the run, from which step
                self._doc.setdefault("rate_changes", []).append({**event.to_dict(), "time": now_iso()})
                self._rewrite()
            elif isinstance(event, HealthChecked) and event.alerts and self.folder is not None:
                # run.json's "health_alerts": what the health watch said, and at which step
                self._doc.setdefault("health_alerts", []).extend({"step": event.step, "alert": a} for a in event.alerts)
                self._rewrite()
        except (OSError, RunsError, TypeError, ValueError) as exc:
            # Never fail the training for its record: say why once, stop writing.
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            where = self.folder or self.runs_dir
            self.error = str(exc) if isinstance(exc, RunsError) else one_line(f"the run record in {where} stopped: {why}")
            self._stopped = True

    def _on_started(self, ev: FitStarted) -> None:
        self.open()
        if self._trainer is not None and self._trainer.optimizer is not None and self._keeper is None:
            self._keeper = SnapshotKeeper(self._trainer, lambda: self.folder).attach()
        nb = ev.batches_per_epoch
        first = (ev.start_epoch - 1) * nb + ev.start_batch
        self._sampler.plan(first, ev.epochs * nb)
        self._doc.update({
            "model": ev.model, "dataset": ev.dataset, "device": ev.device,
            "device_label": ev.device_label, "precision": ev.precision,
            "epochs_planned": ev.epochs, "start_epoch": ev.start_epoch,
            "batches_per_epoch": nb, "steps_planned": ev.epochs * nb, "batch_size": ev.batch_size,
            "train_size": ev.train_size, "test_size": ev.test_size, "parameters": ev.parameters,
            **self._parallel,
        })
        self._rewrite()

    def _on_batch(self, ev: BatchEnded) -> None:
        if self.folder is None:
            return
        self._step = ev.step
        point = self._sampler.add(ev)
        if point is not None:
            self._steps.append(point)
        if self._steps and time.monotonic() - self._last_flush >= STEP_FLUSH_SECONDS:
            self._flush_steps()

    def _on_epoch(self, ev: EpochEnded) -> None:
        if self.folder is None:
            return
        if not self.folder.is_dir():  # deleted by hand: never make it again for a checkpoint
            raise RunsError(f"the run folder {self.folder} was removed; the run goes on without its record")
        # The checkpoint first: an epoch the file lists is always in it, and a step log that
        # cannot be written (a full disk, a FIFO) never costs a finished epoch its checkpoint.
        self._save_epoch(ev.epoch)
        if self._keeper is not None:
            self._keeper.keep(self._keeper.trainer.position.step, ev.epoch)
            if self._keeper.error:
                self._doc["snapshots_error"] = self._keeper.error
        self._flush_steps()
        record = ev.to_dict()
        record["time"] = now_iso()
        _append_lines(self.folder / EPOCHS_FILE, [record], fsync=True)

    def _save_epoch(self, epoch: int) -> None:
        """The run so far as the folder's checkpoint, replacing the last epoch's whole or not at all."""
        if self.save_checkpoint is None:
            return
        try:
            self.save_checkpoint(self.folder / CHECKPOINT_FILE)
        except Exception as exc:  # a full disk, a CheckpointError: the run and its record go on
            self._checkpoint_failed(f"the end of epoch {epoch}", exc)
            return
        self._saved = (epoch, self._step)

    def _checkpoint_failed(self, when: str, exc: Exception) -> None:
        why = describe_line(exc)
        self._doc["checkpoint_error"] = why
        if not self._stopped:  # else error says why the record stopped, which matters more
            self.error = one_line(f"the run's checkpoint was not saved at {when} ({why}); "
                                  f"the run went on, its last saved checkpoint stays in {self.folder}")

    def _on_ended(self, ev: FitEnded) -> None:
        if self.folder is None:
            if ev.reason == "failed":  # before it started: still a record, saying why
                self._record_unstarted(ev)
            return
        self.ended = True
        point = self._sampler.flush()
        if point is not None:
            self._steps.append(point)
        self._flush_steps()
        doc = self._doc
        self._save_end(ev)
        doc.update({
            "status": _END_STATUS.get(ev.reason, "failed"), "ended": now_iso(),
            "duration_seconds": round(ev.seconds, 3), "end_reason": ev.reason,
            "epochs_completed": ev.epochs_completed, "steps_done": ev.step,
            "final_test_accuracy": _finite(ev.final_test_accuracy),
        })
        if self._failure is not None:
            doc["error"] = self._error_doc()
        self._rewrite()

    def _error_doc(self) -> dict | None:
        f = self._failure
        return None if f is None else {"kind": f.kind, "message": one_line(f.message), "hint": one_line(f.hint)}

    def _record_unstarted(self, ev: FitEnded) -> None:
        """A run that failed before it trained (its data could not be loaded or read, its model
        cannot take them): its folder with ``run.json`` alone, written once, status failed and
        the one-line reason. No checkpoint (nothing was trained), no epochs, nothing half-written."""
        self.ended = True
        self.open(ending={
            "status": "failed", "started": self._created, "ended": now_iso(),
            "duration_seconds": round(ev.seconds, 3), "end_reason": "failed", "epochs_completed": 0,
            "steps_done": 0, "final_test_accuracy": None, "error": self._error_doc(),
        })

    def failed_before_training(self, exc: BaseException, seconds: float) -> None:
        """``exc`` ended the run before it trained (``cnn-gui train``: loading the data, building
        the trainer): recorded as the engine's own failures are, a FitFailed then a FitEnded.
        Like every event, it never raises: what cannot be written is said in :attr:`error`."""
        message, hint = describe(exc)
        self(FitFailed("error", as_sentence(message), hint or ""))
        self(FitEnded("failed", 0, 0, seconds, None))

    def _save_end(self, ev: FitEnded) -> None:
        """The checkpoint of a run that completed or was stopped; else (a failed run, a failed
        save) the folder keeps the last finished epoch's, and run.json says which epoch it holds."""
        doc = self._doc
        if ev.reason in ("completed", "stopped") and self.save_checkpoint is not None:
            if self._end_saved(ev):
                doc["checkpoint"] = CHECKPOINT_FILE
                doc.pop("checkpoint_error", None)
                return
        if self._saved is not None:
            doc["checkpoint"], doc["checkpoint_epoch"] = CHECKPOINT_FILE, self._saved[0]

    def _end_saved(self, ev: FitEnded) -> bool:
        if ev.reason == "completed" and self._saved == (ev.epochs_completed, ev.step):
            return True  # the last epoch's checkpoint holds this very state
        try:
            self.save_checkpoint(self.folder / CHECKPOINT_FILE)
        except Exception as exc:  # a CheckpointError, a full disk: the run's record still ends
            # Said in error too: the folder's checkpoint, if any, is an earlier epoch's.
            self._checkpoint_failed(f"the end of the run ({ev.reason})", exc)
            return False
        return True

    def _flush_steps(self) -> None:
        self._last_flush = time.monotonic()
        if self._steps and self.folder is not None:
            steps, self._steps = self._steps, []
            _append_lines(self.folder / STEPS_FILE, steps, fsync=False)

    def _rewrite(self) -> None:
        # A rename from the Runs view meanwhile wins over the name this writer started with.
        try:
            on_disk = load_json(read_regular(self.folder / RUN_FILE, MAX_RUN_JSON_BYTES), "run.json")
            if isinstance(on_disk, dict) and isinstance(on_disk.get("name"), str):
                self._doc["name"] = one_line(on_disk["name"], 120)
        except (OSError, RunsError):
            pass
        write_info(self.folder / RUN_FILE, self._doc)
