"""Elementwise fusion: a pointwise op whose only consumer is another pointwise op of the same
shape is inlined into that consumer's expression, so a chain costs one pass over memory.

    before:  Elementwise(mul(in0, in1)) → Elementwise(add(in0, in1)) → Elementwise(max(in0, 0))
    after:   Elementwise(max(add(mul(in0, in1), in2), 0))

A producer whose result the consumer broadcasts is left alone (fusing would recompute it).
"""
from __future__ import annotations

from ..ir import Graph
from ..ir.ops.elementwise import substitute


def _merge(outer, inner, slot: int):
    """New (inputs, expr) of `outer` with `inner` inlined at outer's input `slot`."""
    inputs = []

    def index_of(t):
        for i, u in enumerate(inputs):
            if u is t:
                return i
        inputs.append(t)
        return len(inputs) - 1

    outer_map = {}
    for i, t in enumerate(outer.inputs):
        if i != slot:
            outer_map[i] = index_of(t)
    inner_map = {i: index_of(t) for i, t in enumerate(inner.inputs)}
    inner_expr = substitute(inner.attrs["expr"], lambda i: ["in", inner_map[i]])
    expr = substitute(outer.attrs["expr"], lambda i: inner_expr if i == slot else ["in", outer_map[i]])
    return inputs, expr


def run(graph: Graph) -> bool:
    changed = False
    while True:
        producers, consumers = graph.producers(), graph.consumers()
        outputs = {id(t) for t in graph.outputs}
        fused = False
        for op in graph.ops:
            if op.type != "Elementwise":
                continue
            for slot, t in enumerate(op.inputs):
                p = producers.get(id(t))
                if (p is None or p.type != "Elementwise" or id(t) in outputs or t.shape != op.outputs[0].shape
                        or len(consumers.get(id(t), [])) != 1 or sum(u is t for u in op.inputs) != 1):
                    continue
                op.inputs, op.attrs["expr"] = _merge(op, p, slot)
                graph.remove_op(p)
                fused = changed = True
                break
            if fused:
                break
        if not fused:
            return changed
