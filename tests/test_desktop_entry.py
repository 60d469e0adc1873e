"""The icon and the Linux menu entry: what ships in resources/, and what install() writes."""

import configparser
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from cnn_gui import desktop_entry
from cnn_gui.core.resources import resource_path


def read_entry(path: Path) -> dict:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive in desktop entries
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_the_shipped_entry_has_what_a_menu_needs():
    entry = read_entry(resource_path("cnn-gui.desktop"))
    assert entry["Type"] == "Application" and entry["Name"] == "cnn-gui" and entry["Exec"] == "cnn-gui"
    assert entry["Icon"] == "cnn-gui" and entry["Terminal"] == "false"
    assert entry["Categories"] == "Education;Science;" and entry["Comment"]


def test_the_icon_is_an_svg_and_pngs_of_each_size():
    root = ET.parse(resource_path("icons", "cnn-gui.svg")).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox") == "0 0 256 256"
    for size in desktop_entry.PNG_SIZES:
        with Image.open(resource_path("icons", f"cnn-gui-{size}.png")) as im:
            assert im.size == (size, size) and im.mode == "RGBA"
            assert im.getpixel((0, 0))[3] == 0 and im.getpixel((size // 2, size // 2))[3] == 255  # rounded square


def test_install_writes_the_entry_and_the_hicolor_icons(tmp_path):
    written = desktop_entry.install(tmp_path, command=["/opt/my env/bin/cnn-gui"])
    apps, hicolor = tmp_path / "applications", tmp_path / "icons" / "hicolor"
    assert written == [apps / "cnn-gui.desktop", hicolor / "32x32/apps/cnn-gui.png",
                       hicolor / "64x64/apps/cnn-gui.png", hicolor / "256x256/apps/cnn-gui.png",
                       hicolor / "scalable/apps/cnn-gui.svg"]
    entry = read_entry(apps / "cnn-gui.desktop")
    assert entry["Exec"] == '"/opt/my env/bin/cnn-gui"'  # quoted: the path has a space
    assert entry["Icon"] == "cnn-gui" and entry["Name"] == "cnn-gui"
    assert (hicolor / "256x256/apps/cnn-gui.png").read_bytes() == resource_path("icons", "cnn-gui-256.png").read_bytes()

    assert desktop_entry.uninstall(tmp_path) == written
    assert not any(p.exists() for p in written) and apps.is_dir()  # folders stay: other apps use them
    assert desktop_entry.uninstall(tmp_path) == []


def test_exec_is_this_environments_script_else_python_m(monkeypatch, tmp_path):
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    monkeypatch.setattr(sys, "executable", str(python))
    monkeypatch.setattr(desktop_entry.shutil, "which", lambda name: None)
    assert desktop_entry.exec_command() == [str(python), "-m", "cnn_gui"]
    script = bin_dir / "cnn-gui"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert desktop_entry.exec_command() == [str(script)]


@pytest.mark.parametrize("arg, quoted", [
    ("/usr/bin/cnn-gui", "/usr/bin/cnn-gui"),
    ("/a b/cnn-gui", '"/a b/cnn-gui"'),
    ('/a"b', '"/a\\\\"b"'),  # \" inside quotes, then the key file's own \\ escape
    ("/50%/x", '"/50%%/x"'),
    ("/$HOME/x", '"/\\\\$HOME/x"'),
])
def test_exec_arguments_are_quoted_as_the_spec_says(arg, quoted):
    assert desktop_entry._quote(arg) == quoted


def test_main_installs_prints_where_and_uninstalls(tmp_path, capsys):
    assert desktop_entry.main(["--prefix", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    entry = tmp_path / "applications" / "cnn-gui.desktop"
    assert f"menu entry: {entry}" in out and str(tmp_path / "icons" / "hicolor") in out
    assert read_entry(entry)["Exec"].split()[0].startswith("/")  # absolute: menus do not see a venv's PATH
    assert desktop_entry.main(["--prefix", str(tmp_path), "--uninstall"]) == 0
    assert "removed 5 file(s)" in capsys.readouterr().out and not entry.exists()


def test_the_window_uses_the_icon(qapp):
    from cnn_gui.gui.app import ensure_app

    icon = ensure_app().windowIcon()
    assert not icon.isNull()
    assert {s.width() for s in icon.availableSizes()} >= set(desktop_entry.PNG_SIZES)
