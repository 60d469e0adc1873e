"""Training threads that adapt to a CPU shared with other programs.

OpenMP's threads wait for each other at the end of every parallel region (a training step
has ~100). When another program holds one of the cores, the thread that runs there gets
its turn late and the others wait on it: on a 2-core machine with one core busy, 2
threads trained at 915 samples/s and 1 thread at 1,718 (the idle machine: 2 threads
faster). No fixed count is right for both, so the count is chosen from measured step
times while the run trains:

- a *probe* times a few steps at each candidate count (all the threads, half of them on a
  machine with 4 or more, one), the first step after each switch not counted (the new
  team starts up);
- the run then trains at the fastest, a count with fewer threads only when it is more
  than 5 % faster (so an idle machine keeps its threads whatever the noise);
- the probe is repeated every ``hold_seconds`` of training, so a run follows a browser or
  a compiler that starts or stops beside it. Its cost: at most ``probe_steps`` steps at a
  slower count per probe (under 1 % of an idle run's steps at the defaults).

A probe runs only while other programs keep the CPU busy (:class:`OtherLoad`: at least
``BUSY_CORES`` of a core, averaged since the last look, first after ``first_check_seconds``;
on a system without ``/proc/stat`` every look counts as busy). So on an idle machine a run
never changes its count, and a CPU run repeats bit for bit (a resume included: the order in
which threads add partial sums changes the last bits, so a run that switched counts is the
same run up to rounding, not bit-exact). When the other programs stop, the run goes back to
all its threads. ``--threads N`` pins the count for bit-exact repeats on a busy machine.

Only the wall time between consecutive steps is measured; :meth:`ThreadTuner.restart`
drops the gap over a pause, a test pass or an epoch's end. A count the user chose
(``cnn-gui train --threads``, ``OMP_NUM_THREADS``) is never changed: see
:func:`cnn_gui.core.training.cpu_threads.threads_chosen_by_user`.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Callable

import torch

from cnn_gui.core.training.cpu_threads import threads_chosen_by_user, training_threads

PREFER_MORE = 1.05  # fewer threads must be this much faster to be chosen
BUSY_CORES = 0.3  # other programs' use of the CPU, in cores, that makes a run probe


class OtherLoad:
    """How many cores other programs used since the last call: the whole machine's busy
    time (``/proc/stat``) less this process's own (``os.times``, all its threads)."""

    def __init__(self, stat: str = "/proc/stat") -> None:
        self._stat = stat
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, float] | None:
        try:
            with open(self._stat, encoding="ascii") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        if len(fields) < 4:
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        busy = (sum(fields[:8]) - idle) / self._tick  # guest time is counted in user already
        own = os.times()
        return time.monotonic(), busy, own.user + own.system

    def cores(self) -> float | None:
        """Cores used by others since the last call; None where it cannot be measured."""
        now = self._sample()
        last, self._last = self._last, now
        if now is None or last is None or now[0] - last[0] <= 0:
            return None
        return max(0.0, ((now[1] - last[1]) - (now[2] - last[2])) / (now[0] - last[0]))


class ThreadTuner:
    """Call :meth:`step_done` after each training step on the training thread;
    ``apply(count)`` (``torch.set_num_threads``) runs there too."""

    def __init__(self, most: int, *, apply: Callable[[int], None] = torch.set_num_threads,
                 clock: Callable[[], float] = time.perf_counter, probe_steps: int = 5,
                 hold_seconds: float = 15.0, first_check_seconds: float = 2.0,
                 others: Callable[[], float | None] | None = None) -> None:
        if most < 2:
            raise ValueError(f"a thread tuner needs 2 or more threads to choose from, not {most}")
        self.candidates = sorted({most, 1} | ({most // 2} if most >= 4 else set()), reverse=True)
        self.most = self.current = most
        self._apply, self._clock = apply, clock
        self._others = others if others is not None else OtherLoad().cores
        self._probe_steps, self._hold_seconds = probe_steps, hold_seconds
        self._last: float | None = None
        self._skip = 0  # steps not timed: the first one at a new count starts its team
        self._times: list[float] = []
        self._measured: dict[int, float] = {}
        self._queue: list[int] = []  # the counts a probe still has to time
        self._held = hold_seconds - first_check_seconds  # seconds at the count since the last look
        self.choices: list[int] = []  # every count chosen after a probe, in order

    @property
    def probing(self) -> bool:
        return bool(self._queue)

    def restart(self) -> None:
        """The next step starts after a gap that is not training (a pause, a test pass)."""
        self._last = None

    def step_done(self) -> None:
        now = self._clock()
        last, self._last = self._last, now
        if last is None:
            return
        seconds = now - last
        if self._skip:
            self._skip -= 1
            return
        if not self._queue:
            self._held += seconds
            if self._held >= self._hold_seconds:
                self._look()
            return
        self._times.append(seconds)
        if len(self._times) < self._probe_steps:
            return
        self._measured[self._queue.pop(0)] = statistics.median(self._times)
        self._times = []
        if self._queue:
            self._switch(self._queue[0])
        else:
            self._decide()

    def _look(self) -> None:
        self._held = 0.0
        others = self._others()
        if others is not None and others < BUSY_CORES:
            self._switch(self.most)  # the machine is free (again): all the threads
            return
        self._queue = [self.current] + [c for c in self.candidates if c != self.current]
        self._measured, self._times = {}, []  # the current count first: its team is warm

    def _decide(self) -> None:
        fastest = min(self._measured.values())
        chosen = max(c for c, t in self._measured.items() if t <= fastest * PREFER_MORE)
        self.choices.append(chosen)
        self._held = 0.0
        self._switch(chosen)

    def _switch(self, count: int) -> None:
        if count != self.current:
            self._apply(count)
            self.current = count
            self._skip = 1
        self._last = None


class KeepThreads:
    """The tuner of a run whose thread count stays as it is."""

    def restart(self) -> None:
        pass

    def step_done(self) -> None:
        pass


def tuner_for(device: torch.device) -> ThreadTuner | KeepThreads:
    """A tuner for a run on ``device``: on the CPU, with 2 or more training threads that the
    user did not choose; else one that keeps the count."""
    if device.type != "cpu" or threads_chosen_by_user() or training_threads() < 2:
        return KeepThreads()
    return ThreadTuner(training_threads())
