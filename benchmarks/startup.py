"""Start-up time: ``cnn-gui`` to the window shown, and to the tree filled, vs ``import torch``.

Whole processes, alternating (torch, gui shown, gui tree, ...), so that a machine shared
with other work slows each alike; the medians and their ratios are printed. Each is timed
from the process's start to the line it prints when it is there (its exit not counted):
``python -c "import torch; print(...)"``, and the real entry point (``cnn-gui`` next to this
Python, else ``python -m cnn_gui``) offscreen with ``CNN_GUI_EXIT_AFTER_SHOW=1`` (the first
window shown, the loading one: ``cnn_gui/gui/startup/``) or ``=tree`` (the real window painted
with the network's tree filled and the pretrained weights read), or ``=tabs`` (the tabs left
for after that paint, the analysis views and Runs, built as well). Settings go to a temporary
folder (never the user's). Then a 10 ms heartbeat on the GUI thread, in one more process,
from the first window's creation to every tab built: how late the GUI answers meanwhile.

Goals (issue 20): window shown <= 1.0x ``import torch``; tree filled <= 1.4x. Last run: 0.19x,
1.29x, every tab built 1.45x (README, row 5).

    python benchmarks/startup.py [--runs 5]

A measurement, not a test: it exits 0 whatever the ratios.

Findings (2-core AMD EPYC VM, torch CPU):

- ``import torch`` is ~1.2-1.5 s; PySide6 and a window ~0.1 s. Until issue 20 nothing was on
  the screen before torch, the model and the pretrained weights had loaded (2.16 s, 1.62x).
  Now the loading window (frame, docks, a canvas to draw on) shows at ~0.25 s while a
  thread imports torch and the window's modules; the real window replaces it.
- PySide6's import hook (shibokensupport.feature) reads the source of every module imported
  after PySide6 (0.3-0.5 s more for torch's ~1,000 modules). The loader sets it aside for
  its imports (``core_loader.without_pyside_import_hook``): torch imports as fast after
  PySide6 as before it.
- Python's garbage collector ran four or five full collections while torch loaded (20-110
  ms each, ~0.3 s in all, measured with ``gc.callbacks``): held off during the imports and
  the survivors frozen after (``cnn_gui/gui/startup/collector.py``).
- The window used to open on an untrained network and read the pretrained weights in the
  next turn of the event loop: two models built, everything drawn twice. It opens on the
  pretrained weights now (~60 ms less).
- Left on the GUI thread (timeline, offscreen): the imports after torch ~0.25 s (pyqtgraph
  ~0.1 s of it, 60 ms of which its ``pyqtgraph.Qt`` materialising every Qt class), building
  the real window ~0.13 s, its first paint ~0.04 s; then the analysis tabs and Runs
  (~0.2 s with their modules), built after that paint.
- Heartbeat: ``dlopen`` of libtorch runs its static initialisers with the GIL held (~0.2 s
  at once), torch._C's module init ~50 ms, the window ~0.13 s and the back tabs ~0.2 s:
  p99 ~240 ms. A GIL-free ``dlopen`` of libtorch on the import thread (libc's, called
  through ``ctypes``) took that stall away but made the loading window wait for the dynamic
  loader's lock while loading its Qt plugins (shown at 0.52 s, not 0.24) and saved nothing
  overall (nothing else could run beside it: the modules need torch); not kept.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
from _scratch import scratch_dir  # the script's folder is first on sys.path
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_name, load_text  # noqa: E402


def machine_line() -> str:
    cpu = cpu_name()
    load = load_text()
    return f"machine: CPU {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {load}"


def gui_command() -> list[str]:
    script = Path(sys.executable).with_name("cnn-gui")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("cnn-gui")
    return [found] if found else [sys.executable, "-m", "cnn_gui"]


def until_line(cmd: list[str], env: dict[str, str], prefix: str) -> tuple[float | None, str]:
    """Seconds from start to the first stderr/stdout line starting with ``prefix`` (None if
    none came), and everything the process printed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, lines = None, []
    assert proc.stdout is not None
    for line in proc.stdout:
        if seen is None and line.startswith(prefix):
            seen = time.perf_counter() - t0
        lines.append(line)
    proc.wait(timeout=300)
    return (seen if proc.returncode == 0 else None), "".join(lines)


HEARTBEAT_CHILD = """
import os, sys, time
from cnn_gui.gui import app
qapp = app.ensure_app(serial=False)
from PySide6.QtCore import QTimer
ticks = []
beat = QTimer(); beat.setInterval(10); beat.timeout.connect(lambda: ticks.append(time.perf_counter())); beat.start()
app.run()
late = sorted(max(0.0, (b - a) * 1000 - 10) for a, b in zip(ticks, ticks[1:]))
pick = lambda q: late[min(len(late) - 1, int(q * len(late)))]
print(f"heartbeat while the window starts: p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, "
      f"max {late[-1]:.1f} ms ({len(ticks)} ticks)")
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (alternating)")
    args = parser.parse_args(argv)

    settings = scratch_dir(prefix="cnn-gui-startup-")
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", CNN_GUI_SETTINGS_DIR=settings)
    gui_cmd = gui_command()
    commands = {
        "import torch": ([sys.executable, "-c", "import torch; print('imported', flush=True)"], {}, "imported"),
        "cnn-gui to window shown": (gui_cmd, {"CNN_GUI_EXIT_AFTER_SHOW": "1"}, "cnn-gui: shown"),
        "cnn-gui to tree filled": (gui_cmd, {"CNN_GUI_EXIT_AFTER_SHOW": "tree"}, "cnn-gui: tree filled"),
        "cnn-gui to every tab built": (gui_cmd, {"CNN_GUI_EXIT_AFTER_SHOW": "tabs"}, "cnn-gui: every tab built"),
    }
    print(machine_line())
    print(f"gui command: {' '.join(gui_cmd)} (offscreen)")
    times: dict[str, list[float]] = {name: [] for name in commands}
    notes: list[str] = []
    try:
        for i in range(max(args.runs, 1)):
            for name, (cmd, extra, prefix) in commands.items():
                seconds, out = until_line(cmd, {**env, **extra}, prefix)
                if seconds is None:
                    notes.append(f"{name}: no line starting {prefix!r}: {out.strip()[-300:]}")
                    continue
                times[name].append(seconds)
                if i == 0 and prefix.startswith("cnn-gui"):
                    print(next(line for line in out.splitlines() if line.startswith(prefix)))
            print(f"run {i + 1}: " + ", ".join(f"{name} {v[-1]:.2f} s" for name, v in times.items() if v), flush=True)
        beat = subprocess.run([sys.executable, "-c", HEARTBEAT_CHILD], capture_output=True, text=True, timeout=300,
                              env={**env, "CNN_GUI_EXIT_AFTER_SHOW": "tabs"})
        lines = [line for line in beat.stdout.splitlines() if line.startswith("heartbeat")]
        print(lines[0] if lines else f"note: the heartbeat child printed nothing: {beat.stderr.strip()[-300:]}")
    finally:
        shutil.rmtree(settings, ignore_errors=True)

    for note in notes:
        print(f"note: {note}")
    if not all(times.values()):
        print("no complete runs; nothing to compare")
        return 0
    med = {name: statistics.median(v) for name, v in times.items()}
    for name, v in times.items():
        print(f"{name}: median {med[name]:.2f} s (min {min(v):.2f}, max {max(v):.2f}, {len(v)} runs)")
    torch_s = med["import torch"]
    print(f"ratio window shown/import torch: {med['cnn-gui to window shown'] / torch_s:.2f}x (goal <= 1.0x)")
    print(f"ratio tree filled/import torch: {med['cnn-gui to tree filled'] / torch_s:.2f}x (goal <= 1.4x)")
    print(f"ratio every tab built/import torch: {med['cnn-gui to every tab built'] / torch_s:.2f}x "
          "(the analysis tabs and Runs, built after the window's first paint)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
