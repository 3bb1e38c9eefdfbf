"""Run any Graph with the ops' numpy references: the oracle every backend is compared with."""
from __future__ import annotations

import numpy as np

from .dtype import INT_DTYPES, np_dtype
from .symbolic import Expr, int_array, is_symbolic_array
from .graph import shape_fits
from .ops import get_op_def
from ..errors import ShapeError


def run_op(op, arrays):
    outs = [a if isinstance(a, np.ndarray) else np.asarray(a, dtype=object if isinstance(a, Expr) else None)
            for a in get_op_def(op.type).reference(op, arrays)]  # an element of a symbolic array is an Expr
    for t, a in zip(op.outputs, outs):
        if not shape_fits(t.shape, a.shape):
            raise ShapeError(f"{op}: reference produced {list(a.shape)} for {t.name!r}, inference said {list(t.shape)}")
    return [_cast(np.asarray(a), t.dtype) for t, a in zip(op.outputs, outs)]


def _cast(a: np.ndarray, dtype: str) -> np.ndarray:
    if a.dtype == object:  # a shape computation on symbolic sizes keeps its Exprs (ir/symbolic.py)
        if dtype != "bool" and is_symbolic_array(a):
            return int_array(a)  # whole-number sizes, also as a float tensor's value
    return a.astype(np_dtype(dtype), copy=False)


def run(graph, inputs: dict[str, np.ndarray], keep_all: bool = False) -> dict[str, np.ndarray]:
    """Evaluate `graph`; returns its outputs by name (every tensor when keep_all)."""
    values: dict[int, np.ndarray] = {}
    for t in graph.inputs:
        if t.name not in inputs:
            raise ShapeError(f"missing input {t.name!r}; expected {[i.name for i in graph.inputs]}")
        a = np.asarray(inputs[t.name])
        if not shape_fits(t.shape, a.shape):
            raise ShapeError(f"input {t.name!r} expects shape {list(t.shape)}, got {list(a.shape)}")
        values[id(t)] = a.astype(np_dtype(t.dtype), copy=False)
    named = {}
    for op in graph.ops:
        args = [None if t is None else (t.data if t.is_constant else values[id(t)]) for t in op.inputs]
        for t, a in zip(op.outputs, run_op(op, args)):
            values[id(t)] = a
            if keep_all:
                named[t.name] = a
    for t in graph.outputs:
        named[t.name] = t.data if t.is_constant else values[id(t)]
    return named
