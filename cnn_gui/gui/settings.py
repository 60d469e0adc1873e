"""Where the window keeps what it remembers between sessions (QSettings helpers).

By default the settings live where Qt keeps them for organisation "cnn-gui",
application "cnn-gui" (``~/.config/cnn-gui/cnn-gui.conf`` on Linux). When the
environment variable ``CNN_GUI_SETTINGS_DIR`` is set they go to
``$CNN_GUI_SETTINGS_DIR/cnn-gui.ini`` instead: the tests point it at a temporary folder
so they never touch the user's own settings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "cnn-gui"
APPLICATION = "cnn-gui"
SETTINGS_DIR_ENV = "CNN_GUI_SETTINGS_DIR"

KEY_GEOMETRY = "window/geometry"
KEY_STATE = "window/state"
KEY_TRAINING = "training/config"  # JSON of the panel's TrainConfig fields
KEY_PRESET = "training/preset"
KEY_LAST_DIR = "files/last_dir"
KEY_RUNS_DIR = "runs/folder"
KEY_RUNS_FOLLOWED = "runs/followed"  # JSON list of runs folders followed besides the own one
KEY_WATCH = "watch/pins"  # the watch list's pinned images (core/files/watch_file.py)


def layout_keys(screen) -> tuple[str, str]:
    """(geometry key, dock-state key) for a screen of this available size: a laptop and a big
    monitor each keep their own layout."""
    if screen is None:
        return KEY_GEOMETRY, KEY_STATE
    size = screen.availableGeometry().size()
    suffix = f"/{size.width()}x{size.height()}"
    return KEY_GEOMETRY + suffix, KEY_STATE + suffix


def settings_path() -> Path | None:
    """The INI file used instead of Qt's default location, or None for the default."""
    folder = os.environ.get(SETTINGS_DIR_ENV)
    return Path(folder) / "cnn-gui.ini" if folder else None


def open_settings() -> QSettings:
    path = settings_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(ORGANIZATION, APPLICATION)


def read_bytes(settings: QSettings, key: str) -> QByteArray | None:
    value = settings.value(key)
    if isinstance(value, QByteArray) and not value.isEmpty():
        return value
    if isinstance(value, (bytes, bytearray)) and value:
        return QByteArray(bytes(value))
    return None


MAX_JSON_CHARS = 100_000  # the training settings are a few hundred characters


def read_json(settings: QSettings, key: str) -> dict | None:
    value = settings.value(key)
    if not isinstance(value, str) or not value or len(value) > MAX_JSON_CHARS:
        return None
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError):  # a damaged settings file must never keep the window from opening
        return None
    return doc if isinstance(doc, dict) else None


def write_json(settings: QSettings, key: str, doc: dict) -> None:
    settings.setValue(key, json.dumps(doc))


def read_str(settings: QSettings, key: str, default: str = "") -> str:
    value = settings.value(key, default)
    return value if isinstance(value, str) else default
