"""A plain tree of a model's modules and parameters, as the tutorial walks them.

``named_children()`` gives the hierarchy, ``named_parameters()`` the parameter rows, a
forward pass with hooks the output shapes. The GUI's tree view and ``cnn-gui summary``
both read this tree; neither touches the model directly.

Also here: the tutorial's sub-model extraction ("the first two layers", "all conv
layers") and parameter initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

# Which constructor arguments to show per module type: the tutorial's parameter tables
# for Conv2d and MaxPool2d, and the obvious ones for the other layers it uses.
_HPARAMS: dict[type, tuple[str, ...]] = {
    nn.Conv2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias"),
    nn.MaxPool2d: ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
    nn.AvgPool2d: ("kernel_size", "stride", "padding", "ceil_mode"),
    nn.Linear: ("in_features", "out_features", "bias"),
    nn.BatchNorm2d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.BatchNorm1d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.ReLU: ("inplace",),
    nn.Dropout: ("p", "inplace"),
    nn.Flatten: ("start_dim", "end_dim"),
}


# What each hyper-parameter means, after the tutorial's tables for Conv2d and MaxPool2d.
HPARAM_HELP: dict[str, str] = {
    "in_channels": "depth (channels) of the input volume",
    "out_channels": "depth of the output volume: the number of filters",
    "kernel_size": "size of each filter; one number for a square, (h, w) otherwise",
    "stride": "step the filter moves by",
    "padding": "rings of zeros added around the input (0: none, 1: one pixel)",
    "dilation": "spacing between the filter's taps (1: adjacent pixels)",
    "groups": "split input and output channels into this many groups connected pairwise; "
              "both channel counts must divide by it (1: every output sees every input)",
    "bias": "whether a learned bias is added (default True)",
    "return_indices": "also return where each maximum came from (for MaxUnpool2d); default False",
    "ceil_mode": "round the output size up instead of down, so partial windows at the edge count; default False",
    "in_features": "size of each input vector",
    "out_features": "size of each output vector",
    "num_features": "channels normalised (the previous layer's output channels)",
    "eps": "added to the variance for numerical stability",
    "momentum": "weight of each new batch in the running mean and variance",
    "affine": "whether a learned scale and shift follow the normalisation",
    "track_running_stats": "keep running mean/variance for eval mode",
    "inplace": "overwrite the input instead of allocating an output",
    "p": "probability of zeroing an element while training",
    "start_dim": "first dimension flattened",
    "end_dim": "last dimension flattened",
}


@dataclass(frozen=True)
class ParamRow:
    name: str  # full name as named_parameters() gives it: "layer1.conv1.weight"
    local_name: str  # "weight"
    shape: tuple[int, ...]
    count: int
    trainable: bool


@dataclass
class ModuleNode:
    name: str  # full dotted name as named_modules() gives it; "" for the model itself
    local_name: str  # the last part, as named_children() gives it
    type_name: str  # "Conv2d"
    hparams: dict[str, str]
    output_shape: tuple[int, ...] | None  # of one sample, without the batch dimension
    params: list[ParamRow]  # this module's own parameters (recurse=False)
    children: list["ModuleNode"] = field(default_factory=list)
    total_params: int = 0  # own plus all descendants'
    trainable_params: int = 0

    def walk(self) -> Iterator["ModuleNode"]:
        yield self
        for child in self.children:
            yield from child.walk()

    def all_params(self) -> Iterator[ParamRow]:
        for node in self.walk():
            yield from node.params


def _fmt(value: object) -> str:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
        return f"({value[0]}, {value[1]})"
    return str(value)


def hyperparameters(module: nn.Module) -> dict[str, str]:
    for cls in type(module).__mro__:
        if cls in _HPARAMS:
            out = {}
            for key in _HPARAMS[cls]:
                value = getattr(module, key, None)
                if key == "bias" and not isinstance(value, bool):
                    value = value is not None  # Conv2d/Linear keep the tensor; the table shows a flag
                out[key] = _fmt(value)
            return out
    extra = module.extra_repr()
    return {"repr": extra} if extra else {}


def output_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Each module's output shape for one sample, from a forward pass on the CPU copy of a zero input.

    Runs in eval mode under no_grad (so BatchNorm's running statistics are not touched)
    and restores the model's mode afterwards. Modules that return non-tensors are skipped.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for name, module in model.named_modules():
        def hook(_m, _inp, out, name=name):
            if isinstance(out, torch.Tensor):
                shapes[name] = tuple(out.shape[1:])
        hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    except Exception:
        # A shape that does not fit is reported elsewhere (models.check_model); the tree
        # is still worth showing without output shapes.
        shapes.clear()
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return shapes


def build_tree(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> ModuleNode:
    shapes = output_shapes(model, input_shape) if input_shape else {}

    def node_for(name: str, local: str, module: nn.Module) -> ModuleNode:
        params = [
            ParamRow(f"{name}.{pname}" if name else pname, pname, tuple(p.shape), p.numel(), p.requires_grad)
            for pname, p in module.named_parameters(recurse=False)
        ]
        children = [
            node_for(f"{name}.{cname}" if name else cname, cname, child)
            for cname, child in module.named_children()
        ]
        node = ModuleNode(name, local, type(module).__name__, hyperparameters(module), shapes.get(name), params, children)
        node.total_params = sum(p.count for p in params) + sum(c.total_params for c in children)
        node.trainable_params = sum(p.count for p in params if p.trainable) + sum(c.trainable_params for c in children)
        return node

    return node_for("", type(model).__name__, model)


def module_types(tree: ModuleNode) -> list[str]:
    """The distinct module types below the root, for a type filter."""
    return sorted({n.type_name for n in tree.walk() if n is not tree})


def filter_by_type(tree: ModuleNode, type_name: str) -> list[ModuleNode]:
    """All modules of one type, in named_modules() order (the tutorial's "all conv layers")."""
    return [n for n in tree.walk() if n is not tree and n.type_name == type_name]


def search(tree: ModuleNode, text: str) -> list[ModuleNode]:
    """Modules whose name, type or a parameter name contains ``text`` (case-insensitive)."""
    text = text.lower()
    return [
        n for n in tree.walk()
        if n is not tree and (text in n.name.lower() or text in n.type_name.lower()
                              or any(text in p.name.lower() for p in n.params))
    ]


def first_children(model: nn.Module, count: int) -> nn.Sequential:
    """The tutorial's ``nn.Sequential(*list(model.children())[:2])``; shares the modules."""
    return nn.Sequential(*list(model.children())[:count])


def extract_by_type(model: nn.Module, cls: type[nn.Module] = nn.Conv2d) -> nn.Sequential:
    """All modules of a type as one Sequential, keyed by their full name with dots as '_'.

    The tutorial keys them by ``name.split('.')[1]``, which gives every conv layer of its
    MNIST CNN the same key '0', so each add_module overwrites the last and one layer is
    left. Full names are unique.
    """
    out = nn.Sequential()
    for name, module in model.named_modules():
        if isinstance(module, cls) and module is not model:
            out.add_module(name.replace(".", "_"), module)
    return out


INIT_SCHEMES = ("default", "kaiming-normal", "xavier-uniform", "normal-0.01")


def initialize(model: nn.Module, scheme: str = "default", seed: int | None = None) -> None:
    """Re-initialise weights of Conv/Linear layers (biases to zero except for 'default').

    ``default`` calls each layer's own reset_parameters(), i.e. PyTorch's initialisation;
    BatchNorm layers are always reset to weight 1, bias 0 and fresh running statistics.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown initialisation {scheme!r}: choose one of {', '.join(INIT_SCHEMES)}")
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()
            elif isinstance(module, (nn.Conv2d, nn.Linear)):
                if scheme == "default":
                    module.reset_parameters()
                    continue
                if scheme == "kaiming-normal":
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                elif scheme == "xavier-uniform":
                    nn.init.xavier_uniform_(module.weight)
                else:
                    nn.init.normal_(module.weight, 0.0, 0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


def format_summary(tree: ModuleNode, input_shape: tuple[int, ...] | None = None) -> str:
    """The text of ``cnn-gui summary``: the module tree, then the parameter table."""
    lines: list[str] = []
    title = tree.local_name + (f"  (input {'x'.join(map(str, input_shape))})" if input_shape else "")
    lines.append(title)

    def shape_text(shape):
        return "x".join(map(str, shape)) if shape else "-"

    def visit(node: ModuleNode, depth: int) -> None:
        for child in node.children:
            hp = ", ".join(f"{k}={v}" for k, v in child.hparams.items())
            label = f"{'  ' * depth}({child.local_name}) {child.type_name}"
            lines.append(f"{label:<34} out {shape_text(child.output_shape):<12} params {child.total_params:>10,}"
                         + (f"   {hp}" if hp else ""))
            visit(child, depth + 1)

    visit(tree, 1)
    lines.append("")
    rows = list(tree.all_params())
    width = max([len(r.name) for r in rows] + [9])
    lines.append(f"{'parameter':<{width}}  {'shape':<16} {'count':>10}  trainable")
    for r in rows:
        lines.append(f"{r.name:<{width}}  {str(list(r.shape)):<16} {r.count:>10,}  {'yes' if r.trainable else 'no'}")
    lines.append(f"{'total':<{width}}  {'':<16} {tree.total_params:>10,}")
    lines.append(f"{'trainable':<{width}}  {'':<16} {tree.trainable_params:>10,}")
    return "\n".join(lines)
