"""``cnn-gui train --nproc-per-node N``: the same train command, run as N ranks per machine.

The command relaunches itself under torch's elastic launcher
(``torch.distributed.launcher.api.elastic_launch``, what ``torchrun`` runs): each worker is
``python -m cnn_gui train ...`` with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` set, and runs as that rank
(:mod:`cnn_gui.core.training.distributed`). ``--nnodes``, ``--node-rank`` and
``--rdzv-endpoint HOST:PORT`` have torchrun's meanings (a static rendezvous: node 0 listens
at the endpoint, the others connect to it). No restart: a rank that fails ends the run.

What the user sees when it goes wrong, always one line:

- a rank that raises, is killed or runs out of memory: ``rank R failed: <its error>`` (the
  rank writes its one-line error into the elastic error file; the launcher reads the first
  one), the other ranks are stopped by the launcher, and rank 0's run.json is marked failed
  with that line (exit 1; exit 2 when the rank's error was a mistake in the command);
- a port in use, a rendezvous that does not complete within ``CNN_GUI_RDZV_TIMEOUT``
  seconds (default 300), more ranks than GPUs on CUDA: :class:`LaunchError` (exit 2);
- Ctrl+C: every rank stops at the same step, rank 0 saves the checkpoint as one process
  would, and the launcher waits for them (:data:`SHUTDOWN_SECONDS`).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cnn_gui.core.errors import CnnGuiError, one_line

LAUNCHED_ENV = "CNN_GUI_LAUNCHED"  # set for the ranks of our launcher: it reports their errors
RUN_NOTE_ENV = "CNN_GUI_RUN_NOTE"  # where rank 0 writes the path of its run folder
RDZV_TIMEOUT_ENV = "CNN_GUI_RDZV_TIMEOUT"
RDZV_TIMEOUT = 300
SHUTDOWN_SECONDS = 30
ERROR_FILE_ENV = "TORCHELASTIC_ERROR_FILE"


class LaunchError(CnnGuiError):
    """The ranks cannot be started as asked (a port in use, no rendezvous, too few GPUs)."""


class RankFailed(CnnGuiError):
    """A rank failed: ``rank`` names it, ``mistake`` when its error was a mistake in the command."""

    def __init__(self, message: str, hint: str = "", *, mistake: bool = False) -> None:
        super().__init__(message, hint)
        self.mistake = mistake


@dataclass(frozen=True)
class Launch:
    """Where this machine's ranks stand: torchrun's options."""

    nproc_per_node: int
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None

    def check(self, device: str | None) -> None:
        if self.node_rank >= self.nnodes:
            raise LaunchError(f"--node-rank {self.node_rank} must be below --nnodes {self.nnodes}")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise LaunchError("several machines need --rdzv-endpoint HOST:PORT (node 0's address, the same on each)")
        _check_devices(self.nproc_per_node, device)

    def endpoint(self) -> tuple[str, int]:
        """The rendezvous's host and port: a free local port for one machine without an endpoint;
        a port in use on this machine refused when this node is the one that listens."""
        if not self.rdzv_endpoint:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                return "127.0.0.1", sock.getsockname()[1]
        host, sep, port = self.rdzv_endpoint.rpartition(":")
        if not sep or not host or not port.isdecimal() or not 0 < int(port) < 65536:
            raise LaunchError(f"--rdzv-endpoint {one_line(self.rdzv_endpoint, 80)}: expected HOST:PORT, "
                              "e.g. 10.0.0.1:29500")
        host = host.strip("[]")
        if self.node_rank == 0:
            _check_port_free(host, int(port))
        return host, int(port)


def _check_devices(nproc: int, device: str | None) -> None:
    import torch

    wanted = (device or "auto").strip().lower()
    if wanted.startswith("mps"):
        raise LaunchError("MPS trains in one process only: leave out --nproc-per-node, or use --device cpu")
    if wanted.startswith("cuda") or (wanted == "auto" and torch.cuda.is_available()):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise LaunchError("--device cuda: no CUDA device is available here; use --device cpu")
        if nproc > count:
            raise LaunchError(f"--nproc-per-node {nproc} needs {nproc} GPUs (one per process) but this machine has "
                              f"{count}; give at most {count}, or --device cpu")
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if nproc > cores:  # each holds torch and the data (~0.6 GB): more only wait, and can exhaust the memory
        raise LaunchError(f"--nproc-per-node {nproc} on the CPU: this machine gives this command {cores} "
                          f"core{'s' if cores > 1 else ''}; give at most {cores}")


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LaunchError(f"port {port} is in use on {host}: give --rdzv-endpoint another port") from None
            if exc.errno == errno.EADDRNOTAVAIL:  # not this machine's address: node 0 runs elsewhere
                return
            raise LaunchError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _rdzv_timeout() -> int:
    text = os.environ.get(RDZV_TIMEOUT_ENV, "").strip()
    if not text:
        return RDZV_TIMEOUT
    if not text.isdecimal() or not 1 <= int(text) <= 86400:
        raise LaunchError(f"{RDZV_TIMEOUT_ENV} must be a whole number of seconds from 1 to 86400")
    return int(text)


def launch(argv: list[str], plan: Launch) -> int:
    """Run ``cnn-gui <argv>`` as ``plan.nproc_per_node`` ranks here; 0 when every rank ended well.
    RankFailed, LaunchError or KeyboardInterrupt (Ctrl+C, after the ranks stopped) otherwise."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    host, port = plan.endpoint()
    folder = Path(tempfile.mkdtemp(prefix="cnn-gui-launch-"))
    note = folder / "run-folder"
    saved = {k: os.environ.get(k) for k in (LAUNCHED_ENV, RUN_NOTE_ENV, "OMP_NUM_THREADS")}
    os.environ[LAUNCHED_ENV], os.environ[RUN_NOTE_ENV] = "1", str(note)
    if saved["OMP_NUM_THREADS"] is None:  # the CPU's cores shared by this machine's ranks
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // plan.nproc_per_node))
    for name in list(logging.root.manager.loggerDict):  # the agent's own lines: ours say it in one
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    config = LaunchConfig(
        min_nodes=plan.nnodes, max_nodes=plan.nnodes, nproc_per_node=plan.nproc_per_node,
        run_id=f"cnn-gui-{port}", rdzv_backend="static", rdzv_endpoint=f"{host}:{port}",
        rdzv_configs={"rank": plan.node_rank, "timeout": _rdzv_timeout()}, max_restarts=0,
        monitor_interval=0.1, start_method="spawn", logs_specs=DefaultLogsSpecs(log_dir=str(folder / "logs")),
        shutdown_timeout=SHUTDOWN_SECONDS)
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "cnn_gui", *argv)
        return 0
    except Exception as exc:  # noqa: BLE001 - each becomes one line below
        raise _one_line(exc, note) from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(folder, ignore_errors=True)


def _one_line(exc: Exception, note: Path) -> BaseException:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    if isinstance(exc, SignalException):
        return KeyboardInterrupt()
    if isinstance(exc, ChildFailedError):
        rank, failure = first_failure(exc.failures)
        message = failure_line(failure.message, failure.exitcode, failure.error_file_data)
        line = f"rank {rank} failed: {message}"
        mark_run_failed(note, line, other=rank != 0)
        return RankFailed(line, mistake=failure.exitcode == 2)
    name = type(exc).__name__
    if "Rendezvous" in name or "timed out" in str(exc).lower():
        return LaunchError(f"the processes did not all meet at the rendezvous ({one_line(exc, 160)}); "
                           f"start every node with the same --nnodes and --rdzv-endpoint")
    return LaunchError(f"cannot start the processes: {name}: {one_line(exc, 200)}")


def first_failure(failures: dict) -> tuple[int, object]:
    """The (rank, failure) to name among the elastic agent's ``failures``, the cause first:

    0. a rank ended by a signal other than SIGTERM: a crash (SIGSEGV, SIGABRT), the
       out-of-memory killer, kill -9; the others then fail on its closed connections;
    1. a rank's own error line (or exit status), the earliest;
    2. a rank ended by SIGTERM: most often the launcher's, stopping the ranks still waiting
       on one that failed (one that left the group cleanly gives them no error);
    3. a rank's error that is only a broken connection to another rank (:func:`_secondary`).
    """
    return min(failures.items(), key=lambda item: _order(item[1]))


def _order(failure) -> tuple[int, float]:
    data = failure.error_file_data
    precise = data.get("cnn_gui_time") if isinstance(data, dict) else None
    own = isinstance(precise, (int, float))
    if own:
        return (3 if _secondary(data.get("message")) else 1), float(precise)
    if failure.exitcode < 0:
        return (2 if failure.exitcode == -signal.SIGTERM else 0), float(failure.timestamp)
    return 1, float(failure.timestamp)


# How torch's process group reports a peer that went away (gloo's and NCCL's words).
_BROKEN_LINK = ("DistBackendError", "DistNetworkError", "Connection closed by peer", "Connection reset by peer",
                "Broken pipe", "caused by a remote worker", "NCCL communicator was aborted")


def _secondary(message) -> bool:
    """Whether a rank's error line says only that another rank went away."""
    return isinstance(message, str) and any(words in message for words in _BROKEN_LINK)


def failure_line(message, exitcode: int, data) -> str:
    """What went wrong in a rank, in a line: its own error line, a signal, or its exit status."""
    if isinstance(data, dict) and isinstance(data.get("message"), str) and "cnn_gui_time" in data:
        return one_line(data["message"], 300)
    if exitcode < 0:
        return one_line(message, 200) + (" (killed: out of memory?)" if exitcode == -signal.SIGKILL else "")
    return f"it exited with status {exitcode}" + (" (killed: out of memory?)" if exitcode == 137 else "")


def mark_run_failed(note: Path, line: str, *, other: bool) -> None:
    """Rank 0's run.json, if it has one and it does not say failed already: failed, with ``line``."""
    from cnn_gui.core.files.safe_io import read_regular_text
    from cnn_gui.core.runs.layout import MAX_RUN_JSON_BYTES, RUN_FILE, RunsError, now_iso
    from cnn_gui.core.runs.strict_json import load_json
    from cnn_gui.core.runs.writer import write_info

    try:
        folder = Path(read_regular_text(note, 4096).strip())
        path = folder / RUN_FILE
        from cnn_gui.core.files.safe_io import read_regular

        doc = load_json(read_regular(path, MAX_RUN_JSON_BYTES), "run.json")
        if not isinstance(doc, dict):
            return
        if doc.get("status") != "failed":
            doc.update({"status": "failed", "ended": now_iso(), "end_reason": "failed"})
        hint = "Another process of the run failed; this one was stopped." if other else ""
        doc["error"] = {"kind": "error", "message": one_line(line), "hint": hint}
        write_info(path, doc)
    except (OSError, RunsError, ValueError):
        return  # no run folder yet (it failed before training), or none asked for


def rank_error(line: str) -> bool:
    """In a rank started by a launcher: ``line`` into its error file, for the launcher to report.
    True when our launcher says it (so the rank stays silent)."""
    target = os.environ.get(ERROR_FILE_ENV)
    if not target or os.environ.get("WORLD_SIZE", "1") in ("", "1"):
        return False
    from cnn_gui.core.files.safe_io import atomic_write

    now = time.time()
    try:
        atomic_write(Path(target), json.dumps({"message": line, "timestamp": int(now),
                                               "cnn_gui_time": now}).encode("utf-8"))
    except OSError:
        return False
    return os.environ.get(LAUNCHED_ENV) == "1"


def note_run_folder(folder: Path) -> None:
    """Rank 0 of our launcher: say where its run folder is, so a failure of another rank marks it."""
    target = os.environ.get(RUN_NOTE_ENV)
    if target:
        from cnn_gui.core.files.safe_io import atomic_write

        try:
            atomic_write(Path(target), str(folder).encode("utf-8"))
        except OSError:
            pass
