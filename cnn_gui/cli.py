"""``cnn-gui``: no arguments opens the window; sub-commands run headless on the same core.

    cnn-gui                      open the window
    cnn-gui train [options]      train and save a checkpoint, one line per epoch
    cnn-gui lr-find [options]    the learning-rate range test and the rate it suggests
    cnn-gui summary [--model]    the module tree, hyper-parameters, output shapes, parameters
    cnn-gui predict IMAGE...     what the network reads in image files of handwritten digits
    cnn-gui evaluate|explain     a checkpoint's test accuracy; an attribution map (cli_inspect)
    cnn-gui export CHECKPOINT    the model as ONNX or TorchScript, checked against PyTorch

User mistakes (a bad option, a number out of range, an output path where a folder or a
device is, an unknown model, an unreadable checkpoint) print one line and exit with
status 2, numbers and paths before anything loads (:mod:`cnn_gui.cli_args`); a run that
fails (NaN loss, out of memory) exits with 1. An error nobody foresaw prints one line too,
and writes its full traceback to a file it names. Names from files and folders are
printed through ``one_line``: no escape code or newline in a name reaches the terminal.

Checkpoints are data: no command imports a file because a checkpoint names it. A
checkpoint of your own model class needs ``--model path/to/file.py:ClassName``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from cnn_gui import __version__
from cnn_gui.cli_args import (OneLineParser, RunFailed, UserError, checkpoint_file, max_threads, output_file,
                              output_folder, positive_number, whole_number)
from cnn_gui.cli_inspect import evaluate, explain, open_from_args, predict
from cnn_gui.cli_lr_find import add_lr_find, lr_find
from cnn_gui.cli_recipe import add_recipe_options, plan_from_args, resume_dataset
from cnn_gui.core.errors import CnnGuiError, one_line, terminal_lines


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="cnn-gui",
        description="See a convolutional network, train it live, and let it read your handwriting. "
        "Without a command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"cnn-gui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the window (the default)")
    gui.add_argument("--checkpoint", metavar="FILE", help="open this checkpoint instead of the pretrained weights")

    _add_train(sub)
    add_lr_find(sub)
    _add_inspection_commands(sub)
    return parser


def _add_train(sub) -> None:
    from cnn_gui.core.config import MAX_BATCHES_PER_EPOCH, MAX_EPOCHS, MAX_LR, SCHEDULES

    train = sub.add_parser("train", help="train headless and save a checkpoint")
    add_recipe_options(train, resume_help="continue a saved session exactly where it stopped (--epochs may "
                       "raise the total)", quiet_help="no progress bars, only the per-epoch lines")
    train.add_argument("--epochs", type=whole_number(1, MAX_EPOCHS), default=None,
                       help=f"the run's total, 1 to {MAX_EPOCHS:,}")
    train.add_argument("--lr", type=positive_number(MAX_LR), default=None,
                       help=f"learning rate, above 0 and at most {MAX_LR:g} (peak rate with one-cycle)")
    train.add_argument("--schedule", choices=SCHEDULES, default=None)
    train.add_argument("--max-batches", type=whole_number(1, MAX_BATCHES_PER_EPOCH), default=None,
                       help="batches per epoch, for quick runs")
    train.add_argument("--out", metavar="FILE", default=None,
                       help="checkpoint to write (default: <model>-<dataset>.safetensors here)")
    train.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                       help="auto: bf16 autocast on CUDA and on CPUs with native bf16, fp32 elsewhere")
    train.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA only)")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                       help="randomly turn, scale, shift and thicken/thin the training images on the device "
                       "(on in the fast preset)")
    train.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                       help="replay the training step from a CUDA graph (default: on with CUDA)")
    train.add_argument("--runs-dir", metavar="DIR", default=None,
                       help="record the run in a folder under DIR (default: $CNN_GUI_RUNS_DIR, else the "
                       "per-user data folder's runs/); the window's Runs tab shows it live")
    train.add_argument("--no-runs", action="store_true", help="do not record this run in a run folder")
    train.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                       help="also write TensorBoard logs (into the run folder's tensorboard/, or DIR); "
                       "needs pip install -e '.[tensorboard]'")
    _add_parallel(train)


def _add_parallel(train) -> None:
    """Data-parallel training: torchrun's options (see the README's "Beyond one machine")."""
    train.add_argument("--nproc-per-node", type=whole_number(1, 1024), default=None, metavar="N",
                       help="train data-parallel in N processes on this machine (one GPU each on CUDA, gloo on "
                       "the CPU); --batch-size stays the global batch, shared by the processes")
    train.add_argument("--nnodes", type=whole_number(1, 1024), default=1, metavar="M",
                       help="machines taking part (start the same command on each, with its --node-rank)")
    train.add_argument("--node-rank", type=whole_number(0, 1023), default=0, metavar="K",
                       help="this machine's number, 0 to M-1; node 0 records the run and saves the checkpoint")
    train.add_argument("--rdzv-endpoint", metavar="HOST:PORT", default=None,
                       help="where node 0 listens for the others (default with one machine: a free local port)")


def _add_inspection_commands(sub) -> None:
    """summary, predict, explain, evaluate, export: commands that read weights and report."""
    summary = sub.add_parser("summary", help="print the module tree, hyper-parameters and parameters")
    summary.add_argument("model_arg", nargs="?", metavar="MODEL", default=None,
                         help="mnist-cnn, simple-cnn, or path/to/file.py:ClassName (same as --model)")
    summary.add_argument("--model", default=None, help="mnist-cnn (default), simple-cnn, or path/to/file.py:ClassName")
    summary.add_argument("--dataset", default=None, metavar="DATASET",
                         help="show the network as built for this dataset (one output per class), "
                              "e.g. folder:PATH")
    predict = sub.add_parser("predict", help="read image files (handwritten digits for MNIST weights)")
    predict.add_argument("images", nargs="+", metavar="IMAGE",
                         help="PNG/JPEG files: one digit each for MNIST weights, one image of the weights' kind else")
    predict.add_argument("--checkpoint", metavar="FILE", default=None,
                         help="weights to use (default: the pretrained MNIST CNN)")
    predict.add_argument("--model", default=None, metavar="FILE.py:CLASS",
                         help="your own model's file, for a checkpoint of your own model class")
    predict.add_argument("--run", metavar="RUN_DIR", default=None,
                         help="a run folder: its checkpoint's weights (instead of --checkpoint)")
    predict.add_argument("--snapshots", action="store_true",
                         help="with --run: one line per snapshot of the run, how it read the image as it trained")
    predict.add_argument("--json", action="store_true", help="with --snapshots: one JSON object per line")
    explain = sub.add_parser("explain", help="why the network reads a digit as it does: an attribution map as PNG")
    explain.add_argument("image", metavar="IMAGE",
                         help="a PNG/JPEG: one handwritten digit for MNIST weights, one image of the weights' kind else")
    explain.add_argument("--method", choices=("gradcam", "ixg", "ig", "occlusion"), default="gradcam",
                         help="gradcam (default; on --layer), ixg: input x gradient, ig: integrated gradients, "
                         "occlusion: a patch slid over the input")
    explain.add_argument("--class", dest="target", default=None, metavar="K",
                         help="explain this class (its name or index) instead of the network's answer")
    explain.add_argument("--layer", default=None, help="Grad-CAM's conv layer (default: the last one)")
    explain.add_argument("--out", metavar="FILE", required=True, help="the PNG to write: the input beside its map")
    explain.add_argument("--checkpoint", metavar="FILE", default=None,
                         help="weights to explain (default: the pretrained MNIST CNN)")
    explain.add_argument("--model", default=None, metavar="FILE.py:CLASS",
                         help="your own model's file, for a checkpoint of your own model class")
    evaluate = sub.add_parser("evaluate", help="test accuracy and confusion matrix of a checkpoint")
    evaluate.add_argument("--checkpoint", metavar="FILE", default=None,
                          help="weights to judge (default: the pretrained MNIST CNN)")
    evaluate.add_argument("--model", default=None, metavar="FILE.py:CLASS",
                          help="your own model's file, for a checkpoint of your own model class")
    evaluate.add_argument("--dataset", default=None,
                          help="test split to use (default: the one the checkpoint was trained on); "
                          "folder:PATH for your own images")
    evaluate.add_argument("--data-dir", default=None, help="where downloaded datasets live (env CNN_GUI_DATA_DIR)")
    export = sub.add_parser("export", help="write a checkpoint's model as ONNX or TorchScript, and check it")
    export.add_argument("checkpoint", metavar="CHECKPOINT", help="the .safetensors checkpoint to export")
    export.add_argument("--format", choices=("onnx", "torchscript"), default=None,
                        help="default: from --out's suffix (.onnx, .pt)")
    export.add_argument("--out", metavar="FILE", default=None,
                        help="file to write (default: the checkpoint's name with .onnx or .pt)")
    export.add_argument("--model", default=None, metavar="FILE.py:CLASS",
                        help="your own model's file, for a checkpoint of your own model class")
    export.add_argument("--data-dir", default=None, help="where downloaded datasets live (env CNN_GUI_DATA_DIR)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with one line on a bad option or a number out of range
    args.argv = argv  # what a launcher runs again in each process
    command = args.command or "gui"
    commands = {"train": _train, "lr-find": lr_find, "summary": _summary, "predict": predict, "evaluate": evaluate,
                "explain": explain, "export": _export}
    try:
        return commands.get(command, _gui)(args)
    except RunFailed as exc:
        _say(terminal_lines(exc, ""))
        return 1
    except (CnnGuiError, OSError) as exc:  # a mistake, or a file the user named: unreadable, missing, full disk
        _say(terminal_lines(exc))  # a hint on a line of its own
        return 2
    except KeyboardInterrupt:
        _say(["cnn-gui: interrupted"])
        return 130
    except MemoryError:
        _say(["cnn-gui: out of memory"])
        return 1
    except Exception as exc:  # noqa: BLE001 - nobody foresaw it: one line, the traceback in a file
        where = _write_traceback(command)
        saved = f" (full traceback in {where})" if where else ""
        _say([f"cnn-gui: unexpected error: {type(exc).__name__}: {one_line(exc, 200)}{saved}"])
        return 1


def _say(lines: list[str]) -> None:
    """An error on stderr; in a rank of ``--nproc-per-node``, its first line goes to the launcher, which says it."""
    if os.environ.get("WORLD_SIZE", "1") not in ("", "1"):
        from cnn_gui.core.training.launcher import rank_error

        if rank_error(lines[0].removeprefix("cnn-gui: ")):
            return
    print("\n".join(lines), file=sys.stderr)


def _write_traceback(command: str) -> str | None:
    """The current exception's traceback in a file of the user's log folder; its path."""
    import tempfile
    import time
    import traceback

    try:
        from platformdirs import user_log_path

        folder = user_log_path("cnn-gui")
        folder.mkdir(parents=True, exist_ok=True)
    except Exception:  # noqa: BLE001 - no log folder: the temporary folder will do
        folder = Path(tempfile.gettempdir())
    path = folder / f"crash-{command}-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    try:
        path.write_text(f"cnn-gui {__version__} {' '.join(sys.argv)}\n{traceback.format_exc()}", encoding="utf-8")
    except OSError:
        return None
    return str(path)


def _gui(args) -> int:
    from cnn_gui.gui.app import run

    return run(checkpoint=getattr(args, "checkpoint", None))


def _summary(args) -> int:
    from cnn_gui.core.model.models import resolve_user_choice
    from cnn_gui.core.model.structure import build_tree, format_summary

    if args.model and args.model_arg and args.model != args.model_arg:
        raise UserError(f"two models given ({args.model_arg} and --model {args.model}); give one")
    spec = resolve_user_choice(args.model or args.model_arg or "mnist-cnn")
    if args.dataset is not None:  # the network as it is built for that data: one output per class
        from cnn_gui.core.data.datasets import dataset_classes

        spec = spec.with_classes(len(dataset_classes(args.dataset)))
    tree = build_tree(spec.factory(), spec.input_shape)
    print(format_summary(tree, spec.input_shape))
    return 0


def _export(args) -> int:
    from cnn_gui.core.files.export import export_with_check, format_for

    if args.format is None and args.out is None:
        raise UserError("give --format onnx|torchscript, or --out FILE.onnx|FILE.pt")
    if args.out is not None:
        format_for(output_file(args.out, "--out", inputs=[args.checkpoint]), args.format)  # before it is opened
    if args.data_dir is not None:
        output_folder(args.data_dir, "--data-dir")
    opened = open_from_args(args)
    ckpt, model = opened.checkpoint, opened.model.eval()
    # The default replaces the checkpoint's suffix: its bare name is the checkpoint, a regular file.
    out = output_file(args.out or ckpt.path.with_suffix(".onnx" if args.format == "onnx" else ".pt"), "--out",
                      inputs=[ckpt.path])
    fmt = format_for(out, args.format)
    print(f"exporting {one_line(ckpt.path.name, 80)} as {'ONNX' if fmt == 'onnx' else 'TorchScript'} "
          f"to {one_line(out, 200)}", flush=True)
    report = export_with_check((model, ckpt.meta), fmt, out, source_name=ckpt.path.name, data_dir=args.data_dir)
    print(report.summary())
    if not report.ok:
        raise RunFailed(f"{one_line(out.name, 80)} does not reproduce the checkpoint: its logits differ by up to "
                        f"{report.max_abs_diff:.2e}", hint="Try the other format, and report this as a bug.")
    return 0


def checkpoint_out(args, plan, data) -> Path:
    """``--out``, else the resumed file, else ``<model>-<dataset>.safetensors`` here (a folder by its name)."""
    from cnn_gui.core.weights import weights_file_stem

    if args.out or args.resume:
        return checkpoint_file(args.out or args.resume, "--out")
    return checkpoint_file(f"{weights_file_stem(plan.spec, data.name)}.safetensors", "--out")


def check_train_args(args) -> None:
    """The paths ``train`` writes to, checked before anything loads (numbers are checked by the parser)."""
    if args.out is not None:
        checkpoint_file(args.out, "--out")
    for option, folder in (("--runs-dir", None if args.no_runs else args.runs_dir), ("--data-dir", args.data_dir),
                           ("--tensorboard", args.tensorboard or None)):
        if folder is not None:
            output_folder(folder, option)
    if args.tensorboard == "" and args.no_runs:
        raise UserError("--tensorboard without DIR writes into the run folder; give a DIR with --no-runs")


def _prepare_run(args, plan, dataset, printer, writer, ranks=None):
    """The run's data, trainer and output file; the run folder opened (``writer``). With ``ranks``
    (several processes), the process group joined; ``printer`` is None on every rank but 0."""
    from cnn_gui.core.training.plan import build_trainer, load_run_data

    data = load_run_data(plan, data_dir=args.data_dir, dataset=dataset)
    out = checkpoint_out(args, plan, data) if printer is not None else None
    if data.note and printer is not None:
        print(f"{one_line(data.name, 200)}: {one_line(data.note)}", flush=True)
    group = None
    if ranks is not None:
        from cnn_gui.core.training.distributed import join

        group = join(ranks, args.device)
    trainer = build_trainer(plan, data, [c for c in (printer, writer) if c is not None], parallel=group)
    if writer is not None:
        from cnn_gui.core.training.launcher import note_run_folder

        print(f"recording the run in {one_line(writer.open(), 200)}", flush=True)
        note_run_folder(writer.folder)
    if args.tensorboard is not None and printer is not None:
        from cnn_gui.core.runs.tensorboard_log import TensorBoardWriter

        log_dir = Path(args.tensorboard) if args.tensorboard else writer.folder / "tensorboard"
        trainer.callbacks.append(TensorBoardWriter(log_dir, trainer.config.to_dict()))
    return trainer, out


def _launch(args) -> int:
    """``--nproc-per-node N`` (or ``--nnodes`` > 1): this command again, as N ranks (core/training/launcher)."""
    from cnn_gui.core.training.launcher import Launch, RankFailed, launch

    check_train_args(args)
    plan = Launch(args.nproc_per_node or 1, args.nnodes, args.node_rank, args.rdzv_endpoint)
    plan.check(args.device)
    plan_from_args(args)  # a mistake in the command: one line here, not one per rank
    try:
        return launch(args.argv, plan)
    except RankFailed as exc:
        raise (UserError if exc.mistake else RunFailed)(str(exc)) from None


def _train(args) -> int:
    from cnn_gui.cli_progress import ProgressPrinter
    from cnn_gui.core.training.distributed import Ranks

    ranks = Ranks.from_env()  # a rank of --nproc-per-node or of an outside torchrun
    if ranks is None and ((args.nproc_per_node or 1) > 1 or args.nnodes > 1):
        return _launch(args)
    check_train_args(args)
    main = ranks is None or ranks.rank == 0  # only rank 0 prints, records and saves
    printer = ProgressPrinter(quiet=args.quiet) if main else None
    if args.threads:
        from cnn_gui.core.training.cpu_threads import set_training_threads

        set_training_threads(args.threads)
    if ranks is not None:
        args.device = ranks.device(args.device)
    plan = plan_from_args(args)
    dataset = resume_dataset(args, plan)
    writer = None
    if not args.no_runs and main:
        from cnn_gui.core.config import DEFAULT_PRESET

        writer = plan.run_writer(args.runs_dir, source="cli", preset=args.preset or DEFAULT_PRESET)
    started = time.perf_counter()
    try:
        trainer, out = _prepare_run(args, plan, dataset, printer, writer, ranks)
    except Exception as exc:  # the data cannot be loaded, the model cannot take them: a failed run
        if writer is not None:
            writer.failed_before_training(exc, time.perf_counter() - started)
            if writer.folder is not None:
                print(f"recorded the failed run in {one_line(writer.folder, 200)}", flush=True)  # as "recording..."
        raise

    # Ctrl-C stops cooperatively after the current batch and still saves a resumable file
    # (with several ranks: all of them, at the same step).
    previous = signal.signal(signal.SIGINT, lambda *_: trainer.stop())
    try:
        result = trainer.fit()
    finally:
        signal.signal(signal.SIGINT, previous)
        if printer is not None:
            printer.close()
        if trainer.parallel is not None:
            trainer.parallel.close()
    if result.reason == "failed":
        err = trainer.error
        raise RunFailed(f"training failed: {err.message}", hint=err.hint)
    if not main:
        return 0
    if writer is not None and writer.error:
        print(f"cnn-gui: warning: {writer.error}", file=sys.stderr)
    trainer.save_checkpoint(out)  # the run's whole session, even stopped before a step: --resume continues it
    shown = one_line(out, 200)
    if result.reason != "stopped":
        print(f"saved {shown}")
        return 0
    print(f"stopped in epoch {trainer.position.epoch + 1} after batch {trainer.position.batch}; "
          f"saved {shown} (continue with: cnn-gui train --resume {shown})")
    return 130 if ranks is None else 0  # interrupted, as lr-find says it; a rank: its launcher says it
