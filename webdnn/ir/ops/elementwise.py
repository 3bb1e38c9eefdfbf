"""Elementwise: every pointwise op is one expression tree over broadcast inputs.

An expression is a nested list ``[primitive, arg, ...]`` (the same JSON the descriptor stores):
``["in", i]`` reads input i, ``["const", v]`` is a scalar, ``["cast", dtype, x]`` converts.
Relu is ``["max", ["in", 0], ["const", 0]]``; a fused conv epilogue is one tree.
"""
from __future__ import annotations

import math

import numpy as np

from ..symbolic import broadcast_shapes
from . import OpDef, register, check
from ..dtype import np_dtype, FLOAT_DTYPES, INT_DTYPES
from ..symbolic import int_array, is_symbolic_array
from ...errors import ShapeError


def _erf(x):
    # numpy has no erf; this is the reference, so exactness beats speed
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _idiv(a, b):
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def _shift_out(a, b):
    """A shift count outside [0, bit width) shifts every bit out (the count read as unsigned)."""
    b = np.asarray(b)
    return (b < 0) | (b >= np.asarray(a).dtype.itemsize * 8)


def _shl(a, b):
    out = _shift_out(a, b)
    return np.where(out, 0, np.left_shift(a, np.where(out, 0, b))).astype(np.result_type(a, b))


def _shr(a, b):  # arithmetic for signed types: what is shifted out leaves the sign
    out = _shift_out(a, b)
    return np.where(out, np.where(np.asarray(a) < 0, -1, 0), np.right_shift(a, np.where(out, 0, b))).astype(
        np.result_type(a, b))


def _asint(x):
    return np.asarray(x, dtype=np.float32).view(np.int32)


def _asfloat(x):
    return np.asarray(x, dtype=np.int32).view(np.float32)


# name -> (arity, numpy function, result kind). kind: "same" keeps the (promoted) dtype of the
# arguments, "bool" gives bool, "float" requires floats; "int32" / "float32": a bit reinterpretation
# of a float32 / int32 argument (its result has that dtype).
PRIMITIVES = {
    "neg": (1, np.negative, "same"),
    "abs": (1, np.abs, "same"),
    "exp": (1, np.exp, "float"),
    "log": (1, np.log, "float"),
    "sqrt": (1, np.sqrt, "float"),
    "reciprocal": (1, np.reciprocal, "float"),
    "floor": (1, np.floor, "same"),
    "ceil": (1, np.ceil, "same"),
    "round": (1, np.round, "same"),
    "tanh": (1, np.tanh, "float"),
    "erf": (1, _erf, "float"),
    "sin": (1, np.sin, "float"),
    "cos": (1, np.cos, "float"),
    "sign": (1, np.sign, "same"),
    "tan": (1, np.tan, "float"),
    "asin": (1, np.arcsin, "float"),
    "acos": (1, np.arccos, "float"),
    "atan": (1, np.arctan, "float"),
    "sinh": (1, np.sinh, "float"),
    "cosh": (1, np.cosh, "float"),
    "asinh": (1, np.arcsinh, "float"),
    "acosh": (1, np.arccosh, "float"),
    "atanh": (1, np.arctanh, "float"),
    "isinf": (1, np.isinf, "bool"),
    "bnot": (1, np.invert, "same"),
    "asint": (1, _asint, "int32"),
    "asfloat": (1, _asfloat, "float32"),
    "not": (1, np.logical_not, "bool"),
    "isnan": (1, np.isnan, "bool"),
    "add": (2, np.add, "same"),
    "sub": (2, np.subtract, "same"),
    "mul": (2, np.multiply, "same"),
    "div": (2, np.divide, "same"),
    "pow": (2, np.power, "same"),
    "max": (2, np.maximum, "same"),
    "min": (2, np.minimum, "same"),
    "idiv": (2, _idiv, "same"),
    "imod": (2, np.fmod, "same"),
    "shl": (2, _shl, "same"),
    "shr": (2, _shr, "same"),
    "band": (2, np.bitwise_and, "same"),
    "bor": (2, np.bitwise_or, "same"),
    "bxor": (2, np.bitwise_xor, "same"),
    "lt": (2, np.less, "bool"),
    "le": (2, np.less_equal, "bool"),
    "gt": (2, np.greater, "bool"),
    "ge": (2, np.greater_equal, "bool"),
    "eq": (2, np.equal, "bool"),
    "and": (2, np.logical_and, "bool"),
    "or": (2, np.logical_or, "bool"),
    "xor": (2, np.logical_xor, "bool"),
    "where": (3, None, "same"),
}


# ---- building expressions (used by frontends and passes) ----------------------------------
def inp(i: int) -> list:
    return ["in", int(i)]


def const(v) -> list:
    v = float(v)
    return ["const", int(v) if v.is_integer() and abs(v) < 2**53 else v]


def _wrap(a):
    return const(a) if isinstance(a, (int, float, np.number)) else a


def call(name: str, *args) -> list:
    if name != "cast":
        arity = PRIMITIVES[name][0]
        assert len(args) == arity, f"{name} takes {arity} args"
        return [name, *(_wrap(a) for a in args)]
    return ["cast", args[0], _wrap(args[1])]


def chain(name: str, n: int) -> list:
    """in0 name in1 name ... in(n-1): one binary primitive over n inputs (e.g. a sum)."""
    expr = inp(0)
    for i in range(1, n):
        expr = call(name, expr, inp(i))
    return expr


def substitute(expr, mapping) -> list:
    """Replace ["in", i] leaves by mapping(i) (an expression)."""
    if expr[0] == "in":
        return mapping(expr[1])
    if expr[0] == "const":
        return expr
    if expr[0] == "cast":
        return ["cast", expr[1], substitute(expr[2], mapping)]
    return [expr[0], *(substitute(a, mapping) for a in expr[1:])]


def expr_inputs(expr) -> set[int]:
    if expr[0] == "in":
        return {expr[1]}
    if expr[0] == "const":
        return set()
    args = expr[2:] if expr[0] == "cast" else expr[1:]
    return set().union(*(expr_inputs(a) for a in args))


def _promote(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None or a == b:
        return a
    if "float32" in (a, b) or ("float16" in (a, b)):
        return "float32" if "float32" in (a, b) else "float16"
    return np.promote_types(np_dtype(a), np_dtype(b)).name if "bool" not in (a, b) else (b if a == "bool" else a)


BITS_OF = {"int32": "float32", "float32": "int32"}  # a reinterpreting primitive's result -> its argument


def expr_dtype(expr, in_dtypes) -> str | None:
    """Result dtype of an expression; None for a constant-only subtree (it adopts its context)."""
    op = expr[0]
    if op == "in":
        return in_dtypes[expr[1]]
    if op == "const":
        return None
    if op == "cast":
        np_dtype(expr[1])
        expr_dtype(expr[2], in_dtypes)
        return expr[1]
    if op not in PRIMITIVES:
        raise ValueError(f"unknown expression primitive {op!r}")
    arity, _, kind = PRIMITIVES[op]
    check(len(expr) == arity + 1, f"{op} takes {arity} argument(s), got {len(expr) - 1}")
    args = [expr_dtype(a, in_dtypes) for a in expr[1:]]
    if kind == "bool":
        return "bool"
    if kind in BITS_OF:
        check(args[0] in (None, BITS_OF[kind]), f"{op} reinterprets {BITS_OF[kind]}, got {args[0]}")
        return kind
    if op == "where":
        args = args[1:]
    dt = None
    for a in args:
        dt = _promote(dt, a)
    if kind == "float" and dt is not None and dt not in FLOAT_DTYPES:
        raise ValueError(f"{op} needs a float argument, got {dt}")
    return dt


def evaluate(expr, inputs, dtype_hint="float32"):
    """Evaluate an expression with numpy, rounding every node to its own dtype."""
    op = expr[0]
    if op == "in":
        return inputs[expr[1]]
    if op == "const":
        return np.asarray(expr[1], dtype=np_dtype(dtype_hint))
    if op == "cast":
        x = evaluate(expr[2], inputs, dtype_hint)
        if expr[1] == "bool":
            return x != 0
        if np.issubdtype(np.asarray(x).dtype, np.floating) and expr[1] not in FLOAT_DTYPES:
            x = np.trunc(x)
        return np.asarray(x).astype(np_dtype(expr[1]))
    arity, fn, kind = PRIMITIVES[op]
    in_dtypes = [dtype_name(np.asarray(a)) for a in inputs]
    node_dt = expr_dtype(expr, in_dtypes) or dtype_hint
    arg_hint = BITS_OF.get(kind) or (node_dt if kind != "bool" else (
        _first_dtype(expr[1:], in_dtypes) or dtype_hint))
    if op == "where":
        c = evaluate(expr[1], inputs, "bool")
        a = evaluate(expr[2], inputs, node_dt)
        b = evaluate(expr[3], inputs, node_dt)
        return np.where(c != 0, a, b).astype(np_dtype(node_dt))
    args = [evaluate(a, inputs, arg_hint) for a in expr[1:]]
    with np.errstate(all="ignore"):
        res = fn(*args)
    return np.asarray(res).astype(np_dtype(node_dt), copy=False)


def _sym_cmp(f):
    return np.frompyfunc(f, 2, 1)


# integer primitives on sizes that may be symbolic (object arrays of ints and Exprs); sizes are
# never negative, so truncating and flooring division agree
SYMBOLIC = {
    "neg": np.frompyfunc(lambda a: -a, 1, 1),
    "add": _sym_cmp(lambda a, b: a + b),
    "sub": _sym_cmp(lambda a, b: a - b),
    "mul": _sym_cmp(lambda a, b: a * b),
    "div": _sym_cmp(lambda a, b: a // b),
    "idiv": _sym_cmp(lambda a, b: a // b),
    "imod": _sym_cmp(lambda a, b: a % b),
    "max": _sym_cmp(lambda a, b: a if a >= b else b),
    "min": _sym_cmp(lambda a, b: a if a <= b else b),
    "eq": _sym_cmp(lambda a, b: a == b),
    "lt": _sym_cmp(lambda a, b: a < b),
    "le": _sym_cmp(lambda a, b: a <= b),
    "gt": _sym_cmp(lambda a, b: a > b),
    "ge": _sym_cmp(lambda a, b: a >= b),
    "abs": np.frompyfunc(lambda a: a if a >= 0 else -a, 1, 1),
    "not": np.frompyfunc(lambda a: not a, 1, 1),
    "and": _sym_cmp(lambda a, b: bool(a) and bool(b)),
    "or": _sym_cmp(lambda a, b: bool(a) or bool(b)),
}


def _whole_value(v):
    if isinstance(v, (float, np.floating)):
        if not float(v).is_integer():
            raise ShapeError(f"a symbolic size meets the non-integer value {v}")
        return int(v)
    return v


def _whole(a):
    """An input of a shape computation as an object array of ints and Exprs (whole floats become ints)."""
    a = np.asarray(a, dtype=object)
    return np.asarray(np.frompyfunc(_whole_value, 1, 1)(a), dtype=object) if a.size else a


def _exact_div(a, b):
    q = a // b
    if q * b != a:
        raise ShapeError(f"{a} / {b} is not a whole number: a float division of sizes stays an op")
    return q


_EXACT_DIV = _sym_cmp(_exact_div)


def evaluate_symbolic(expr, inputs, floats=False):
    """evaluate() for integer expressions whose inputs hold symbolic sizes (ir/symbolic.py); with
    `floats` (a float tensor's whole-number sizes) a division must come out whole."""
    op = expr[0]
    if op == "in":
        return inputs[expr[1]]
    if op == "const":
        v = expr[1]
        if isinstance(v, float) and not v.is_integer():
            raise ShapeError(f"a symbolic size meets the non-integer constant {v}")
        return np.asarray(int(v), dtype=object)
    if op == "cast":
        x = evaluate_symbolic(expr[2], inputs, expr[1] in FLOAT_DTYPES)
        if expr[1] == "bool":
            return SYMBOLIC["not"](SYMBOLIC["eq"](x, 0))
        return x  # a size stays a whole number when cast to float (arange(w, dtype=float))
    if op == "where":
        c = evaluate_symbolic(expr[1], inputs, floats)
        return np.where(np.asarray(c, dtype=object).astype(bool), evaluate_symbolic(expr[2], inputs, floats), evaluate_symbolic(expr[3], inputs, floats))
    if op not in SYMBOLIC:
        raise ShapeError(f"'{op}' cannot compute on symbolic sizes (integer + - * // % min max and comparisons can)")
    fn = _EXACT_DIV if floats and op == "div" else SYMBOLIC[op]
    return fn(*(evaluate_symbolic(a, inputs, floats) for a in expr[1:]))


def dtype_name(a: np.ndarray) -> str:
    from ..dtype import dtype_of
    return dtype_of(a)


def _first_dtype(args, in_dtypes):
    for a in args:
        d = expr_dtype(a, in_dtypes)
        if d is not None:
            return d
    return None


@register
class Elementwise(OpDef):
    type = "Elementwise"
    attrs = {"expr": None}

    def infer(self, op):
        check(len(op.inputs) >= 1 and all(t is not None for t in op.inputs), "needs at least one input")
        expr = op.attrs["expr"]
        check(expr is not None, "attribute 'expr' is required")
        used = expr_inputs(expr)
        check(used <= set(range(len(op.inputs))), f"expression reads inputs {sorted(used)} but op has {len(op.inputs)}")
        dtype = expr_dtype(expr, [t.dtype for t in op.inputs]) or op.inputs[0].dtype
        shape = broadcast_shapes(*(t.shape for t in op.inputs))
        return [(shape, dtype)]

    def reference(self, op, inputs):
        (shape, dtype), = self.infer(op)
        if any(is_symbolic_array(a) for a in inputs):  # shape arithmetic on symbolic sizes
            res = evaluate_symbolic(op.attrs["expr"], [_whole(a) for a in inputs], dtype in FLOAT_DTYPES)
            res = np.broadcast_to(np.asarray(res, dtype=object), shape)
            if dtype in INT_DTYPES or (dtype in FLOAT_DTYPES and is_symbolic_array(res)):
                return [int_array(res)]  # whole numbers, symbolic: kept as sizes whatever the dtype
            return [np.array(res).astype(np_dtype(dtype))]
        res = evaluate(op.attrs["expr"], inputs, dtype)
        return [np.array(np.broadcast_to(res, shape).astype(np_dtype(dtype)))]
