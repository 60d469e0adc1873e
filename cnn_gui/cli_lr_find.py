"""``cnn-gui lr-find``: the learning-rate range test (:mod:`cnn_gui.core.training.lr_finder`)
headless, with ``train``'s options where they apply, and the rate it suggests.

It plans the run as ``train`` would (the same preset, model, data, batch size, optimizer,
seed and device; ``--resume`` starts from a saved session's weights), tries the rates on a
copy of that network, prints a line every tenth of the way (not with ``--quiet``) and
ends with ``suggested learning rate: X``. Nothing is written: no checkpoint, no run folder.
Ctrl-C stops the test; what it saw so far is summarised without a suggestion.
"""

from __future__ import annotations

import signal
import threading

from cnn_gui.cli_args import positive_number, whole_number
from cnn_gui.cli_recipe import TRAIN_ONLY_DEFAULTS, add_recipe_options, plan_from_args, resume_dataset


def add_lr_find(sub) -> None:
    from cnn_gui.core import config  # the range test's defaults, without importing torch (core/training/lr_finder.py)

    finder = sub.add_parser("lr-find", help="try growing learning rates on a copy of the network; suggest one")
    add_recipe_options(finder, resume_help="start from a saved session's weights (its recipe too)",
                       quiet_help="only the suggestion's line")
    finder.add_argument("--start", type=positive_number(1.0), default=config.LR_FIND_START,
                        help=f"the first rate tried (default {config.LR_FIND_START:g})")
    finder.add_argument("--end", type=positive_number(1e3), default=config.LR_FIND_END,
                        help=f"the last rate tried, if the loss has not diverged before (default {config.LR_FIND_END:g})")
    finder.add_argument("--steps", type=whole_number(10, 10_000), default=config.LR_FIND_STEPS,
                        help=f"batches from the first rate to the last, 10 to 10,000 (default {config.LR_FIND_STEPS})")
    finder.set_defaults(**TRAIN_ONLY_DEFAULTS)


def lr_find(args) -> int:
    from cnn_gui.core.config import ConfigError
    from cnn_gui.core.training.lr_finder import find_lr
    from cnn_gui.core.training.plan import build_trainer, load_run_data

    if args.threads:
        from cnn_gui.core.training.cpu_threads import set_training_threads

        set_training_threads(args.threads)
    if not args.start < args.end:
        raise ConfigError(f"--start ({args.start:g}) must be below --end ({args.end:g})")
    plan = plan_from_args(args)
    data = load_run_data(plan, data_dir=args.data_dir, dataset=resume_dataset(args, plan))
    # The trainer's model: new weights sized to the data's classes, or the session's own,
    # with its frozen modules; it never trains here (find_lr trains a copy).
    trainer = build_trainer(plan, data)
    config = trainer.config
    if not args.quiet:
        print(f"trying {args.steps} rates from {args.start:g} to {args.end:g}: {trainer.spec.title} on "
              f"{data.title}, {config.optimizer}, batch {config.batch_size}, {trainer.device}", flush=True)
    every = max(1, args.steps // 10)

    def show(done: int, steps: int, rate: float, loss: float) -> None:
        if not args.quiet and (done % every == 0 or done == steps):
            print(f"  batch {done:>4}/{steps}  rate {rate:.2e}  loss {loss:.4f}", flush=True)

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        found = find_lr(trainer.model, data, config, start=args.start, end=args.end, steps=args.steps,
                        cancel=stop, progress=show)
    finally:
        signal.signal(signal.SIGINT, previous)
    print(found.summary())
    if found.suggestion is not None and not args.quiet:
        print(f"train with it: cnn-gui train --lr {found.suggestion:.3g}"
              + (" (with --schedule onecycle it is the peak rate)" if config.schedule == "onecycle" else ""))
    return 130 if found.ended == "cancelled" else 0
