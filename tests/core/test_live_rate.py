"""A learning rate changed during a run (issue 21): applied from the next batch, recorded."""

import json

import pytest
import torch

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.data.datasets import load_dataset
from cnn_gui.core.events import BatchEnded, RateChanged
from cnn_gui.core.training.control import RunControl
from cnn_gui.core.training.engine import Trainer
from cnn_gui.core.training.optim import change_rate


@pytest.fixture(scope="module")
def small():
    return load_dataset("mnist").subset(1000, 100)


def run_with_change(small, schedule, new_rate, at_step=3, tmp_path=None):
    control = RunControl()
    events, rates = [], []

    def on_event(ev):
        events.append(ev)
        if isinstance(ev, BatchEnded):
            rates.append((ev.step, trainer.optimizer.param_groups[0]["lr"]))
            if ev.step == at_step:
                control.request_rate(new_rate)

    config = TrainConfig(epochs=1, max_batches=8, batch_size=50, device="cpu", lr=1e-3, schedule=schedule,
                         report_interval=0.0)
    callbacks = [on_event]
    if tmp_path is not None:
        from cnn_gui.core.runs.writer import RunWriter

        writer = RunWriter(tmp_path, config.to_dict(), source="cli")
        callbacks.append(writer)
    trainer = Trainer(config, data=small, callbacks=callbacks, control=control)
    if tmp_path is not None:
        writer.bind(trainer)
    trainer.fit()
    return trainer, events, dict(rates)


@pytest.mark.slow
def test_a_constant_rate_changes_from_the_next_batch_and_is_recorded(small, tmp_path):
    trainer, events, rates = run_with_change(small, "constant", 5e-4, tmp_path=tmp_path)
    changed = [e for e in events if isinstance(e, RateChanged)]
    assert changed == [RateChanged(step=3, lr=5e-4, previous=1e-3)]
    assert rates[3] == 1e-3 and rates[4] == 5e-4 and rates[8] == 5e-4
    assert trainer.config.lr == 5e-4  # the recipe a checkpoint records
    run_json = json.loads(next(tmp_path.glob("*/run.json")).read_text())
    assert run_json["rate_changes"][0]["step"] == 3 and run_json["rate_changes"][0]["lr"] == 5e-4


@pytest.mark.slow
def test_one_cycle_is_scaled_so_its_peak_is_the_new_rate(small):
    _, _, plain = run_with_change(small, "onecycle", 1e-3, at_step=99)  # never changed
    trainer, events, scaled = run_with_change(small, "onecycle", 2e-3, at_step=3)
    assert [e.previous for e in events if isinstance(e, RateChanged)] == [pytest.approx(1e-3)]
    assert scaled[3] == pytest.approx(plain[3])
    for step in range(4, 9):  # every later rate of the schedule doubled
        assert scaled[step] == pytest.approx(2 * plain[step], rel=1e-6)
    assert trainer.optimizer.param_groups[0]["max_lr"] == pytest.approx(2e-3)


def test_a_request_is_taken_once_and_nonsense_is_refused():
    control = RunControl()
    control.request_rate(0.01)
    control.request_rate(0.02)  # the latest wins
    assert control.take_rate() == 0.02 and control.take_rate() is None
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            control.request_rate(bad)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    assert change_rate(opt, None, 0.5) == 0.1 and opt.param_groups[0]["lr"] == 0.5
