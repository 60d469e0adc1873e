"""Where the bundled files (MNIST, pretrained weights) live.

In a checkout they sit in ``resources/`` at the repository root; an installed wheel
carries the same folder as ``cnn_gui/resources`` (see ``pyproject.toml``). Both are
looked for, the packaged copy first.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    for candidate in (_PACKAGE / "resources", _PACKAGE.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "cnn-gui's resources folder is missing (looked in "
        f"{_PACKAGE / 'resources'} and {_PACKAGE.parent / 'resources'}); reinstall the package."
    )


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def pretrained_checkpoint() -> Path:
    """The shipped MNIST CNN weights, trained with ``cnn-gui train``."""
    return resource_path("pretrained", "mnist-cnn.safetensors")
