import atexit
import os
import shutil
import tempfile
from pathlib import Path

# Qt must never need a display in the tests; set before anything imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep the tests' data downloads and settings away from the user's own folders.
os.environ.setdefault("CNN_GUI_DATA_DIR", os.path.join(os.path.dirname(__file__), ".data-not-used"))
# Runs recorded by tests (window and CLI runs) go to a temporary folder, never the user's (not
# even one CNN_GUI_RUNS_DIR names), removed when the tests end: a whole suite records ~2 GB of
# runs, and a disk that keeps each suite's runs fills up (CI failed so once). A suite killed
# before its end leaves its folder; the next suite removes it (named by its dead process).
_RUNS_PREFIX = "cnn-gui-test-runs-"


def _remove_runs_of_ended_suites() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{_RUNS_PREFIX}*-*"):
        pid = folder.name[len(_RUNS_PREFIX):].partition("-")[0]
        if pid.isdecimal() and not Path(f"/proc/{pid}").exists() and Path("/proc/self").exists():
            shutil.rmtree(folder, ignore_errors=True)


_remove_runs_of_ended_suites()
os.environ["CNN_GUI_RUNS_DIR"] = tempfile.mkdtemp(prefix=f"{_RUNS_PREFIX}{os.getpid()}-")
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

