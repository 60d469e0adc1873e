import atexit
import os
import shutil
import tempfile

# Qt must never need a display in the tests; set before anything imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep the tests' data downloads and settings away from the user's own folders.
os.environ.setdefault("CNN_GUI_DATA_DIR", os.path.join(os.path.dirname(__file__), ".data-not-used"))
# Runs recorded by tests (window and CLI runs) go to a temporary folder, never the user's,
# removed when the tests end: a whole suite records ~2 GB of runs, and a disk that keeps
# each suite's runs fills up (CI failed so once).
if "CNN_GUI_RUNS_DIR" not in os.environ:
    os.environ["CNN_GUI_RUNS_DIR"] = tempfile.mkdtemp(prefix="cnn-gui-test-runs-")
    atexit.register(shutil.rmtree, os.environ["CNN_GUI_RUNS_DIR"], True)


import pytest  # noqa: E402 - after the environment above, which must be set before anything imports Qt


@pytest.fixture(scope="module")
def serial_torch():
    """One thread for torch, as the window's GUI thread runs it (one image at a time runs
    fastest so, and a second thread only waits). Use with ``pytest.mark.usefixtures``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pretrained():
    """A frozen predictor of the shipped pretrained MNIST CNN (as the canvas has it)."""
    from cnn_gui.core.files.checkpoints import load_checkpoint, load_weights_into
    from cnn_gui.core.model.models import CNN
    from cnn_gui.core.analysis.predictor import Predictor
    from cnn_gui.core.resources import pretrained_checkpoint

    model = CNN()
    load_weights_into(model, load_checkpoint(pretrained_checkpoint()))
    return Predictor(model)

