"""The training thread count follows the machine's load: measured steps choose it, a
count the user chose is kept, and the engine's loop drives it."""

from __future__ import annotations

import pytest
import torch

from cnn_gui.core.training import thread_tuner
from cnn_gui.core.training.thread_tuner import KeepThreads, ThreadTuner, tuner_for


class FakeMachine:
    """Steps whose length depends on the thread count (seconds per step, by count)."""

    def __init__(self, step_seconds: dict[int, float], others: float | None = 1.0) -> None:
        self.step_seconds, self.now, self.threads = step_seconds, 0.0, max(step_seconds)
        self.others = others  # cores other programs use (None: cannot be measured)
        self.applied: list[int] = []

    def apply(self, count: int) -> None:
        self.threads = count
        self.applied.append(count)

    def clock(self) -> float:
        return self.now

    def train(self, tuner: ThreadTuner, steps: int) -> dict[int, int]:
        """Steps trained at each count."""
        at: dict[int, int] = {}
        for _ in range(steps):
            self.now += self.step_seconds[self.threads]
            at[self.threads] = at.get(self.threads, 0) + 1
            tuner.step_done()
        return at


def tuner(machine: FakeMachine, most: int = 2, hold: float = 15.0) -> ThreadTuner:
    return ThreadTuner(most, apply=machine.apply, clock=machine.clock, probe_steps=5, hold_seconds=hold,
                       first_check_seconds=0.0, others=lambda: machine.others)


def test_a_busy_core_makes_the_run_use_one_thread():
    busy = FakeMachine({2: 0.070, 1: 0.037})  # as measured: 915 vs 1,718 samples/s
    t = tuner(busy)
    busy.train(t, 20)
    assert t.choices == [1] and t.current == 1 and busy.threads == 1 and not t.probing


def test_an_idle_machine_never_changes_its_count_so_a_run_repeats_bit_for_bit():
    idle = FakeMachine({2: 0.035, 1: 0.030}, others=0.1)  # even were one thread faster
    t = tuner(idle, hold=1.0)
    idle.train(t, 500)
    assert idle.applied == [] and t.choices == [] and not t.probing


def test_a_busy_machine_keeps_its_threads_when_one_is_only_nearly_as_fast():
    busy = FakeMachine({2: 0.035, 1: 0.060})
    t = tuner(busy)
    busy.train(t, 20)
    assert t.choices == [2] and busy.threads == 2 and busy.applied == [1, 2]  # one probe at 1
    close = FakeMachine({2: 0.035, 1: 0.034})  # 1 thread faster by under 5 %: noise
    t = tuner(close)
    close.train(t, 20)
    assert t.choices == [2] and close.threads == 2


def test_where_the_load_cannot_be_measured_the_run_probes():
    unknown = FakeMachine({2: 0.070, 1: 0.037}, others=None)
    t = tuner(unknown)
    unknown.train(t, 20)
    assert t.choices == [1]


def test_the_first_look_waits_for_some_training():
    busy = FakeMachine({2: 0.070, 1: 0.037})
    t = ThreadTuner(2, apply=busy.apply, clock=busy.clock, others=lambda: busy.others, first_check_seconds=2.0)
    busy.train(t, 25)  # 1.75 s
    assert busy.applied == [] and not t.probing
    busy.train(t, 5)
    assert t.probing and busy.applied == []  # timing the count it has first


def test_the_count_follows_a_program_that_starts_and_stops_beside_the_run():
    machine = FakeMachine({2: 0.035, 1: 0.060}, others=0.0)
    t = tuner(machine, hold=1.0)
    machine.train(t, 100)
    assert t.choices == [] and machine.applied == []
    machine.step_seconds, machine.others = {2: 0.070, 1: 0.037}, 1.0  # a compiler starts
    machine.train(t, 40)
    at = machine.train(t, 200)
    assert set(t.choices[-5:]) == {1} and at[1] > 0.75 * 200  # the rest: re-probes at 2
    machine.step_seconds, machine.others = {2: 0.035, 1: 0.060}, 0.0  # and ends
    machine.train(t, 40)
    at = machine.train(t, 200)
    assert machine.threads == 2 and at == {2: 200}  # back to all the threads, without probing


def test_a_gap_that_is_not_training_is_not_timed():
    machine = FakeMachine({2: 0.035, 1: 0.060})
    t = tuner(machine)
    machine.train(t, 3)
    t.restart()
    machine.now += 30.0  # a test pass, a pause: it would make 2 threads look slow
    machine.train(t, 20)
    assert t.choices == [2]


def test_more_cores_try_half_of_the_threads_too():
    machine = FakeMachine({8: 0.050, 4: 0.030, 1: 0.080})
    t = tuner(machine, most=8)
    assert t.candidates == [8, 4, 1]
    machine.train(t, 30)
    assert t.choices == [4] and machine.threads == 4
    with pytest.raises(ValueError, match="2 or more threads"):
        ThreadTuner(1)


def test_only_a_cpu_run_with_threads_the_user_left_alone_adapts(monkeypatch):
    monkeypatch.setattr(thread_tuner, "training_threads", lambda: 2)
    monkeypatch.setattr(thread_tuner, "threads_chosen_by_user", lambda: False)
    assert isinstance(tuner_for(torch.device("cpu")), ThreadTuner)
    assert isinstance(tuner_for(torch.device("cuda")), KeepThreads)
    monkeypatch.setattr(thread_tuner, "threads_chosen_by_user", lambda: True)  # --threads, OMP_NUM_THREADS
    assert isinstance(tuner_for(torch.device("cpu")), KeepThreads)
    monkeypatch.setattr(thread_tuner, "threads_chosen_by_user", lambda: False)
    monkeypatch.setattr(thread_tuner, "training_threads", lambda: 1)
    assert isinstance(tuner_for(torch.device("cpu")), KeepThreads)


def test_other_programs_load_is_the_machines_busy_time_less_this_processs(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    clock = {"now": 100.0, "own": 5.0}
    monkeypatch.setattr(thread_tuner.time, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(thread_tuner.os, "times", lambda: type("T", (), {"user": clock["own"], "system": 0.0})())
    tick = thread_tuner.os.sysconf("SC_CLK_TCK")

    def write(user, system, idle):  # the machine's jiffies: user nice system idle iowait irq softirq steal
        stat.write_text(f"cpu  {user} 0 {system} {idle} 0 0 0 0 0 0\ncpu0 0 0 0 0\n")

    write(1000, 200, 5000)
    load = thread_tuner.OtherLoad(str(stat))
    # 2 s later: 3 s of busy time on the machine, 2 s of it this process's own threads
    clock["now"], clock["own"] = 102.0, 7.0
    write(1000 + 2 * tick, 200 + tick, 5000 + tick)
    assert load.cores() == pytest.approx(0.5)
    clock["now"], clock["own"] = 104.0, 11.0  # only this process (2 cores for 2 s)
    write(1000 + 6 * tick, 200 + tick, 5000 + tick)
    assert load.cores() == pytest.approx(0.0)
    assert thread_tuner.OtherLoad(str(tmp_path / "missing")).cores() is None


def test_set_training_threads_is_the_users_choice():
    from cnn_gui.core.training import cpu_threads

    before = cpu_threads.training_threads()
    try:
        cpu_threads.set_training_threads(1)
        assert cpu_threads.threads_chosen_by_user()
    finally:
        cpu_threads.set_training_threads(before)


@pytest.mark.slow
def test_the_engine_probes_and_trains_at_the_chosen_count(monkeypatch):
    """A real CPU run: the loop times its steps, the tuner switches the training thread's
    OpenMP count, and the run ends at the count it chose."""
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.training.engine import Trainer

    made: list[ThreadTuner] = []
    counts: list[int] = []

    def make(device):
        made.append(ThreadTuner(2, probe_steps=3, hold_seconds=0.0, first_check_seconds=0.0, others=lambda: 1.0,
                                apply=lambda n: (torch.set_num_threads(n), counts.append(torch.get_num_threads()))))
        return made[-1]

    monkeypatch.setattr("cnn_gui.core.training.engine.tuner_for", make)
    before = torch.get_num_threads()
    try:
        data = load_dataset("mnist").subset(2000, 200)
        Trainer(TrainConfig(device="cpu", epochs=1, max_batches=40, batch_size=50), data=data).fit()
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    t = made[0]
    assert counts and set(counts) <= {1, 2} and 1 in counts  # it tried one thread on the real loop
    assert len(t.choices) >= 2  # probed again and again (hold 0 s)
    assert after == t.current  # the training thread runs at the count chosen last
