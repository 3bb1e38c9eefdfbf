"""BatchNormalization (inference form; folded or lowered by passes) and LRN."""
from __future__ import annotations

import numpy as np

from . import OpDef, register, check


@register
class BatchNormalization(OpDef):
    type = "BatchNormalization"
    attrs = {"epsilon": 1e-5}

    def infer(self, op):
        x, scale, bias, mean, var = op.inputs
        check(len(x.shape) >= 2, "X must be [N,C,...]")
        c = x.shape[1]
        for t in (scale, bias, mean, var):
            check(t.shape == (c,), f"scale/bias/mean/var must be [{c}], got {list(t.shape)}")
        return [(x.shape, x.dtype)]

    def reference(self, op, inputs):
        x, scale, bias, mean, var = (a.astype(np.float64) for a in inputs)
        sh = (1, -1) + (1,) * (x.ndim - 2)
        y = (x - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + op.attrs["epsilon"]) * scale.reshape(sh) + bias.reshape(sh)
        return [y.astype(inputs[0].dtype)]


@register
class LRN(OpDef):
    type = "LRN"
    attrs = {"size": None, "alpha": 1e-4, "beta": 0.75, "bias": 1.0}

    def infer(self, op):
        (x,) = op.inputs
        check(len(x.shape) >= 3, "X must be [N,C,spatial...]")
        check(isinstance(op.attrs["size"], int) and op.attrs["size"] >= 1, "size must be a positive int")
        return [(x.shape, x.dtype)]

    def reference(self, op, inputs):
        (x,) = inputs
        a = op.attrs
        c = x.shape[1]
        sq = np.square(x.astype(np.float64))
        lo, hi = (a["size"] - 1) // 2, -(-(a["size"] - 1) // 2)
        s = np.zeros_like(sq)
        for ch in range(c):
            s[:, ch] = sq[:, max(0, ch - lo):min(c, ch + hi + 1)].sum(axis=1)
        y = x / (a["bias"] + a["alpha"] / a["size"] * s) ** a["beta"]
        return [y.astype(x.dtype)]
