"""``cnn-gui``: no arguments opens the window; sub-commands run headless on the same core.

    cnn-gui                      open the window
    cnn-gui train [options]      train and save a checkpoint, one line per epoch
    cnn-gui summary [--model]    the module tree, hyper-parameters, output shapes, parameters
    cnn-gui predict IMAGE...     what the network reads in image files of handwritten digits

User mistakes (a bad option, an unknown model, an unreadable checkpoint) print one line
and exit with status 2; a run that fails (NaN loss, out of memory) exits with 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from cnn_gui import __version__


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line, no traceback."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from cnn_gui.core.checkpoints import CheckpointError
    from cnn_gui.core.config import ConfigError
    from cnn_gui.core.data import DatasetError
    from cnn_gui.core.devices import DeviceError
    from cnn_gui.core.models import ModelError

    return (UserError, ConfigError, DeviceError, ModelError, CheckpointError, DatasetError, FileNotFoundError)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from cnn_gui.core.config import OPTIMIZERS, PRESETS, SCHEDULES

    parser = argparse.ArgumentParser(
        prog="cnn-gui",
        description="See a convolutional network, train it live, and let it read your handwriting. "
        "Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"cnn-gui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the window (the default)")
    gui.add_argument("--checkpoint", metavar="FILE", help="open this checkpoint instead of the pretrained weights")

    train = sub.add_parser("train", help="train headless and save a checkpoint")
    train.add_argument("--preset", choices=sorted(PRESETS), default=None,
                       help="start from a preset (tutorial: Adam, batch 100, 3 epochs; fast: one-cycle, 1 epoch); "
                       "options given below override it")
    train.add_argument("--model", default=None, help="mnist-cnn, simple-cnn, or path/to/file.py:ClassName")
    train.add_argument("--dataset", default=None, help="mnist (bundled), fashion-mnist, cifar10")
    train.add_argument("--epochs", type=_positive_int, default=None)
    train.add_argument("--batch-size", type=_positive_int, default=None)
    train.add_argument("--lr", type=_positive_float, default=None, help="learning rate (peak rate with one-cycle)")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default=None)
    train.add_argument("--schedule", choices=SCHEDULES, default=None)
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--device", default=None, help="auto (default), cuda, cuda:N, mps, cpu")
    train.add_argument("--max-batches", type=_positive_int, default=None, help="batches per epoch, for quick runs")
    train.add_argument("--data-dir", default=None, help="where downloaded datasets live (env CNN_GUI_DATA_DIR)")
    train.add_argument("--resume", metavar="FILE", default=None,
                       help="continue a saved session exactly where it stopped (--epochs may raise the total)")
    train.add_argument("--out", metavar="FILE", default=None,
                       help="checkpoint to write (default: <model>-<dataset>.safetensors here)")
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                       help="auto: bf16 autocast on CUDA and on CPUs with native bf16, fp32 elsewhere")
    train.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA only)")
    train.add_argument("--threads", type=_positive_int, default=None,
                       help="CPU threads for training (default: torch's own, OMP_NUM_THREADS or the cores)")
    train.add_argument("--quiet", action="store_true", help="no progress bars, only the per-epoch lines")

    summary = sub.add_parser("summary", help="print the module tree, hyper-parameters and parameters")
    summary.add_argument("--model", default="mnist-cnn", help="mnist-cnn, simple-cnn, or path/to/file.py:ClassName")
    predict = sub.add_parser("predict", help="read handwritten digits from image files")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files, one digit each")
    predict.add_argument("--checkpoint", metavar="FILE", default=None,
                         help="weights to use (default: the pretrained MNIST CNN)")
    evaluate = sub.add_parser("evaluate", help="test accuracy and confusion matrix of a checkpoint")
    evaluate.add_argument("--checkpoint", metavar="FILE", default=None,
                          help="weights to judge (default: the pretrained MNIST CNN)")
    evaluate.add_argument("--dataset", default=None,
                          help="test split to use (default: the one the checkpoint was trained on)")
    evaluate.add_argument("--data-dir", default=None, help="where downloaded datasets live (env CNN_GUI_DATA_DIR)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with one usage line on a bad option
    command = args.command or "gui"
    try:
        if command == "train":
            return _train(args)
        if command == "summary":
            return _summary(args)
        if command == "predict":
            return _predict(args)
        if command == "evaluate":
            return _evaluate(args)
        return _gui(args)
    except _user_error_types() as exc:
        print(f"cnn-gui: error: {exc}", file=sys.stderr)
        return 2


def _gui(args) -> int:
    from cnn_gui.gui.app import run

    return run(checkpoint=getattr(args, "checkpoint", None))


def _summary(args) -> int:
    from cnn_gui.core.models import get_spec
    from cnn_gui.core.structure import build_tree, format_summary

    spec = get_spec(args.model)
    tree = build_tree(spec.factory(), spec.input_shape)
    print(format_summary(tree, spec.input_shape))
    return 0


def _load_image(path: str):
    """A grayscale float image with ink = 1, whichever way round the file has it."""
    import numpy as np

    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pillow comes with torchvision
        raise UserError("reading images needs pillow: pip install pillow") from None
    if not Path(path).is_file():
        raise UserError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            gray = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"cannot read {path} as an image: {exc}") from None
    # Scans and photos are dark ink on light paper; MNIST is light ink on black.
    return 1.0 - gray if gray.mean() > 0.5 else gray


def _load_checkpoint_model(path: str | None):
    """(checkpoint, model with its weights, in eval mode): ``path`` or the pretrained weights."""
    from cnn_gui.core.checkpoints import load_checkpoint, load_weights_into
    from cnn_gui.core.models import build_model
    from cnn_gui.core.resources import pretrained_checkpoint

    ckpt = load_checkpoint(path or pretrained_checkpoint())
    if not ckpt.meta.architecture:
        raise UserError(f"{ckpt.path} holds bare weights without an architecture; open it in the window instead")
    model = build_model(ckpt.meta.architecture)
    load_weights_into(model, ckpt)
    return ckpt, model.eval()


def _evaluate(args) -> int:
    import numpy as np

    from cnn_gui.core.analysis import confusion_matrix
    from cnn_gui.core.data import DATASETS, load_dataset

    ckpt, model = _load_checkpoint_model(args.checkpoint)
    name = args.dataset or ckpt.meta.config.get("dataset") or "mnist"
    info = DATASETS.get(name)
    if info is not None and tuple(info.input_shape) != tuple(ckpt.meta.input_shape):
        shape = "x".join(map(str, ckpt.meta.input_shape))
        raise UserError(f"{ckpt.path.name} reads {shape} images; {name} has {'x'.join(map(str, info.input_shape))}")
    data = load_dataset(name, data_dir=args.data_dir)
    result = confusion_matrix(model, data)
    m, classes = result.matrix, data.classes
    print(f"{ckpt.path.name} on the {m.sum():,} {name} test images: "
          f"accuracy {result.accuracy:.2%}, {len(result.misclassified):,} misclassified")
    width = max(len(f"{m.max():,}"), max(len(c) for c in classes[:m.shape[0]]), 4) + 1
    short = [c[:width - 1] for c in classes]
    print("rows: true class, columns: predicted class")
    print(" " * width + "".join(c.rjust(width) for c in short))
    for t, row in enumerate(m):
        print(short[t].rjust(width) + "".join((f"{n:,}" if n else ".").rjust(width) for n in row))
    off = m.copy()
    np.fill_diagonal(off, 0)
    worst = sorted(((int(off[t, p]), t, p) for t, p in zip(*np.nonzero(off))), reverse=True)
    if worst:
        print("most frequent mistakes: " + ", ".join(f"{classes[t]} read as {classes[p]} ({n})"
                                                     for n, t, p in worst[:5]))
    return 0


def _predict(args) -> int:
    from cnn_gui.core.predictor import Predictor
    from cnn_gui.core.preprocess import to_mnist

    ckpt, model = _load_checkpoint_model(args.checkpoint)
    if tuple(ckpt.meta.input_shape) != (1, 28, 28):
        raise UserError(f"{ckpt.path} is a {ckpt.meta.architecture} for "
                        f"{'x'.join(map(str, ckpt.meta.input_shape))} images; predict reads 1x28x28 digits")
    predictor = Predictor(model, mean=ckpt.meta.mean, std=ckpt.meta.std, classes=ckpt.meta.classes or None)
    status = 0
    for path in args.images:
        img28 = to_mnist(_load_image(path))
        if img28 is None:
            print(f"{path}: no ink found, nothing to read")
            status = 1
            continue
        probs = predictor.predict(img28)
        order = probs.argsort()[::-1][:3]
        others = ", ".join(f"{predictor.classes[i]} {probs[i]:.1%}" for i in order[1:])
        print(f"{path}: {predictor.classes[order[0]]} ({probs[order[0]]:.1%}; then {others})")
    return status


def _train_config(args):
    from cnn_gui.core.config import DEFAULT_PRESET, PRESETS
    from cnn_gui.core.models import get_spec

    base = PRESETS[args.preset or DEFAULT_PRESET]
    changes = {k: getattr(args, k) for k in
               ("model", "dataset", "epochs", "batch_size", "lr", "optimizer", "schedule", "seed", "device",
                "max_batches") if getattr(args, k) is not None}
    if args.compile:
        changes["compile"] = True
    if args.precision != "auto":
        changes["amp"] = args.precision == "bf16"
    if "model" in changes and "dataset" not in changes:
        changes["dataset"] = get_spec(changes["model"]).default_dataset
    return base.with_(**changes).validate()


def _train(args) -> int:
    from cnn_gui.core.data import load_dataset
    from cnn_gui.core.engine import Trainer

    printer = _ProgressPrinter(quiet=args.quiet)
    if args.threads:
        from cnn_gui.core.cpu_threads import set_training_threads

        set_training_threads(args.threads)
    if args.resume:
        from cnn_gui.core.checkpoints import load_checkpoint

        ckpt = load_checkpoint(args.resume)
        if not ckpt.meta.config:
            raise UserError(f"{args.resume} holds weights only, no training session to resume")
        data = load_dataset(ckpt.meta.dataset, data_dir=args.data_dir)
        trainer = Trainer.from_checkpoint(ckpt, data=data, callbacks=[printer], epochs=args.epochs,
                                          device=args.device, max_batches=args.max_batches)
        out = Path(args.out or args.resume)
    else:
        config = _train_config(args)
        data = load_dataset(config.dataset, data_dir=args.data_dir)
        trainer = Trainer(config, data=data, callbacks=[printer])
        out = Path(args.out or f"{config.model.replace(':', '-').replace('/', '-')}-{config.dataset}.safetensors")

    # Ctrl-C stops cooperatively after the current batch and still saves a resumable file.
    previous = signal.signal(signal.SIGINT, lambda *_: trainer.stop())
    try:
        result = trainer.fit()
    finally:
        signal.signal(signal.SIGINT, previous)
        printer.close()
    if result.reason == "failed":
        err = trainer.error
        print(f"cnn-gui: training failed: {err.message} {err.hint}", file=sys.stderr)
        return 1
    trainer.save_checkpoint(out)
    if result.reason == "stopped":
        print(f"stopped in epoch {trainer.position.epoch + 1} after batch {trainer.position.batch}; "
              f"saved {out} (continue with: cnn-gui train --resume {out})")
    else:
        print(f"saved {out}")
    return 0


class _ProgressPrinter:
    """A tqdm bar per epoch and one summary line per finished epoch."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.bar = None
        self.epochs = 0

    def __call__(self, event) -> None:
        from cnn_gui.core.events import BatchEnded, EpochEnded, FitStarted

        if isinstance(event, FitStarted):
            self.epochs = event.epochs
            print(f"training {event.model} on {event.dataset} ({event.train_size:,} train / {event.test_size:,} test)"
                  f" on {event.device_label} ({event.precision}), batch {event.batch_size}, {event.parameters:,} parameters",
                  flush=True)
        elif isinstance(event, BatchEnded) and not self.quiet:
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=event.batches_per_epoch, desc=f"epoch {event.epoch}/{self.epochs}",
                                unit="batch", leave=False, dynamic_ncols=True)
                self.bar.update(event.batch - event.step if event.batch > event.step else 0)
            self.bar.update(event.batch - self.bar.n)
            self.bar.set_postfix(loss=f"{event.loss:.4f}", acc=f"{event.accuracy:.4f}",
                                 speed=f"{event.samples_per_sec:,.0f}/s", refresh=False)
        elif isinstance(event, EpochEnded):
            self.close()
            print(f"epoch {event.epoch}/{self.epochs}: train acc {event.train_accuracy:.4f} "
                  f"(loss {event.train_loss:.4f}), test acc {event.test_accuracy:.4f} "
                  f"(loss {event.test_loss:.4f}), {event.seconds:.1f} s, {event.samples_per_sec:,.0f} samples/s",
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
