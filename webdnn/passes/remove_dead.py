"""Dead-code removal: drop ops none of whose outputs reach a graph output.

    before:  x → a → y (output);  x → b → (unused)        after:  x → a → y
"""
from __future__ import annotations

from ..ir import Graph


def run(graph: Graph) -> bool:
    live = {id(t) for t in graph.outputs}
    keep = []
    for op in reversed(graph.ops):
        if any(id(t) in live for t in op.outputs):
            keep.append(op)
            live.update(id(t) for t in op.inputs if t is not None)
    changed = len(keep) != len(graph.ops)
    graph.ops = keep[::-1]
    return changed
