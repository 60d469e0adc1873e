"""What the structure panel writes about a tree: a row's details and the parameter totals."""

from __future__ import annotations

from html import escape

from cnn_gui.core.model.structure import HPARAM_HELP, ModuleNode, ParamRow, filter_by_type
from cnn_gui.gui.panels.structure.tree_model import frozen_text

DETAILS_HINT = ("Select a module to see its hyper-parameters and what each one means, "
                "and its kernels and feature maps. Untick a module to freeze it.")


def details_html(row: ModuleNode | ParamRow | None) -> str:
    """A module's hyper-parameters and their meaning (the tutorial's tables), or a parameter's facts."""
    if row is None:
        return DETAILS_HINT
    if isinstance(row, ParamRow):
        shape = " × ".join(map(str, row.shape)) or "scalar"
        state = "trainable" if row.trainable else "frozen (requires_grad=False)"
        return (f"<b>{escape(row.name)}</b><br>shape {shape} · {row.count:,} values · {state}")
    name = escape(row.name or row.local_name)
    out = "x".join(map(str, row.output_shape)) if row.output_shape else "–"
    frozen = frozen_text(row)
    state = (f" · <b>{escape(frozen)}</b>" if frozen
             else " · all trainable" if row.total_params else "")
    rows = "".join(
        f"<tr><td><code>{escape(k)}</code></td><td>{escape(v)}</td>"
        f"<td style='color:#555'>{escape(HPARAM_HELP.get(k, ''))}</td></tr>"
        for k, v in row.hparams.items())
    table = (f"<table cellspacing='0' cellpadding='2'>"
             f"<tr><th align='left'>parameter</th><th align='left'>value</th>"
             f"<th align='left'>meaning</th></tr>{rows}</table>") if rows else ""
    return (f"<b>{name}</b> · {escape(row.type_name)} · output {out} · "
            f"{row.total_params:,} parameters{state}{table}")


def outer_frozen(tree: ModuleNode) -> list[str]:
    """The outermost modules of ``tree`` whose parameters are all frozen ("" = the whole model)."""
    out: list[str] = []

    def visit(node: ModuleNode) -> None:
        if node.total_params and not node.trainable_params:
            out.append(node.name)
            return
        for child in node.children:
            visit(child)

    visit(tree)
    return out


def totals_text(tree: ModuleNode | None, type_name: str | None = None) -> str:
    """The totals line under the tree: parameters, what is frozen, and the type filter's share."""
    if tree is None:
        return "No model loaded"
    text = f"Parameters: {tree.total_params:,} total · {tree.trainable_params:,} trainable"
    frozen = outer_frozen(tree)
    if frozen:
        text += " · frozen: " + (", ".join(frozen) if frozen != [""] else "everything")
    if type_name:
        matches = filter_by_type(tree, type_name)
        names = [m.name for m in matches]
        # Count nested matches once (a Sequential inside a Sequential).
        outer = [m for m in matches if not any(m.name.startswith(o + ".") for o in names)]
        count = sum(m.total_params for m in outer)
        plural = "" if len(matches) == 1 else "s"
        text += f" · {len(matches)} {type_name} module{plural}, {count:,} parameters"
    return text
