"""Everything to check on a CUDA machine, in one command with a hard time budget.

    python3 benchmarks/gpu_check.py [--json PATH] [--budget 270] [--cpu-smoke]

Run from the repository root; cnn_gui need not be installed (the repository root is put
on sys.path, and on PYTHONPATH for the pytest runs). Needs torch, torchvision, numpy,
safetensors, pillow, pytest; not PySide6, pyqtgraph or platformdirs.

1. ``pytest -m cuda tests/test_cuda.py`` (the engine on the GPU, graphed and eager), in a
   subprocess;
2. the fast preset to 99 % in fresh processes (cold: CUDA context, lazy kernel loading,
   cuDNN's choices all paid for), with cuDNN autotuning off (the engine's default) and on:
   seconds from ``fit()`` to 99 %, and the whole process's wall time;
3. seconds per MNIST epoch at batch 100: the tutorial's own loop (DataLoader +
   ToTensor/Normalize, benchmarks/_baseline.py) vs the engine with its defaults (its step
   replayed from a CUDA graph), same GPU, same process; then the engine graphed in each of
   bf16/fp32 x channels_last/contiguous, eager in two of them, graphed with cuDNN
   autotuning, and graphed with augmentation, to see what each choice is worth and which
   defaults to keep (``engine.CUDA_AMP``, ``CUDA_CHANNELS_LAST``, ``CUDNN_BENCHMARK``);
4. the fast preset to 99 % MNIST test accuracy in this (warm) process, seeds 0, 1, 2 as
   shipped, and seed 0 with its augmentation setting flipped: seconds and accuracy;
5. the tutorial's loop to 99 % (its own train-mode test), for the ratio;
6. the hand-written prototype of the graphed step (gpu_speed.step_loop), for reference;
7. the engine with ``--compile`` (a subprocess, killed at its share of the budget);
8. the Qt-free core tests (``tests/core``, not the slow ones; files that import Qt are left out).

Each step starts only if the budget leaves it time; a watchdog writes what was measured
and exits (status 3) if one overruns. Every figure is printed with the GPU's name and
torch's version, and written to ``--json`` after each step. Without CUDA it prints one
line and exits 0; ``--cpu-smoke`` runs every step tiny on the CPU instead (its figures
mean nothing), for the test suite.

Goals: the tutorial CNN's epoch <= 1 s on the GPU; >= 20x the tutorial's loop on the same
GPU; the fast preset at 99 % in <= 3 s (reported warm, as the first fast-preset run in a
process that has used CUDA already, and cold, in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

PROCESS_T0 = time.perf_counter()  # before torch is imported: for the cold-start figures

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

GOALS = {"engine_epoch_s": 1.0, "ratio_tutorial_over_engine": 20.0, "fast_preset_99_s": 3.0,
         "fast_preset_99_cold_s": 3.0}
# Engine settings timed besides the defaults: (name, config changes, engine module constants).
VARIANTS = (
    ("graph_bf16_channels_last", {"amp": True, "channels_last": True}, {}),
    ("graph_fp32_contiguous", {"amp": False, "channels_last": False}, {}),
    ("graph_bf16_contiguous", {"amp": True, "channels_last": False}, {}),
    ("graph_fp32_channels_last", {"amp": False, "channels_last": True}, {}),
    ("eager_defaults", {"cuda_graph": False}, {}),
    ("eager_bf16_channels_last", {"cuda_graph": False, "amp": True, "channels_last": True}, {}),
    ("graph_defaults_cudnn_benchmark", {}, {"CUDNN_BENCHMARK": True}),
    ("graph_defaults_augment", {"augment": True}, {}),
)
QT_MARKERS = ("PySide6", "pyqtgraph", "cnn_gui.gui", "pytestqt", "qtbot", "qapp")


class Check:
    """The figures so far, the clock, and the JSON file they go to."""

    def __init__(self, budget: float, json_path: Path | None, smoke: bool) -> None:
        self.started = time.monotonic()
        self.budget = budget
        self.json_path = json_path
        self.smoke = smoke
        self.figures: dict = {"budget_s": budget, "errors": [], "skipped": [], "timed_out": False}
        self.lock = threading.Lock()

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.started)

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f} s] {text}", flush=True)

    def put(self, **values) -> None:
        with self.lock:
            self.figures.update(values)
        self.save()

    def save(self) -> None:
        if self.json_path is None:
            return
        with self.lock:
            self.figures["elapsed_s"] = round(time.monotonic() - self.started, 2)
            text = json.dumps(self.figures, indent=2, sort_keys=True, default=str)
        self.json_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.json_path.with_name(self.json_path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.json_path)

    def step(self, name: str, needs: float, fn) -> None:
        """Run ``fn`` if at least ``needs`` seconds are left; an exception is recorded, not raised."""
        if self.left() < needs:
            self.say(f"{name}: skipped ({self.left():.0f} s left, needs ~{needs:.0f} s)")
            self.figures["skipped"].append(name)
            self.save()
            return
        self.say(f"{name} ...")
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - one failed step must not cost the others
            self.say(f"{name} FAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc(limit=6)
            self.figures["errors"].append(f"{name}: {type(exc).__name__}: {exc}")
            self.save()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def start_watchdog(check: Check, grace: float = 20.0) -> None:
    """If a step overruns the budget, write what was measured and end the process."""

    def fire() -> None:
        check.figures["timed_out"] = True
        check.say(f"budget of {check.budget:.0f} s overrun by {grace:.0f} s: writing what was measured and exiting")
        try:
            check.save()
            print_summary(check)
        finally:
            os._exit(3)

    timer = threading.Timer(max(check.left(), 0) + grace, fire)
    timer.daemon = True
    timer.start()


# --------------------------------------------------------------------------- steps


def pytest_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_pytest(check: Check, key: str, args: list[str], timeout: float) -> None:
    cmd = [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider"]
    check.say(f"  $ {' '.join(cmd)}  (timeout {timeout:.0f} s)")
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=pytest_env(), capture_output=True, text=True, timeout=timeout)
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout or ""
        rc, out = "timeout", partial.decode(errors="replace") if isinstance(partial, bytes) else partial
    lines = out.strip().splitlines()
    summary = next((ln for ln in reversed(lines) if re.search(r"\d+ (passed|failed|skipped|error)", ln)),
                   lines[-1] if lines else "")
    if check.json_path is not None:
        (check.json_path.parent / f"gpu-check-{key}.log").write_text(out)
    for line in lines[-25:] if rc != 0 else lines[-3:]:
        print(f"    {line}", flush=True)
    tests = dict(check.figures.get("tests", {}))
    tests[key] = {"returncode": rc, "summary": summary.strip("= "), "seconds": round(time.monotonic() - t0, 1)}
    check.put(tests=tests)
    check.say(f"  tests {key}: {summary.strip('= ')} (exit {rc})")


def qt_free_core_tests() -> tuple[list[str], list[str]]:
    """tests/core's files, and those among them that import Qt (left out: no PySide6 there)."""
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "core").glob("test_*.py"))
    qt = [f for f in files if any(m in (ROOT / f).read_text(errors="replace") for m in QT_MARKERS)]
    return files, qt


def xdist_workers() -> list[str]:
    import importlib.util

    if importlib.util.find_spec("xdist") is None:
        return []
    return ["-n", str(max(2, min(8, (os.cpu_count() or 2) // 2)))]


class engine_constants:
    """Set module constants of cnn_gui.core.training.engine for a block (the CUDA defaults)."""

    def __init__(self, **values) -> None:
        self.values, self.saved = values, {}

    def __enter__(self):
        from cnn_gui.core.training import engine

        for key, value in self.values.items():
            self.saved[key] = getattr(engine, key)
            setattr(engine, key, value)
        return self

    def __exit__(self, *exc) -> None:
        from cnn_gui.core.training import engine

        for key, value in self.saved.items():
            setattr(engine, key, value)


def engine_defaults() -> dict:
    from cnn_gui.core.training import engine

    return {"CUDA_AMP": engine.CUDA_AMP, "CUDA_CHANNELS_LAST": engine.CUDA_CHANNELS_LAST,
            "CUDNN_BENCHMARK": engine.CUDNN_BENCHMARK}


def epoch_benchmark(check: Check, device: torch.device, data) -> None:
    from gpu_speed import engine_run, tutorial_epochs

    epochs, batches = (1, 3) if check.smoke else (2, None)
    tut = tutorial_epochs(device, epochs, batches)
    check.put(tutorial_epochs_s=tut, tutorial_epoch_s=tut[-1])
    check.say(f"  tutorial loop, epoch seconds: {fmt_list(tut)}")

    rows = engine_run(data, device, epochs, batches)
    eng = rows[-1]["train_s"]
    check.put(engine_epochs_s=[r["train_s"] for r in rows], engine_epoch_s=eng, engine_precision=rows[-1]["precision"],
              engine_epoch_with_test_s=rows[-1]["epoch_s"], engine_test_accuracy=rows[-1]["test_accuracy"],
              ratio_tutorial_over_engine=tut[-1] / eng, engine_defaults=engine_defaults())
    check.say(f"  engine defaults ({rows[-1]['precision']}), epoch seconds: {fmt_list([r['train_s'] for r in rows])}"
              f"; with its test pass {rows[-1]['epoch_s']:.3f} s; test acc {rows[-1]['test_accuracy']:.4f}; "
              f"ratio tutorial/engine {tut[-1] / eng:.1f}x")

    variants = {}
    for name, config, constants in VARIANTS:
        if check.left() < 40 or (check.smoke and len(variants) >= 2):  # the smoke runs two, to run the code
            check.figures["skipped"].append(f"engine variant {name}")
            continue
        with engine_constants(**constants):
            v = engine_run(data, device, epochs, batches, **config)
        variants[name] = {"epoch_s": v[-1]["train_s"], "epochs_s": [r["train_s"] for r in v],
                          "test_accuracy": v[-1]["test_accuracy"], "precision": v[-1]["precision"],
                          "ratio_tutorial_over_it": tut[-1] / v[-1]["train_s"]}
        check.put(engine_variants=variants)
        check.say(f"  engine {name} ({v[-1]['precision']}): {fmt_list(variants[name]['epochs_s'])} s per epoch, "
                  f"test acc {v[-1]['test_accuracy']:.4f}, ratio tutorial/it {tut[-1] / v[-1]['train_s']:.1f}x")
    graphed = {k: v for k, v in variants.items() if k.startswith("graph_") and "CUDA graph" in v["precision"]}
    if graphed:
        best = min(graphed, key=lambda k: graphed[k]["epoch_s"])
        check.put(fastest_graphed_variant=best, fastest_graphed_epoch_s=graphed[best]["epoch_s"],
                  ratio_tutorial_over_fastest_graphed=tut[-1] / graphed[best]["epoch_s"])
        check.say(f"  fastest graphed setting: {best}, {graphed[best]['epoch_s']:.3f} s per epoch "
                  f"({tut[-1] / graphed[best]['epoch_s']:.1f}x the tutorial loop)")


def prototype(check: Check, device: torch.device, data, graphed: bool) -> None:
    """The engine's step written out by hand, eager or replayed from a CUDA graph (gpu_speed.step_loop)."""
    from gpu_speed import step_loop

    epochs, batches = (1, 3) if check.smoke else (2, None)
    key = "graphed_step" if graphed else "eager_step"
    rows = step_loop(data, device, epochs, batches, graphed=graphed)
    seconds = rows[-1]["train_s"]
    tut = check.figures.get("tutorial_epoch_s")
    check.put(**{f"{key}_epoch_s": seconds, f"{key}_test_accuracy": rows[-1]["test_accuracy"],
                 f"ratio_tutorial_over_{key}": tut / seconds if tut else None})
    check.say(f"  prototype {key.replace('_', ' ')}: {fmt_list([r['train_s'] for r in rows])} s per epoch, "
              f"test acc {rows[-1]['test_accuracy']:.4f}" + (f"; ratio tutorial/it {tut / seconds:.1f}x" if tut else ""))


def time_to(config, data, target: float) -> dict:
    """The engine from ``fit()`` until an epoch's test accuracy reaches ``target``: epochs
    (None if never), seconds to the end of that epoch's test pass, accuracy, precision."""
    from cnn_gui.core.training.engine import Trainer
    from cnn_gui.core.events import EpochEnded, FitFailed, FitStarted

    info: dict = {"epochs": None, "precision": None, "test_accuracy": None}
    holder: dict = {}

    def on_event(event) -> None:
        if isinstance(event, FitStarted):
            info["precision"] = event.precision
        elif isinstance(event, EpochEnded):
            info["test_accuracy"] = event.test_accuracy
            if event.test_accuracy >= target and info["epochs"] is None:
                info["epochs"], info["t"] = event.epoch, time.perf_counter()
                holder["trainer"].stop()
        elif isinstance(event, FitFailed):
            info["failed"] = event.message

    trainer = Trainer(config, data=data, callbacks=[on_event])
    holder["trainer"] = trainer
    t0 = time.perf_counter()
    trainer.fit()
    info["seconds"] = info.pop("t", time.perf_counter()) - t0
    return info


def fast_preset_config(check_smoke: bool, device: torch.device, seed: int = 0, **changes):
    from cnn_gui.core.config import PRESETS

    extra = {"max_batches": 3} if check_smoke else {}
    return PRESETS["fast"].with_(seed=seed, device=str(device), **extra, **changes)


def fast_preset(check: Check, device: torch.device, data) -> None:
    target = 0.5 if check.smoke else 0.99
    runs = []
    preset = fast_preset_config(check.smoke, device).augment  # as shipped first, then the other way
    for seed, augment in ((0, preset), (1, preset), (2, preset), (0, not preset)):
        if check.smoke and seed:
            continue
        run = time_to(fast_preset_config(check.smoke, device, seed, augment=augment), data, target)
        run.update(seed=seed, augment=augment)
        runs.append(run)
        check.say(f"  fast preset seed {seed} {'with' if augment else 'without'} augmentation ({run['precision']}): "
                  f"{'reached' if run['epochs'] else 'NOT reached'} {target:.0%} in {run['seconds']:.2f} s "
                  f"(test acc {run['test_accuracy']})")
    first = runs[0]
    check.put(fast_preset=runs, fast_preset_target=target,
              fast_preset_99_s=first["seconds"] if first["epochs"] else None)


def fast_preset_cold(check: Check, json_part: Path) -> None:
    """The fast preset in fresh processes, cuDNN autotuning off and on; the goal's figure is
    the engine's default setting's."""
    cold = {}
    for benchmark in (False, True):
        if check.smoke and benchmark:
            continue
        timeout = min(90.0, check.left() - 30)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", "fast-cold", "--json", str(json_part),
               "--cudnn-benchmark", str(int(benchmark))] + (["--cpu-smoke"] if check.smoke else [])
        check.say(f"  $ {' '.join(cmd)}  (timeout {timeout:.0f} s)")
        key = f"cudnn_benchmark_{'on' if benchmark else 'off'}"
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=pytest_env(), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            cold[key] = {"timed_out_after_s": round(timeout)}
            continue
        if proc.returncode != 0:  # recorded, and the other setting still runs
            cold[key] = {"error": f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-600:]}"}
            check.figures["errors"].append(f"cold fast preset {key}: {cold[key]['error']}")
            check.put(fast_preset_cold=cold)
            continue
        part = json.loads(json_part.read_text())
        json_part.unlink()
        part["process_wall_s"] = time.perf_counter() - t0
        cold[key] = part
        check.put(fast_preset_cold=cold)
        check.say(f"  cold fast preset, cuDNN autotuning {'on' if benchmark else 'off'} ({part['precision']}): "
                  f"fit() to {part['target']:.0%} {part['seconds']:.2f} s (test acc {part['test_accuracy']}); "
                  f"process start to there {part['process_to_target_s']:.2f} s; whole process "
                  f"{part['process_wall_s']:.2f} s")
    default = cold.get(f"cudnn_benchmark_{'on' if engine_defaults()['CUDNN_BENCHMARK'] else 'off'}", {})
    check.put(fast_preset_cold=cold, fast_preset_99_cold_s=default.get("seconds") if default.get("epochs") else None)


def phase_fast_cold(json_part: Path, benchmark: bool, smoke: bool) -> int:
    """--phase fast-cold: the fast preset, first thing in a fresh process; the figures as JSON."""
    from cnn_gui.core.data.datasets import load_dataset

    t_load = time.perf_counter()
    data = load_dataset("mnist")
    device = torch.device("cpu" if smoke else "cuda")
    if smoke:
        data = data.subset(2000, 200)
    load_s = time.perf_counter() - t_load
    target = 0.5 if smoke else 0.99
    with engine_constants(CUDNN_BENCHMARK=benchmark):
        run = time_to(fast_preset_config(smoke, device), data, target)
    run.update(target=target, load_dataset_s=load_s, cudnn_benchmark=benchmark,
               process_to_target_s=time.perf_counter() - PROCESS_T0)
    json_part.write_text(json.dumps(run))
    return 0


def tutorial_to_99(check: Check, device: torch.device) -> None:
    from _baseline import tutorial_time_to

    kwargs = {"max_batches": 3, "test_batches": 1} if check.smoke else {}
    target = 0.5 if check.smoke else 0.99
    epochs, seconds, history = tutorial_time_to(target, 1 if check.smoke else 3, device, report=None, **kwargs)
    check.put(tutorial_to_99={"epochs": epochs, "seconds": seconds,
                              "history": [{k: round(v, 4) for k, v in h.items()} for h in history]})
    fast = check.figures.get("fast_preset_99_s")
    ratio = seconds / fast if epochs and fast else None
    check.put(ratio_tutorial_to_99_over_fast_preset=ratio)
    check.say(f"  tutorial loop to {target:.0%} (its own train-mode test): "
              f"{f'{epochs} epoch(s), {seconds:.1f} s' if epochs else f'not reached in {seconds:.1f} s'}"
              + (f"; ratio to the fast preset {ratio:.1f}x" if ratio else ""))


def compiled_epochs(check: Check, json_part: Path) -> None:
    """The engine with torch.compile, in a subprocess so that the budget can end it."""
    timeout = min(180.0, check.left() - 45)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", "compile", "--json", str(json_part)]
    check.say(f"  $ {' '.join(cmd)}  (timeout {timeout:.0f} s)")
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=pytest_env(), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-600:]}")
    except subprocess.TimeoutExpired:
        check.put(compiled={"timed_out_after_s": round(timeout)})
        check.say(f"  compiled engine: not done within {timeout:.0f} s")
        return
    part = json.loads(json_part.read_text())
    json_part.unlink()
    tut = check.figures.get("tutorial_epoch_s")
    ratio = tut / part["epochs_s"][-1] if tut else None
    check.put(compiled=part, compiled_epoch_s=part["epochs_s"][-1], ratio_tutorial_over_compiled=ratio)
    check.say(f"  compiled engine, epoch seconds: {fmt_list(part['epochs_s'])} (the first includes compiling)"
              + (f"; ratio tutorial/compiled {ratio:.1f}x" if ratio else ""))


def phase_compile(json_part: Path) -> int:
    """--phase compile: two epochs of the compiled engine on full MNIST; the figures as JSON."""
    from gpu_speed import engine_run

    from cnn_gui.core.data.datasets import load_dataset

    t0 = time.perf_counter()
    rows = engine_run(load_dataset("mnist"), torch.device("cuda"), 2, None, compile_=True)
    json_part.write_text(json.dumps({"epochs_s": [r["train_s"] for r in rows],
                                     "epochs_with_test_s": [r["epoch_s"] for r in rows],
                                     "test_accuracy": rows[-1]["test_accuracy"],
                                     "wall_s": time.perf_counter() - t0}))
    return 0


# --------------------------------------------------------------------------- report


def fmt_list(values) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def goal_rows(figures: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for key, target in GOALS.items():
        value = figures.get(key)
        if key.startswith("ratio"):
            want, met = f">= {target:g}x", value is not None and value >= target
            shown = f"{value:.1f}x" if value is not None else "n/a"
        else:
            want, met = f"<= {target:g} s", value is not None and value <= target
            shown = f"{value:.3f} s" if value is not None else "n/a"
        rows.append((key, want, shown, "met" if met else "NOT met"))
    return rows


def print_summary(check: Check) -> None:
    f = check.figures
    print("\n==== gpu_check summary ====", flush=True)
    print(f"device: {f.get('device_name')} | torch {f.get('torch')} | CUDA {f.get('cuda')} | "
          f"cuDNN {f.get('cudnn')} | Python {f.get('python')} | CPU cores {os.cpu_count()}")
    for key, value in sorted(f.get("tests", {}).items()):
        print(f"tests {key}: {value['summary']} (exit {value['returncode']}, {value['seconds']} s)")
    figures = [
        ("tutorial loop epoch", "tutorial_epoch_s", "s"), ("engine epoch (train)", "engine_epoch_s", "s"),
        ("engine epoch with test pass", "engine_epoch_with_test_s", "s"),
        ("ratio tutorial/engine", "ratio_tutorial_over_engine", "x"),
        ("fastest graphed engine epoch", "fastest_graphed_epoch_s", "s"),
        ("ratio tutorial/fastest graphed engine", "ratio_tutorial_over_fastest_graphed", "x"),
        ("engine compiled epoch", "compiled_epoch_s", "s"), ("ratio tutorial/compiled", "ratio_tutorial_over_compiled", "x"),
        ("prototype CUDA-graph step epoch", "graphed_step_epoch_s", "s"),
        ("ratio tutorial/CUDA-graph step", "ratio_tutorial_over_graphed_step", "x"),
        ("fast preset to 99 % (seed 0, warm process)", "fast_preset_99_s", "s"),
        ("fast preset to 99 % (fresh process, fit() only)", "fast_preset_99_cold_s", "s"),
        ("ratio tutorial-loop-to-99 / fast preset", "ratio_tutorial_to_99_over_fast_preset", "x"),
    ]
    for label, key, unit in figures:
        value = f.get(key)
        if value is not None:
            print(f"{label}: {value:.3f} s" if unit == "s" else f"{label}: {value:.1f}x")
    if f.get("engine_precision"):
        print(f"engine defaults: {f.get('engine_defaults')} -> {f['engine_precision']}")
    if f.get("fastest_graphed_variant"):
        print(f"fastest graphed setting: {f['fastest_graphed_variant']}")
    for name, v in f.get("engine_variants", {}).items():
        print(f"engine {name}: {v['epoch_s']:.3f} s per epoch, test acc {v['test_accuracy']:.4f} ({v['precision']})")
    for run in f.get("fast_preset", []):
        print(f"fast preset seed {run['seed']}{' augmented' if run.get('augment') else ' not augmented'}: "
              f"{run['seconds']:.2f} s, "
              f"epochs {run['epochs']}, test acc {run['test_accuracy']} ({run['precision']})")
    for name, run in f.get("fast_preset_cold", {}).items():
        if "seconds" in run:
            print(f"fast preset cold, {name}: fit() {run['seconds']:.2f} s, process start to target "
                  f"{run['process_to_target_s']:.2f} s, whole process {run['process_wall_s']:.2f} s, "
                  f"test acc {run['test_accuracy']}")
        else:
            print(f"fast preset cold, {name}: {run}")
    for key, want, shown, met in goal_rows(f):
        print(f"goal {key} {want}: {shown} -> {met}")
    if f["skipped"]:
        print(f"skipped: {', '.join(f['skipped'])}")
    for error in f["errors"]:
        print(f"ERROR {error}")
    print(f"elapsed {time.monotonic() - check.started:.1f} s of a {check.budget:.0f} s budget"
          + (" (TIMED OUT)" if f["timed_out"] else ""), flush=True)


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="write the figures here (after each step)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for everything (default 270; 240 with --cpu-smoke)")
    ap.add_argument("--cpu-smoke", action="store_true", help="every step tiny, on the CPU (figures mean nothing)")
    ap.add_argument("--phase", choices=["compile", "fast-cold"], help=argparse.SUPPRESS)
    ap.add_argument("--cudnn-benchmark", type=int, choices=[0, 1], default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase == "compile":
        return phase_compile(args.json)
    if args.phase == "fast-cold":
        return phase_fast_cold(args.json, bool(args.cudnn_benchmark), args.cpu_smoke)

    if not torch.cuda.is_available() and not args.cpu_smoke:
        print(f"gpu_check: CUDA is not available here (torch {torch.__version__}, "
              f"built for CUDA {torch.version.cuda}); nothing to check, exiting")
        return 0
    budget = args.budget if args.budget is not None else (240.0 if args.cpu_smoke else 270.0)
    check = Check(budget, args.json.resolve() if args.json else None, smoke=args.cpu_smoke)
    start_watchdog(check)
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "CPU"
    check.put(device=device.type, device_name=name, torch=torch.__version__, cuda=torch.version.cuda,
              cudnn=torch.backends.cudnn.version() if device.type == "cuda" else None,
              python=platform.python_version(), cpu_cores=os.cpu_count(), goals=GOALS)
    check.say(f"gpu_check on {name}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"Python {platform.python_version()}, {os.cpu_count()} CPU cores; budget {budget:.0f} s")

    from cnn_gui.core.data.datasets import load_dataset

    check.step("tests: pytest -m cuda tests/test_cuda.py", 60,
               lambda: run_pytest(check, "cuda", ["-m", "cuda", "tests/test_cuda.py"], min(120.0, check.left() - 120)))
    parts = check.json_path.parent if check.json_path else ROOT
    check.step("fast preset to 99 % in fresh processes (cold)", 40,
               lambda: fast_preset_cold(check, parts / "gpu-check-cold.json"))
    data = load_dataset("mnist")
    if args.cpu_smoke:
        data = data.subset(2000, 200)
    check.step("epoch time: tutorial loop vs engine", 30, lambda: epoch_benchmark(check, device, data))
    check.step("fast preset to 99 %", 15, lambda: fast_preset(check, device, data))
    check.step("tutorial loop to 99 %", 50 if not args.cpu_smoke else 5, lambda: tutorial_to_99(check, device))
    if device.type == "cuda":
        # After the steps above: a failed capture can leave CUDA unusable for this process.
        check.step("prototype: the hand-written step in a CUDA graph", 15,
                   lambda: prototype(check, device, data, graphed=True))
        check.step("engine with --compile", 100, lambda: compiled_epochs(check, parts / "gpu-check-compile.json"))
        files, qt = qt_free_core_tests()
        check.put(core_tests_left_out=qt)
        args_core = ["-m", "not slow and not cuda", *xdist_workers(), *[f for f in files if f not in qt]]
        check.step("tests: tests/core (not slow)", 35,
                   lambda: run_pytest(check, "core", args_core, check.left() - 5))
    check.save()
    print_summary(check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
