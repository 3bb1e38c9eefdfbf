"""Ops that order or scan along one axis: ArgReduce (argmax/argmin), CumSum (running sum or
product) and TopK. Each works on independent lines along `axis`; indices are int64."""
from __future__ import annotations

import numpy as np

from . import OpDef, register, check, norm_axis

ARG_KINDS = ("argmax", "argmin")
SCAN_KINDS = ("sum", "prod")


@register
class ArgReduce(OpDef):
    """Index of the largest (argmax) or smallest (argmin) element along `axis`; ties pick the first
    index, or the last with select_last_index."""
    type = "ArgReduce"
    attrs = {"kind": "argmax", "axis": 0, "keepdims": 1, "select_last_index": 0}

    def infer(self, op):
        (x,) = op.inputs
        check(op.attrs["kind"] in ARG_KINDS, f"kind must be one of {ARG_KINDS}")
        ax = norm_axis(op.attrs["axis"], len(x.shape))
        check(len(x.shape) >= 1 and x.shape[ax] > 0, f"cannot take {op.attrs['kind']} over an empty axis {ax}")
        if op.attrs["keepdims"]:
            shape = x.shape[:ax] + (1,) + x.shape[ax + 1:]
        else:
            shape = x.shape[:ax] + x.shape[ax + 1:]
        return [(shape, "int64")]

    def reference(self, op, inputs):
        (x,) = inputs
        ax = norm_axis(op.attrs["axis"], x.ndim)
        fn = np.argmax if op.attrs["kind"] == "argmax" else np.argmin
        if op.attrs["select_last_index"]:
            y = x.shape[ax] - 1 - fn(np.flip(x, axis=ax), axis=ax)
        else:
            y = fn(x, axis=ax)
        if op.attrs["keepdims"]:
            y = np.expand_dims(y, ax)
        return [np.asarray(y, dtype=np.int64)]


@register
class CumSum(OpDef):
    """Running sum (kind "sum") or product ("prod") along `axis`. exclusive: element i sees only the
    elements before it (the first output is 0, or 1 for prod); reverse: run from the end."""
    type = "CumSum"
    attrs = {"kind": "sum", "axis": 0, "exclusive": 0, "reverse": 0}

    def infer(self, op):
        (x,) = op.inputs
        check(op.attrs["kind"] in SCAN_KINDS, f"kind must be one of {SCAN_KINDS}")
        norm_axis(op.attrs["axis"], len(x.shape))
        return [(x.shape, x.dtype)]

    def reference(self, op, inputs):
        (x,) = inputs
        ax = norm_axis(op.attrs["axis"], x.ndim)
        a = x.astype(np.float64) if x.dtype.kind == "f" else x.astype(np.int64)
        if op.attrs["reverse"]:
            a = np.flip(a, axis=ax)
        fn, unit = (np.cumsum, 0) if op.attrs["kind"] == "sum" else (np.cumprod, 1)
        y = fn(a, axis=ax)
        if op.attrs["exclusive"]:
            first = np.full_like(np.take(y, [0], axis=ax), unit)
            y = np.concatenate([first, np.take(y, np.arange(x.shape[ax] - 1), axis=ax)], axis=ax)
        if op.attrs["reverse"]:
            y = np.flip(y, axis=ax)
        return [np.array(y).astype(x.dtype)]


@register
class TopK(OpDef):
    """The k largest (or smallest) elements along `axis` and their int64 indices, in order (largest
    first, or smallest first); equal values keep the lower index first. sorted=0 allows any order;
    this definition still returns them sorted."""
    type = "TopK"
    attrs = {"k": None, "axis": -1, "largest": 1, "sorted": 1}

    def infer(self, op):
        (x,) = op.inputs
        check(len(x.shape) >= 1, "TopK needs rank >= 1")
        ax = norm_axis(op.attrs["axis"], len(x.shape))
        k = op.attrs["k"]
        check(isinstance(k, (int, np.integer)) and 0 <= k <= x.shape[ax], f"k = {k} must be in [0, {x.shape[ax]}]")
        shape = x.shape[:ax] + (int(k),) + x.shape[ax + 1:]
        return [(shape, x.dtype), (shape, "int64")]

    def reference(self, op, inputs):
        (x,) = inputs
        ax = norm_axis(op.attrs["axis"], x.ndim)
        key = x.astype(np.float64)
        order = np.argsort(-key if op.attrs["largest"] else key, axis=ax, kind="stable")
        idx = np.take(order, np.arange(int(op.attrs["k"])), axis=ax)
        return [np.take_along_axis(x, idx, axis=ax), idx.astype(np.int64)]
