"""Identity removal (Dropout arrives as Identity): consumers read the Identity's input directly.

    before:  conv → Identity → relu        after:  conv → relu

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
        if op.type != "Identity":
            continue
        (x,), (y,) = op.inputs, op.outputs
        if id(y) in outputs and (x.is_constant or id(x) in inputs or id(x) in outputs):
            continue
        graph.remove_op(op)
        graph.replace_uses(y, x)
        outputs = {id(t) for t in graph.outputs}
        changed = True
    return changed
