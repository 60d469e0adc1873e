import csv
import math

import numpy as np
import pytest
from PySide6.QtGui import QImage

from cnn_gui.core.events import BatchEnded, EpochEnded
from cnn_gui.core.files.metrics_csv import CSV_HEADER
from cnn_gui.gui.panels.training_plots.view import TrainingPlots


def epoch_event(epoch, train_acc, test_acc):
    return EpochEnded(epoch=epoch, train_loss=0.5 / epoch, train_accuracy=train_acc,
                      test_loss=0.3 / epoch, test_accuracy=test_acc, seconds=10.0 + epoch,
                      samples_per_sec=6000.0, lr=1e-3)


def batch_event(step, loss, acc, epoch=1, bpe=1000):
    return BatchEnded(epoch=epoch, batch=(step - 1) % bpe + 1, batches_per_epoch=bpe, step=step,
                      loss=loss, accuracy=acc, samples_per_sec=1000.0, eta_seconds=5.0, lr=0.01)


@pytest.fixture
def plots(qtbot):
    w = TrainingPlots()
    qtbot.addWidget(w)
    w.resize(800, 600)
    return w


def original(curve):
    ds = curve.getOriginalDataset()
    return (np.array([]), np.array([])) if ds[0] is None else ds


EPOCHS = [(0.93, 0.975), (0.982, 0.9852), (0.9881, 0.9891)]


def test_epoch_curves_hold_epochs_and_percent(plots):
    for e, (tr, te) in enumerate(EPOCHS, 1):
        plots.add_epoch(epoch_event(e, tr, te))
    x, y = plots.train_acc_curve.getData()
    np.testing.assert_array_equal(x, [1, 2, 3])
    np.testing.assert_allclose(y, [93.0, 98.2, 98.81])
    x, y = plots.test_acc_curve.getData()
    np.testing.assert_array_equal(x, [1, 2, 3])
    np.testing.assert_allclose(y, [97.5, 98.52, 98.91])
    assert plots.test_label_text == "test 98.91%"
    series = plots.epoch_series()
    np.testing.assert_allclose(series["test_accuracy"], [97.5, 98.52, 98.91])
    np.testing.assert_allclose(series["train_loss"], [0.5, 0.25, 0.5 / 3])


def test_accuracy_plot_is_labelled_accuracy_never_loss(plots):
    plots.add_epoch(epoch_event(1, 0.9, 0.95))
    labels = [label.text for _, label in plots.accuracy_legend.items]
    assert labels == ["train accuracy", "test accuracy"]
    plot = plots.accuracy_plot
    texts = labels + [plot.titleLabel.text]
    texts += [plot.getAxis(name).labelText for name in ("left", "bottom", "right", "top")]
    assert plot.getAxis("left").labelText == "accuracy (%)"
    assert plot.getAxis("bottom").labelText == "epoch"
    assert plot.titleLabel.text == "Accuracy per epoch"
    assert not any("loss" in t.lower() for t in texts)


def test_batch_plot_has_two_named_series_and_two_axes(plots):
    labels = [label.text for _, label in plots.batch_legend.items]
    assert len(labels) == 2 and "loss" in labels[0] and "accuracy" in labels[1]
    plot = plots.batch_plot
    assert plot.getAxis("left").labelText == "loss"
    assert plot.getAxis("right").labelText == "accuracy (%)"
    assert plot.getAxis("bottom").labelText == "step"
    # the accuracy curve lives in the second ViewBox, x-linked to the loss ViewBox
    acc_view = plots.batch_acc_curve.getViewBox()
    assert acc_view is not plot.vb
    assert acc_view.linkedView(acc_view.XAxis) is plot.vb
    assert plots.batch_loss_curve.opts["clipToView"]
    assert plots.batch_loss_curve.opts["autoDownsample"]
    assert plots.batch_acc_curve.opts["downsampleMethod"] == "peak"


def test_add_batch_is_drawn_on_flush_only(plots):
    steps = np.arange(1, 501)
    losses = 1.0 / steps
    accs = np.linspace(0.5, 0.99, 500)
    for s, l, a in zip(steps, losses, accs):
        plots.add_batch(batch_event(int(s), float(l), float(a)))
    assert original(plots.batch_loss_curve)[0].size == 0  # only buffered so far
    plots.flush()
    x, y = original(plots.batch_loss_curve)
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_allclose(y, losses)
    x, y = original(plots.batch_acc_curve)
    np.testing.assert_array_equal(x, steps)
    np.testing.assert_allclose(y, accs * 100)
    series = plots.batch_series()
    assert series["step"].size == 500
    np.testing.assert_allclose(series["accuracy"], accs * 100)


def test_timer_draws_pending_batches_then_stops(plots, qtbot):
    plots.add_batch(batch_event(1, 1.0, 0.5))
    qtbot.waitUntil(lambda: original(plots.batch_loss_curve)[0].size == 1, timeout=2000)
    qtbot.waitUntil(lambda: not plots._timer.isActive(), timeout=2000)


def test_curves_are_persistent(plots):
    curves = (plots.train_acc_curve, plots.test_acc_curve, plots.batch_loss_curve, plots.batch_acc_curve)
    plots.add_epoch(epoch_event(1, 0.9, 0.95))
    plots.add_batch(batch_event(1, 1.0, 0.5))
    plots.flush()
    plots.clear()
    plots.set_history([epoch_event(1, 0.9, 0.95).to_dict()])
    assert (plots.train_acc_curve, plots.test_acc_curve, plots.batch_loss_curve, plots.batch_acc_curve) == curves
    assert all(c.scene() is not None for c in curves)


def test_set_history_replaces_epoch_data(plots):
    for e, (tr, te) in enumerate(EPOCHS, 1):
        plots.add_epoch(epoch_event(e, tr, te))
    plots.add_batch(batch_event(1, 1.0, 0.5))
    history = [epoch_event(1, 0.8, 0.85).to_dict(), epoch_event(2, 0.9, 0.92).to_dict()]
    plots.set_history(history)
    x, y = plots.test_acc_curve.getData()
    np.testing.assert_array_equal(x, [1, 2])
    np.testing.assert_allclose(y, [85.0, 92.0])
    assert plots.test_label_text == "test 92.00%"
    assert plots.batch_series()["step"].size == 1  # batches untouched
    # a dict with only the needed keys (older history) works too
    plots.set_history([{"epoch": 1, "train_accuracy": 0.5, "test_accuracy": 0.6}])
    assert math.isnan(plots.epoch_series()["test_loss"][0])


def test_resumed_epoch_or_step_replaces_the_tail(plots):
    for e in (1, 2, 3):
        plots.add_epoch(epoch_event(e, 0.9, 0.9))
    plots.add_epoch(epoch_event(2, 0.5, 0.5))
    np.testing.assert_array_equal(plots.epoch_series()["epoch"], [1, 2])
    for s in range(1, 11):
        plots.add_batch(batch_event(s, 1.0, 0.5))
    plots.add_batch(batch_event(6, 2.0, 0.1))
    plots.flush()
    np.testing.assert_array_equal(original(plots.batch_loss_curve)[0], [1, 2, 3, 4, 5, 6])


def test_non_finite_loss_turns_the_finite_check_back_on(plots):
    assert plots.batch_loss_curve.opts["skipFiniteCheck"]
    plots.add_batch(batch_event(1, float("nan"), 0.5))
    plots.flush()
    assert not plots.batch_loss_curve.opts["skipFiniteCheck"]
    plots.clear()
    assert plots.batch_loss_curve.opts["skipFiniteCheck"]


def test_clear_empties_everything(plots):
    plots.add_epoch(epoch_event(1, 0.9, 0.95))
    for s in range(1, 50):
        plots.add_batch(batch_event(s, 1.0, 0.5))
    plots.flush()
    plots.clear()
    for curve in (plots.train_acc_curve, plots.test_acc_curve, plots.batch_loss_curve, plots.batch_acc_curve):
        assert original(curve)[0].size == 0
    assert all(v.size == 0 for v in plots.epoch_series().values())
    assert all(v.size == 0 for v in plots.batch_series().values())
    assert plots.test_label_text == ""
    assert plots.batch_capacity == TrainingPlots.INITIAL_BATCH_CAPACITY


def test_export_png_writes_a_real_image(plots, tmp_path):
    for e, (tr, te) in enumerate(EPOCHS, 1):
        plots.add_epoch(epoch_event(e, tr, te))
    for s in range(1, 200):
        plots.add_batch(batch_event(s, 1.0 / s, min(0.99, 0.5 + s / 400)))
    path = plots.export_png(tmp_path / "curves.png")
    assert path == tmp_path / "curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = QImage(str(path))
    assert not image.isNull() and image.width() > 100 and image.height() > 100
    # not a blank page: many distinct colours (curves, text, axes)
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 5


def test_export_csv_round_trip(plots, tmp_path):
    for e, (tr, te) in enumerate(EPOCHS, 1):
        plots.add_epoch(epoch_event(e, tr, te))
    for s in range(1, 6):
        plots.add_batch(batch_event(s, 1.0 / s, 0.1 * s, epoch=1 + (s > 3)))
    path = plots.export_csv(tmp_path / "curves.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
        fh.seek(0)
        assert tuple(next(csv.reader(fh))) == CSV_HEADER
    batches = [r for r in rows if r["kind"] == "batch"]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    assert len(batches) == 5 and len(epochs) == 3 and len(rows) == 8
    assert [int(r["step"]) for r in batches] == [1, 2, 3, 4, 5]
    assert [int(r["epoch"]) for r in batches] == [1, 1, 1, 2, 2]
    assert float(batches[2]["train_loss"]) == 1.0 / 3
    assert float(batches[2]["train_accuracy"]) == 0.1 * 3  # a fraction, as in the events
    assert float(batches[0]["lr"]) == 0.01
    assert batches[0]["test_accuracy"] == "" and batches[0]["seconds"] == ""
    assert [int(r["epoch"]) for r in epochs] == [1, 2, 3]
    assert [float(r["test_accuracy"]) for r in epochs] == [te for _, te in EPOCHS]
    assert [float(r["train_accuracy"]) for r in epochs] == [tr for tr, _ in EPOCHS]
    assert float(epochs[1]["test_loss"]) == 0.3 / 2
    assert float(epochs[2]["seconds"]) == 13.0
    assert epochs[0]["step"] == ""


def test_hundred_thousand_batch_points(plots):
    n = 100_000
    initial = TrainingPlots.INITIAL_BATCH_CAPACITY
    seen_capacities = {plots.batch_capacity}
    for s in range(1, n + 1):
        plots.add_batch(batch_event(s, 1.0 / s, 0.9))
        seen_capacities.add(plots.batch_capacity)
    plots.flush()
    x, y = original(plots.batch_loss_curve)
    assert x.size == n and y.size == n
    assert x[-1] == n and y[-1] == pytest.approx(1.0 / n)
    assert original(plots.batch_acc_curve)[0].size == n
    # every capacity the buffer had is the initial size times a power of two
    for cap in seen_capacities:
        ratio = cap // initial
        assert cap == ratio * initial and ratio & (ratio - 1) == 0
    assert plots.batch_capacity == initial * 2 ** math.ceil(math.log2(n / initial))
    assert plots.batch_capacity >= n


def feed(plots, steps, loss, acc):
    """Batches at ``steps`` with a constant loss and accuracy, drawn at once."""
    for s in steps:
        plots.add_batch(batch_event(s, loss, acc))
    plots.flush()


def view_ranges(plots):
    (x, loss), acc = plots.batch_plot.vb.viewRange(), plots.batches.acc_view.viewRange()[1]
    return tuple(x), tuple(loss), tuple(acc)


def test_batch_plot_spans_the_planned_run_and_round_loss_range(plots):
    plots.plan_steps(1200)
    for s in range(1, 301):
        plots.add_batch(batch_event(s, 2.3 / (1 + 0.05 * s), min(0.99, 0.1 + s / 300)))
    plots.flush()
    x, loss, acc = view_ranges(plots)
    assert x == pytest.approx((0, 1200))  # the curve fills the plot left to right
    assert loss == pytest.approx((0, 2.5))  # 0 to a round number above the highest loss (2.19)
    assert acc == pytest.approx((0, 100.5))
    assert plots.following


def test_axes_stay_put_while_the_run_goes_on(plots):
    """Redraws that don't move an axis are what keeps a 2-core machine training at speed."""
    plots.plan_steps(1000)
    feed(plots, range(1, 11), 2.0, 0.3)
    before = view_ranges(plots)
    ticks_before = plots.batch_plot.getAxis("left").tickValues(*before[1], 400)
    for s in range(11, 600):
        plots.add_batch(batch_event(s, 2.0 / (1 + 0.01 * s), 0.3 + 0.001 * s))
        if s % 50 == 0:
            plots.flush()
            assert view_ranges(plots) == before
    assert plots.batch_plot.getAxis("left").tickValues(*view_ranges(plots)[1], 400) == ticks_before


def test_step_axis_grows_in_round_steps_past_the_plan(plots):
    feed(plots, range(1, 131), 1.0, 0.5)  # no plan at all (e.g. history without a run)
    assert view_ranges(plots)[0] == pytest.approx((0, 150))  # round, above 1.1 x 130
    plots.plan_steps(100)  # a plan the run has already passed is ignored
    plots.flush()
    assert view_ranges(plots)[0] == pytest.approx((0, 150))


def test_a_higher_loss_raises_the_loss_axis_and_a_resumed_tail_lowers_it(plots):
    plots.plan_steps(100)
    feed(plots, range(1, 11), 0.7, 0.5)
    assert view_ranges(plots)[1] == pytest.approx((0, 0.8))
    plots.add_batch(batch_event(11, 3.2, 0.5))
    plots.flush()
    assert view_ranges(plots)[1] == pytest.approx((0, 4.0))
    plots.add_batch(batch_event(11, 0.6, 0.5))  # the run resumed from step 10: the spike is gone
    plots.flush()
    assert view_ranges(plots)[1] == pytest.approx((0, 0.8))


def test_zooming_by_hand_stops_following_and_follow_run_resumes(plots):
    plots.plan_steps(1000)
    feed(plots, range(1, 101), 1.0, 0.5)
    vb = plots.batch_plot.vb
    vb.sigRangeChangedManually.emit([True, True])  # what a mouse wheel or drag emits
    vb.setRange(xRange=(20, 40), padding=0)
    assert not plots.following
    feed(plots, range(101, 201), 0.5, 0.6)
    assert view_ranges(plots)[0] == pytest.approx((20, 40))  # the user's zoom is kept
    plots.follow_run()
    assert plots.following
    assert view_ranges(plots)[0] == pytest.approx((0, 1000))


def test_clear_follows_again_with_a_neutral_frame(plots):
    plots.plan_steps(1000)
    plots.batch_plot.vb.sigRangeChangedManually.emit([True, True])
    plots.clear()
    assert plots.following
    x, loss, acc = view_ranges(plots)
    assert (x, loss, acc) == (pytest.approx((0, 10)), pytest.approx((0, 2.5)), pytest.approx((0, 100.5)))


@pytest.mark.parametrize("value, expected", [(0.07, 0.08), (1.0, 1.0), (1.01, 1.5), (2.19, 2.5),
                                             (3.1, 4.0), (8.5, 10.0), (130, 150), (0, 1.0)])
def test_round_up(value, expected):
    from cnn_gui.gui.panels.training_plots.batch_plot import round_up

    assert round_up(value) == pytest.approx(expected)


def test_integer_axis_ticks_whole_numbers_only(qtbot):
    from cnn_gui.gui.widgets.axes import IntegerAxis

    axis = IntegerAxis("bottom")
    for lo, hi in ((0.75, 3.25), (0.5, 1.5), (-0.5, 40.5)):
        values = [v for _, level in axis.tickValues(lo, hi, 400) for v in level]
        assert values and all(float(v).is_integer() and lo <= v <= hi for v in values), (lo, hi, values)
    assert [v for _, level in axis.tickValues(0.75, 1.25, 400) for v in level] == [1.0]
    assert axis.tickStrings([1.0, 2.0, 10.0], 1.0, 1.0) == ["1", "2", "10"]
