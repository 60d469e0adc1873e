"""Issue 17's trial, Runs tab: the overlay's "samples seen" axis has readable ticks on both plots
and one clean label (no "(thousands) (x0.001)", no labels running into each other)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnn_gui.core.events import BatchEnded, EpochEnded, FitEnded, FitStarted
from cnn_gui.core.runs.writer import RunWriter
from cnn_gui.gui.panels.runs.axes import count_texts
from cnn_gui.gui.panels.runs.curves import X_AXES
from cnn_gui.gui.panels.runs.view import RunsView

CONFIG = {"model": "mnist-cnn", "dataset": "folder:shapes", "lr": 0.001, "optimizer": "adam",
          "schedule": "constant", "seed": 0, "device": "cpu"}


def write_run(runs_dir, name: str, train: int, batch_size: int, epochs: int) -> Path:
    bpe = max(1, -(-train // batch_size))
    writer = RunWriter(runs_dir, {**CONFIG, "epochs": epochs, "batch_size": batch_size}, name=name,
                       preset="tutorial", save_checkpoint=lambda path: Path(path).write_bytes(b"weights"))
    writer(FitStarted(device="cpu", device_label="CPU", model="mnist-cnn", dataset="folder:shapes", train_size=train,
                      test_size=18, batch_size=batch_size, batches_per_epoch=bpe, epochs=epochs, start_epoch=1,
                      start_batch=0, parameters=1000))
    for epoch in range(1, epochs + 1):
        for b in range(1, bpe + 1):
            writer(BatchEnded(epoch=epoch, batch=b, batches_per_epoch=bpe, step=(epoch - 1) * bpe + b,
                              loss=1.0 / (epoch * b), accuracy=0.8, samples_per_sec=1000.0, eta_seconds=1.0, lr=1e-3))
        writer(EpochEnded(epoch=epoch, train_loss=0.5, train_accuracy=0.9, test_loss=0.2,
                          test_accuracy=0.5 + epoch / 40, seconds=0.1, samples_per_sec=1000.0, lr=1e-3))
    writer(FitEnded("completed", epochs, epochs * bpe, 1.0, 0.7))
    return writer.folder


def shown_ticks(plot) -> list[str]:
    """The tick labels the plot's bottom axis draws for its current range."""
    axis = plot.getAxis("bottom")
    lo, hi = plot.vb.viewRange()[0]
    texts = []
    for spacing, values in axis.tickValues(lo, hi, axis.geometry().width()):
        texts += [t for t in axis.tickStrings(values, 1.0, spacing) if t]
    return texts


def test_count_texts_use_one_short_unit():
    assert count_texts([0, 200, 400]) == ["0", "200", "400"]
    assert count_texts([0, 20000, 40000]) == ["0", "20k", "40k"]
    assert count_texts([0, 1_500_000, 3_000_000]) == ["0", "1.5M", "3M"]


@pytest.mark.parametrize("train, batch, epochs", [(72, 100, 10), (60000, 100, 3)])
def test_samples_seen_axis_has_ticks_on_both_plots_and_one_clean_label(qtbot, tmp_path, train, batch, epochs):
    write_run(tmp_path, "20261204-185121-mnist-cnn-shapes", train, batch, epochs)
    write_run(tmp_path, "20261204-185153-mnist-cnn-shapes", train, batch, epochs - 1)
    view = RunsView(tmp_path)
    qtbot.addWidget(view)
    view.resize(900, 640)
    view.show()
    qtbot.waitExposed(view)
    view.refresh()
    qtbot.waitUntil(lambda: not view.busy(), timeout=5000)
    view.table.selectAll()
    qtbot.waitUntil(lambda: len(view.shown_curves()) == 2 and all(len(c["step"]) for c in view.shown_curves().values()),
                    timeout=5000)
    view.curves.axis_combo.setCurrentIndex(list(X_AXES).index("samples"))
    qtbot.wait(100)
    curves = view.shown_curves()
    assert max(c["x_epoch"][-1] for c in curves.values()) == pytest.approx(epochs * train)  # images, not thousands
    plots = (view.curves.accuracy_plot, view.curves.loss_plot)
    for plot in plots:
        axis = plot.getAxis("bottom")
        assert axis.labelText == X_AXES["samples"][1]
        assert "x0." not in axis.labelString() and "(x" not in axis.labelString()  # no scale factor glued on
        ticks = shown_ticks(plot)
        assert len(ticks) >= 2, ticks  # the accuracy plot had none
        assert all(len(t) <= 5 for t in ticks), ticks
    acc_label = plots[0].getAxis("bottom").label.sceneBoundingRect()
    loss_label = plots[1].getAxis("bottom").label.sceneBoundingRect()
    loss_y = plots[1].getAxis("left").label.sceneBoundingRect()
    assert acc_label.right() <= loss_label.left() and not acc_label.intersects(loss_y)
    assert acc_label.right() <= plots[0].sceneBoundingRect().right()
    assert view.shutdown(5.0)


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_the_overlay_and_the_settings_are_usable_at_laptop_sizes(qtbot, make_window, tmp_path, size):
    """At 1280x720 the plots were about 150x40 px, the legend cut, the settings table showed one
    run's column at a time, and names cut in their middle read alike ("20261204-…nn-shapes")."""
    from PySide6.QtCore import Qt

    from cnn_gui.gui.panels.runs.table_model import RunsTableModel

    names = [f"20261204-1908{i:02d}-mnist-cnn-shapes" for i in range(4)] + ["20261204-190224-simple-cnn-photos"]
    for name in names:
        write_run(tmp_path, name, 72, 16, 3)
    window = make_window()
    window.resize(*size)
    view = window.runs_view
    view.set_runs_dir(tmp_path)
    window.tabs.setCurrentWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: not view.busy() and view.proxy.rowCount() == 5, timeout=5000)
    view.table.selectAll()
    qtbot.waitUntil(lambda: len(view.shown_curves()) == 5 and all(len(c["step"]) for c in view.shown_curves().values()),
                    timeout=5000)
    qtbot.wait(150)
    table = view.table
    assert table.viewport().height() // table.rowHeight(0) >= 5  # the table shrinks to five rows, no fewer
    # the plots: a readable height, the legend whole inside the plots' widget
    for plot in (view.accuracy_plot, view.loss_plot):
        assert plot.vb.height() >= 80, (size, plot.vb.height())
        assert plot.vb.width() >= 150, (size, plot.vb.width())
    graphics = view.curves.graphics
    legend = view.curves.legend.sceneBoundingRect()
    assert legend.bottom() <= graphics.viewport().height() + 1 and legend.right() <= graphics.viewport().width() + 1
    assert sorted(view.legend_names()) == sorted(n[9:] for n in names)  # whole, the time included
    # the settings compared: every run's column in view
    view.lower.setCurrentWidget(view.diff_stack)
    qtbot.wait(50)
    diff = view.diff_table
    assert diff.columnCount() == 6
    for c in range(diff.columnCount()):
        right = diff.columnViewportPosition(c) + diff.columnWidth(c)
        assert diff.columnViewportPosition(c) >= 0 and right <= diff.viewport().width() + 1, (c, right)
        assert diff.columnWidth(c) >= 60
    assert {diff.horizontalHeaderItem(c).text() for c in range(1, 6)} == {n[9:] for n in names}
    # run names keep their start, where the time is that tells them apart
    assert table.textElideMode() == Qt.TextElideMode.ElideRight
    col = RunsTableModel.COLUMNS.index("Name")
    assert table.fontMetrics().horizontalAdvance("20261204-190800-") < table.columnWidth(col)
