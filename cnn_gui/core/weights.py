"""A set of weights and what belongs to them, and the one way to open them from a file.

Weights are never just tensors: they were trained on some dataset, expect images
normalised one way, name their classes, and came from somewhere (a :class:`Provenance`).
Opening a checkpoint, the pretrained file or a run's weights goes through
:func:`open_weights` (the CLI) or :func:`read_checkpoint` then :func:`weights_from` (the
window, which reads on a job thread and may ask the user for a model file in between);
both give an :class:`OpenedWeights` with the same spec, model, dataset and normalisation.

Rules, once:
- a checkpoint never imports code: a user's own model class is answered only by a spec
  the user loaded (``model_file`` here, the window's file dialog there);
- "which dataset belongs to these weights": :func:`checkpoint_dataset`;
- every weight's name and shape, and a resumable session's optimizer state, are checked
  before anything is adopted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from torch import nn

from cnn_gui.core.errors import CnnGuiError, one_line
from cnn_gui.core.formatting import middle_elide, percent
from cnn_gui.core.inputs.preparation import Preparation
from cnn_gui.core.model.models import ModelSpec, NeedsModelFile, load_user_spec, spec_for_architecture

if TYPE_CHECKING:
    from cnn_gui.core.analysis.predictor import Predictor
    from cnn_gui.core.files.checkpoints import Checkpoint, CheckpointMeta


class Source(Enum):
    UNTRAINED = "untrained"
    PRETRAINED = "pretrained"
    TRAINED = "trained"
    FILE = "file"
    REINITIALISED = "re-initialised"


RUN_DETAIL = "run "  # a Provenance detail naming a run folder: "run <its name>"


@dataclass(frozen=True)
class Provenance:
    """Where the current weights came from, in words a user reads on the canvas."""

    source: Source
    detail: str = ""  # file name, initialisation scheme, run name
    epoch: int | None = None  # completed epochs of these weights (trained, file)
    step: int | None = None  # set when a run stopped mid-epoch: these weights are untested
    test_accuracy: float | None = None  # of the last completed epoch
    kept_in: str | None = None  # a file that holds these very weights, if any

    def label(self) -> str:
        acc = f", {percent(self.test_accuracy)} test" if self.test_accuracy is not None else ""
        if self.source is Source.PRETRAINED:
            return f"Weights: pretrained{acc and ' (' + acc[2:] + ')'}"
        if self.source is Source.UNTRAINED:
            return f"Weights: untrained{' (' + self.detail + ')' if self.detail else ''}"
        if self.source is Source.REINITIALISED:
            return f"Weights: re-initialised ({self.detail})"
        if self.source is Source.FILE and self.detail.startswith(RUN_DETAIL):
            # a run's weights (Runs tab > Load weights, or its checkpoint opened): say which run
            where = f", epoch {self.epoch}" if self.epoch else ""
            name = middle_elide(self.detail[len(RUN_DETAIL):], 32)
            return f"Weights: run {name}{where}{acc and ' (' + acc[2:] + ')'}"
        if self.source is Source.FILE:
            return f"Weights: file {middle_elide(self.detail)}{acc and ' (' + acc[2:] + ')'}"
        where = f"epoch {self.epoch}" if self.epoch else "no full epoch"
        if self.step is not None:
            return f"Weights: trained now, stopped at step {self.step} ({where}{acc})"
        return f"Weights: trained now, {where}{acc and ' (' + acc[2:] + ')'}"


@dataclass(frozen=True)
class Normalization:
    """What the weights expect of an image: how it is prepared (:class:`Preparation`), then
    ``(x - mean) / std`` per channel; and the names of their classes (one per output)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    preparation: Preparation = Preparation()

    @classmethod
    def of_info(cls, info) -> "Normalization":
        """Of a :class:`~cnn_gui.core.data.image_dataset.DatasetInfo`, or an ImageDataset."""
        info = getattr(info, "info", info)
        prep = Preparation.for_shape(info.preparation, info.ink, info.input_shape)
        return cls(tuple(info.mean), tuple(info.std), tuple(info.classes), prep)

    @classmethod
    def of_dataset(cls, name: str) -> "Normalization | None":
        from cnn_gui.core.data.registry import DATASETS

        info = DATASETS.get(name)
        return None if info is None else cls.of_info(info)

    @classmethod
    def default_for(cls, dataset: str) -> "Normalization":
        """What weights that say nothing of their own expect: their dataset's, else MNIST's."""
        return cls.of_dataset(dataset) or cls.of_dataset("mnist")

    @classmethod
    def of_data(cls, data) -> "Normalization":
        """Of an :class:`~cnn_gui.core.data.image_dataset.ImageDataset`."""
        return cls.of_info(data)

    @classmethod
    def of_meta(cls, meta: "CheckpointMeta") -> "Normalization":
        """As a checkpoint records it; a file from before ``preparation`` was recorded gets its dataset's."""
        if meta.preparation:
            prep = Preparation.for_shape(meta.preparation["method"], meta.preparation["ink"], meta.input_shape)
        else:
            from cnn_gui.core.data.registry import is_folder_dataset

            known = cls.of_dataset(meta.dataset)
            if known is not None:
                prep = known.preparation
            elif is_folder_dataset(meta.dataset):
                prep = Preparation()
            else:
                prep = Preparation.for_shape("digit", "light", meta.input_shape)
        return cls(tuple(meta.mean), tuple(meta.std), tuple(meta.classes), prep)

    def for_outputs(self, outputs: int) -> "Normalization":
        """These settings with one class name per network output: names the data lacks are
        "#k" (a file from before networks were sized to their data: 10 outputs, 3 classes),
        and more names than outputs (bare weights given another dataset's) become numbers."""
        from cnn_gui.core.analysis.predictor import names_for_outputs

        if len(self.classes) == outputs or outputs <= 0:
            return self
        return replace(self, classes=names_for_outputs(self.classes, outputs))

    def predictor(self, model: nn.Module, input_shape=None) -> "Predictor":
        """A frozen eval-mode copy of ``model`` that reads images as these weights expect them."""
        from cnn_gui.core.analysis.predictor import Predictor

        kwargs = {} if input_shape is None else {"input_shape": tuple(input_shape)}
        return Predictor(model, self.mean, self.std, self.classes or None, preparation=self.preparation, **kwargs)


@dataclass
class Weights:
    """One model object with everything that belongs to its weights."""

    spec: ModelSpec
    model: nn.Module
    provenance: Provenance
    normalization: Normalization | None = None  # None: the dataset default (see Session.normalization)
    dataset: str | None = None  # the dataset they were trained on, if known
    history: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class OpenedWeights:
    """A checkpoint opened into a model of its own spec, ready to adopt or to use."""

    checkpoint: "Checkpoint"
    spec: ModelSpec
    model: nn.Module
    dataset: str
    normalization: Normalization | None  # None: bare weights, which say nothing about it

    @property
    def resumable(self) -> bool:
        """A whole training session (config, position, optimizer): Train can continue it."""
        return not self.checkpoint.is_foreign and bool(self.checkpoint.meta.config)

    @property
    def test_accuracy(self) -> float | None:
        history = self.checkpoint.meta.history
        return history[-1]["test_accuracy"] if history else None

    def provenance(self, source: Source = Source.FILE) -> Provenance:
        meta, path = self.checkpoint.meta, self.checkpoint.path
        if self.checkpoint.is_foreign:
            return Provenance(source, path.name, kept_in=str(path))
        detail = "" if source is Source.PRETRAINED else path.name
        return Provenance(source, detail, epoch=meta.epoch or None, test_accuracy=self.test_accuracy,
                          kept_in=str(path))

    def as_weights(self, source: Source = Source.FILE, *, fallback: Weights | None = None) -> Weights:
        """These weights as the session holds them; bare weights keep ``fallback``'s dataset and normalisation."""
        if self.normalization is None and fallback is not None:
            norm = fallback.normalization or Normalization.default_for(fallback.dataset or self.dataset)
            return Weights(self.spec, self.model, self.provenance(source), norm.for_outputs(self.spec.num_classes),
                           fallback.dataset)
        history = [dict(h) for h in self.checkpoint.meta.history]
        return Weights(self.spec, self.model, self.provenance(source), self.normalization, self.dataset, history)

    def predictor(self) -> "Predictor":
        norm = self.normalization or Normalization.default_for(self.dataset)
        return norm.for_outputs(self.spec.num_classes).predictor(self.model, self.spec.input_shape)


def weights_file_stem(spec: ModelSpec, dataset: str | None) -> str:
    """The start of a file name for weights of ``spec`` trained on ``dataset``:
    ``mnist-cnn-mnist``, ``mnist-cnn-shapes`` (a folder by its name, never its path)."""
    from cnn_gui.core.data.folder_names import folder_name, is_folder_dataset

    if not dataset:
        return spec.file_stem
    return f"{spec.file_stem}-{folder_name(dataset) if is_folder_dataset(dataset) else dataset}"


def checkpoint_dataset(meta: "CheckpointMeta", spec: ModelSpec | None = None, near: str | Path | None = None) -> str:
    """The dataset weights were trained on: the run's config, else the file's own field, else the model's default.

    A checkpoint records an image folder by its name (``folder:shapes``), never where it
    is: the folder is looked for beside ``near`` (the checkpoint's path: its run's
    run.json), among the folders used in this process and the recent runs
    (:func:`~cnn_gui.core.data.folder_record.locate_folder`), and named by its absolute
    path when found; else the recorded name is returned (loading it then says it is missing).
    """
    from cnn_gui.core.data.folder_names import is_folder_dataset
    from cnn_gui.core.data.folder_record import locate_folder

    name = (meta.config or {}).get("dataset") or meta.dataset or (spec.default_dataset if spec else "mnist")
    if not is_folder_dataset(name):
        return name
    return locate_folder(name, near=near, fingerprint=getattr(meta, "dataset_fingerprint", "")) or name


def read_checkpoint(path: str | Path) -> "Checkpoint":
    """Read and validate a checkpoint file (any thread; no code is imported)."""
    from cnn_gui.core.files.checkpoints import load_checkpoint

    return load_checkpoint(path)


def resolve_spec(checkpoint: "Checkpoint", *, current: ModelSpec | None = None, model_file: str | None = None,
                 ask_model_file: Callable[[NeedsModelFile], str | None] | None = None) -> ModelSpec | None:
    """The spec of ``checkpoint``'s model, never imported because the file names it.

    Bare weights (no architecture) fit ``current`` only. A user's own class is answered by
    ``model_file`` ("path.py:Class", the CLI's ``--model``), by ``current`` when it is that
    class, or by the file ``ask_model_file`` returns (the window asks). None: the user
    cancelled that question.
    """
    if checkpoint.is_foreign:
        if current is None:
            raise CnnGuiError(f"{one_line(checkpoint.path, 120)} holds bare weights without an architecture; "
                              "open it in the window instead")
        return current.sized_for(checkpoint.weights)
    shape = tuple(checkpoint.meta.input_shape)
    user_spec = current if current is not None and current.is_user else None
    if model_file:
        if ".py:" not in model_file:
            raise CnnGuiError(f"--model {one_line(model_file, 80)}: give your own model as path/to/file.py:ClassName")
        user_spec = load_user_spec(model_file, shape)
    try:
        return spec_for_architecture(checkpoint.meta.architecture, user_spec).sized_for(checkpoint.weights)
    except NeedsModelFile as need:
        if ask_model_file is None:
            raise
        path = ask_model_file(need)
        return None if not path else load_user_spec(f"{path}:{need.class_name}", shape)


def weights_from(checkpoint: "Checkpoint", spec: ModelSpec) -> OpenedWeights:
    """Build ``spec``'s model with ``checkpoint``'s weights; every name and shape checked first."""
    from cnn_gui.core.files.checkpoints import load_weights_into
    from cnn_gui.core.model.structure import apply_frozen
    from cnn_gui.core.training.resume import check_session_fits

    model = spec.factory()
    load_weights_into(model, checkpoint)
    if checkpoint.is_foreign:
        return OpenedWeights(checkpoint, spec, model, spec.default_dataset, None)
    apply_frozen(model, checkpoint.meta.frozen)  # before the check: the optimizer knows the trainable ones
    check_session_fits(checkpoint, model)  # a resumable session must fit too, before anything changes
    meta = checkpoint.meta
    return OpenedWeights(checkpoint, spec, model, checkpoint_dataset(meta, spec, checkpoint.path),
                         Normalization.of_meta(meta).for_outputs(spec.num_classes))


def open_weights(path: str | Path | None = None, *, model_file: str | None = None,
                 current: ModelSpec | None = None) -> OpenedWeights:
    """Open ``path`` (default: the pretrained weights) in one go: read, resolve the spec, load."""
    from cnn_gui.core.resources import pretrained_checkpoint

    checkpoint = read_checkpoint(path or pretrained_checkpoint())
    return weights_from(checkpoint, resolve_spec(checkpoint, current=current, model_file=model_file))
