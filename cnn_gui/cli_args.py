"""What a user types on ``cnn-gui``'s command line, checked before anything heavy starts.

- **Numbers** are ASCII decimals in the range the core accepts (``TrainConfig``'s bounds;
  ``--threads`` at most 4 per CPU): ``٣``, ``1_000``, ``inf`` and ``nan`` are no numbers
  here, and a value out of range is one line, exit 2, before a model or a dataset loads.
- **Output paths** never replace or sit beside what is no regular file: a file to write
  (``--out``) is refused when a folder, a device, a FIFO or a socket is at its name, and a
  suffix (``.png``) is added to a name only when nothing, or a regular file, is at the bare
  name; a folder to write into (``--runs-dir``, ``--data-dir``, ``--tensorboard DIR``) is
  refused when something other than a folder is there.
- **A class** (``--class``) is its name, or an ASCII decimal index into the classes.
- A bad option is one line too (:class:`OneLineParser`), not argparse's usage block.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
from pathlib import Path

from cnn_gui.core.errors import CnnGuiError, one_line, short_repr

_MAX_DIGITS = 24  # more digits than any bound here: refused before int() reads them
_NUMBER_CHARS = frozenset("0123456789.eE+-")


class UserError(CnnGuiError):
    """A mistake in what the user asked for; printed as one line, no traceback."""


class RunFailed(CnnGuiError):
    """A run that started and failed (NaN loss, out of memory): exit status 1."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose mistakes are one line (``cnn-gui train: error: ...``), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message, 250)} (see {self.prog} --help)\n")


# --------------------------------------------------------------------------- numbers


def whole_number(low: int, high: int | None = None, *, high_of=None, why: str = ""):
    """An argparse type: an ASCII decimal whole number from ``low`` to ``high`` (or
    ``high_of()``, asked only when the option is given); ``why`` follows the range in errors."""
    def parse(text: str) -> int:
        body = text.strip()
        digits = body[1:] if body[:1] in "+-" else body
        if not (digits.isascii() and digits.isdecimal()):
            raise argparse.ArgumentTypeError(f"expected a whole number, got {short_repr(text)}")
        top = high if high_of is None else high_of()
        if len(digits) > _MAX_DIGITS:
            raise argparse.ArgumentTypeError(f"must be from {low:,} to {top:,}{why}, got a number of "
                                             f"{len(digits):,} digits")
        value = int(body)
        if not low <= value <= top:
            raise argparse.ArgumentTypeError(f"must be from {low:,} to {top:,}{why}, got {value:,}")
        return value

    return parse


def positive_number(high: float):
    """An argparse type: an ASCII decimal number above 0 and at most ``high`` (no inf, no nan)."""
    def parse(text: str) -> float:
        body = text.strip()
        try:
            if not body or not set(body) <= _NUMBER_CHARS:
                raise ValueError(text)
            value = float(body)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {short_repr(text)}") from None
        if not (math.isfinite(value) and 0 < value <= high):
            raise argparse.ArgumentTypeError(f"must be above 0 and at most {high:g}, got {short_repr(text)}")
        return value

    return parse


def max_threads() -> int:
    from cnn_gui.core.training.cpu_threads import max_training_threads

    return max_training_threads()


# --------------------------------------------------------------------------- output paths


def output_file(path: str | os.PathLike, option: str, *, inputs=()) -> Path:
    """``path`` as a file to write or replace, checked before any work: UserError when a folder,
    a device, a FIFO or a socket is there (writing would replace it, or write into /dev), when
    it is one of the command's ``inputs`` (an export over its checkpoint, an explanation over
    its image), or when its folder cannot be written (found now, not after a whole run)."""
    shown = one_line(path, 150)
    if not str(path).strip():
        raise UserError(f"{option} is empty; give a file name")
    if str(path).endswith(("/", os.sep)):
        raise UserError(f"{option} {shown} names a folder; give a file name")
    mode = _mode(path, option)
    if mode is not None and not stat.S_ISREG(mode):
        raise UserError(f"{option} {shown}: it is {_kind(mode)}, not a regular file; give a file name")
    if mode is not None and any(given is not None and _same_file(path, given) for given in inputs):
        raise UserError(f"{option} {shown} is the file this command reads: writing it would replace it; "
                        "give another name")
    _check_writable_folder(path, option)
    return Path(path)


def checkpoint_file(path: str | os.PathLike, option: str) -> Path:
    """:func:`output_file` for a checkpoint: a file already there must be a checkpoint (a
    safetensors file), never a script or an image that a typo in ``--out`` would replace."""
    out = output_file(path, option)
    try:
        with open(out, "rb") as f:
            head = f.read(9)
    except FileNotFoundError:
        return out
    except OSError as exc:
        raise UserError(f"{option} {one_line(path, 150)}: {exc.strerror or exc}") from None
    if head and not (len(head) == 9 and head[8:9] == b"{"):  # safetensors: 8 bytes of length, then JSON
        raise UserError(f"{option} {one_line(path, 150)} is there and is not a checkpoint: writing would replace it; "
                        "give another name, or remove it first")
    return out


def output_file_with_suffix(path: str | os.PathLike, suffix: str, option: str, *, inputs=()) -> Path:
    """``path``, or ``path`` + ``suffix`` when it has no suffix: added only when nothing, or
    a regular file, is at the bare name (never ``/dev/full.png``, ``folder.png``)."""
    bare = output_file(path, option, inputs=inputs)
    return bare if bare.suffix else output_file(str(path) + suffix, option, inputs=inputs)


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _check_writable_folder(path: str | os.PathLike, option: str) -> None:
    """UserError unless a file can be made where ``path`` goes: in its folder, or in the
    nearest folder above it that exists (the missing ones are made when it is written)."""
    import tempfile

    folder = Path(os.path.abspath(path)).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    shown = one_line(path, 150)
    if not folder.is_dir():
        raise UserError(f"{option} {shown}: {one_line(folder, 150)} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".cnn-gui-write-test-", dir=folder)
    except OSError as exc:
        raise UserError(f"{option} {shown}: cannot write in {one_line(folder, 150)}: "
                        f"{exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def output_folder(path: str | os.PathLike, option: str) -> Path:
    """``path`` as a folder to write into (made if missing); UserError when something other
    than a folder is there."""
    mode = _mode(path, option)
    if mode is not None and not stat.S_ISDIR(mode):
        raise UserError(f"{option} {one_line(path, 150)}: it is {_kind(mode)}, not a folder")
    return Path(path)


def _mode(path: str | os.PathLike, option: str) -> int | None:
    """What is at ``path`` (links followed); None when nothing is."""
    try:
        return os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:  # no permission, a name too long, a NUL byte
        raise UserError(f"{option} {one_line(path, 150)}: {getattr(exc, 'strerror', None) or exc}") from None


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "a special file")


# --------------------------------------------------------------------------- classes


def class_index(text: str, classes: list[str], option: str = "--class") -> int:
    """A class given by its name, or by an ASCII decimal index; UserError listing the classes."""
    if text in classes:
        return classes.index(text)
    if text.isascii() and text.isdecimal() and len(text) <= _MAX_DIGITS:
        index = int(text)
        if index < len(classes):
            return index
    shown = ", ".join(one_line(c, 40) for c in classes[:20]) + (", ..." if len(classes) > 20 else "")
    raise UserError(f"{option} {one_line(text, 40)}: choose one of {shown} "
                    f"(a name, or an index from 0 to {len(classes) - 1})")
