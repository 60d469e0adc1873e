"""Start-up time: ``cnn-gui`` to the main window shown, vs ``python -c "import torch"``.

Whole processes, alternating (torch, gui, torch, gui, ...), so that a machine shared with
other work slows both alike; the medians and their ratio are printed. The GUI process is
the real entry point (``cnn-gui`` next to this Python, else ``python -m cnn_gui``), run
offscreen with ``CNN_GUI_EXIT_AFTER_SHOW=1``: the app quits right after the window is
shown (tree filled) and the first event loop iteration has run, so the process's wall
time is its start-up time. Settings go to a temporary folder (never the user's).

Target (issue "Performance", 5): GUI start-up <= 1.4x the bare ``import torch``.

    python benchmarks/startup.py [--runs 5]

A measurement, not a test: it exits 0 whatever the ratio.

Findings (2-core AMD EPYC VM, torch CPU, shared with other CPU-heavy work, load ~4):

- ``python -X importtime -m cnn_gui`` with the hook: of ~2.1 s of imports, torch is
  ~1.5 s (it pulls numpy, and tqdm via torch.hub), pyqtgraph ~0.17 s, PySide6 ~0.1 s,
  cnn_gui's own modules ~0.05 s. Neither torchvision nor safetensors' heavy parts
  are imported at start-up (safetensors only through checkpoints, <1 ms).
- Window construction was ~0.47 s: the structure tree's shape pass (one forward of a
  1x1x28x28 zero image) ~0.15 s -- on a loaded 2-core machine a 2-thread OpenMP region
  waits for a core, the same forward with one thread takes ~1-2 ms --, loading the
  pretrained checkpoint ~0.05 s, the canvas predictor (a deepcopy of the model) ~0.04 s,
  the plots ~0.07 s.
- Importing torch *after* PySide6 cost ~0.3-0.5 s more than before it: PySide6's import
  hook (shibokensupport.feature) reads the source of every module imported after it
  (``inspect.getsource`` per module, ~1,100 modules). ``cnn_gui.gui.app`` now imports
  numpy and torch before PySide6 -> ~0.4 s saved (the biggest win).
- The tree's shape pass runs with one torch thread (``_single_threaded`` in
  main_window.py): ~2 ms instead of ~110 ms on this loaded machine.
- ``cnn-gui`` builds the window with an untrained model of the same architecture, shows
  it, and loads the pretrained weights, history and canvas predictor in the first event
  loop iteration (``defer_pretrained``); the window paints first. That iteration is
  still inside the measured time (the hook's quit is queued after it): the "shown" line
  printed by the hook says "Weights: pretrained (...)".
- Before -> after on this machine (load ~3, medians of 5): 2.59 s torch vs 4.14 s GUI,
  1.60x -> 1.91 s vs 2.59 s, 1.35x. Left: pyqtgraph ~0.17 s, PySide6 ~0.1 s, numpy
  ~0.1 s (torch alone does not import it), window construction ~0.3 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    return time.perf_counter() - t0, proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command (alternating)")
    args = parser.parse_args(argv)

    settings = tempfile.mkdtemp(prefix="cnn-gui-startup-")
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen", CNN_GUI_EXIT_AFTER_SHOW="1", CNN_GUI_SETTINGS_DIR=settings)
    torch_cmd = [sys.executable, "-c", "import torch"]
    gui_cmd = gui_command()
    print(machine_line())
    print(f"gui command: {' '.join(gui_cmd)} (offscreen, CNN_GUI_EXIT_AFTER_SHOW=1)")

    torch_times: list[float] = []
    gui_times: list[float] = []
    notes: list[str] = []
    try:
        for i in range(max(args.runs, 1)):
            t, proc = timed(torch_cmd, env)
            if proc.returncode == 0:
                torch_times.append(t)
            else:
                notes.append(f"import torch exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
            t, proc = timed(gui_cmd, env)
            shown = [line for line in proc.stderr.splitlines() if line.startswith("cnn-gui: shown")]
            if proc.returncode == 0 and shown:
                gui_times.append(t)
                if i == 0:
                    print(shown[0])
            else:
                notes.append(f"cnn-gui exited {proc.returncode} (shown line: {bool(shown)}): "
                             f"{proc.stderr.strip()[-300:]}")
            print(f"run {i + 1}: import torch {torch_times[-1] if torch_times else float('nan'):.2f} s, "
                  f"cnn-gui {gui_times[-1] if gui_times else float('nan'):.2f} s", flush=True)
    finally:
        shutil.rmtree(settings, ignore_errors=True)

    for note in notes:
        print(f"note: {note}")
    if not torch_times or not gui_times:
        print("no complete runs; nothing to compare")
        return 0
    t_med, g_med = statistics.median(torch_times), statistics.median(gui_times)
    print(f"import torch: median {t_med:.2f} s (min {min(torch_times):.2f}, max {max(torch_times):.2f}, "
          f"{len(torch_times)} runs)")
    print(f"cnn-gui to window shown: median {g_med:.2f} s (min {min(gui_times):.2f}, max {max(gui_times):.2f}, "
          f"{len(gui_times)} runs)")
    print(f"ratio cnn-gui/import torch: {g_med / t_med:.2f}x (target <= 1.4x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
