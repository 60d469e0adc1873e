"""Can the window open here? Checked before Qt is imported, on Linux.

Without it, a machine lacking a display or one of the system libraries that Qt's X11
("xcb") platform plugin needs gets Qt's own abort: "Could not load the Qt platform plugin
"xcb" ... Reinstalling the application may fix this problem", which names neither the
missing piece nor the fix. :func:`problem` returns one line saying what is missing and
how to install it, and ``run()`` prints it and returns 2.

No Qt here (this module runs before PySide6 is imported), only ``ctypes``: each library
is looked for with ``dlopen``, as Qt's loader will, which takes about a millisecond.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

NO_DISPLAY = ("no display: DISPLAY and WAYLAND_DISPLAY are unset "
              "(over SSH use ssh -X, or train headless with `cnn-gui train`)")

# The system libraries (those PySide6's wheel does not bundle) that Qt's xcb plugin needs,
# with the Debian/Ubuntu and Fedora packages that carry them. Derived from the DT_NEEDED
# entries (`readelf -d`) of PySide6 6.11's plugins/platforms/libqxcb.so and
# lib/libQt6XcbQpa.so.6, and of the Qt libraries they load (libQt6Gui, libQt6Core,
# libQt6DBus: a missing libGL or libEGL fails the import of QtGui itself). Left out: the C
# and C++ runtimes, libz and libzstd, which every system running Python has.
# tests/gui/test_preflight.py checks the list against the installed plugin.
XCB_LIBRARIES: tuple[tuple[str, str, str], ...] = (
    ("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    ("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    ("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    ("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    ("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    ("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    ("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    ("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    ("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    ("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    ("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    ("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    ("libxcb.so.1", "libxcb1", "libxcb"),
    ("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    ("libX11.so.6", "libx11-6", "libX11"),
    ("libGL.so.1", "libgl1", "libglvnd-glx"),
    ("libEGL.so.1", "libegl1", "libglvnd-egl"),
    ("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    ("libfreetype.so.6", "libfreetype6", "freetype"),
    ("libglib-2.0.so.0", "libglib2.0-0", "glib2"),
    ("libgthread-2.0.so.0", "libglib2.0-0", "glib2"),
    ("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
)

_NAMED = 4  # missing libraries named in the message; the install commands name all packages


def _loads(soname: str) -> bool:
    """Whether the dynamic loader finds and loads ``soname`` (what Qt's plugin loader will do)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def _x_server_error(display: str | None) -> int:
    """libxcb's error code for a connection to ``display`` (0: it answered and accepted us).

    The same call Qt makes first; a DISPLAY left over from another session, or an SSH
    login without X forwarding, fails here instead of in Qt's abort.
    """
    xcb = ctypes.CDLL("libxcb.so.1")
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode() if display else None, None)
    try:
        return int(xcb.xcb_connection_has_error(conn))
    finally:
        xcb.xcb_disconnect(conn)  # also safe for libxcb's static error connection


def platform_plugin(env: Mapping[str, str]) -> str | None:
    """The platform Qt will pick: "xcb", "wayland", another QT_QPA_PLATFORM name, or None (no display)."""
    forced = env.get("QT_QPA_PLATFORM", "").strip()
    if forced:
        # "wayland;xcb" falls back to xcb only when wayland fails: the first choice is what runs.
        return forced.split(";")[0].split(":")[0].strip().lower()
    if env.get("WAYLAND_DISPLAY"):
        return "wayland"
    if env.get("DISPLAY"):
        return "xcb"
    return None


def missing_libraries(loads: Callable[[str], bool] | None = None) -> list[tuple[str, str, str]]:
    """The entries of :data:`XCB_LIBRARIES` that the dynamic loader cannot load."""
    loads = loads or _loads
    return [entry for entry in XCB_LIBRARIES if not loads(entry[0])]


def _unique(names) -> str:
    return " ".join(dict.fromkeys(names))


def missing_libraries_message(missing: list[tuple[str, str, str]]) -> str:
    named = ", ".join(entry[0] for entry in missing[:_NAMED])
    if len(missing) > _NAMED:
        named += f" and {len(missing) - _NAMED} more"
    return (f"missing system libraries for Qt's X11 (xcb) platform: {named}; install them with "
            f"`sudo apt install {_unique(e[1] for e in missing)}` (Debian/Ubuntu) or "
            f"`sudo dnf install {_unique(e[2] for e in missing)}` (Fedora), "
            "or train headless with `cnn-gui train`")


def problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """One line saying why the window cannot open here, or None when nothing is known to be missing."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    plugin = platform_plugin(env)
    if plugin is None:
        return NO_DISPLAY
    if plugin != "xcb":
        return None  # a platform someone chose on purpose (offscreen in the tests), or Wayland
    missing = missing_libraries()
    if missing:
        return missing_libraries_message(missing)
    display = env.get("DISPLAY")
    if not display:
        return ("QT_QPA_PLATFORM asks for xcb (X11) but DISPLAY is unset "
                "(over SSH use ssh -X, or train headless with `cnn-gui train`)")
    if _x_server_error(display) != 0:
        return (f"cannot connect to the X display {display!r} (DISPLAY): no X server answers there "
                "or it refused this user (over SSH use ssh -X, or train headless with `cnn-gui train`)")
    return None
