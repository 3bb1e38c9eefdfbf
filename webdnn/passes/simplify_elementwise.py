"""Scalar constant inputs of an elementwise expression become literals, and a few identities with
a literal make cheaper code on every backend (no memory read per element, no division, no pow):

    before:  Elementwise(pow(sub(in0, in1), in2)), in2 = constant [2.0]
             Elementwise(mul(mul(in0, erf(div(in0, in1))), in2)), in1 = [1.41421], in2 = [0.5]
    after:   Elementwise(mul(sub(in0, in1), sub(in0, in1)))
             Elementwise(mul(mul(in0, erf(mul(in0, 0.70711))), 0.5))

A literal keeps the constant's dtype (a cast around it). An input is inlined only where the other
inputs still broadcast to the output's shape. x / c becomes x * (1/c) for float c whose reciprocal
is a normal float32 (within half an ulp of the quotient, inside every backend's tolerance).
A float value cast to an integer type and back is the value itself where it is provably a whole
number within that type (a QuantizeLinear / DequantizeLinear pair: cast(float32, cast(int8,
clamp(round(x / s) + zp, -128, 127)))), and an input cast to its own type is the input: the
expression keeps float operations only (the wasm backend vectorizes those).
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Graph
from ..ir.dtype import FLOAT_DTYPES, INT_RANGE
from ..ir.ops.elementwise import expr_dtype, substitute
from ..ir.symbolic import broadcast_shapes, is_symbolic_array

INLINE_DTYPES = (*FLOAT_DTYPES, "int32", "int64", "int8", "uint8")
SMALL = 5  # nodes a subtree may have to be written twice (pow(a, 2) -> a * a)


def literal_value(node):
    """The value of a literal node (["const", v] or a cast of one), else None."""
    if node[0] == "cast" and node[2][0] == "const":
        node = node[2]
    if node[0] == "const":
        v = node[1]
        return float(v) if not isinstance(v, str) else None
    return None


def _size(expr) -> int:
    return 1 + sum(_size(a) for a in expr[1:] if isinstance(a, list))


def whole_range(expr, in_dtypes):
    """(lo, hi) where every value of the float expression is provably a whole number in [lo, hi] (bounds
    may be infinite), else None: rounding functions, whole literals, float casts of integers, and sums,
    differences, minima and maxima of those."""
    op = expr[0]
    if op == "const" or (op == "cast" and expr[2][0] == "const"):
        v = literal_value(expr)
        return (v, v) if v is not None and math.isfinite(v) and v == int(v) else None
    if op in ("round", "floor", "ceil"):
        return (-math.inf, math.inf)
    if op == "cast":
        inner = expr_dtype(expr[2], in_dtypes)
        if expr[1] in FLOAT_DTYPES and inner in INT_RANGE:
            return INT_RANGE[inner]
        if expr[1] in FLOAT_DTYPES and inner in FLOAT_DTYPES:
            return whole_range(expr[2], in_dtypes)
        return None
    if op in ("add", "sub", "min", "max"):
        a, b = whole_range(expr[1], in_dtypes), whole_range(expr[2], in_dtypes)
        if a is None or b is None:
            return None
        if op == "add":
            return (a[0] + b[0], a[1] + b[1])
        if op == "sub":
            return (a[0] - b[1], a[1] - b[0])
        if op == "min":
            return (min(a[0], b[0]), min(a[1], b[1]))
        return (max(a[0], b[0]), max(a[1], b[1]))
    return None


def _rewrite(expr, in_dtypes):
    """Bottom-up identities on float nodes with a literal operand; a float value cast to an integer type
    and back that the integer type holds exactly (quantize-dequantize pairs) is the value itself."""
    if expr[0] in ("in", "const"):
        return expr
    if expr[0] == "cast":
        expr = ["cast", expr[1], _rewrite(expr[2], in_dtypes)]
        inner = expr[2]
        if inner[0] == "cast" and inner[1] == expr[1]:
            return inner  # cast(t, cast(t, x))
        if inner[0] == "in" and in_dtypes[inner[1]] == expr[1]:
            return inner  # an input cast to its own type (a cast of a computed float32 value stays: the js
            #               backend computes in double and rounds to float32 there)
        if (expr[1] == "float32" and inner[0] == "cast" and inner[1] in INT_RANGE
                and expr_dtype(inner[2], in_dtypes) in ("float32", None)):
            r = whole_range(inner[2], in_dtypes)
            lo, hi = INT_RANGE[inner[1]]
            if r is not None and lo <= r[0] and r[1] <= hi:
                v = literal_value(inner[2])
                return ["cast", "float32", ["const", v]] if v is not None else inner[2]
        return expr
    expr = [expr[0], *(_rewrite(a, in_dtypes) for a in expr[1:])]
    if expr[0] not in ("pow", "div") or expr_dtype(expr, in_dtypes) not in FLOAT_DTYPES:
        return expr
    a, c = expr[1], literal_value(expr[2])
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
