"""The one JSON parser for a run folder's files (``run.json``, ``epochs.jsonl``, ``steps.jsonl``).

A run folder is data anyone may have edited. ``json.loads`` alone lets through what
breaks the code after it: nesting a thousand deep (a RecursionError from the parser, or
later from ``repr`` and ``json.dumps``), integers of thousands of digits, and ``NaN``,
``Infinity`` or ``1e999`` (a float that is infinite, which the writer then cannot write
back). :func:`load_json` refuses all of these with one :class:`RunsError` line, so
every reader, the follower, rename, export and delete treat such a file as a broken one.
"""

from __future__ import annotations

import json
import math

from cnn_gui.core.errors import one_line, short_repr
from cnn_gui.core.runs.layout import RunsError

MAX_DEPTH = 8  # run.json is 3 deep (the run, its config or error, a list in the config); a record 1
MAX_INT = 2**63 - 1  # a count, a pid, a time in ticks: none comes near
_MAX_INT_DIGITS = len(str(MAX_INT))


class _Refused(ValueError):
    """Internal: a number the parser met that a run's file never holds."""


def _parse_int(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > _MAX_INT_DIGITS or abs(int(text)) > MAX_INT:
        raise _Refused(f"a whole number of {len(digits):,} digits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {short_repr(text, 30)}, which is too large to be finite")
    return value


def _parse_constant(name: str) -> float:
    raise _Refused(f"{name}, which is not a finite number")


def _depth(value: object) -> int:
    """How deep lists and objects nest in a parsed value (a number or text: 0), without recursing."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_json(data: bytes | str, what: str) -> object:
    """``data`` (UTF-8 bytes or text) parsed; RunsError in one line when it is not JSON a run writes:
    not UTF-8, not JSON, nested more than :data:`MAX_DEPTH` deep, a whole number beyond
    :data:`MAX_INT`, or a number that is NaN or infinite."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError as exc:
        raise RunsError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        raise RunsError(f"{what} is nested too deeply to be cnn-gui's") from None
    except _Refused as exc:
        raise RunsError(f"{what} holds {exc}") from None
    except ValueError as exc:  # JSONDecodeError
        raise RunsError(f"{what} is not valid JSON ({one_line(exc, 100)})") from None
    if _depth(value) > MAX_DEPTH:
        raise RunsError(f"{what} is nested more than {MAX_DEPTH} levels deep, deeper than cnn-gui writes")
    return value
