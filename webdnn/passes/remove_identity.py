"""Identity removal (Dropout arrives as Identity): consumers read the Identity's input directly.

    before:  conv → Identity → relu        after:  conv → relu

An Elementwise op that is its one input as it is (the expression `in 0`, same dtype and shape: what
simplify_elementwise leaves of a Cast to the type a tensor already has, e.g. the float32 Cast that starts
the ONNX function body of LayerNormalization) is an identity too: without this it costs a copy kernel.

An Identity that gives a graph output its own name from a constant, a graph input or another
output stays: it is how those outputs exist.
"""
from __future__ import annotations

from ..ir import Graph


def run(graph: Graph) -> bool:
    changed = False
    outputs = {id(t) for t in graph.outputs}
    inputs = {id(t) for t in graph.inputs}
    for op in list(graph.ops):
        if not (op.type == "Identity" or _is_pass_through(op)):
            continue
        (x,), (y,) = op.inputs, op.outputs
        if id(y) in outputs and (x.is_constant or id(x) in inputs or id(x) in outputs):
            continue
        graph.remove_op(op)
        graph.replace_uses(y, x)
        outputs = {id(t) for t in graph.outputs}
        changed = True
    return changed


def _is_pass_through(op) -> bool:
    """An Elementwise op that is its one input unchanged."""
    if op.type != "Elementwise" or len(op.inputs) != 1 or len(op.outputs) != 1 or op.inputs[0] is None:
        return False
    (x,), (y,) = op.inputs, op.outputs
    return list(op.attrs.get("expr", ())) == ["in", 0] and x.dtype == y.dtype and tuple(x.shape) == tuple(y.shape)
