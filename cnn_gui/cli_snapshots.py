"""``cnn-gui predict IMAGE --run RUN_DIR --snapshots``: how a run's network read an image as it
trained, one line per snapshot (:mod:`cnn_gui.core.runs.snapshots`), or one JSON object per
line with ``--json``: ``step``, ``epoch``, ``top``, ``top_probability`` (0-1) and
``probabilities`` (class name -> 0-1), plus ``image``. The *final answer* is what the last
snapshot reads; each line also gives its probability at that step."""

from __future__ import annotations

import json
from pathlib import Path

from cnn_gui.cli_args import UserError
from cnn_gui.core.errors import one_line


def run_checkpoint(run: str) -> str:
    """The checkpoint of run folder ``run``, whose weights say what the snapshots are."""
    from cnn_gui.core.runs.layout import CHECKPOINT_FILE, RUN_FILE

    folder = Path(run)
    if not folder.is_dir():
        raise UserError(f"--run {one_line(run, 150)}: no such run folder")
    if not (folder / RUN_FILE).is_file():
        raise UserError(f"--run {one_line(run, 150)}: not a run folder (it has no {RUN_FILE}); give one of the "
                        "folders under the runs folder")
    path = folder / CHECKPOINT_FILE
    if not path.is_file():
        raise UserError(f"--run {one_line(run, 150)}: the run has no checkpoint yet (it never finished an epoch)")
    return str(path)


def predict_over_snapshots(args, predictor, images) -> int:
    """``images``: (path, prepared image or None) pairs; the predictor's model is loaded with
    each snapshot in turn."""
    from cnn_gui.core.runs.snapshots import list_snapshots, load_snapshot

    snapshots = list_snapshots(args.run)
    if not snapshots:
        raise UserError(f"--run {one_line(args.run, 150)}: no snapshots in this run (runs keep them since "
                        "cnn-gui 3)")
    names = [one_line(c, 40) for c in predictor.classes]
    readings = []
    for snap in snapshots:
        load_snapshot(snap, predictor.model)
        readings.append((snap, [None if image is None else predictor.predict(image) for _, image in images]))
    status = 0
    for k, (path, image) in enumerate(images):
        shown = one_line(path, 200)
        if image is None:
            print(f"{shown}: no ink found, nothing to read")
            status = 1
            continue
        final = int(readings[-1][1][k].argmax())
        if not args.json:
            print(f"{shown}: final answer {names[final]} (at step {snapshots[-1].step:,})")
        for snap, probs in readings:
            p = probs[k]
            top = int(p.argmax())
            if args.json:
                print(json.dumps({"image": str(path), "step": snap.step, "epoch": snap.epoch, "top": names[top],
                                  "top_probability": round(float(p[top]), 6),
                                  "probabilities": {n: round(float(v), 6) for n, v in zip(names, p)}}))
            else:
                print(f"  step {snap.step:>6,}, epoch {snap.epoch}: {names[top]} {p[top]:6.1%}"
                      f"   final answer {names[final]}: {p[final]:6.1%}")
    return status
