"""Constant folding: an op whose inputs are all constants (or a Shape of a static tensor)
becomes constants computed by the op's numpy reference.

    before:  Shape(x) → Gather(·, 0) → Concat(·, [-1]) → Reshape(y, ·)
    after:   Reshape(y) with a constant shape

The frontend calls try_fold() on every op it adds; this pass catches what later rewrites expose.
"""
from __future__ import annotations

from ..ir import Graph
from ..errors import ShapeError
from ..ir.reference import run_op
from ..ir.symbolic import is_symbolic_array

# Folding a constant bigger than this would bloat the weights (e.g. Expand of a scalar); those stay ops.
MAX_FOLDED_ELEMENTS = 1 << 27


def foldable(op) -> bool:
    d = op.definition
    if d.folds_without_data:
        return True
    if not all(t is None or t.is_constant for t in op.inputs):
        return False
    # an output of symbolic size is computed at run time (the backend binds its size)
    return all(t.is_dynamic or (not t.is_symbolic and t.size <= MAX_FOLDED_ELEMENTS) for t in op.outputs)


def try_fold(graph: Graph, op):
    """Fold `op` in place: its output tensors become constants and the op is removed."""
    if not foldable(op):
        return None
    args = [None if t is None else t.data for t in op.inputs]
    if op.definition.folds_without_data:
        args = [None] * len(op.inputs)
    try:
        values = run_op(op, args)
    except (ShapeError, TypeError):
        if any(is_symbolic_array(a) for a in args):
            return None  # a size used as data (cast to float, ...): the op runs, the backend binds its input
        raise
    for t, v in zip(op.outputs, values):
        t.data = v
        t.shape = tuple(v.shape)  # a data-dependent dim is now known
    graph.remove_op(op)
    return op.outputs


def run(graph: Graph) -> bool:
    changed = False
    outputs = {id(t) for t in graph.outputs}
    for op in list(graph.ops):
        if op.type == "Identity" and id(op.outputs[0]) in outputs:
            continue  # how a constant graph output keeps its name; folding it would loop
        if try_fold(graph, op) is not None:
            changed = True
    if changed:
        # a graph output that became a constant keeps its name through an Identity
        outs = []
        for t in graph.outputs:
            if t.is_constant:
                name = t.name
                t.name = graph.unique_name(f"{name}_value")
                (t,) = graph._identity_for_output(t, name)
            outs.append(t)
        graph.outputs = outs
    return changed
