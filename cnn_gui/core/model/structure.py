"""A plain tree of a model's modules and parameters, as the tutorial walks them.

``named_children()`` gives the hierarchy, ``named_parameters()`` the parameter rows, a
forward pass with hooks the output shapes. The GUI's tree view and ``cnn-gui summary``
both read this tree; neither touches the model directly.

Also here: the tutorial's sub-model extraction ("the first two layers", "all conv
layers", "run the network up to here"), parameter initialisation, and freezing
(``requires_grad_(False)``) a module's parameters, with its BatchNorm statistics.
"""

from __future__ import annotations

import copy

from dataclasses import dataclass, field, replace
from typing import Iterator

import torch
from torch import nn

from cnn_gui.core.errors import one_line

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
    """Each module's output shape for one sample, from a forward pass of a zero input.

    The pass runs on a copy, in eval mode under no_grad: the model itself may be training
    on another thread (a run that sized its network to its data shows its tree while it
    trains), and neither its mode, its BatchNorm statistics nor its hooks may change under
    it. Modules that return non-tensors are skipped.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        with torch.no_grad():
            probe = copy.deepcopy(getattr(model, "_orig_mod", model))
        for name, module in probe.named_modules():
            def hook(_m, _inp, out, name=name):
                if isinstance(out, torch.Tensor):
                    shapes[name] = tuple(out.shape[1:])
            module.register_forward_hook(hook)
        device = next((p.device for p in probe.parameters()), torch.device("cpu"))
        probe.eval()
        with torch.no_grad():
            probe(torch.zeros(1, *input_shape, device=device))
    except Exception:
        # A shape that does not fit is reported elsewhere (models.check_model); the tree
        # is still worth showing without output shapes.
        shapes.clear()
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


def search(tree: ModuleNode, text: str = "", type_name: str | None = None) -> list[ModuleNode | ParamRow]:
    """The modules and parameters of ``tree`` that match, in tree order (each module, then
    its own parameters, then its children): the rows a tree view shows, with their ancestors
    around them for context.

    ``type_name`` ("Conv2d"; None or "" for all) keeps the modules of that type and their
    parameters. ``text`` (case-insensitive, surrounding spaces ignored) keeps a module whose
    full name, own name or type contains it (so the model itself by its class name), and a
    parameter whose module matches, whose full name contains it, or any parameter for a
    part of the word "parameter" (its type in the tree). Neither: every module and parameter.
    """
    text = text.strip().lower()
    out: list[ModuleNode | ParamRow] = []
    for node in tree.walk():
        if type_name and node.type_name != type_name:
            continue
        hit = text in node.name.lower() or text in node.local_name.lower() or text in node.type_name.lower()
        if hit:
            out.append(node)
        out.extend(p for p in node.params if hit or text in p.name.lower() or text in "parameter")
    return out


def first_children(model: nn.Module, count: int) -> nn.Sequential:
    """The tutorial's ``nn.Sequential(*list(model.children())[:2])``; shares the modules."""
    return nn.Sequential(*list(model.children())[:count])


def _first_leaf(module: nn.Module) -> nn.Module:
    """The first module without children in ``module`` (itself if it has none)."""
    for m in module.modules():
        if not any(True for _ in m.children()):
            return m
    return module


# Modules whose output is still a stack of 2-D maps: a Linear after them needs flattening.
_SPATIAL = (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
            nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)


def _up_to_children(model: nn.Module, name: str) -> tuple[list[nn.Module], int | None]:
    """(the children up to and including ``name``, where a Flatten goes or None)."""
    names = [n for n, _ in model.named_children()]
    if name not in names:
        if "." in name and name.split(".")[0] in names:
            raise ValueError(f"'run up to here' takes one of the model's direct children "
                             f"({', '.join(names)}); {name!r} is inside {name.split('.')[0]!r}")
        raise ValueError(f"{name!r} is not a direct child of the model ({', '.join(names) or 'none'})")
    children = list(model.children())[:names.index(name) + 1]
    maps = False
    for i, child in enumerate(children):
        if isinstance(_first_leaf(child), nn.Linear) and maps:
            return children, i
        if isinstance(child, nn.Flatten) or any(isinstance(m, nn.Flatten) for m in child.modules()):
            maps = False
        elif any(isinstance(m, _SPATIAL) for m in child.modules()):
            maps = True
    return children, None


def extract_up_to(model: nn.Module, name: str) -> nn.Sequential:
    """The network up to and including its direct child ``name``: the tutorial's
    ``nn.Sequential(*list(model.children())[:k])``; shares the modules (and weights).

    A model's ``forward`` flattens the maps before its first ``Linear`` (the tutorial's
    ``x.view(x.size(0), -1)``), which ``children()`` does not list: as the tutorial
    notes, the bare Sequential fails there. So an ``nn.Flatten()`` goes in before a child
    that begins with a ``Linear`` when an earlier child still outputs maps (a conv or
    pooling layer, and no Flatten since); with it, up to the last child is the whole
    network. Anything else a ``forward`` does between its children is not reproduced.
    """
    children, flat_at = _up_to_children(model, name)
    if flat_at is not None:
        children = children[:flat_at] + [nn.Flatten()] + children[flat_at:]
    return nn.Sequential(*children)


def up_to_expression(model: nn.Module, name: str) -> str:
    """The Python that :func:`extract_up_to` evaluates, for the code view."""
    children, flat_at = _up_to_children(model, name)
    k = len(children)
    if flat_at is None:
        return f"nn.Sequential(*list(model.children())[:{k}])"
    return (f"nn.Sequential(*list(model.children())[:{flat_at}], nn.Flatten(), "
            f"*list(model.children())[{flat_at}:{k}])")


def run_extracted(part: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``part(x)`` in inference mode, on ``part`` as it is (a frozen eval-mode copy in the app).

    Raises ValueError with one line when the part cannot read ``x`` (the tutorial's
    caveat: an extraction is not always a network that runs).
    """
    try:
        with torch.inference_mode():
            out = part(x)
    except Exception as exc:  # a user's module can raise anything: say what, in one line
        raise ValueError(one_line(f"this extraction cannot run on a {'x'.join(map(str, x.shape[1:]))} input: "
                                  f"{type(exc).__name__}: {exc}", 280)) from None
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"this extraction returns a {type(out).__name__}, not a tensor")
    return out.detach()


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


# ------------------------------------------------------------------ freezing


@dataclass(frozen=True)
class TrainableSummary:
    total: int  # parameter values
    trainable: int
    frozen_params: tuple[str, ...]  # named_parameters() names with requires_grad False
    frozen_modules: tuple[str, ...]  # the outermost modules whose parameters are all frozen

    @property
    def frozen(self) -> int:
        return self.total - self.trainable

    @property
    def text(self) -> str:
        if not self.frozen_params:
            return f"{self.trainable:,} of {self.total:,} parameters trainable"
        return (f"{self.trainable:,} of {self.total:,} parameters trainable; frozen: "
                f"{', '.join(self.frozen_modules) if self.frozen_modules else ', '.join(self.frozen_params)}")


def _module(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise ValueError(f"no module named {name!r} in this model") from None


def set_trainable(model: nn.Module, module_name: str, trainable: bool) -> int:
    """Freeze (``trainable=False``) or unfreeze all parameters of the module ``module_name``
    ("" is the whole model); returns how many parameter values it covers.

    Freezing also drops their gradients: an optimizer skips a parameter whose ``grad`` is
    None, but would still step one with a stale gradient left from an earlier run. A
    frozen module's BatchNorm statistics still move in train mode: the trainer calls
    :func:`freeze_batchnorm_stats` after ``model.train()``.
    """
    count = 0
    for p in _module(model, module_name).parameters():
        p.requires_grad_(trainable)
        if not trainable:
            p.grad = None
        count += p.numel()
    return count


def trainable_summary(model: nn.Module) -> TrainableSummary:
    params = list(model.named_parameters())
    frozen = {n for n, p in params if not p.requires_grad}
    outer: list[str] = []
    for name, module in model.named_modules():
        own = [n for n, _ in module.named_parameters(prefix=name)]
        if (name and own and all(n in frozen for n in own)
                and not any(name.startswith(o + ".") for o in outer)):
            outer.append(name)
    if params and len(frozen) == len(params):
        outer = [""]  # the whole model
    return TrainableSummary(
        total=sum(p.numel() for _, p in params),
        trainable=sum(p.numel() for _, p in params if p.requires_grad),
        frozen_params=tuple(n for n, _ in params if n in frozen),
        frozen_modules=tuple(outer))


def freeze_batchnorm_stats(model: nn.Module) -> list[str]:
    """Put the BatchNorm layers of frozen modules in eval mode; their names.

    In train mode BatchNorm normalises with the batch's statistics and updates its
    running mean and variance even when its weight and bias are frozen. Call this after
    every ``model.train()``: a frozen module's BatchNorm then uses and keeps its running
    statistics, and the module's output depends on its frozen state only. A BatchNorm
    counts as frozen when all the parameters of the smallest module around it that has
    any (its own affine weight and bias, else its block's) are frozen; one with no
    parameters around it at all is left alone.
    """
    modules = dict(model.named_modules())
    names = []
    for name, module in modules.items():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm):
            continue
        path = name
        while True:
            params = list(modules[path].parameters())
            if params:
                if not any(p.requires_grad for p in params):
                    module.eval()
                    names.append(name)
                break
            if not path:
                break
            path = path.rpartition(".")[0]
    return names


def frozen_names(model: nn.Module) -> list[str]:
    """The names of ``model``'s frozen parameters, as a checkpoint records them."""
    return [n for n, p in model.named_parameters() if not p.requires_grad]


def apply_frozen(model: nn.Module, names) -> None:
    """Freeze exactly the parameters ``names`` (a checkpoint's ``frozen`` list) and no others.

    A name the model does not have was checked away with the weights' names already; it is
    ignored here rather than failing a file that opened.
    """
    frozen = set(names)
    for n, p in model.named_parameters():
        p.requires_grad_(n not in frozen)
        if n in frozen:
            p.grad = None


def copy_trainable(source: nn.Module, target: nn.Module) -> None:
    """Give ``target`` the frozen/trainable state of ``source``'s parameters of the same
    name (a fresh copy of the same network keeps the user's choice)."""
    flags = {n: p.requires_grad for n, p in source.named_parameters()}
    for n, p in target.named_parameters():
        if n in flags:
            p.requires_grad_(flags[n])


def seeded_like(factory, seed: int, like: nn.Module) -> nn.Module:
    """New weights from ``factory`` drawn from ``seed`` (the CPU's random state forked: the
    caller's stays as it was), with ``like``'s frozen modules frozen: what a run of new
    weights starts from (Session.plan_run, RunPlan.for_data, the finder's trial_plan)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        model = factory()
    copy_trainable(like, model)
    return model


def refresh_trainable(tree: ModuleNode, model: nn.Module) -> None:
    """Update ``tree``'s trainable flags and counts in place from ``model``'s parameters
    (after :func:`set_trainable`), without a new forward pass for the output shapes."""
    flags = {n: p.requires_grad for n, p in model.named_parameters()}

    def visit(node: ModuleNode) -> int:
        node.params = [replace(p, trainable=flags.get(p.name, p.trainable)) for p in node.params]
        node.trainable_params = (sum(p.count for p in node.params if p.trainable)
                                 + sum(visit(c) for c in node.children))
        return node.trainable_params

    visit(tree)


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
