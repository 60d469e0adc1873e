"""The Watch tab: pin the drawing or a test image, kept with the settings, read at every snapshot
and while training, small multiples with the last forgetting marked."""

import numpy as np
import pytest

from cnn_gui.core.analysis.watch import MAX_PINNED
from cnn_gui.core.files.watch_file import pins_from_text
from cnn_gui.core.runs.snapshots import list_snapshots
from cnn_gui.core.runs.timeline import snapshot_predictor
from cnn_gui.gui import settings as settings_mod

from tests.gui.test_analysis_views import draw_one


@pytest.fixture
def window(make_window, mnist_small, tmp_path):
    return make_window(data_override=mnist_small, runs_dir=tmp_path / "runs")


def pin_test_images(qtbot, window, indices):
    with qtbot.waitSignal(window.confusion.finished, timeout=60000):
        window.confusion.compute()
    for index in indices:
        window.confusion.choose_sample(index)
        assert window.watch.pin_test_image()


def stored_pins():
    pins, bad = pins_from_text(settings_mod.read_str(settings_mod.open_settings(), settings_mod.KEY_WATCH))
    assert bad == 0
    return pins


def test_a_drawing_and_a_test_image_are_pinned_kept_with_the_settings_and_removed(qtbot, window, make_window,
                                                                                  mnist_small):
    assert not window.watch.pin_drawing()  # nothing drawn yet: said, nothing pinned
    assert "Draw a digit" in window.statusBar().currentMessage()
    draw_one(window.canvas)
    qtbot.waitUntil(lambda: window.watch.canvas_image is not None, timeout=5000)
    assert window.watch.pin_drawing()
    pin_test_images(qtbot, window, [3])
    label = mnist_small.classes[int(mnist_small.test_labels[3])]
    names = [(p.name, p.target) for p in window.watch.pins]
    assert names[1] == ("test image #3", label)
    assert names[0][0] == "drawing 1" and names[0][1] == window.predictor.classes[
        int(window.predictor.predict(window.watch.pins[0].image).argmax())]
    assert window.tabs.currentWidget() is window.watch_view and len(window.watch_view.tiles) == 2
    assert [(p.name, p.target) for p in stored_pins()] == names
    assert np.array_equal(stored_pins()[1].image, window.watch.pins[1].image)  # the pin read is the pin stored
    qtbot.waitUntil(lambda: window.watch.now is not None, timeout=5000)
    assert window.watch_view.tiles[1].now_text().startswith("reads ")
    other = make_window(data_override=mnist_small)
    assert [(p.name, p.target) for p in other.watch.pins] == names  # a new window reads them back
    window.watch_view.tiles[0].remove_button.click()
    assert [p.name for p in window.watch.pins] == ["test image #3"] and len(stored_pins()) == 1


def test_the_list_holds_sixteen(qtbot, window):
    pin_test_images(qtbot, window, range(MAX_PINNED))
    window.confusion.choose_sample(20)
    assert not window.watch.pin_test_image()
    assert "holds 16 images" in window.statusBar().currentMessage() and len(window.watch.pins) == MAX_PINNED


@pytest.mark.slow
def test_readings_at_each_snapshot_equal_its_predictors_and_live_ones_come_while_training(qtbot, window):
    pin_test_images(qtbot, window, [0, 1, 2])
    lives = []
    window.controller.watchRead.connect(lambda step, probs: lives.append((step, probs.copy())))
    config = window.training_panel.config().with_(epochs=2, max_batches=20, batch_size=50, lr=1e-3)
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        assert window.start_training(config)
    qtbot.waitUntil(lambda: not window.watch.jobs.busy() and not window.time.jobs.busy(), timeout=20000)
    history = window.watch.history
    snaps = list_snapshots(next(window.runs_view.runs_dir.iterdir()))
    assert [s.step for s in snaps] == [s for s, snap in zip(history.steps, history.from_snapshot) if snap]
    like = window.predictor
    for snap in snaps:  # the readings a predictor built from that snapshot gives the pins, bit for bit
        predictor = snapshot_predictor(snap, like)
        assert np.array_equal(history.at(snap.step), predictor.predict_many([p.image for p in window.watch.pins]))
        one_by_one = np.stack([predictor.predict(p.image) for p in window.watch.pins])
        np.testing.assert_allclose(history.at(snap.step), one_by_one, rtol=0, atol=1e-6)  # batched: last bits only
    assert lives and all(p.shape == (3, 10) and np.allclose(p.sum(axis=1), 1, atol=1e-5) for _, p in lives)
    tile = window.watch_view.tiles[0]
    assert len(tile.steps) < len(history)  # drawn while the Curves tab was in front: not at every reading
    window.tabs.setCurrentWidget(window.watch_view)  # in front: drawn at once with every reading
    assert len(tile.steps) == len(history) and window.predictor.classes[tile.target] == window.watch.pins[0].target
    with qtbot.waitSignal(window.time.momentShown, timeout=10000):
        window.time_slider.choose(3)
    assert all(t.moment == snaps[3].step for t in window.watch_view.tiles)
    assert not tile.grab().isNull()


def test_a_test_image_clicked_in_the_embedding_is_pinned_with_its_true_class(qtbot, window, mnist_small):
    view = window.analysis.embedding
    window.tabs.setCurrentWidget(view)
    assert view.compute()
    qtbot.waitUntil(lambda: not view.is_running() and view.result is not None, timeout=60000)
    view.choose(7)
    index = int(view.result.features.indices[7])
    assert window.watch_view.pin_test_button.text() == f"Pin test image #{index}"
    assert window.watch.pin_test_image()
    pin = window.watch.pins[-1]
    assert (pin.name, pin.target) == (f"test image #{index}", mnist_small.classes[int(mnist_small.test_labels[index])])
    assert np.array_equal(pin.image, mnist_small.test_images[index].numpy() / np.float32(255))


@pytest.mark.slow
def test_pins_no_snapshot_can_read_are_tried_once_not_again_and_again(qtbot, window):
    window.analysis.confusion.testImageChosen.emit(np.zeros((3, 32, 32), np.float32), "a photo", "cat")
    assert window.watch.pin_test_image()  # kept, but the MNIST network reads 1x28x28
    config = window.training_panel.config().with_(epochs=1, max_batches=20, batch_size=50, lr=1e-3)
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        assert window.start_training(config)
    qtbot.waitUntil(lambda: not window.watch.jobs.busy() and not window.time.jobs.busy(), timeout=20000)
    snaps = list_snapshots(next(window.runs_view.runs_dir.iterdir()))
    assert window.watch.tried == {s.path for s in snaps} and len(window.watch.history) == 0
    qtbot.wait(300)
    assert not window.watch.jobs.busy()  # nothing submitted again


@pytest.mark.slow
def test_pins_changed_during_a_run_get_no_live_readings_of_other_pins(qtbot, window):
    pin_test_images(qtbot, window, [0, 1])
    lives = []
    window.controller.watchRead.connect(lambda step, probs: lives.append(step))
    config = window.training_panel.config().with_(epochs=2, max_batches=20, batch_size=50, lr=1e-3)
    with qtbot.waitSignal(window.controller.finished, timeout=120000):
        assert window.start_training(config)
        qtbot.waitUntil(lambda: len(lives) >= 1, timeout=60000)
        window.watch_view.tiles[0].remove_button.click()  # test image #0 out, #5 in: still two pins
        window.confusion.choose_sample(5)
        assert window.watch.pin_test_image()
        assert [p.name for p in window.watch.pins] == ["test image #1", "test image #5"]
    qtbot.waitUntil(lambda: not window.watch.jobs.busy() and not window.time.jobs.busy(), timeout=20000)
    history = window.watch.history
    assert len(lives) >= 2 and history.readings and all(r.shape == (2, 10) for r in history.readings)
    assert all(history.from_snapshot)  # the run's live readings of #0 and #1 are not drawn as #1 and #5's
