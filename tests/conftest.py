import os
import tempfile

# Qt must never need a display in the tests; set before anything imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep the tests' data downloads and settings away from the user's own folders.
os.environ.setdefault("CNN_GUI_DATA_DIR", os.path.join(os.path.dirname(__file__), ".data-not-used"))
# Runs recorded by tests (window and CLI runs) go to a temporary folder, never the user's.
os.environ.setdefault("CNN_GUI_RUNS_DIR", tempfile.mkdtemp(prefix="cnn-gui-test-runs-"))
