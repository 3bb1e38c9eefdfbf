"""MatMul (batched, broadcast; both inputs rank >= 2) and Gemm (lowered to MatMul by a pass)."""
from __future__ import annotations

import numpy as np

from ..symbolic import broadcast_shapes
from . import OpDef, register, check


@register
class MatMul(OpDef):
    type = "MatMul"
    attrs = {}

    def infer(self, op):
        a, b = op.inputs
        check(len(a.shape) >= 2 and len(b.shape) >= 2, "both inputs must have rank >= 2 (the frontend reshapes 1-D)")
        check(a.shape[-1] == b.shape[-2], f"inner dims differ: {a.shape[-1]} vs {b.shape[-2]}")
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return [((*batch, a.shape[-2], b.shape[-1]), a.dtype)]

    def reference(self, op, inputs):
        a, b = inputs
        return [np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)]


@register
class Gemm(OpDef):
    type = "Gemm"
    attrs = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}

    def infer(self, op):
        a, b = op.inputs[0], op.inputs[1]
        c = op.inputs[2] if len(op.inputs) > 2 else None
        check(len(a.shape) == 2 and len(b.shape) == 2, "A and B must be 2-D")
        m, k = a.shape[::-1] if op.attrs["transA"] else a.shape
        k2, n = b.shape[::-1] if op.attrs["transB"] else b.shape
        check(k == k2, f"inner dims differ: {k} vs {k2}")
        if c is not None:
            broadcast_shapes(c.shape, (m, n))
            check(len(broadcast_shapes(c.shape, (m, n))) == 2 and broadcast_shapes(c.shape, (m, n)) == (m, n),
                  f"C {list(c.shape)} does not broadcast to [{m}, {n}]")
        return [((m, n), a.dtype)]

    def reference(self, op, inputs):
        a, b = inputs[0].astype(np.float64), inputs[1].astype(np.float64)
        c = inputs[2] if len(inputs) > 2 else None
        if op.attrs["transA"]:
            a = a.T
        if op.attrs["transB"]:
            b = b.T
        y = op.attrs["alpha"] * (a @ b)
        if c is not None:
            y = y + op.attrs["beta"] * c
        return [y.astype(inputs[0].dtype)]
