"""JobRunner: work off the GUI thread, outcomes on it, and nothing from jobs no one wants any more."""

import threading
import time

import pytest
import shiboken6
import torch
from PySide6.QtCore import QCoreApplication, QObject

from cnn_gui.core.training.cpu_threads import training_threads
from cnn_gui.gui.background.jobs import THREAD_PREFIX, JobRunner


def job_threads():
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def flush():
    """Handle every result already queued to the GUI thread."""
    QCoreApplication.processEvents()
    QCoreApplication.processEvents()


@pytest.fixture
def runner(qapp):
    runner = JobRunner()
    yield runner
    assert runner.shutdown(5)


class Seen(list):
    """Every delivery: ("done" | "error", value, name of the thread it arrived on)."""

    def done(self, value):
        self.append(("done", value, threading.current_thread().name))

    def error(self, exc):
        self.append(("error", exc, threading.current_thread().name))


@pytest.fixture
def got():
    return Seen()


def test_result_runs_off_and_arrives_on_the_gui_thread(qtbot, runner, got):
    with qtbot.waitSignal(runner.finished, timeout=5000):
        job = runner.submit(lambda a, b=0: (a + b, threading.current_thread().name), 2, b=3,
                            on_done=got.done, on_error=got.error, key="sum")
        assert runner.busy() and runner.pending("sum")
    assert got == [("done", (5, f"{THREAD_PREFIX}-sum"), threading.main_thread().name)]
    assert not runner.busy() and not runner.pending("sum")
    assert job.join(5) and job_threads() == []  # the thread ends with its job


def test_an_exception_arrives_on_the_gui_thread_as_the_object(qtbot, runner, got):
    error = ValueError("bad input")

    def fail():
        raise error

    runner.submit(fail, on_done=got.done, on_error=got.error)
    qtbot.waitUntil(lambda: len(got) == 1, timeout=5000)
    assert got == [("error", error, threading.main_thread().name)]


def test_a_newer_job_of_the_same_key_supersedes_the_older(qtbot, runner, got):
    gate_a, gate_b = threading.Event(), threading.Event()
    a = runner.submit(lambda: gate_a.wait(5) and "A", on_done=got.done, on_error=got.error, key="open")
    b = runner.submit(lambda: gate_b.wait(5) and "B", on_done=got.done, on_error=got.error, key="open")
    assert a.cancelled.is_set() and not b.cancelled.is_set()
    gate_a.set()
    assert a.join(5)
    flush()  # A's result, had it been sent, would be handled by now
    assert got == []
    gate_b.set()
    qtbot.waitUntil(lambda: len(got) == 1, timeout=5000)
    assert [value for _, value, _ in got] == ["B"]
    other = runner.submit(lambda: "other key", on_done=got.done, key="save")  # other keys are left alone
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert got[1][1] == "other key" and not other.cancelled.is_set()


def test_a_cancelled_job_never_delivers(qtbot, runner, got):
    # Cancelled while running: fn sees the Event it asked for, and its result is dropped.
    started, seen_cancel = threading.Event(), []

    def loop(cancel):
        started.set()
        while not cancel.wait(0.005):
            pass
        seen_cancel.append(cancel)
        return "finished anyway"

    running = runner.submit(loop, on_done=got.done, on_error=got.error, key="loop")
    assert started.wait(5)
    runner.cancel("loop")
    assert running.join(5) and seen_cancel == [running.cancelled]

    # Cancelled after fn returned, its result already queued: dropped at delivery.
    queued = runner.submit(lambda: "too late", on_done=got.done, on_error=got.error)
    assert queued.join(5)
    queued.cancel()

    # An error of a cancelled job is dropped too.
    def fail(cancel):
        cancel.wait(5)
        raise RuntimeError("after cancel")

    failing = runner.submit(fail, on_done=got.done, on_error=got.error)
    failing.cancel()
    assert failing.join(5)
    flush()
    assert got == [] and not runner.busy()


def test_cancel_is_passed_only_to_functions_that_take_it(qtbot, runner, got):
    def plain(x):
        return x

    def with_cancel(x, cancel):
        return x, cancel

    runner.submit(plain, 1, on_done=got.done, on_error=got.error)
    job = runner.submit(with_cancel, 2, on_done=got.done, on_error=got.error)
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    values = [value for kind, value, _ in got if kind == "done"]
    assert 1 in values and (2, job.cancelled) in values  # no TypeError for plain()


def test_shutdown_stops_a_job_in_flight_within_the_bound(qtbot, got):
    runner = JobRunner()
    started = threading.Event()

    def loop(cancel):
        started.set()
        while not cancel.is_set():
            time.sleep(0.001)
        return "stopped"

    runner.submit(loop, on_done=got.done, on_error=got.error, key="loop")
    assert started.wait(5) and len(job_threads()) == 1
    t0 = time.monotonic()
    assert runner.shutdown(2.0)
    assert time.monotonic() - t0 < 2.0
    assert job_threads() == []
    flush()
    assert got == [] and not runner.busy()
    with pytest.raises(RuntimeError):
        runner.submit(loop)
    assert runner.shutdown(0)  # twice is fine


def test_a_job_that_outlives_shutdown_never_calls_back(qtbot, got):
    runner = JobRunner()
    gate = threading.Event()
    job = runner.submit(lambda: gate.wait(5) and "late", on_done=got.done, on_error=got.error)  # ignores cancel
    assert not runner.shutdown(0.05)  # the bound holds even for a job that does not listen
    gate.set()
    assert job.join(5)
    flush()
    assert got == []


def test_deleting_the_owner_drops_queued_and_later_results(qtbot, got):
    owner = QObject()
    runner = JobRunner(owner)
    queued = runner.submit(lambda: "queued", on_done=got.done, on_error=got.error)
    assert queued.join(5)  # its result waits in the GUI thread's queue
    gate = threading.Event()
    later = runner.submit(lambda: gate.wait(5) and "later", on_done=got.done, on_error=got.error)
    shiboken6.delete(owner)  # deletes the runner with it, as closing a window does
    assert not shiboken6.isValid(runner)
    gate.set()
    assert later.join(5)
    flush()
    assert got == []


@pytest.mark.parametrize(("threads", "expected"), [("serial", 1), ("training", training_threads())])
def test_a_job_thread_runs_torch_with_the_threads_asked_for(qtbot, runner, got, threads, expected):
    runner.submit(torch.get_num_threads, on_done=got.done, on_error=got.error, threads=threads)
    qtbot.waitUntil(lambda: len(got) == 1, timeout=5000)
    assert got[0][:2] == ("done", expected)
    with pytest.raises(ValueError):
        runner.submit(torch.get_num_threads, threads="all")
