"""Training on a CPU that another program shares: samples/s with one core busy over idle.

    python benchmarks/contention.py [--batches 300] [--rounds 2]

Runs ``cnn-gui train`` (the tutorial preset, ``--max-batches`` of one epoch, no runs folder)
as a user would, in fresh processes, in alternating order: idle, then with one core taken
by a spinning process this script starts; once with the thread count adapted to the load
(the default, ``core/training/thread_tuner.py``) and once fixed at every core
(``--threads N``, how every run trained before). Reads the training samples/s from the
epoch line (the test pass not counted). Then the same in the window: the real main window
(offscreen, in a fresh process: ``gui_responsiveness.py``'s bench window, 5 batches of
warm-up) trains the same run, samples/s from its epoch's end. A measurement, not a test:
it exits 0 whatever the ratios. Goal: busy / idle >= 0.40 on 2 cores (the ideal is 0.50)
in the CLI and in the window, never slower than fixed when idle.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_name, load_text  # noqa: E402

SPEED = re.compile(r"epoch 1/1: .* ([\d,]+) samples/s")


def train_speed(batches: int, threads: int | None) -> float:
    cmd = [sys.executable, "-m", "cnn_gui", "train", "--device", "cpu", "--epochs", "1", "--max-batches",
           str(batches), "--no-runs", "--quiet"] + (["--threads", str(threads)] if threads else [])
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    with tempfile.TemporaryDirectory() as tmp:  # the checkpoint it saves is not wanted
        cmd += ["--out", str(Path(tmp) / "weights.safetensors")]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    found = SPEED.search(out)
    if not found:
        raise SystemExit(f"no samples/s in the output of {' '.join(cmd)}:\n{out}")
    return float(found.group(1).replace(",", ""))


def window_speed(batches: int, threads: int | None) -> float:
    """Samples/s of the real window's training in a fresh process (``--window-child``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--window-child", "--batches", str(batches)]
    cmd += ["--threads", str(threads)] if threads else []
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    with tempfile.TemporaryDirectory() as tmp:  # settings and the run folder it records are not wanted
        env.update(QT_QPA_PLATFORM="offscreen", CNN_GUI_SETTINGS_DIR=str(Path(tmp) / "settings"),
                   CNN_GUI_RUNS_DIR=str(Path(tmp) / "runs"))
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("window samples/s ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"the window child failed: {out.stderr.strip()[-2000:]}")
    return float(lines[-1].split()[-1])


def _window_child(batches: int, threads: int | None) -> int:
    from gui_responsiveness import Heartbeat, close_bench_window, open_bench_window, window_run

    from cnn_gui.core.training.cpu_threads import set_training_threads

    if threads:
        set_training_threads(threads)
    app, window, _ = open_bench_window(500)
    beat = Heartbeat()
    beat.start()
    try:
        config = window.training_panel.config().with_(epochs=1, batch_size=100, device="cpu", max_batches=5)
        window_run(app, window, beat, config, 300)  # warm-up
        speed, *_ = window_run(app, window, beat, config.with_(max_batches=batches), 600)
    finally:
        beat.stop()
        close_bench_window(window)
    print(f"window samples/s {speed:.1f}")
    return 0


def measure(kind: str, speed, batches: int, rounds: int, cores: int) -> None:
    speeds: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for busy in (False, True):
            spin = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                for mode, threads in (("adapted", None), ("fixed", cores)):
                    speeds.setdefault((mode, "busy" if busy else "idle"), []).append(speed(batches, threads))
            finally:
                if spin is not None:
                    spin.kill()
                    spin.wait()
    med = {key: statistics.median(v) for key, v in speeds.items()}
    for mode in ("adapted", "fixed"):
        idle, busy = med[(mode, "idle")], med[(mode, "busy")]
        print(f"{kind} {mode:8s} threads: idle {idle:,.0f} samples/s, one core busy {busy:,.0f} samples/s, "
              f"busy/idle {busy / idle:.2f}")
    print(f"{kind} adapted / fixed: idle {med[('adapted', 'idle')] / med[('fixed', 'idle')]:.2f}x, "
          f"one core busy {med[('adapted', 'busy')] / med[('fixed', 'busy')]:.2f}x", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=300, help="training batches of 100 per run (default 300)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; medians are printed (default 2)")
    ap.add_argument("--kinds", default="cli,window", help="what to measure: cli, window or both (default)")
    ap.add_argument("--window-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.window_child:
        return _window_child(args.batches, args.threads)
    cores = os.cpu_count() or 1
    print(f"machine: {cpu_name()}, {cores} cores, {load_text()}")
    kinds = {"cli": train_speed, "window": window_speed}
    for kind in args.kinds.split(","):
        if kind not in kinds:
            ap.error(f"--kinds: {kind!r} is neither cli nor window")
        measure(kind, kinds[kind], args.batches, args.rounds, cores)
    return 0


if __name__ == "__main__":
    sys.exit(main())
