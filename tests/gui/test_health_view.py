"""The Health tab: strips of each layer's numbers and the alerts, fed live by a run."""

import numpy as np
import pytest


@pytest.fixture
def window(make_window, mnist_small, tmp_path):
    return make_window(data_override=mnist_small, runs_dir=tmp_path / "runs")


def run(qtbot, window, **changes):
    config = window.training_panel.config().with_(epochs=1, max_batches=20, batch_size=50, **changes)
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        assert window.start_training(config)


@pytest.mark.slow
def test_a_too_high_rate_is_said_in_plain_words_and_the_strips_fill(qtbot, window):
    view = window.health_view
    run(qtbot, window, lr=1.0, optimizer="adam")
    assert "the learning rate is too high" in view.alerts_label.text()
    assert "step 1</b>" in view.alerts_label.text()  # after the first step
    window.tabs.setCurrentWidget(view)  # built on first show
    assert view.graphics is not None and len(view.images) == 4
    ratios = view.matrix("update_ratio")
    assert ratios.shape == (len(view.looks[-1].layers), len(view.looks)) and np.nanmax(ratios) > 0.1
    assert view.images[0].image is not None and view.images[0].image.shape == ratios.T.shape
    assert view.looks[-1].layers[:2] == ("layer1.0", "layer1.1")  # rows in the tree's order


@pytest.mark.slow
def test_a_healthy_run_says_so_and_a_new_run_starts_afresh(qtbot, window):
    view = window.health_view
    run(qtbot, window, lr=1e-3)
    assert view.alerts_label.text() == "No alerts so far: every layer learns at a healthy pace."
    first = len(view.looks)
    run(qtbot, window, lr=1e-3)
    assert len(view.looks) == first  # cleared at the start of the second run, not appended


@pytest.mark.slow
def test_other_weights_clear_the_looks_of_the_run_that_did_not_make_them(qtbot, window):
    view = window.health_view
    run(qtbot, window, lr=1e-3)
    assert view.looks and view.looks[-1].layers[0] == "layer1.0"
    assert window.request_model("simple-cnn")  # a trial's Health still named layer4.1 and fc.1 of the MNIST CNN
    assert view.looks == [] and "layer4" not in view.alerts_label.text()


@pytest.mark.slow
def test_the_strips_fit_the_tab_of_a_1366_pixel_window(qtbot, window):
    view = window.health_view
    run(qtbot, window, lr=1.0, optimizer="adam")  # long ranges in the titles
    window.tabs.setCurrentWidget(view)
    # Two strips side by side in a tab ~590 px wide at 1366x768: a trial saw the right-hand
    # ones cut off when the titles held their ranges on the same line (574 px of titles then).
    widths = [plot.minimumWidth() for plot in view.plots]
    assert widths[0] + widths[1] <= 480 and widths[2] + widths[3] <= 480, widths
