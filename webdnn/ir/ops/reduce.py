"""Reduce (sum, mean, max, min, prod, sumsquare, l1, l2, logsum, logsumexp) and Softmax."""
from __future__ import annotations

import numpy as np

from . import OpDef, register, check, norm_axis

def _lowest(x):
    return -np.inf if x.dtype.kind == "f" else False if x.dtype == np.bool_ else np.iinfo(x.dtype).min


def _highest(x):
    return np.inf if x.dtype.kind == "f" else True if x.dtype == np.bool_ else np.iinfo(x.dtype).max


# max / min start from the lowest / highest value, which is what they give over an empty set
REDUCERS = {
    "sum": lambda x, ax: np.sum(x, axis=ax),
    "mean": lambda x, ax: np.mean(x, axis=ax),
    "max": lambda x, ax: np.max(x, axis=ax, initial=_lowest(x)),
    "min": lambda x, ax: np.min(x, axis=ax, initial=_highest(x)),
    "prod": lambda x, ax: np.prod(x, axis=ax),
    "sumsquare": lambda x, ax: np.sum(np.square(x), axis=ax),
    "l1": lambda x, ax: np.sum(np.abs(x), axis=ax),
    "l2": lambda x, ax: np.sqrt(np.sum(np.square(x), axis=ax)),
    "logsum": lambda x, ax: np.log(np.sum(x, axis=ax)),
    "logsumexp": lambda x, ax: np.log(np.sum(np.exp(x - np.max(x, axis=ax, keepdims=True, initial=-np.inf)), axis=ax))
    + np.squeeze(np.max(x, axis=ax, keepdims=True, initial=-np.inf), axis=ax),
}


@register
class Reduce(OpDef):
    type = "Reduce"
    attrs = {"kind": "sum", "axes": None, "keepdims": 1}

    def axes(self, op, rank):
        axes = op.attrs["axes"]
        if axes is None:
            return tuple(range(rank))
        return tuple(sorted({norm_axis(a, rank) for a in axes}))

    def infer(self, op):
        (x,) = op.inputs
        check(op.attrs["kind"] in REDUCERS, f"kind must be one of {sorted(REDUCERS)}")
        axes = self.axes(op, len(x.shape))
        if op.attrs["keepdims"]:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [(shape, x.dtype)]

    def reference(self, op, inputs):
        (x,) = inputs
        (shape, dtype), = self.infer(op)
        axes = self.axes(op, x.ndim)
        xf = x.astype(np.float64) if x.dtype.kind == "f" else x
        with np.errstate(all="ignore"):
            y = REDUCERS[op.attrs["kind"]](xf, axes) if axes else xf
        return [np.asarray(y).reshape(shape).astype(x.dtype)]


@register
class Softmax(OpDef):
    type = "Softmax"
    attrs = {"axis": -1, "log": 0}

    def infer(self, op):
        (x,) = op.inputs
        norm_axis(op.attrs["axis"], len(x.shape))
        return [(x.shape, x.dtype)]

    def reference(self, op, inputs):
        (x,) = inputs
        ax = norm_axis(op.attrs["axis"], x.ndim)
        z = x.astype(np.float64) - np.max(x, axis=ax, keepdims=True)
        e = np.exp(z)
        s = np.sum(e, axis=ax, keepdims=True)
        y = z - np.log(s) if op.attrs["log"] else e / s
        return [y.astype(x.dtype)]
