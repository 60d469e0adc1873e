"""The window fits a 1280x720 screen whatever it shows: no widget widens it by itself.

Window-level checks construct the real window; panel checks bound each panel's own
minimum size and check that long texts elide (or wrap) instead of being cut off.
"""

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import Qt as QtGuiNamespace
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QStyle, QStyleOptionComboBox
from torch import nn

from cnn_gui.core.config import TrainConfig
from cnn_gui.core.events import EpochEnded, FitEnded
from cnn_gui.gui.panels.training_plots.batch_plot import BATCH_TITLES
from cnn_gui.gui.panels.training_plots.epoch_plot import EPOCH_TITLES
from cnn_gui.gui.panels.training_plots.view import TrainingPlots
from cnn_gui.gui.panels.training_panel import IDLE_TEXT, TrainingPanel, finished_text
from cnn_gui.gui.widgets.elided_text import ElidedLabel

SCREEN = (1280, 720)
PANEL_MAX_WIDTH = 460  # what the training panel may need: 1280 minus two ~400 px docks
LONG_WORDS = "a long status with many words that goes on " * 12
LONG_WORD = "y" * 400


def settle(qtbot=None, ms=30):
    for _ in range(3):
        QApplication.processEvents()
        if qtbot is not None:
            qtbot.wait(ms // 3)


def assert_fits(window, what):
    settle()
    hint = window.minimumSizeHint()
    assert hint.width() <= SCREEN[0] and hint.height() <= SCREEN[1], f"{what}: minimum size {hint.toTuple()}"
    assert window.minimumSize().width() <= SCREEN[0], what


def combo_text_room(combo: QComboBox) -> int:
    """Pixels the box has for its current text (its edit field), as the style draws it."""
    opt = QStyleOptionComboBox()
    combo.initStyleOption(opt)
    opt.rect = QRect(QPoint(0, 0), combo.size())
    field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                         QStyle.SubControl.SC_ComboBoxEditField, combo)
    return field.width()


def clipped(label: QLabel) -> bool:
    """Whether a shown label cuts its text off: a one-line label too narrow for its text
    (an ElidedLabel says so with "…" and a tooltip, which is not clipping), or a wrapped
    one with a word wider than itself or lines taller than its height."""
    if not label.isVisible() or not label.text() or isinstance(label, ElidedLabel):
        return False
    fm = label.fontMetrics()
    room = label.contentsRect().width()
    text = label.text()
    if label.buddy() is not None:  # "&Preset:" shows as "Preset:"
        text = text.replace("&&", "\0").replace("&", "").replace("\0", "&")
    if label.textFormat() == Qt.TextFormat.RichText or QtGuiNamespace.mightBeRichText(text):
        return label.wordWrap() is False and label.sizeHint().width() > label.width()
    if not label.wordWrap():
        return fm.horizontalAdvance(text) > room
    widest_word = max(fm.horizontalAdvance(w) for w in text.split())
    return widest_word > room or label.heightForWidth(label.width()) > label.height()


# ------------------------------------------------------------------ the window


@pytest.fixture
def window(make_window, mnist_small):
    w = make_window(data_override=mnist_small)
    w.resize(*SCREEN)
    return w


def test_window_fits_1280x720_at_start_and_with_long_texts(window):
    assert_fits(window, "start")
    window.resize(*SCREEN)
    settle()
    assert (window.width(), window.height()) == SCREEN
    panel = window.training_panel
    for text in (LONG_WORDS, LONG_WORD, "x" * 5000):
        panel.show_message(text)
        assert_fits(window, f"progress text of {len(text)} characters")
        assert panel.progress_label.text() == text  # the whole text is kept, and shown as a tooltip
        assert panel.progress_label.toolTip() == text
        assert panel.progress_label.width() <= panel.width()
    panel.set_busy(True)
    assert_fits(window, "busy")
    panel.set_busy(False)


def test_window_fits_after_switching_model_and_back(window):
    assert window.request_model("simple-cnn")
    assert_fits(window, "SimpleCNN")
    assert window.request_model("mnist-cnn")
    assert_fits(window, "MNIST CNN again")


def test_window_fits_after_opening_a_checkpoint_with_a_long_name(window, tmp_path):
    path = window.save_checkpoint(tmp_path / ("x" * 180 + ".safetensors"))
    assert len(path.name) > 190
    window.open_checkpoint(path, background=False)
    assert not window.errors and window.session.resumable
    panel = window.training_panel
    assert panel.continue_check.isVisible()  # a resumable session: its widest state
    assert panel.train_button.text().startswith("Resume from epoch")
    assert_fits(window, "checkpoint with a 192-character name")
    panel.epochs_spin.setValue(999)  # "Continue session (epoch 3 → 999)"
    assert_fits(window, "long continue text")
    for label in panel.findChildren(QLabel):
        assert not clipped(label), label.text()


def test_the_weights_label_does_not_cut_a_long_file_name(window, tmp_path):
    path = window.save_checkpoint(tmp_path / ("x" * 180 + ".safetensors"))
    window.open_checkpoint(path, background=False)
    settle()
    assert not clipped(window.weights_label)
    assert "…" in window.weights_label.text() and window.weights_label.toolTip() == str(path)


@pytest.mark.slow
def test_window_fits_during_and_after_a_short_run(qtbot, window):
    panel = window.training_panel
    panel.set_config(TrainConfig(epochs=1, max_batches=3, batch_size=50))
    seen = []
    window.controller.progress.connect(lambda _ev: seen.append(window.minimumSizeHint().toTuple()))
    with qtbot.waitSignal(window.controller.finished, timeout=60000) as blocker:
        assert window.start_training()
        assert_fits(window, "run starting")
    assert blocker.args[0].reason == "completed"
    assert seen and all(w <= SCREEN[0] and h <= SCREEN[1] for w, h in seen), seen
    assert_fits(window, "after the run")
    # The per-epoch plot of a 1-epoch run shows epoch 1 alone, not at the edge of a 1-3 axis.
    lo, hi = window.plots.accuracy_plot.vb.viewRange()[0]
    assert lo < 1 < hi < 2


def test_panels_stay_within_their_bounds(window):
    bounds = {  # (width, height) each panel may ask for at most
        "training_panel": (PANEL_MAX_WIDTH, 120),
        "structure": (300, 420),
        "plots": (260, 200),
        "feature_maps": (360, 260),
    }
    for name, (max_w, max_h) in bounds.items():
        hint = getattr(window, name).minimumSizeHint()
        assert hint.width() <= max_w and hint.height() <= max_h, f"{name}: {hint.toTuple()}"


# ------------------------------------------------------------------ the training panel


@pytest.fixture
def panel(qtbot):
    p = TrainingPanel()
    qtbot.addWidget(p)
    p.resize(700, 200)
    p.show()
    qtbot.waitExposed(p)
    return p


def test_training_panel_wraps_instead_of_widening(panel, qtbot):
    assert panel.minimumSizeHint().width() <= PANEL_MAX_WIDTH
    wide, narrow = panel.heightForWidth(1400), panel.heightForWidth(PANEL_MAX_WIDTH)
    assert narrow > wide  # more lines, not more width
    lines = panel.settings_flow.lines(PANEL_MAX_WIDTH)
    assert all(sum(i.sizeHint().width() for i in line) <= PANEL_MAX_WIDTH for line in lines)
    # The less used settings fold away, and come back.
    group = panel.field_group(panel.device_combo)
    panel.set_more_visible(False)
    settle(qtbot)
    assert not group.isVisible() and not panel.more_visible()
    assert "Device: " + panel.device_combo.currentText() in panel.more_button.toolTip()
    assert panel.heightForWidth(PANEL_MAX_WIDTH) < narrow
    panel.set_more_visible(True)
    settle(qtbot)
    assert group.isVisible()


def test_training_panel_widest_states_fit(panel):
    panel.set_resume_epoch(123)
    panel.epochs_spin.setValue(1000)
    panel.show_message(LONG_WORD)
    assert panel.continue_check.isVisible()
    assert panel.minimumSizeHint().width() <= PANEL_MAX_WIDTH


def test_every_fixed_combo_shows_its_items_whole(panel):
    for combo in (panel.preset_combo, panel.dataset_combo, panel.optimizer_combo, panel.schedule_combo,
                  panel.start_combo):
        room = combo_text_room(combo)
        for i in range(combo.count()):
            assert combo.fontMetrics().horizontalAdvance(combo.itemText(i)) <= room, combo.itemText(i)
    # Device names can be long: the box elides, the tooltip and the popup have them whole.
    device = panel.device_combo
    assert device.sizeAdjustPolicy() == QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
    assert device.currentText() in device.toolTip()
    widest = max(device.fontMetrics().horizontalAdvance(device.itemText(i)) for i in range(device.count()))
    assert device.view().minimumWidth() >= widest


def test_progress_label_elides_with_the_whole_text_in_its_tooltip(panel, qtbot):
    panel.show_message("short")
    settle(qtbot)
    assert panel.progress_label.shown_text() == "short" and panel.progress_label.toolTip() == ""
    panel.show_message(LONG_WORDS)
    settle(qtbot)
    label = panel.progress_label
    assert label.text() == LONG_WORDS and label.toolTip() == LONG_WORDS
    assert label.shown_text().endswith("…") and len(label.shown_text()) < len(LONG_WORDS)
    assert label.fontMetrics().horizontalAdvance(label.shown_text()) <= label.contentsRect().width()


def test_reset_clears_the_previous_runs_text(panel):
    panel.progress_bar.setRange(0, 10)
    panel.progress_bar.setValue(7)
    panel.show_message("epoch 2/3 · batch 340/600")
    panel.clear_message()
    assert panel.progress_label.text() == IDLE_TEXT and panel.progress_bar.value() == 7
    panel.show_message("Done: 3 epochs")
    panel.reset()
    assert panel.progress_label.text() == IDLE_TEXT
    assert (panel.progress_bar.value(), panel.progress_bar.maximum()) == (0, 1)
    assert panel.reset_progress == panel.reset  # the old name still works


def test_set_busy_blocks_train_and_settings_only(panel):
    panel.set_busy(True)
    assert panel.busy and not panel.train_button.isEnabled() and not panel.preset_combo.isEnabled()
    assert not panel.epochs_spin.isEnabled()
    panel.set_state("running")
    assert panel.stop_button.isEnabled() and panel.pause_button.isEnabled()
    panel.set_state("idle")
    assert not panel.train_button.isEnabled()
    panel.set_busy(False)
    assert panel.train_button.isEnabled() and panel.preset_combo.isEnabled()


def test_select_preset_shows_it_without_changing_the_fields(panel):
    panel.epochs_spin.setValue(7)
    assert panel.select_preset("fast") and panel.current_preset() == "fast"
    assert panel.epochs_spin.value() == 7
    assert not panel.select_preset("no-such-preset") and panel.current_preset() == "fast"


@pytest.mark.parametrize("end, text", [
    (FitEnded("completed", 1, 600, 21.0, 0.9922), "Done: 1 epoch in 0:21 · test 99.2%"),
    (FitEnded("completed", 3, 1800, 125.0, None), "Done: 3 epochs in 2:05"),
    (FitEnded("stopped", 1, 1234, 30.0, 0.98), "Stopped after 1 complete epoch, at step 1,234"),
    (FitEnded("stopped", 2, 1300, 30.0, 0.98), "Stopped after 2 complete epochs, at step 1,300"),
    (FitEnded("stopped", 0, 12, 3.0, None), "Stopped before the first epoch ended, at step 12"),
])
def test_finished_texts_count_right(end, text, panel):
    assert finished_text(end) == text
    panel.show_finished(end)
    assert panel.progress_label.text() == text


# ------------------------------------------------------------------ the tree


@pytest.fixture
def structure(qtbot):
    from cnn_gui.core.model.models import CNN
    from cnn_gui.core.model.structure import build_tree
    from cnn_gui.gui.panels.structure.panel import StructurePanel

    p = StructurePanel()
    qtbot.addWidget(p)
    model = CNN()
    p.show_tree(build_tree(model, (1, 28, 28)), model)
    p.show()
    qtbot.waitExposed(p)
    return p


@pytest.mark.parametrize("width", [380, 440, 600])
def test_tree_columns_fit_the_panel(structure, qtbot, width):
    from cnn_gui.gui.panels.structure.tree_model import COL_NAME, COL_OUTPUT, COL_PARAMS, COL_TYPE

    structure.resize(width, 600)
    settle(qtbot)
    shown, needed = structure.column_widths(), structure.content_widths()
    for col in (COL_TYPE, COL_OUTPUT, COL_PARAMS):
        assert shown[col] >= needed[col]  # whole
    view = structure.tree_view
    assert view.header().length() <= view.viewport().width()  # nothing scrolled out of sight
    assert view.horizontalScrollBar().maximum() == 0
    if width >= 440:
        assert shown[COL_NAME] >= needed[COL_NAME]


def test_structure_panel_bounds_and_movable_split(structure):
    assert structure.minimumSizeHint().width() <= 300
    assert structure.splitter.count() == 2 and not structure.splitter.childrenCollapsible()
    structure.resize(400, 800)
    settle()
    top, bottom = structure.splitter.sizes()
    assert bottom > 100
    structure.splitter.moveSplitter(top + 40, 1)  # what dragging the handle does
    assert structure.splitter.sizes() == [top + 40, bottom - 40]


def test_a_new_tree_clears_the_details_and_the_same_tree_keeps_them(structure):
    from cnn_gui.core.model.models import SimpleCNN
    from cnn_gui.core.model.structure import build_tree
    from cnn_gui.gui.panels.structure.details import DETAILS_HINT

    assert structure.select("layer1.0")
    assert "layer1.0" in structure.details_label.text()
    tree, model = structure.tree, structure._live_model
    structure.show_tree(tree, model)  # new weights, same network
    assert "layer1.0" in structure.details_label.text()
    other = SimpleCNN()
    structure.show_tree(build_tree(other, (3, 32, 32)), other)
    assert structure.details_label.text() == DETAILS_HINT
    assert not structure.tree_view.currentIndex().isValid()


# ------------------------------------------------------------------ the plots


@pytest.fixture
def plots(qtbot):
    w = TrainingPlots()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


def title_and_legend(plot, legend):
    title = plot.titleLabel.item.sceneBoundingRect() if plot.titleLabel.text else None
    entries = [r for sample, label in legend.items
               for r in (sample.sceneBoundingRect(), label.item.sceneBoundingRect())]
    return title, entries


@pytest.mark.parametrize("width", [360, 430, 520, 700, 1000])
def test_titles_never_overlap_their_legends(plots, qtbot, width):
    plots.resize(width, 500)
    settle(qtbot, 60)
    for plot, legend in ((plots.accuracy_plot, plots.accuracy_legend), (plots.batch_plot, plots.batch_legend)):
        title, entries = title_and_legend(plot, legend)
        if title is not None:
            assert not any(title.intersects(e) for e in entries), (width, plot.titleLabel.text)
        assert max(e.right() for e in entries) <= plot.sceneBoundingRect().right()


def test_wide_plots_show_the_long_titles(plots, qtbot):
    plots.resize(1100, 600)
    settle(qtbot, 60)
    assert plots.accuracy_plot.titleLabel.text == EPOCH_TITLES[0][0]
    assert plots.batch_plot.titleLabel.text == BATCH_TITLES[0][0]
    assert [label.text for _, label in plots.batch_legend.items] == list(BATCH_TITLES[0][1])


def epoch(n):
    return EpochEnded(epoch=n, train_loss=0.1, train_accuracy=0.97, test_loss=0.05, test_accuracy=0.98,
                      seconds=20.0, samples_per_sec=3000.0, lr=1e-3)


def epoch_ticks(plots):
    lo, hi = plots.accuracy_plot.vb.viewRange()[0]
    levels = plots.accuracy_plot.getAxis("bottom").tickValues(lo, hi, 400)
    return sorted({float(v) for _, values in levels for v in values})


def test_epoch_axis_fits_the_planned_epochs(plots):
    plots.plan_steps(600, epochs=1)
    plots.add_epoch(epoch(1))
    lo, hi = plots.accuracy_plot.vb.viewRange()[0]
    assert lo == pytest.approx(0.75) and hi == pytest.approx(1.25)
    assert epoch_ticks(plots) == [1.0]
    plots.clear()
    assert plots.accuracy_plot.vb.viewRange()[0] == pytest.approx([0.75, 3.25])  # nothing planned yet
    plots.plan_epochs(5)
    assert plots.accuracy_plot.vb.viewRange()[0] == pytest.approx([0.75, 5.25])
    assert epoch_ticks(plots) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_epoch_axis_planned_from_the_first_batch(plots):
    from cnn_gui.core.events import BatchEnded

    plots.clear()
    plots.plan_steps(1200)  # what the window says today: steps only
    plots.add_batch(BatchEnded(epoch=1, batch=1, batches_per_epoch=600, step=1, loss=2.0, accuracy=0.1,
                               samples_per_sec=1000.0, eta_seconds=60.0, lr=1e-3))
    assert plots.accuracy_plot.vb.viewRange()[0] == pytest.approx([0.75, 2.25])


def test_epoch_axis_of_a_loaded_history(plots):
    plots.set_history([epoch(n).to_dict() for n in range(1, 5)])
    lo, hi = plots.accuracy_plot.vb.viewRange()[0]
    assert lo < 1 and 4 < hi < 5


# ------------------------------------------------------------------ feature maps


def test_feature_maps_with_long_layer_names_do_not_widen(qtbot):
    from cnn_gui.core.analysis.predictor import Predictor
    from cnn_gui.gui.analysis.feature_maps_view import FeatureMapsView

    long_name = "a_really_long_convolution_layer_name_that_never_ends_" * 3
    model = nn.Sequential()
    model.add_module(long_name, nn.Conv2d(1, 4, 3))
    model.add_module("flatten", nn.Flatten())
    model.add_module("head", nn.Linear(4 * 26 * 26, 10))
    view = FeatureMapsView()
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.show()
    torch.manual_seed(0)
    view.set_predictor(Predictor(model.eval(), (0.5,), (0.5,), [str(i) for i in range(10)]), (1, 28, 28))
    view.show_image(np.random.default_rng(0).random((28, 28), dtype=np.float32), "a test image")
    settle(qtbot)
    assert view.maps is not None and long_name in view.layer_combo.currentText()
    assert view.minimumSizeHint().width() <= 360
    assert long_name in view.layer_combo.toolTip()
    assert view.caption.heightForWidth(300) > 0 and view.caption.minimumSizeHint().width() <= 360



def test_the_layout_is_remembered_per_screen_size():
    from PySide6.QtCore import QRect, QSize

    from cnn_gui.gui.settings import KEY_GEOMETRY, KEY_STATE, layout_keys

    class Screen:
        def __init__(self, w, h):
            self.size = QSize(w, h)

        def availableGeometry(self):  # noqa: N802 - Qt's name
            return QRect(0, 0, self.size.width(), self.size.height())

    laptop, monitor = layout_keys(Screen(1366, 740)), layout_keys(Screen(1920, 1050))
    assert laptop == (f"{KEY_GEOMETRY}/1366x740", f"{KEY_STATE}/1366x740") and laptop != monitor


def test_the_fast_preset_augments_and_the_box_says_so(window):
    panel = window.training_panel
    panel.apply_preset("fast")
    assert panel.augment_check.isChecked() and panel.config().augment
    panel.apply_preset("tutorial")
    assert not panel.augment_check.isChecked() and not panel.config().augment
    panel.augment_check.setChecked(True)
    assert panel.config().augment
    assert_fits(window, "augment box")
