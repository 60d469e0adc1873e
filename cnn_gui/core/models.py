"""The seed tutorial's networks, a registry by name, and loading a user's own module.

Module names are exactly the tutorial's, so ``named_parameters()`` prints the same
``layer1.conv1.weight`` ... that the tutorial shows.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn


class ModelError(ValueError):
    """A model that cannot be built or does not fit its input, with the reason."""


class CNN(nn.Module):
    """The tutorial's MNIST network: four conv blocks with BatchNorm, then 2048->1024->128->10."""

    def __init__(self) -> None:
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
            nn.Linear(128, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = x.flatten(1)  # flatten, not view: also works on channels_last tensors
        return self.fc(x)


class SimpleCNN(nn.Module):
    """The tutorial's SimpleCNN for 3x32x32 images (CIFAR-10), built with add_module."""

    def __init__(self) -> None:
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
        layer4.add_module("f3", nn.Linear(64, 10))
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


MODELS: dict[str, ModelSpec] = {
    "mnist-cnn": ModelSpec("mnist-cnn", "Tutorial MNIST CNN (BatchNorm)", (1, 28, 28), 10, "mnist", CNN),
    "simple-cnn": ModelSpec("simple-cnn", "Tutorial SimpleCNN (3x32x32)", (3, 32, 32), 10, "cifar10", SimpleCNN),
}


def is_user_model(name: str) -> bool:
    return ".py:" in name


def get_spec(name: str, input_shape: tuple[int, int, int] | None = None) -> ModelSpec:
    """A registry name, or ``file.py:ClassName`` (its input shape defaults to 1x28x28)."""
    if name in MODELS:
        return MODELS[name]
    if is_user_model(name):
        cls = load_user_class(name)
        shape = tuple(input_shape or getattr(cls, "input_shape", (1, 28, 28)))
        spec = ModelSpec(name, cls.__name__, shape, int(getattr(cls, "num_classes", 10)), "mnist", cls)
        check_model(spec)
        return spec
    known = ", ".join(MODELS)
    raise ModelError(f"unknown model {name!r}: choose one of {known}, or give path/to/file.py:ClassName")


def build_model(name: str, input_shape: tuple[int, int, int] | None = None) -> nn.Module:
    return get_spec(name, input_shape).factory()


def load_user_class(ref: str) -> type[nn.Module]:
    """Import ``path/to/file.py:ClassName`` and return the class (not an instance).

    The file is the user's own code, run as Python on purpose, as ``python file.py``
    would; this is unlike a checkpoint, which is data and never executed.
    """
    path_text, _, class_name = ref.rpartition(":")
    path = Path(path_text).expanduser()
    if not class_name:
        raise ModelError(f"{ref!r}: give the class after a colon, as path/to/file.py:ClassName")
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    module_name = f"cnn_gui_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's file may raise anything while importing
        sys.modules.pop(module_name, None)
        raise ModelError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        found = [n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, nn.Module)
                 and v.__module__ == module_name]
        hint = f" (it defines: {', '.join(found)})" if found else " (it defines no nn.Module subclass)"
        raise ModelError(f"{path} has no class {class_name!r}{hint}")
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        raise ModelError(f"{class_name!r} in {path} is not a subclass of torch.nn.Module")
    return cls


def check_model(spec: ModelSpec) -> None:
    """Build the model and run one dummy sample through it; explain what does not fit."""
    try:
        model = spec.factory()
    except Exception as exc:
        raise ModelError(f"creating {spec.title} failed: {type(exc).__name__}: {exc}") from exc
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, *spec.input_shape))
    except Exception as exc:
        shape = "x".join(map(str, spec.input_shape))
        raise ModelError(
            f"{spec.title} does not accept a {shape} input: {type(exc).__name__}: {exc}. "
            "Set a class attribute input_shape = (C, H, W) on the model, or pick a dataset of that shape."
        ) from exc
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] != spec.num_classes:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(
            f"{spec.title} must return logits of shape (batch, {spec.num_classes}); it returned {got}"
        )


def parameter_count(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
