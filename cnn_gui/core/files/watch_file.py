"""The watch list as text the settings keep: each pin's pixels (8 bits, base64), class and name.

Read back field by field, once, here: a damaged or foreign entry is left out with a count,
never trusted (no pickle, no code). Pixels are kept at 8 bits, so :func:`quantized` is
applied when an image is pinned: the pin read from the settings is the pin that was read.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

import numpy as np

from cnn_gui.core.analysis.watch import MAX_PINNED, Pinned

FORMAT = "cnn-gui-watch-1"
MAX_CHARS = 4_000_000
MAX_PIXELS = 3 * 128 * 128  # of one pinned image
MAX_SIDE = 128
MAX_TEXT = 200  # characters of a name or a class


def quantized(pin: Pinned) -> Pinned:
    """``pin`` with its pixels rounded to 8 bits, as stored."""
    return Pinned(_to_bytes(pin.image).astype(np.float32) / 255.0, pin.target, pin.name)


def _to_bytes(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def pins_to_text(pins: list[Pinned]) -> str:
    return json.dumps({"format": FORMAT, "pins": [
        {"shape": list(p.image.shape), "pixels": base64.b64encode(_to_bytes(p.image).tobytes()).decode("ascii"),
         "target": p.target, "name": p.name} for p in pins[:MAX_PINNED]]})


def pins_from_text(text: object) -> tuple[list[Pinned], int]:
    """(the pins read, how many entries were left out as unreadable)."""
    if not isinstance(text, str) or not text or len(text) > MAX_CHARS:
        return [], 0
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return [], 1
    entries = doc.get("pins") if isinstance(doc, dict) and doc.get("format") == FORMAT else None
    if not isinstance(entries, list):
        return [], 1
    pins = [p for p in (_pin(e) for e in entries[:MAX_PINNED]) if p is not None]
    return pins, len(entries[:MAX_PINNED]) - len(pins) + max(len(entries) - MAX_PINNED, 0)


def _pin(entry: object) -> Pinned | None:
    if not isinstance(entry, dict):
        return None
    shape, pixels, target, name = (entry.get(k) for k in ("shape", "pixels", "target", "name"))
    # Each side bounded before multiplying: numpy's product of [1, 2**32, 2**32] wraps to 0
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIDE for v in shape)
            or shape[0] not in (1, 3) or math.prod(shape) > MAX_PIXELS):
        return None
    if not (isinstance(target, str) and isinstance(name, str) and isinstance(pixels, str)):
        return None
    if len(target) > MAX_TEXT or len(name) > MAX_TEXT or len(pixels) > 2 * MAX_PIXELS:
        return None
    try:
        raw = base64.b64decode(pixels, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != math.prod(shape):
        return None
    image = np.frombuffer(raw, dtype=np.uint8).reshape(shape).astype(np.float32) / 255.0
    return Pinned(image, target, name)
