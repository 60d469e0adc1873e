"""Put cnn-gui in the desktop's application menu, with its icon (Linux, freedesktop.org).

    python -m cnn_gui.desktop_entry              install for this user (~/.local/share)
    python -m cnn_gui.desktop_entry --uninstall  remove what it installed

Writes ``applications/cnn-gui.desktop`` (from ``resources/cnn-gui.desktop``) and the icon
into the hicolor theme (``icons/hicolor/<size>x<size>/apps/cnn-gui.png`` and
``scalable/apps/cnn-gui.svg``) under the prefix. The entry's Exec is the absolute path of
this environment's ``cnn-gui`` script: a menu does not see a virtual environment's PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from cnn_gui.core.resources import resource_path

NAME = "cnn-gui"
PNG_SIZES = (32, 64, 256)


def default_prefix() -> Path:
    """$XDG_DATA_HOME, else ~/.local/share: where a user's menu entries and icons live."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def _quote(arg: str) -> str:
    """One Exec argument, quoted as the Desktop Entry spec asks (then escaped for the key file)."""
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`%'):
        return arg
    inner = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    # The key file unescapes backslashes before the Exec quoting is read; % starts a field code.
    return '"' + inner.replace("\\", "\\\\").replace("%", "%%") + '"'


def exec_command() -> list[str]:
    """How the menu starts the app: this environment's ``cnn-gui``, else ``python -m cnn_gui``."""
    python = Path(sys.executable)  # not resolved: a venv's python is a link out of the venv
    for candidate in (python.parent / NAME, shutil.which(NAME)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return [str(Path(candidate).absolute())]
    return [str(python.absolute()), "-m", "cnn_gui"]


def desktop_text(command: list[str]) -> str:
    """resources/cnn-gui.desktop with Exec set to ``command``."""
    lines = resource_path("cnn-gui.desktop").read_text(encoding="utf-8").splitlines()
    exec_line = "Exec=" + " ".join(_quote(a) for a in command)
    return "\n".join(exec_line if line.startswith("Exec=") else line for line in lines) + "\n"


def _targets(prefix: Path) -> dict[Path, Path | None]:
    """Installed path -> the bundled file it is copied from (None: the .desktop, written)."""
    icons = prefix / "icons" / "hicolor"
    targets: dict[Path, Path | None] = {prefix / "applications" / f"{NAME}.desktop": None}
    for size in PNG_SIZES:
        targets[icons / f"{size}x{size}" / "apps" / f"{NAME}.png"] = resource_path("icons", f"{NAME}-{size}.png")
    targets[icons / "scalable" / "apps" / f"{NAME}.svg"] = resource_path("icons", f"{NAME}.svg")
    return targets


def install(prefix: str | os.PathLike | None = None, command: list[str] | None = None) -> list[Path]:
    """Write the menu entry and the icons under ``prefix``; the paths written, the entry first."""
    prefix = Path(prefix) if prefix is not None else default_prefix()
    text = desktop_text(command or exec_command())
    written = []
    for target, source in _targets(prefix).items():
        target.parent.mkdir(parents=True, exist_ok=True)
        if source is None:
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(source, target)
        written.append(target)
    return written


def uninstall(prefix: str | os.PathLike | None = None) -> list[Path]:
    """Remove what :func:`install` wrote (folders stay: other apps' icons live there); the paths removed."""
    prefix = Path(prefix) if prefix is not None else default_prefix()
    removed = []
    for target in _targets(prefix):
        if target.is_file():
            target.unlink()
            removed.append(target)
    return removed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cnn_gui.desktop_entry",
                                 description="Add cnn-gui to the desktop's application menu, with its icon.")
    ap.add_argument("--prefix", type=Path, default=None,
                    help=f"data folder to install into (default: $XDG_DATA_HOME or ~/.local/share, now {default_prefix()})")
    ap.add_argument("--uninstall", action="store_true", help="remove the menu entry and the icons")
    args = ap.parse_args(argv)
    if sys.platform in ("win32", "darwin"):
        print("cnn-gui: desktop entries are for Linux desktops (freedesktop.org); nothing to do here",
              file=sys.stderr)
        return 2
    try:
        if args.uninstall:
            removed = uninstall(args.prefix)
            print(f"removed {len(removed)} file(s)" + (f": {', '.join(map(str, removed))}" if removed else ""))
            return 0
        command = exec_command()
        written = install(args.prefix, command)
    except OSError as exc:
        print(f"cnn-gui: cannot write the desktop entry: {exc}", file=sys.stderr)
        return 1
    print(f"menu entry: {written[0]} (runs {' '.join(command)})")
    print(f"icons: {', '.join(str(p) for p in written[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
