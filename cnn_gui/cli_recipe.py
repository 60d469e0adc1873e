"""What ``cnn-gui train`` and ``cnn-gui lr-find`` share: the options that describe a run's
recipe (model, data, batch, optimizer, seed, device, a session to start from) and the one
way both turn them into a planned run (:func:`plan_from_args`, through the core's Session,
as the window plans its runs)."""

from __future__ import annotations

from cnn_gui.cli_args import UserError, max_threads, whole_number
from cnn_gui.core.errors import one_line

# What train has and lr-find has not, as train's defaults: train_config reads them all.
TRAIN_ONLY_DEFAULTS = {"epochs": None, "lr": None, "schedule": None, "max_batches": None, "compile": False,
                       "augment": None, "cuda_graph": None, "precision": "auto"}


def add_recipe_options(parser, *, resume_help: str, quiet_help: str) -> None:
    from cnn_gui.core.config import MAX_BATCH, MAX_SEED, OPTIMIZERS, PRESETS

    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="start from a preset (tutorial: Adam, batch 100, 3 epochs; fast: one-cycle, 1 epoch); "
                        "options given below override it")
    parser.add_argument("--model", default=None, help="mnist-cnn, simple-cnn, or path/to/file.py:ClassName "
                        "(with --resume: the file of the checkpoint's own model class)")
    parser.add_argument("--dataset", default=None,
                        help="mnist (bundled), fashion-mnist, cifar10, or folder:PATH (your images, one subfolder "
                        "per class; resized to the model's input); with --resume: where the session's folder is")
    parser.add_argument("--batch-size", type=whole_number(1, MAX_BATCH), default=None, help=f"1 to {MAX_BATCH:,}")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=None)
    parser.add_argument("--seed", type=whole_number(0, MAX_SEED), default=None, help="0 to 2**63-1")
    parser.add_argument("--device", default=None, help="auto (default), cuda, cuda:N, mps, cpu")
    parser.add_argument("--data-dir", default=None, help="where downloaded datasets live (env CNN_GUI_DATA_DIR)")
    parser.add_argument("--resume", metavar="FILE", default=None, help=resume_help)
    parser.add_argument("--threads", type=whole_number(1, high_of=max_threads, why=" (4 per CPU)"), default=None,
                        help="CPU threads for training, 1 to 4 per CPU (default: torch's own, OMP_NUM_THREADS "
                        "or the cores)")
    parser.add_argument("--quiet", action="store_true", help=quiet_help)


def train_config(args, spec):
    from cnn_gui.core.config import DEFAULT_PRESET, PRESETS

    base = PRESETS[args.preset or DEFAULT_PRESET]
    changes = {k: getattr(args, k) for k in
               ("dataset", "epochs", "batch_size", "lr", "optimizer", "schedule", "seed", "device",
                "max_batches") if getattr(args, k) is not None}
    changes["model"] = spec.name
    if args.compile:
        changes["compile"] = True
    if args.augment is not None:
        changes["augment"] = args.augment
    if args.cuda_graph is not None:
        changes["cuda_graph"] = args.cuda_graph
    if args.precision != "auto":
        changes["amp"] = args.precision == "bf16"
    if args.model and "dataset" not in changes:
        changes["dataset"] = spec.default_dataset
    return base.with_(**changes).validate()


def plan_from_args(args):
    """The run ``args`` ask for, planned by the core's Session as the window plans it."""
    from cnn_gui.core.session import Session
    from cnn_gui.core.weights import read_checkpoint, resolve_spec, weights_from

    if args.resume:
        _refuse_recipe_changes(args)
        checkpoint = read_checkpoint(args.resume)
        if checkpoint.is_foreign or not checkpoint.meta.config:
            raise UserError(f"{one_line(args.resume, 120)} holds weights only, no training session to resume")
        session = Session.of_weights(weights_from(checkpoint, resolve_spec(checkpoint, model_file=args.model)))
        return session.plan_resume(args.epochs, device=args.device, max_batches=args.max_batches,
                                   cuda_graph=args.cuda_graph, compile=True if args.compile else None)
    session = Session.of_model(args.model or "mnist-cnn")
    return session.plan_run(train_config(args, session.spec), fresh=True)


def _refuse_recipe_changes(args) -> None:
    """``--resume`` continues the saved recipe (Session.plan_resume): an option that would change
    it is refused in one line, never dropped without a word."""
    given = [option for option, value in (("--preset", args.preset), ("--lr", args.lr),
                                          ("--batch-size", args.batch_size), ("--optimizer", args.optimizer),
                                          ("--schedule", args.schedule), ("--seed", args.seed),
                                          ("--augment/--no-augment", args.augment),
                                          ("--precision", None if args.precision == "auto" else args.precision))
             if value is not None]
    if given:
        raise UserError(f"--resume continues the saved recipe: {', '.join(given)} cannot change it "
                        "(--epochs, --max-batches, --device, --cuda-graph and --compile can); train anew to change it")


def resume_dataset(args, plan) -> str | None:
    """With ``--resume``, ``--dataset folder:PATH`` says where the checkpoint's image folder is
    (a checkpoint records its name only); another dataset than the session's is refused."""
    from cnn_gui.core.data.folder_names import is_folder_dataset

    if not args.resume or args.dataset is None:
        return None
    if is_folder_dataset(args.dataset) and is_folder_dataset(plan.config.dataset):
        return args.dataset
    if args.dataset != plan.config.dataset:
        raise UserError(f"--resume continues on the session's own dataset ({one_line(plan.config.dataset, 80)}); "
                        "--dataset folder:PATH only says where its image folder is")
    return None
