"""``cnn-gui evaluate``, ``predict`` and ``explain``: commands that open weights and report.

Every name that comes from a file or a folder (a class folder's name, a checkpoint's
class names, a path) is printed through :func:`~cnn_gui.core.errors.one_line`: an escape
code, a bell or a newline in a name never reaches the terminal as such.
"""

from __future__ import annotations

import sys

from cnn_gui.cli_args import UserError, class_index, output_file_with_suffix, output_folder
from cnn_gui.core.errors import describe_line, one_line

_NAME = 40  # a class name in a line or a table


def open_from_args(args):
    """The weights ``--checkpoint`` names (default: the pretrained ones), as the window opens them."""
    from cnn_gui.core.weights import open_weights

    return open_weights(args.checkpoint, model_file=args.model)


def image_predictor(opened):
    """``opened``'s predictor: it prepares an image file exactly as the weights' training images
    were prepared (:mod:`cnn_gui.core.inputs.preparation`: MNIST's crop-to-ink for MNIST
    weights, the whole image fitted for a folder's)."""
    opened.model.eval()
    return opened.predictor()


def read_input(path, predictor):
    """The image file at ``path`` as ``predictor``'s model reads it; None when a digit photo has no ink."""
    from cnn_gui.core.inputs.preparation import prepare_file

    return prepare_file(path, predictor.preparation, predictor.input_shape)


def evaluate(args) -> int:
    from cnn_gui.core.analysis.inspection import confusion_matrix
    from cnn_gui.core.data.class_match import labelled_as_weights
    from cnn_gui.core.data.datasets import load_dataset
    from cnn_gui.core.data.folder_names import is_folder_dataset, is_located
    from cnn_gui.core.data.folder_record import checked_against, require_folder
    from cnn_gui.core.data.registry import DATASETS

    if args.data_dir is not None:
        output_folder(args.data_dir, "--data-dir")
    opened = open_from_args(args)
    ckpt, model = opened.checkpoint, opened.model.eval()
    file_name = one_line(ckpt.path.name, 80)
    name = args.dataset or opened.dataset
    if is_folder_dataset(name) and not is_located(name) and not args.dataset:
        name = require_folder(name, ckpt.meta, near=ckpt.path)  # recorded by its name: found, or how to give it
    info = DATASETS.get(name)
    if info is not None and tuple(info.input_shape) != tuple(ckpt.meta.input_shape):
        shape = "x".join(map(str, ckpt.meta.input_shape))
        raise UserError(f"{file_name} reads {shape} images; {name} has {'x'.join(map(str, info.input_shape))}")
    data = load_dataset(name, data_dir=args.data_dir, input_shape=tuple(ckpt.meta.input_shape))
    data = checked_against(data, ckpt.meta)  # a folder that changed since training says so in its note
    data = labelled_as_weights(data, ckpt.meta.classes, file_name)  # output k is the weights' k-th class
    shown = one_line(name, 200)
    if data.note:
        print(f"{shown}: {one_line(data.note)}")
    result = confusion_matrix(model, data)
    m = result.matrix
    print(f"{file_name} on the {m.sum():,} {shown} test images: "
          f"accuracy {result.accuracy:.2%}, {len(result.misclassified):,} misclassified")
    _print_matrix(m, [one_line(c, _NAME) for c in result.names])
    return 0


def _print_matrix(m, classes: list[str]) -> None:
    """The confusion matrix ``m`` as a table, then its five most frequent mistakes."""
    import numpy as np

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


def predict(args) -> int:
    from cnn_gui.core.errors import CnnGuiError

    if (args.snapshots or args.json) and not args.run:
        raise UserError("--snapshots and --json go with --run RUN_DIR")
    if args.run:
        from cnn_gui.cli_snapshots import run_checkpoint

        if args.checkpoint:
            raise UserError("give --run or --checkpoint, not both")
        args.checkpoint = run_checkpoint(args.run)
    predictor = image_predictor(open_from_args(args))
    names = [one_line(c, _NAME) for c in predictor.classes]  # one per output (weights.weights_from)
    status = 0
    unreadable = 0
    readable = []
    for path in args.images:
        shown = one_line(path, 200)
        try:
            image = read_input(path, predictor)
        except CnnGuiError as exc:  # say so and read the other files; exit 2 at the end
            print(f"cnn-gui: error: {describe_line(exc)}", file=sys.stderr)
            unreadable += 1
            continue
        if args.snapshots:
            readable.append((path, image))
            continue
        if image is None:
            print(f"{shown}: no ink found, nothing to read")
            status = 1
            continue
        probs = predictor.predict(image)
        order = probs.argsort()[::-1][:3]
        others = ", ".join(f"{names[i]} {probs[i]:.1%}" for i in order[1:])
        print(f"{shown}: {names[order[0]]} ({probs[order[0]]:.1%}; then {others})")
    if args.snapshots:
        from cnn_gui.cli_snapshots import predict_over_snapshots

        status = predict_over_snapshots(args, predictor, readable)
    return 2 if unreadable else status


def explain(args) -> int:
    from cnn_gui.core.analysis.attribution import METHODS, Explainer
    from cnn_gui.core.analysis.colormaps import explain_picture

    out = output_file_with_suffix(args.out, ".png", "--out", inputs=[args.image])  # before the work
    image_format = _image_format(out)
    predictor = image_predictor(open_from_args(args))
    img28 = read_input(args.image, predictor)
    if img28 is None:
        raise UserError(f"{one_line(args.image, 150)}: no ink found, nothing to explain")
    target = None if args.target is None else class_index(args.target, list(predictor.classes))
    explainer = Explainer(predictor, tuple(predictor.input_shape))
    if args.layer is not None and args.layer not in explainer.conv_layers:
        raise UserError(f"--layer {one_line(args.layer, 60)}: choose one of {one_line(', '.join(explainer.conv_layers), 200)}")
    result = explainer.explain(img28, args.method, target=target, layer=args.layer)
    picture = explain_picture(img28, result.map, result.scale, ink_kind=predictor.preparation.ink)
    _write_picture(out, picture, image_format)
    probs = result.probabilities
    layer = f" on {one_line(result.layer, 60)}" if result.layer else ""
    print(f"{one_line(args.image, 200)}: read as {one_line(result.predicted_name, _NAME)} "
          f"({probs[result.predicted]:.1%}); {METHODS[args.method].title} for "
          f"{one_line(result.target_name, _NAME)}{layer}, scale ±{result.scale:.3g}; wrote {one_line(out, 200)}")
    print(one_line(result.reading))
    return 0


def _image_format(out) -> str:
    """Pillow's format for ``out``'s suffix (``.png``, ``.jpg``...); UserError for another."""
    from PIL import Image

    Image.init()
    fmt = Image.registered_extensions().get(out.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise UserError(f"--out {one_line(out, 150)}: cannot tell an image format from "
                        f"{one_line(out.suffix, 20)!r}; name a .png file")
    return fmt


def _write_picture(out, picture, image_format: str) -> None:
    """``picture`` (uint8 HxWx3) written whole to ``out``, a regular file (safe_io)."""
    import io

    from PIL import Image

    from cnn_gui.core.files.safe_io import atomic_write

    buffer = io.BytesIO()
    try:
        Image.fromarray(picture).save(buffer, format=image_format)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, buffer.getvalue())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot write {one_line(out, 150)}: {getattr(exc, 'strerror', None) or exc}") from None
