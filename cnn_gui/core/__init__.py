"""The Qt-free core: everything here runs headless and never imports PySide6 or pyqtgraph.

Heavy imports (torchvision, safetensors) stay inside the functions that need them so that
``cnn-gui`` starts about as fast as ``import torch``.
"""
