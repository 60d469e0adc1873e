"""Running a call that might hang, so that a regression fails the test instead of blocking CI."""

from __future__ import annotations

import threading
import time


def finishes(fn, seconds: float = 5.0):
    """``fn()``'s result (its exception re-raised here), failing when it takes longer than ``seconds``."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - SystemExit included: handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def timed(fn, seconds: float = 5.0):
    """(``fn()``'s result, the seconds it took), failing as :func:`finishes` does."""
    started = time.perf_counter()
    value = finishes(fn, seconds)
    return value, time.perf_counter() - started
