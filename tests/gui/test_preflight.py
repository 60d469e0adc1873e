"""Start, or say in one line why not: no display, a missing system library, no X server."""

import ast
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnn_gui.gui import app, preflight

ROOT = Path(__file__).resolve().parents[2]
LINUX = "linux"


@pytest.fixture
def all_libraries(monkeypatch):
    """Every library loads and the X server answers, unless a test says otherwise."""
    monkeypatch.setattr(preflight, "_loads", lambda name: True)
    monkeypatch.setattr(preflight, "_x_server_error", lambda display: 0)


def refuse(*_):
    raise AssertionError("must not be checked")


def test_no_display_is_one_line_naming_both_variables(monkeypatch):
    monkeypatch.setattr(preflight, "_loads", refuse)
    reason = preflight.problem({}, LINUX)
    assert reason == preflight.NO_DISPLAY
    assert "DISPLAY and WAYLAND_DISPLAY are unset" in reason and "cnn-gui train" in reason and "ssh -X" in reason


def test_a_missing_library_names_it_and_the_packages_of_both_distributions(monkeypatch, all_libraries):
    missing = {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}
    monkeypatch.setattr(preflight, "_loads", lambda name: name not in missing)
    monkeypatch.setattr(preflight, "_x_server_error", refuse)
    reason = preflight.problem({"DISPLAY": ":0"}, LINUX)
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in reason
    assert "`sudo apt install libxcb-cursor0 libxcb-icccm4` (Debian/Ubuntu)" in reason
    assert "`sudo dnf install xcb-util-cursor xcb-util-wm` (Fedora)" in reason
    assert "cnn-gui train" in reason and "\n" not in reason and len(reason) <= 300


def test_many_missing_libraries_name_a_few_and_install_every_package_once(monkeypatch):
    monkeypatch.setattr(preflight, "_loads", lambda name: not name.startswith("libxcb"))
    reason = preflight.problem({"DISPLAY": ":0"}, LINUX)
    xcb = [e for e in preflight.XCB_LIBRARIES if e[0].startswith("libxcb")]
    assert f"and {len(xcb) - 4} more" in reason
    apt = reason.split("sudo apt install ")[1].split("`")[0].split()
    dnf = reason.split("sudo dnf install ")[1].split("`")[0].split()
    assert apt == list(dict.fromkeys(e[1] for e in xcb)) and len(set(dnf)) == len(dnf)
    assert "libxcb" in dnf and "xcb-util-keysyms" in dnf


def test_all_there_and_the_server_answers_is_no_problem(all_libraries):
    assert preflight.problem({"DISPLAY": ":0"}, LINUX) is None


def test_an_x_server_that_does_not_answer_names_the_display(monkeypatch, all_libraries):
    monkeypatch.setattr(preflight, "_x_server_error", lambda display: 1)
    reason = preflight.problem({"DISPLAY": "localhost:10.0"}, LINUX)
    assert "cannot connect to the X display 'localhost:10.0'" in reason and "ssh -X" in reason


def test_a_chosen_platform_skips_the_checks(monkeypatch):
    monkeypatch.setattr(preflight, "_loads", refuse)
    monkeypatch.setattr(preflight, "_x_server_error", refuse)
    for chosen in ("offscreen", "minimal", "wayland", "wayland;xcb", "vnc:size=800x600"):
        assert preflight.problem({"QT_QPA_PLATFORM": chosen}, LINUX) is None, chosen
    assert preflight.problem({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, LINUX) is None


def test_a_chosen_xcb_checks_the_libraries_and_needs_a_display(monkeypatch, all_libraries):
    monkeypatch.setattr(preflight, "_loads", lambda name: name != "libxkbcommon-x11.so.0")
    assert "libxkbcommon-x11.so.0" in preflight.problem({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}, LINUX)
    monkeypatch.setattr(preflight, "_loads", lambda name: True)
    assert "DISPLAY is unset" in preflight.problem({"QT_QPA_PLATFORM": "xcb"}, LINUX)


def test_only_linux_is_checked(monkeypatch):
    monkeypatch.setattr(preflight, "_loads", refuse)
    assert preflight.problem({}, "darwin") is None and preflight.problem({}, "win32") is None


def test_the_loader_check_is_real():
    assert preflight._loads("libc.so.6")
    assert not preflight._loads("libcnn-gui-there-is-no-such-library.so.7")


def test_preflight_imports_no_qt():
    """It runs before PySide6 is imported, and must work where PySide6's libraries cannot load."""
    tree = ast.parse(Path(preflight.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m and ("PySide" in m or "Qt" in m or m.startswith("cnn_gui"))}


@pytest.mark.slow
def test_run_returns_2_after_one_line_and_never_starts_qt(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", LINUX)
    monkeypatch.setattr(app, "ensure_app", refuse)
    assert app.run() == 2
    err = capsys.readouterr().err
    assert err == f"cnn-gui: {preflight.NO_DISPLAY}\n"


def _needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line]


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("readelf") is None,
                    reason="reads the Linux xcb plugin's ELF headers with readelf")
def test_the_list_covers_what_the_installed_xcb_plugin_needs():
    """A PySide6 upgrade that links the plugin against a new system library fails here."""
    qt = Path(__import__("PySide6").__file__).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip("this PySide6 has no xcb plugin")
    bundled = {p.name for p in (qt / "lib").iterdir()}
    runtime = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1", "libzstd.so.1",
               "libdl.so.2", "libpthread.so.0", "librt.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
    needed = set(_needed(plugin))
    for lib in ("libQt6XcbQpa.so.6", "libQt6Gui.so.6", "libQt6Core.so.6", "libQt6DBus.so.6"):
        needed |= set(_needed(qt / "lib" / lib))
    listed = {entry[0] for entry in preflight.XCB_LIBRARIES}
    assert needed - bundled - runtime <= listed, sorted(needed - bundled - runtime - listed)


@pytest.mark.slow
def test_without_a_display_the_command_exits_2_with_one_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "cnn_gui"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"cnn-gui: {preflight.NO_DISPLAY}"]
    assert "Reinstalling" not in proc.stderr + proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb for a real X server")
def test_the_connection_check_against_a_real_x_server():
    """No false alarm with a running X server (Xvfb), and an alarm once it is gone."""
    number = (os.getpid() % 400) + 300
    display, socket = f":{number}", Path(f"/tmp/.X11-unix/X{number}")
    server = subprocess.Popen(["Xvfb", display, "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not socket.exists():
            assert server.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
            time.sleep(0.05)
        time.sleep(0.2)  # the socket exists just before the server accepts
        assert preflight._x_server_error(display) == 0
        missing = preflight.missing_libraries()
        expected = preflight.missing_libraries_message(missing) if missing else None
        assert preflight.problem({"DISPLAY": display}, LINUX) == expected
    finally:
        server.terminate()
        server.wait(10)
    assert preflight._x_server_error(display) != 0
    if not missing:
        assert f"cannot connect to the X display {display!r}" in preflight.problem({"DISPLAY": display}, LINUX)
