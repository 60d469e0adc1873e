"""Epoch time on CUDA: the tutorial's loop vs the engine (CUDA-graphed and eager).

    python benchmarks/gpu_speed.py [--epochs 2] [--batches N] [--compile] [--graphed] [--quick]

The tutorial's loop (benchmarks/_baseline.py) on the GPU: DataLoader and ToTensor on the
CPU, a host-to-device copy and an ``int(...)`` sync per batch, fp32, contiguous, Adam with
its default implementation. The engine: MNIST resident on the GPU, batches sliced on the
device, fused Adam, one host sync per report interval, and on CUDA its training step
replayed from a CUDA graph (``cuda_graph=None``, the default); then the same engine eager
(``cuda_graph=False``) for comparison (``--compile``: torch.compile instead of the graph;
its first epoch includes compiling). Both train batch 100 with the same model; each
epoch's training time is printed (test passes not counted) and the ratio of the last
epoch's (the steady state) and of the total.

``--graphed`` also times :func:`step_loop`: the engine's step written out by hand and
captured whole (optimizer included) in a CUDA graph, the prototype the engine's graph was
built from; at batch 100 the tutorial CNN's step is ~150 small kernels, so an eager loop
is bound by launching them from Python.

Without CUDA it says so and runs the same comparison briefly on the CPU (``--batches``
defaults to 20 there), so the script itself is exercised. A measurement: exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from _baseline import TutorialRun  # noqa: E402
from train_speed import machine_line  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tutorial_epochs(device: torch.device, epochs: int, batches: int | None) -> list[float]:
    """Training seconds of each of ``epochs`` epochs of the tutorial's loop (``batches`` each, None: all)."""
    run = TutorialRun(device)
    return [run.train_batches(batches)[1] for _ in range(epochs)]


def engine_run(data, device: torch.device, epochs: int, batches: int | None, compile_: bool = False,
               **config) -> list[dict]:
    """One engine run; per epoch its training seconds (``train_s``, the test pass excluded),
    ``epoch_s`` (with the test pass), ``test_accuracy`` and the run's ``precision`` label
    (e.g. "bf16 autocast, CUDA graph")."""
    from cnn_gui.core.config import TrainConfig
    from cnn_gui.core.training.engine import Trainer
    from cnn_gui.core.events import EpochEnded, FitFailed, FitStarted

    info: dict = {}
    rows: list[dict] = []

    def on_event(event) -> None:
        if isinstance(event, FitStarted):
            info["seen"] = min(event.batches_per_epoch * event.batch_size, event.train_size)
            info["precision"] = event.precision  # says whether the step ran from a CUDA graph
        elif isinstance(event, EpochEnded):
            rows.append({"train_s": info["seen"] / event.samples_per_sec, "epoch_s": event.seconds,
                         "test_accuracy": event.test_accuracy, "precision": info["precision"]})
        elif isinstance(event, FitFailed):
            raise RuntimeError(f"engine failed: {event.message}")

    cfg = TrainConfig(batch_size=100, epochs=epochs, max_batches=batches, device=str(device), compile=compile_,
                      **config)
    trainer = Trainer(cfg, data=data, callbacks=[on_event])
    end = trainer.fit()
    if end.reason != "completed":
        raise RuntimeError(f"engine run ended {end.reason}: {trainer.error}")
    return rows


def engine_epochs(data, device: torch.device, epochs: int, batches: int | None, compile_: bool,
                  **config) -> list[float]:
    """Training seconds of each epoch (the test pass excluded)."""
    return [row["train_s"] for row in engine_run(data, device, epochs, batches, compile_, **config)]


def step_loop(data, device: torch.device, epochs: int, batches: int | None = None, graphed: bool = True,
              batch_size: int = 100, seed: int = 0) -> list[dict]:
    """The engine's training step written out, eager or replayed from one CUDA graph.

    Per epoch: training seconds and the test accuracy after it (eval mode), so that a
    fast loop that does not learn shows. ``graphed`` needs CUDA; the last partial batch is
    dropped (a graph has fixed shapes).
    """
    from cnn_gui.core.model.models import CNN

    graphed = graphed and device.type == "cuda"
    torch.manual_seed(seed)
    model = CNN().to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True, capturable=graphed)
    data = data.to(device)
    images, labels = data.train_images, data.train_labels
    nb = data.train_size // batch_size if batches is None else batches
    idx = torch.arange(batch_size, device=device)
    criterion = nn.CrossEntropyLoss()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    def step() -> None:
        x = data.normalize(images.index_select(0, idx)).contiguous(memory_format=torch.channels_last)
        y = labels.index_select(0, idx)
        # cache_enabled=False: autocast's weight-cast cache must not outlive a graph capture.
        with torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=not graphed):
            out = model(x)
            loss = criterion(out.float(), y)
        loss.backward()
        opt.step()
        loss_sum.add_(loss.detach())
        correct.add_((out.detach().argmax(1) == y).sum())

    graph = None
    if graphed:
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up as torch.cuda.graphs asks: cuDNN autotuning, Adam's state
            for _ in range(3):
                opt.zero_grad(set_to_none=True)
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            step()
        with torch.no_grad():  # undo the warm-up steps: train from the same start as eager
            for k, v in model.state_dict().items():
                v.copy_(initial[k])
            for state in opt.state.values():
                for t in state.values():
                    if isinstance(t, torch.Tensor):
                        t.zero_()

    rows = []
    for epoch in range(1, epochs + 1):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(data.train_size, generator=gen).to(device)
        model.train()
        sync(device)
        t0 = time.perf_counter()
        for b in range(nb):
            idx.copy_(perm[b * batch_size:(b + 1) * batch_size])
            if graph is not None:
                graph.replay()
            else:
                opt.zero_grad(set_to_none=True)
                step()
        sync(device)
        seconds = time.perf_counter() - t0
        model.eval()
        hits = 0
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
            for start in range(0, data.test_size, 1000):
                x = data.normalize(data.test_images[start:start + 1000]).contiguous(memory_format=torch.channels_last)
                hits += int((model(x).argmax(1) == data.test_labels[start:start + 1000]).sum())
        rows.append({"train_s": seconds, "test_accuracy": hits / max(data.test_size, 1)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batches", type=int, default=None, help="batches per epoch (default: all on CUDA, 20 on the CPU)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the engine's model (CUDA)")
    ap.add_argument("--graphed", action="store_true", help="also time the hand-written graphed step (prototype)")
    ap.add_argument("--quick", action="store_true", help="1 epoch of 5 batches (smoke test)")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.batches = 1, 5

    from cnn_gui.core.data.datasets import load_dataset

    if torch.cuda.is_available():
        device = torch.device("cuda")
        batches = args.batches
    else:
        device = torch.device("cpu")
        batches = args.batches or 20
        print(f"CUDA is absent: running the same comparison briefly on the CPU ({batches} batches per epoch)")
    print(machine_line(device))
    data = load_dataset("mnist").subset(None, 1000)  # the test pass is not timed

    tut = tutorial_epochs(device, args.epochs, batches)
    for epoch, seconds in enumerate(tut, 1):
        print(f"  tutorial epoch {epoch}: {seconds:.2f} s")
    rows = engine_run(data, device, args.epochs, batches, args.compile)
    eng = [row["train_s"] for row in rows]
    for epoch, seconds in enumerate(eng, 1):
        print(f"  engine   epoch {epoch}: {seconds:.2f} s ({rows[0]['precision']})")
    if not args.compile:
        for epoch, seconds in enumerate(engine_epochs(data, device, args.epochs, batches, False,
                                                      cuda_graph=False), 1):
            print(f"  engine eager epoch {epoch}: {seconds:.2f} s")
    if args.graphed:
        for kind, graphed in (("eager step", False), ("graphed step", True)):
            for epoch, row in enumerate(step_loop(data, device, args.epochs, batches, graphed=graphed), 1):
                print(f"  {kind} epoch {epoch}: {row['train_s']:.2f} s, test acc {row['test_accuracy']:.4f}")
    print(f"tutorial epoch time (last): {tut[-1]:.2f} s")
    print(f"engine epoch time (last): {eng[-1]:.2f} s")
    print(f"ratio tutorial/engine, last epoch: {tut[-1] / eng[-1]:.2f}x")
    print(f"ratio tutorial/engine, all {args.epochs} epoch(s): {sum(tut) / sum(eng):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
