"""Gemm becomes MatMul plus an Elementwise epilogue (transposes of constants fold away).

    before:  Gemm(A, B, C; alpha, beta, transA, transB)
    after:   Elementwise(add(mul(MatMul(A', B'), alpha), mul(C, beta)))
"""
from __future__ import annotations

from ..ir import Graph
from ..ir.ops.elementwise import call, inp
from .fold_constants import try_fold


def run(graph: Graph) -> bool:
    changed = False
    for op in list(graph.ops):
        if op.type != "Gemm":
            continue
        at = op.attrs
        a, b = op.inputs[0], op.inputs[1]
        c = op.inputs[2] if len(op.inputs) > 2 else None
        pos = graph.ops.index(op)

        def add(type, ins, attrs=None):
            nonlocal pos
            new = graph.ops
            outs = graph.add_op(type, ins, attrs, name=op.name, index=pos)
            folded = try_fold(graph, new[pos])
            if folded is None:
                pos += 1
            return (folded or outs)[0]

        if at["transA"]:
            a = add("Transpose", [a], {"perm": [1, 0]})
        if at["transB"]:
            b = add("Transpose", [b], {"perm": [1, 0]})
        y = add("MatMul", [a, b])
        expr, ins = inp(0), [y]
        if at["alpha"] != 1.0:
            expr = call("mul", expr, at["alpha"])
        if c is not None and at["beta"] != 0.0:
            cexpr = inp(1) if at["beta"] == 1.0 else call("mul", inp(1), at["beta"])
            expr, ins = call("add", expr, cexpr), [y, c]
        if len(ins) > 1 or expr != inp(0):
            y = add("Elementwise", ins, {"expr": expr})
        graph.remove_op(op)
        graph.replace_uses(op.outputs[0], y)
        changed = True
    return changed
