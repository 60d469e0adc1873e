"""Time and epochs to 99.0 % MNIST test accuracy (the full 10k test set).

    python benchmarks/time_to_99.py [--device auto] [--seeds 0] [--target 0.99] [--quick]

(a) the tutorial's own loop (benchmarks/_baseline.py), epoch by epoch up to 3, until its
    own test figure reaches the target. The tutorial tests in train mode under no_grad
    (it forgets ``model.eval()``); that figure decides, as it would for the tutorial's
    reader, and the eval-mode figure is printed beside it (measured outside the clock);
(b) the engine with the "tutorial" preset (batch 100, Adam 1e-3, constant rate, shuffled,
    tested in eval mode), stopped after the first epoch that reaches the target;
(c) the engine with the "fast" preset (one epoch, one-cycle schedule), once per --seeds.

Clock: from the start of training to the end of the test pass of the epoch that reached
the target, test passes included; building the datasets and the model is not counted
(for either). ``--quick`` trains a few batches on a subset with a lower target, so the
smoke test can run it; its figures mean nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from _baseline import resolve, tutorial_time_to  # noqa: E402
from train_speed import machine_line  # noqa: E402


def engine_time_to(config, data, target: float) -> tuple[int | None, float, list]:
    """(epochs to target or None, seconds to the end of that epoch's test pass, history)."""
    from cnn_gui.core.training.engine import Trainer
    from cnn_gui.core.events import EpochEnded, FitFailed

    reached: dict = {}
    holder: dict = {}

    def on_event(event) -> None:
        if isinstance(event, EpochEnded):
            print(f"    epoch {event.epoch}: test acc {event.test_accuracy:.4f} (eval mode), "
                  f"train acc {event.train_accuracy:.4f}, {event.seconds:.1f} s "
                  f"({event.samples_per_sec:.0f} samples/s)", flush=True)
            if event.test_accuracy >= target and "epoch" not in reached:
                reached["epoch"], reached["t"] = event.epoch, time.perf_counter()
                holder["trainer"].stop()  # no need to train further
        elif isinstance(event, FitFailed):
            print(f"    engine failed: {event.message}")

    trainer = Trainer(config, data=data, callbacks=[on_event])
    holder["trainer"] = trainer
    t0 = time.perf_counter()
    end = trainer.fit()
    t_end = reached.get("t", time.perf_counter())
    return reached.get("epoch"), t_end - t0, trainer.history if end else []


def fmt(epochs, seconds, target) -> str:
    if epochs is None:
        return f"not reached {target:.1%} ({seconds:.1f} s spent)"
    return f"{epochs} epoch(s), {seconds:.1f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--seeds", default="0", help="seeds for the fast preset, comma-separated (default 0)")
    ap.add_argument("--max-epochs", type=int, default=3, help="for the tutorial loop and preset (default 3)")
    ap.add_argument("--skip-tutorial", action="store_true", help="only the engine runs")
    ap.add_argument("--quick", action="store_true", help="a few batches on a subset, target 0.5 (smoke test)")
    args = ap.parse_args(argv)

    from cnn_gui.core.config import PRESETS
    from cnn_gui.core.data.datasets import load_dataset

    device = resolve(args.device)
    data = load_dataset("mnist")
    max_batches = test_batches = None
    if args.quick:
        args.target, args.max_epochs = 0.50, 1
        max_batches, test_batches = 8, 2
        data = data.subset(None, 200)
    print(machine_line(device))
    print(f"target {args.target:.1%} MNIST test accuracy"
          + (" (quick: 8 batches, 200 test images; figures mean nothing)" if args.quick else " (10,000 test images)"))

    tut = None
    if not args.skip_tutorial:
        print("(a) tutorial loop (its own test pass runs in train mode, as the tutorial's does; eval mode shown beside it):")
        ep, secs, hist = tutorial_time_to(args.target, args.max_epochs, device, max_batches=max_batches,
                                          test_batches=test_batches)
        tut = (ep, secs)
        best_eval = next((h for h in hist if h["eval_acc"] >= args.target), None)
        print(f"tutorial loop time-to-target: {fmt(ep, secs, args.target)} (by its own train-mode test)")
        if best_eval is not None:
            print(f"tutorial loop time-to-target by an eval-mode test: {best_eval['epoch']} epoch(s), "
                  f"{best_eval['elapsed']:.1f} s")

    extra = {"device": str(device)}
    if args.quick:
        extra["max_batches"] = max_batches
    print("(b) engine, preset 'tutorial':")
    cfg_b = PRESETS["tutorial"].with_(epochs=args.max_epochs, **extra)
    ep_b, secs_b, _ = engine_time_to(cfg_b, data, args.target)
    print(f"engine tutorial preset time-to-target: {fmt(ep_b, secs_b, args.target)}")

    fast = PRESETS["fast"]
    print(f"(c) engine, preset 'fast' (batch {fast.batch_size}, {fast.optimizer} {fast.schedule} "
          f"max lr {fast.lr:g}, weight decay {fast.weight_decay:g}, {fast.epochs} epoch(s)):")
    fast_runs = []
    for seed in [int(s) for s in args.seeds.split(",") if s.strip()]:
        print(f"  seed {seed}:")
        ep_c, secs_c, hist = engine_time_to(fast.with_(seed=seed, **extra), data, args.target)
        acc = hist[-1]["test_accuracy"] if hist else float("nan")
        fast_runs.append((ep_c, secs_c))
        print(f"engine fast preset seed {seed} time-to-target: {fmt(ep_c, secs_c, args.target)}, "
              f"final test acc {acc:.4f}")

    def ratio(a, b, label) -> None:
        if a is None or b is None or a[0] is None or b[0] is None:
            print(f"ratio {label}: n/a (a run did not reach the target)")
        else:
            print(f"ratio {label}: {a[1] / b[1]:.2f}x")

    f0 = fast_runs[0] if fast_runs else None
    if tut is not None:
        ratio(tut, f0, "tutorial loop / fast preset time-to-target")
        ratio(tut, (ep_b, secs_b), "tutorial loop / engine tutorial preset time-to-target")
    ratio((ep_b, secs_b), f0, "engine tutorial preset / fast preset time-to-target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
