"""OpenMP threads per calling thread: a serial GUI thread, a training thread at full width."""

import os
import subprocess
import sys
import textwrap
import threading

import pytest
import torch

from cnn_gui.core.training import cpu_threads
from cnn_gui.core.config import TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.training.engine import Trainer
from cnn_gui.core.events import BatchEnded


@pytest.fixture
def two_training_threads():
    before = cpu_threads.training_threads()
    cpu_threads.set_training_threads(2)
    yield 2
    cpu_threads.set_training_threads(before)


def in_thread(fn):
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # re-raised on the test's thread
            result["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.mark.slow
def test_training_thread_runs_wide_while_the_gui_thread_stays_serial(two_training_threads):
    data = load_dataset("mnist").subset(300, 100)
    gui_ready, trained = threading.Event(), threading.Event()
    seen = {}

    def gui_thread():
        cpu_threads.make_this_thread_serial()
        gui_ready.set()
        trained.wait(120)
        return torch.get_num_threads()  # after the trainer asked for 2 on its own thread

    def training_thread():
        gui_ready.wait(30)
        during = []
        trainer = Trainer(TrainConfig(epochs=1, batch_size=100, max_batches=2, device="cpu"), data=data,
                          callbacks=[lambda ev: during.append(torch.get_num_threads())
                                     if isinstance(ev, BatchEnded) else None])
        end = trainer.fit()
        trained.set()
        return end.reason, during

    gui = threading.Thread(target=lambda: seen.__setitem__("gui", gui_thread()))
    gui.start()
    seen["trainer"] = in_thread(training_thread)
    gui.join(60)
    reason, during = seen["trainer"]
    assert reason == "completed"
    assert during and set(during) == {2}
    assert seen["gui"] == 1


def test_set_training_threads_refuses_zero_and_more_than_four_per_cpu(monkeypatch):
    before = cpu_threads.training_threads()
    monkeypatch.setattr(cpu_threads, "_training_threads", before)  # restored after the test
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert cpu_threads.max_training_threads() == 8
    for bad in (0, -1, 9, 512, 10**9):
        with pytest.raises(ValueError, match=r"threads must be from 1 to 8 \(4 per CPU\), got "):
            cpu_threads.set_training_threads(bad)
        assert cpu_threads.training_threads() == before  # unchanged
    cpu_threads.set_training_threads(8)
    assert cpu_threads.training_threads() == 8


def test_device_label_shows_the_training_threads(two_training_threads):
    from cnn_gui.core.devices import device_label

    in_thread(cpu_threads.make_this_thread_serial)
    assert device_label(torch.device("cpu")) == "CPU (2 threads)"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through Linux's /proc")
@pytest.mark.parametrize("serial", [True, False])
@pytest.mark.slow
def test_a_serial_thread_starts_no_openmp_team(serial):
    """The point of it: a GUI thread that owns no OpenMP team leaves libgomp spin-waiting
    for the training thread's team (more managed threads than CPUs makes it sleep instead)."""
    script = textwrap.dedent(f"""
        import os, torch
        from cnn_gui.core.training import cpu_threads
        torch.set_num_threads(2)
        if {serial}:
            cpu_threads.make_this_thread_serial()
        before = len(os.listdir("/proc/self/task"))
        torch.nn.functional.conv2d(torch.randn(32, 8, 64, 64), torch.randn(16, 8, 3, 3)).sum()
        print(len(os.listdir("/proc/self/task")) - before)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    new_threads = int(out.stdout.strip().splitlines()[-1])
    if serial:
        assert new_threads == 0
    else:
        assert new_threads >= 1  # the control: two OpenMP threads on this thread start a team
