"""Scalar constant inputs of an elementwise expression become literals, and a few identities with
a literal make cheaper code on every backend (no memory read per element, no division, no pow):

    before:  Elementwise(pow(sub(in0, in1), in2)), in2 = constant [2.0]
             Elementwise(mul(mul(in0, erf(div(in0, in1))), in2)), in1 = [1.41421], in2 = [0.5]
    after:   Elementwise(mul(sub(in0, in1), sub(in0, in1)))
             Elementwise(mul(mul(in0, erf(mul(in0, 0.70711))), 0.5))

A literal keeps the constant's dtype (a cast around it). An input is inlined only where the other
inputs still broadcast to the output's shape. x / c becomes x * (1/c) for float c whose reciprocal
is a normal float32 (within half an ulp of the quotient, inside every backend's tolerance).
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Graph
from ..ir.dtype import FLOAT_DTYPES
from ..ir.ops.elementwise import expr_dtype, substitute
from ..ir.symbolic import broadcast_shapes, is_symbolic_array

INLINE_DTYPES = (*FLOAT_DTYPES, "int32", "int64", "int8", "uint8")
SMALL = 5  # nodes a subtree may have to be written twice (pow(a, 2) -> a * a)


def _literal(node):
    """The value of a literal node (["const", v] or a cast of one), else None."""
    if node[0] == "cast" and node[2][0] == "const":
        node = node[2]
    if node[0] == "const":
        v = node[1]
        return float(v) if not isinstance(v, str) else None
    return None


def _size(expr) -> int:
    return 1 + sum(_size(a) for a in expr[1:] if isinstance(a, list))


def _rewrite(expr, in_dtypes):
    """Bottom-up identities on float nodes with a literal operand."""
    if expr[0] in ("in", "const"):
        return expr
    if expr[0] == "cast":
        return ["cast", expr[1], _rewrite(expr[2], in_dtypes)]
    expr = [expr[0], *(_rewrite(a, in_dtypes) for a in expr[1:])]
    if expr[0] not in ("pow", "div") or expr_dtype(expr, in_dtypes) not in FLOAT_DTYPES:
        return expr
    a, c = expr[1], _literal(expr[2])
    if c is None:
        return expr
    if expr[0] == "pow":
        if c == 1:
            return a
        if c == 0.5:
            return ["sqrt", a]
        if c == 2 and _size(a) <= SMALL:
            return ["mul", a, a]
        if c == 3 and _size(a) <= SMALL:
            return ["mul", ["mul", a, a], a]
        return expr
    r = np.float32(1.0) / np.float32(c) if c != 0 and math.isfinite(c) else np.float32(0)
    if r != 0 and math.isfinite(r) and abs(float(r)) >= np.finfo(np.float32).tiny:
        return ["mul", a, ["cast", "float32", ["const", float(r)]]] if expr_dtype(a, in_dtypes) == "float32" \
            else ["mul", a, ["const", float(r)]]
    return expr


def _simplify(op) -> bool:
    out = op.outputs[0]
    inline = {}
    for i, t in enumerate(op.inputs):
        if t.is_constant and t.size == 1 and t.dtype in INLINE_DTYPES and not is_symbolic_array(t.data):
            v = t.data.reshape(-1)[0].item()
            if isinstance(v, float) and not math.isfinite(v):
                continue
            inline[i] = ["cast", t.dtype, ["const", v]]
    keep = [i for i in range(len(op.inputs)) if i not in inline]
    if inline and (not keep or tuple(broadcast_shapes(*(op.inputs[i].shape for i in keep))) != tuple(out.shape)):
        inline = {}  # the constant sets the output's shape (or is all there is: constant folding's job)
    index = {i: n for n, i in enumerate(keep)}
    expr = substitute(op.attrs["expr"], lambda i: inline[i] if i in inline else ["in", index[i]])
    inputs = [op.inputs[i] for i in keep]
    expr = _rewrite(expr, [t.dtype for t in inputs])
    if expr == op.attrs["expr"] and len(inputs) == len(op.inputs):
        return False
    op.inputs, op.attrs["expr"] = inputs, expr
    return True


def run(graph: Graph) -> bool:
    changed = False
    for op in graph.ops:
        if op.type == "Elementwise" and _simplify(op):
            changed = True
    return changed
