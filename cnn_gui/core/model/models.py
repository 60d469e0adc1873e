"""The seed tutorial's networks, a registry by name, and loading a user's own module.

Module names are exactly the tutorial's, so ``named_parameters()`` prints the same
``layer1.conv1.weight`` ... that the tutorial shows.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from cnn_gui.core.errors import CnnGuiError, one_line, short_repr


class ModelError(CnnGuiError):
    """A model that cannot be built or does not fit its input, with the reason."""


class CNN(nn.Module):
    """The tutorial's MNIST network: four conv blocks with BatchNorm, then 2048->1024->128->classes.

    ``num_classes`` is 10 as in the tutorial; a dataset of another number of classes (a
    user's image folder) gets a network with that many outputs (:meth:`ModelSpec.with_classes`).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=(3, 3)),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=(3, 3)),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.layer3 = nn.Sequential(
            nn.Conv2d(32, 64, kernel_size=(3, 3)),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        self.layer4 = nn.Sequential(
            nn.Conv2d(64, 128, kernel_size=(3, 3)),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        # As in the tutorial: no activation between the last two Linear layers.
        self.fc = nn.Sequential(
            nn.Linear(128 * 4 * 4, 1024),
            nn.ReLU(inplace=True),
            nn.Linear(1024, 128),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = x.flatten(1)  # flatten, not view: also works on channels_last tensors
        return self.fc(x)


class SimpleCNN(nn.Module):
    """The tutorial's SimpleCNN for 3x32x32 images (CIFAR-10), built with add_module; ``num_classes`` outputs."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        layer1 = nn.Sequential()
        layer1.add_module("conv1", nn.Conv2d(3, 32, (3, 3), (1, 1), padding=1))
        layer1.add_module("relu1", nn.ReLU(True))
        layer1.add_module("pool1", nn.MaxPool2d(2, 2))
        self.layer1 = layer1

        layer2 = nn.Sequential()
        layer2.add_module("conv2", nn.Conv2d(32, 64, (3, 3), (1, 1), padding=1))
        layer2.add_module("relu2", nn.ReLU(True))
        layer2.add_module("pool2", nn.MaxPool2d(2, 2))
        self.layer2 = layer2

        layer3 = nn.Sequential()
        layer3.add_module("conv3", nn.Conv2d(64, 128, (3, 3), (1, 1), padding=1))
        layer3.add_module("relu3", nn.ReLU(True))
        layer3.add_module("pool3", nn.MaxPool2d(2, 2))
        self.layer3 = layer3

        layer4 = nn.Sequential()
        layer4.add_module("fc1", nn.Linear(2048, 512))
        layer4.add_module("fc_relu1", nn.ReLU(True))
        layer4.add_module("fc2", nn.Linear(512, 64))
        layer4.add_module("fc_relu2", nn.ReLU(True))
        layer4.add_module("f3", nn.Linear(64, num_classes))
        self.layer4 = layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv1 = self.layer1(x)
        conv2 = self.layer2(conv1)
        conv3 = self.layer3(conv2)
        fc_input = conv3.flatten(1)
        return self.layer4(fc_input)


@dataclass(frozen=True)
class ModelSpec:
    name: str  # registry key, or "path/to/file.py:ClassName" for a user's module
    title: str
    input_shape: tuple[int, int, int]  # C, H, W of one sample
    num_classes: int
    default_dataset: str
    factory: Callable[[], nn.Module]

    @property
    def is_user(self) -> bool:
        return is_user_model(self.name)

    @property
    def architecture(self) -> str:
        """What a checkpoint records: the registry name, or ``user:ClassName`` (never a path)."""
        return f"{USER_PREFIX}{user_class_name(self.name)}" if self.is_user else self.name

    def check_takes(self, data) -> None:
        """ConfigError when this network cannot take ``data``'s images (an ImageDataset's)
        or name its classes."""
        from cnn_gui.core.config import ConfigError

        if tuple(data.input_shape) != tuple(self.input_shape):
            shape = "x".join(map(str, self.input_shape))
            have = "x".join(map(str, data.input_shape))
            raise ConfigError(
                f"{self.title} expects {shape} images but {data.name} has {have} images; "
                "pick a dataset of that shape (MNIST-like: 1x28x28, CIFAR-10: 3x32x32)"
            )
        if len(data.classes) != self.num_classes:  # RunPlan.for_data sizes new weights to fit
            raise ConfigError(
                f"{data.title} has {len(data.classes)} classes but {self.title} has {self.num_classes} "
                "outputs; a network needs one output per class")

    def with_classes(self, count: int) -> "ModelSpec":
        """This model with ``count`` outputs, one per class of the dataset it will learn.

        A built-in network is built with that many outputs (the tutorial's 10 are for
        MNIST's ten digits; a 3-class folder gets 3). A user's own class has the outputs
        its code gives it: a different count is a :class:`ModelError` saying what to change.
        """
        if count == self.num_classes:
            return self
        if not (isinstance(count, int) and 2 <= count <= MAX_CLASSES):
            raise ModelError(f"a classifier needs 2 to {MAX_CLASSES:,} classes, not {short_repr(count)}")
        if self.is_user:
            raise ModelError(
                f"{self.title} has {self.num_classes} outputs but the data has {count} classes: "
                f"set num_classes = {count} on the class (and build its last layer with it)")
        base = BUILT_IN_CLASSES[self.name]
        return replace(self, num_classes=count, factory=partial(base, num_classes=count))

    def sized_for(self, weights) -> "ModelSpec":
        """A built-in spec with as many outputs as ``weights`` (a state dict) have: a 3-class
        folder's network has 3. A user's own class keeps its own (the weights' shapes are
        checked against it when they are loaded)."""
        tensor = weights.get(self.output_weight) if self.output_weight else None
        if tensor is None or tensor.dim() != 2:
            return self
        return self.with_classes(int(tensor.shape[0]))

    @property
    def output_weight(self) -> str | None:
        """The name of the last layer's weight, whose rows are the classes (built-in models)."""
        return OUTPUT_WEIGHTS.get(self.name)

    @property
    def file_stem(self) -> str:
        """The start of a file name for its weights: ``mnist-cnn``, or a user's class name."""
        return user_class_name(self.name) if self.is_user else self.name


MODELS: dict[str, ModelSpec] = {
    "mnist-cnn": ModelSpec("mnist-cnn", "Tutorial MNIST CNN (BatchNorm)", (1, 28, 28), 10, "mnist", CNN),
    "simple-cnn": ModelSpec("simple-cnn", "Tutorial SimpleCNN (3x32x32)", (3, 32, 32), 10, "cifar10", SimpleCNN),
}

BUILT_IN_CLASSES: dict[str, type[nn.Module]] = {"mnist-cnn": CNN, "simple-cnn": SimpleCNN}
OUTPUT_WEIGHTS = {"mnist-cnn": "fc.3.weight", "simple-cnn": "layer4.f3.weight"}
USER_PREFIX = "user:"
MAX_INPUT_SIDE = 1024
MAX_CHANNELS = 64
MAX_CLASSES = 10_000


def is_user_model(name: str) -> bool:
    """A user's own module: ``file.py:Class`` (as chosen) or ``user:Class`` (as a checkpoint records it)."""
    return isinstance(name, str) and (".py:" in name or name.startswith(USER_PREFIX))


def user_class_name(name: str) -> str:
    """``Net`` of ``path/to/file.py:Net`` or ``user:Net``."""
    return name.rpartition(":")[2]


def get_spec(name: str) -> ModelSpec:
    """A built-in model by its registry name. Never imports anything.

    A user's own module is not looked up by name: it is loaded only by an explicit user
    action, through :func:`load_user_spec` (``--model path.py:Class``, the window's model
    chooser). A name that arrives from a file (a checkpoint, a run) must go through
    :func:`spec_for_architecture`, which cannot import.
    """
    if name in MODELS:
        return MODELS[name]
    if is_user_model(name):
        raise ModelError(
            f"{one_line(name)} is your own model class; load its file yourself "
            "(give --model path/to/file.py:ClassName, or choose it in the window)")
    known = ", ".join(MODELS)
    raise ModelError(f"unknown model {short_repr(name)}: choose one of {known}, or give path/to/file.py:ClassName")


def resolve_user_choice(name: str, input_shape: tuple[int, int, int] | None = None) -> ModelSpec:
    """A model the user named on purpose: a registry name, or a ``file.py:Class`` to import."""
    if name in MODELS:
        return MODELS[name]
    if ".py:" in name:
        return load_user_spec(name, input_shape)
    return get_spec(name)


def spec_for_architecture(architecture: str, user_spec: ModelSpec | None = None) -> ModelSpec:
    """The spec for an architecture named in a file, without importing anything.

    A built-in name gives its spec. A user model (``user:Net``, or an old checkpoint's
    ``path.py:Net``) is answered only by ``user_spec``, the module the user loaded
    themselves, and only if its class has the same name; otherwise
    :class:`NeedsModelFile` says which class to load.
    """
    if architecture in MODELS:
        return MODELS[architecture]
    if is_user_model(architecture):
        wanted = user_class_name(architecture)
        if user_spec is not None and user_spec.is_user and user_class_name(user_spec.name) == wanted:
            return user_spec
        recorded = architecture.rpartition(":")[0] if ".py:" in architecture else ""
        raise NeedsModelFile(wanted, recorded)
    raise ModelError(f"unknown architecture {short_repr(architecture)}: this cnn-gui knows {', '.join(MODELS)}")


class NeedsModelFile(ModelError):
    """A file was saved from a user's own class; the user must load that class's file."""

    def __init__(self, class_name: str, recorded_path: str = "") -> None:
        self.class_name = class_name
        self.recorded_path = recorded_path
        where = f" (it was saved from {recorded_path})" if recorded_path else ""
        super().__init__(
            f"this file holds weights of your own model class {short_repr(class_name)}{where}; "
            "cnn-gui never runs code named in a file, so load the file that defines it yourself",
            hint=f"cnn-gui: add --model path/to/file.py:{one_line(class_name, 80)}; "
                 "the window asks you for the file",
        )


def build_model(name: str) -> nn.Module:
    return get_spec(name).factory()


def _shape_attr(cls: type, value: object) -> tuple[int, int, int]:
    ok = (isinstance(value, (tuple, list)) and len(value) == 3
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
          and 1 <= value[0] <= MAX_CHANNELS and all(1 <= v <= MAX_INPUT_SIDE for v in value[1:]))
    if not ok:
        raise ModelError(f"{cls.__name__}.input_shape must be three whole numbers (C, H, W) with C <= "
                         f"{MAX_CHANNELS} and H, W <= {MAX_INPUT_SIDE}, not {short_repr(value)}")
    return tuple(int(v) for v in value)


def _classes_attr(cls: type, value: object) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and 2 <= value <= MAX_CLASSES):
        raise ModelError(f"{cls.__name__}.num_classes must be a whole number from 2 to {MAX_CLASSES}, "
                         f"not {short_repr(value)}")
    return int(value)


def load_user_spec(ref: str, input_shape: tuple[int, int, int] | None = None) -> ModelSpec:
    """Import the user's ``path/to/file.py:ClassName`` (a user action) and check the model."""
    cls = load_user_class(ref)
    shape = _shape_attr(cls, input_shape if input_shape is not None else getattr(cls, "input_shape", (1, 28, 28)))
    classes = _classes_attr(cls, getattr(cls, "num_classes", 10))
    spec = ModelSpec(ref, cls.__name__, shape, classes, "mnist", cls)
    check_model(spec)
    return spec


def load_user_class(ref: str) -> type[nn.Module]:
    """Import ``path/to/file.py:ClassName`` and return the class (not an instance).

    The file is the user's own code, run as Python on purpose, as ``python file.py``
    would; this is unlike a checkpoint, which is data and never executed.
    """
    path_text, _, class_name = ref.rpartition(":")
    path = Path(path_text).expanduser()
    if not class_name or not class_name.isidentifier():
        raise ModelError(f"{short_repr(ref)}: give the class after a colon, as path/to/file.py:ClassName")
    if not path.is_file():
        raise ModelError(f"model file not found: {one_line(path)}")
    module_name = f"cnn_gui_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot import {one_line(path)}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - the user's file may raise anything, sys.exit() included
        sys.modules.pop(module_name, None)
        what = "exit" if isinstance(exc, SystemExit) else type(exc).__name__
        raise ModelError(f"importing {one_line(path)} failed: {what}: {one_line(exc, 150)}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        found = [n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, nn.Module)
                 and v.__module__ == module_name]
        hint = f" (it defines: {', '.join(found)})" if found else " (it defines no nn.Module subclass)"
        raise ModelError(f"{one_line(path)} has no class {class_name!r}{hint}")
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        raise ModelError(f"{class_name!r} in {one_line(path)} is not a subclass of torch.nn.Module")
    return cls


def check_model(spec: ModelSpec) -> None:
    """Build the model and run one dummy sample through it; explain what does not fit."""
    try:
        model = spec.factory()
    except BaseException as exc:  # noqa: BLE001 - a user's constructor may sys.exit() too
        raise ModelError(f"creating {spec.title} failed: {type(exc).__name__}: {one_line(exc, 150)}") from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"creating {spec.title} gave a {type(model).__name__}, not a torch.nn.Module")
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *spec.input_shape))
    except BaseException as exc:  # noqa: BLE001
        shape = "x".join(map(str, spec.input_shape))
        raise ModelError(
            f"{spec.title} does not accept a {shape} input: {type(exc).__name__}: {one_line(exc, 120)}. "
            "Set a class attribute input_shape = (C, H, W) on the model, or pick a dataset of that shape."
        ) from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] != spec.num_classes:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(
            f"{spec.title} must return logits of shape (batch, {spec.num_classes}); it returned {got}"
        )


def parameter_count(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
