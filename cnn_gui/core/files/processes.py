"""Whether the process that wrote a file still runs: its pid, and on Linux its start time.

A run folder records its writer's pid, host and start time; a temporary file of an
interrupted save carries its writer's pid in its name. Both ask here whether that
writer is gone, without ever signalling it (on Windows ``os.kill(pid, 0)`` would end it).
"""

from __future__ import annotations

import os
import socket


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    try:
        return int(raw[raw.rindex(b")") + 2:].split()[19])
    except (ValueError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs here (someone else's counts)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if os.name == "nt":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except (OSError, OverflowError):  # a pid no process can have
        return False
    return True


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def writer_alive(pid: object, hostname: object, pid_started: object = None) -> bool | None:
    """Whether the process that wrote a run still runs: None when it cannot be told (another host)."""
    if not _is_int(pid) or not isinstance(hostname, str):
        return None
    if hostname != socket.gethostname():
        return None
    if not pid_alive(pid):
        return False
    if _is_int(pid_started):
        now = process_start(pid)
        if now is not None and now != pid_started:
            return False  # the pid was reused by another process
    return True
