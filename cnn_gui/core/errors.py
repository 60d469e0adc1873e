"""The one base class of every error cnn-gui shows a user, and the rule for its text.

A message is one line of at most :data:`MAX_MESSAGE` characters with control
characters escaped: text from a file (a 5 MB metadata field, a name with newlines or
terminal escapes) must never flood a dialog or a terminal. ``hint`` is an optional
second sentence saying what to do, kept apart so that the window can show it below
the message and the CLI after it.
"""

from __future__ import annotations

MAX_MESSAGE = 300


def one_line(text: object, limit: int = MAX_MESSAGE) -> str:
    """``text`` as one printable line of at most ``limit`` characters."""
    raw = str(text)
    if len(raw) > limit * 4:  # never escape megabytes only to cut them
        raw = raw[: limit * 4]
    out = []
    for ch in raw:
        if ch in "\n\r\t":
            out.append(" ")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    line = " ".join("".join(out).split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line


def short_repr(value: object, limit: int = 40) -> str:
    """A value from a file, for quoting inside a message: ``repr`` cut to ``limit``."""
    if isinstance(value, str) and len(value) > limit * 4:
        value = value[: limit * 4]
    elif isinstance(value, (list, dict, tuple)):
        kind = type(value).__name__
        return f"a {kind} of {len(value)}" if len(value) > 8 else one_line(_safe_repr(value), limit)
    return one_line(_safe_repr(value), limit)


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except (ValueError, RecursionError):  # a 5000-digit int, a self-nested list
        return f"<{type(value).__name__}>"


class CnnGuiError(ValueError):
    """A failure a user can understand and act on: one short line, plus an optional hint."""

    def __init__(self, message: object = "", hint: str = "") -> None:
        self.message = one_line(message)
        self.hint = one_line(hint) if hint else ""
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def full_text(self) -> str:
        """Message and hint together, still one line (for the CLI)."""
        return f"{self.message} {self.hint}".strip() if self.hint else self.message


def describe(exc: BaseException) -> tuple[str, str]:
    """Any exception as ``(message, hint)``: the one rule the CLI, dialogs and the training thread use.

    - ours (:class:`CnnGuiError`): its message and hint;
    - an OSError with a reason: a sentence with the path ("No such file or directory: /x/y"),
      never "[Errno 2] ...";
    - anything else (torch's RuntimeError, a user's model raising): "TypeName: text", so
      that an unforeseen failure says what kind it was.
    """
    if isinstance(exc, CnnGuiError):
        return exc.message or type(exc).__name__, exc.hint
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {one_line(exc.filename, 200)}" if exc.filename else ""
        return one_line(f"{exc.strerror}{where}"), ""
    text = one_line(exc)
    return one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__), ""


def describe_line(exc: BaseException) -> str:
    """:func:`describe` as one line (message, then hint): for a terminal or a status bar."""
    message, hint = describe(exc)
    return f"{message} {hint}".strip()


def terminal_lines(exc: BaseException, label: str = "error") -> list[str]:
    """:func:`describe` for a terminal: ``cnn-gui: error: <message>``, and the hint, if any,
    on a line of its own (``cnn-gui: hint: <hint>``), never glued to the end of the message."""
    message, hint = describe(exc)
    lead = f"cnn-gui: {label}: " if label else "cnn-gui: "
    lines = [lead + message]
    if hint:
        lines.append("cnn-gui: hint: " + hint.removeprefix("cnn-gui: "))
    return lines


def as_sentence(text: str) -> str:
    """``text`` with a capital first letter, as a dialog shows a message."""
    return text[:1].upper() + text[1:]
