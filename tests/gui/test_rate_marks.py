"""Learning-rate marks on the per-batch plot: labels of marks a few steps apart never share a height."""

import pyqtgraph as pg

from cnn_gui.gui.panels.training_plots.batch_plot import BatchPlot


def test_successive_rate_marks_label_at_different_heights(qtbot):
    graphics = pg.GraphicsLayoutWidget()
    qtbot.addWidget(graphics)
    plot = BatchPlot(graphics, 64)
    for step, lr in ((120, 0.001), (125, 1.0), (130, 0.01)):
        plot.mark_rate(step, lr)
    heights = [mark.label.orthoPos for mark in plot.rate_marks]
    assert len(set(heights)) == 3  # a trial saw "lr 0.0" cut under "lr 1", both at 0.75
    assert [mark.label.toPlainText() for mark in plot.rate_marks] == ["lr 0.001", "lr 1", "lr 0.01"]
