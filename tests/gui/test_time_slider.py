"""The time slider under the curves: back through a run's snapshots in every view, Play, Live."""

import numpy as np
import pytest
import torch

from cnn_gui.core.runs.snapshots import list_snapshots, load_snapshot


@pytest.fixture
def window(make_window, mnist_small, tmp_path):
    return make_window(data_override=mnist_small, runs_dir=tmp_path / "runs")


def train(qtbot, window, epochs=2):
    config = window.training_panel.config().with_(epochs=epochs, max_batches=20, batch_size=50, lr=1e-3)
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        assert window.start_training(config)
    qtbot.waitUntil(lambda: not window.time.jobs.busy(), timeout=10000)  # the finished run's timeline, read again


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def show(qtbot, window, index):
    with qtbot.waitSignal(window.time.momentShown, timeout=10000):
        window.time_slider.choose(index)


@pytest.mark.slow
def test_a_snapshot_answers_in_every_view_with_its_label_and_mark_and_live_comes_back(qtbot, window):
    train(qtbot, window)
    folder = window.runs_view.runs_dir
    snaps = list_snapshots(next(folder.iterdir()))
    steps = [s.step for s in snaps]
    assert steps == [0, 1, 2, 4, 8, 16, 20, 32, 40]  # log-spaced, and the two epochs' ends
    slider = window.time_slider
    assert slider.count() == len(snaps) and slider.live
    final = window.predictor
    show(qtbot, window, steps.index(4))
    expected = final.copy()
    load_snapshot(snaps[steps.index(4)], expected.model)
    assert same_weights(window.predictor.model, expected.model)
    assert not same_weights(window.predictor.model, final.model)
    for view in window.analysis.views:  # every analysis view reads the same frozen copy
        assert view._predictor is window.predictor  # noqa: SLF001 - the test looks inside
    assert window.weights_text == "Weights: snapshot, step 4 of 40, epoch 1"
    window.structure.layerSelected.emit("layer1.0")  # the Layer tab's kernels are the snapshot's too
    window.analysis.layer.refresh()
    kernels = expected.model.state_dict()["layer1.0.weight"][:, 0].numpy()
    assert np.array_equal(window.analysis.layer.kernels, kernels)
    assert slider.label.text() == "step 4 of 40, epoch 1"
    assert window.plots.moment_positions == [4.0, 0.2]  # per-batch step, and 4/20 of the first epoch
    assert "snapshot, step 4 of 40" in window.analysis.explain.weights_label.text()
    slider.live_button.click()
    assert window.predictor is final and slider.live and window.plots.moment_positions == []
    assert window.weights_text.startswith("Weights: trained now, epoch 2")


@pytest.mark.slow
def test_play_goes_through_every_snapshot_to_the_last(qtbot, window):
    train(qtbot, window, epochs=1)
    shown = []
    window.time.momentShown.connect(lambda snap: shown.append(snap.step if snap else None))
    window.time_slider.toggle_play()
    assert window.time_slider.playing
    button = window.time_slider.play_button  # the style's icon: a minimal Linux's fonts have no ⏸
    assert button.text() == "Pause" and not button.icon().isNull()
    qtbot.waitUntil(lambda: not window.time_slider.playing, timeout=20000)
    assert button.text() == "Play" and not button.icon().isNull()
    assert shown == [0, 1, 2, 4, 8, 16, 20]
    assert window.time_slider.label.text() == "step 20 of 20, epoch 1"


@pytest.mark.slow
def test_snapshots_arrive_while_training_and_an_epoch_does_not_push_the_snapshot_away(qtbot, window):
    config = window.training_panel.config().with_(epochs=3, max_batches=20, batch_size=50, lr=1e-3)
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        assert window.start_training(config)
        qtbot.waitUntil(lambda: window.time_slider.count() >= 3, timeout=60000)
        show(qtbot, window, 1)  # step 1, while the run goes on
        label = window.weights_text
        assert label == "Weights: snapshot, step 1 of 60, epoch 1"
    assert window.time_slider.count() == 10
    # the epochs that ended meanwhile, and the run's end, leave the snapshot in view; Live shows them
    assert not window.time_slider.live and window.weights_text == label
    assert window.plots.moment_positions == [1.0, 0.05]
    window.time_slider.live_button.click()
    assert window.weights_text.startswith("Weights: trained now, epoch 3")
    assert same_weights(window.predictor.model, window.session.predictor().model)


@pytest.mark.slow
def test_new_weights_go_live_and_weights_from_no_run_have_no_snapshots(qtbot, window):
    train(qtbot, window, epochs=1)
    show(qtbot, window, 2)
    assert window.use_pretrained(ask=False)
    qtbot.waitUntil(lambda: not window.time.jobs.busy(), timeout=10000)
    assert window.time_slider.live and window.time_slider.count() == 0
    assert not window.time_slider.slider.isEnabled()
    assert window.weights_text.startswith("Weights: pretrained")


@pytest.mark.slow
def test_a_past_runs_weights_loaded_from_the_runs_tab_bring_its_snapshots(qtbot, window):
    train(qtbot, window, epochs=1)
    checkpoint = next(window.runs_view.runs_dir.iterdir()) / "checkpoint.safetensors"
    assert window.use_pretrained(ask=False)
    with qtbot.waitSignal(window.openFinished, timeout=20000):
        window.open_checkpoint(checkpoint)
    qtbot.waitUntil(lambda: window.time_slider.count() == 7, timeout=10000)
    show(qtbot, window, 0)
    assert window.weights_text == "Weights: snapshot, step 0 of 20, epoch 1"


@pytest.mark.slow
def test_train_pressed_while_a_snapshot_is_shown_brings_the_views_back_to_live(qtbot, window):
    train(qtbot, window, epochs=1)
    final = window.predictor
    show(qtbot, window, 2)
    config = window.training_panel.config().with_(epochs=1, max_batches=5, batch_size=50, lr=1e-3)
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        assert window.start_training(config)
        qtbot.waitUntil(lambda: window.time.timeline is not None and window.time.timeline.folder == window.runs.writer.folder,
                        timeout=60000)
        assert window.time.shown is None and window.time_slider.live
        assert "snapshot" not in window.weights_text and window.plots.moment_positions == []
        assert same_weights(window.predictor.model, final.model)  # the weights of before, not step 2's


@pytest.mark.slow
def test_a_snapshot_that_cannot_be_read_is_said_and_the_views_stay_live(qtbot, window):
    train(qtbot, window, epochs=1)
    final = window.predictor
    snaps = list_snapshots(next(window.runs_view.runs_dir.iterdir()))
    snaps[5].path.write_bytes(b"not a snapshot any more")
    window.time_slider.choose(5)
    qtbot.waitUntil(lambda: "Could not show the snapshot" in window.statusBar().currentMessage(), timeout=10000)
    assert window.time_slider.live and window.predictor is final and "snapshot" not in window.weights_text
