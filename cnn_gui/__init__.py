"""cnn-gui: see a convolutional network, train it live, and let it read your handwriting.

``cnn_gui.core`` is the Qt-free engine (models, data, training, checkpoints);
``cnn_gui.gui`` is the PySide6 window on top of it; ``cnn_gui.cli`` is the entry point.
"""

__version__ = "0.1.0"
