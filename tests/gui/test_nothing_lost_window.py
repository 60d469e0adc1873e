"""Nothing lost in the window: deleting, in the Runs tab, the run that keeps the canvas's
weights says so first, and afterwards every way to replace them asks (Save / Discard /
Cancel); a file deleted by hand is not trusted either; a renamed run renames the label.

Each action of the Runs tab answers on a job thread: the tests wait with a bound."""

import pytest
import torch

from cnn_gui.core.config import TrainConfig

QUICK = TrainConfig(epochs=1, max_batches=5, batch_size=50)


def weights(model):
    return {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].cpu()) for k in a)


def train(qtbot, window):
    with qtbot.waitSignal(window.controller.finished, timeout=60000) as blocker:
        assert window.start_training()
    assert blocker.args[0].reason == "completed"


@pytest.fixture
def window(make_window, mnist_small, tmp_path):
    w = make_window(data_override=mnist_small)
    w.training_panel.set_config(QUICK)
    w.runs_view.set_runs_dir(tmp_path / "runs")
    return w


def show_runs(qtbot, window, count):
    view = window.runs_view
    window.tabs.setCurrentWidget(view)
    view.refresh()
    qtbot.waitUntil(lambda: len(view.runs()) == count and not view.busy(), timeout=5000)
    return view


def delete(qtbot, view, folders):
    asked = []
    view.confirm = lambda title, text: asked.append(text) or True
    view.select_runs(folders)
    view.delete_selected()
    qtbot.waitUntil(lambda: not view.busy() and not any(run.folder in folders for run in view.runs()),
                    timeout=5000)
    return asked


def test_deleting_the_run_of_the_canvas_weights_says_so_and_then_replacing_them_asks(qtbot, window):
    train(qtbot, window)
    session = window.session
    kept = session.provenance.kept_in
    assert kept is not None and not session.unsaved
    trained, label = weights(window.model), window.weights_label.text()
    view = show_runs(qtbot, window, 1)
    run = view.runs()[0]
    assert str(run.folder) in kept

    asked = delete(qtbot, view, [run.folder])
    assert "The weights on the canvas exist only in this run: they stay on the canvas, unsaved" in asked[0]
    assert not run.folder.exists()
    qtbot.waitUntil(lambda: session.provenance.kept_in is None, timeout=5000)
    assert session.unsaved and window.weights_label.text() == label

    replacing = []
    window.ask_discard = lambda what: replacing.append(what) or "cancel"
    window.pretrained_action.trigger()  # Weights > Use the pretrained weights
    assert replacing == ["Using the pretrained weights"]
    assert same_weights(trained, weights(window.model)) and window.weights_label.text() == label
    assert not window.errors


def test_deleting_another_run_says_nothing_of_the_canvas(qtbot, window):
    train(qtbot, window)
    first = window.session.provenance.kept_in
    train(qtbot, window)  # the canvas has the second run's weights now
    view = show_runs(qtbot, window, 2)
    other = next(run for run in view.runs() if str(run.folder) in first)
    asked = delete(qtbot, view, [other.folder])
    assert "canvas" not in asked[0]
    assert not window.session.unsaved and window.session.provenance.kept_in is not None
    window.ask_discard = lambda what: pytest.fail(f"asked before {what}: the weights are kept in their run")
    window.pretrained_action.trigger()
    assert window.weights_label.text().startswith("Weights: pretrained")


def test_weights_loaded_from_a_run_are_unsaved_once_it_is_deleted(qtbot, window):
    train(qtbot, window)
    view = show_runs(qtbot, window, 1)
    run = view.runs()[0]
    assert window.use_pretrained()
    view.select_runs([run.folder])
    with qtbot.waitSignal(window.openFinished, timeout=30000) as blocker:
        view.load_selected()
    assert blocker.args == [True] and window.session.provenance.source.value == "file"
    loaded = weights(window.model)

    asked = delete(qtbot, view, [run.folder])
    assert "exist only in this run" in asked[0]
    qtbot.waitUntil(lambda: window.session.unsaved, timeout=5000)
    assert window.session.provenance.detail.endswith(", deleted") and ", deleted" in window.weights_label.text()
    replacing = []
    window.ask_discard = lambda what: replacing.append(what) or "cancel"
    assert not window.reinitialize("kaiming-normal")
    assert replacing == ["Re-initialising"] and same_weights(loaded, weights(window.model))


def test_an_opened_file_deleted_by_hand_is_not_trusted(qtbot, window, tmp_path):
    path = window.save_checkpoint(tmp_path / "mine.safetensors")
    with qtbot.waitSignal(window.openFinished, timeout=30000):
        window.open_checkpoint(path)
    assert not window.session.unsaved
    path.unlink()  # outside the app
    replacing = []
    window.ask_discard = lambda what: replacing.append(what) or "discard"
    assert window.use_pretrained()
    assert replacing == ["Using the pretrained weights"]


def test_renaming_the_run_of_the_canvas_weights_renames_their_label(qtbot, window):
    train(qtbot, window)
    view = show_runs(qtbot, window, 1)
    run = view.runs()[0]
    view.select_runs([run.folder])
    with qtbot.waitSignal(window.openFinished, timeout=30000):
        view.load_selected()
    assert window.session.provenance.detail.startswith("run ")
    view.ask_name = lambda current: "best so far"
    view.rename_selected()
    qtbot.waitUntil(lambda: "run best so far" in window.weights_label.text(), timeout=5000)
    assert not window.session.unsaved
