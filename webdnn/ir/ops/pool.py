"""Pool: max / average pooling over any number of spatial dims, with pads, dilations, ceil_mode
and count_include_pad. Global pooling is a Reduce (the frontend lowers it)."""
from __future__ import annotations

import itertools

import numpy as np

from ..symbolic import Expr
from . import OpDef, register, check


def pool_out_size(n, k, s, d, pb, pe, ceil_mode):
    eff = (k - 1) * d + 1
    num = n + pb + pe - eff
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= n + pb:
        out -= 1  # the last window must start inside the input or its begin padding
    return out


@register
class Pool(OpDef):
    type = "Pool"
    attrs = {"kind": "max", "kernel_shape": None, "strides": None, "pads": None, "dilations": None,
             "ceil_mode": 0, "count_include_pad": 0}

    def _params(self, op, nd):
        k = list(op.attrs["kernel_shape"] or [])
        s = list(op.attrs["strides"] or [1] * nd)
        d = list(op.attrs["dilations"] or [1] * nd)
        p = list(op.attrs["pads"] or [0] * (2 * nd))
        check(len(k) == nd and len(s) == nd and len(d) == nd and len(p) == 2 * nd,
              f"kernel_shape/strides/dilations need {nd} entries, pads {2 * nd}")
        check(op.attrs["kind"] in ("max", "avg"), f"kind must be 'max' or 'avg', got {op.attrs['kind']!r}")
        return k, s, d, p

    def infer(self, op):
        (x,) = op.inputs
        nd = len(x.shape) - 2
        check(nd >= 1, "X must be [N,C,spatial...]")
        k, s, d, p = self._params(op, nd)
        out = [pool_out_size(x.shape[2 + i], k[i], s[i], d[i], p[i], p[i + nd], op.attrs["ceil_mode"]) for i in range(nd)]
        check(all(isinstance(o, Expr) or o >= 1 for o in out), f"output spatial size {out} is empty")
        return [((*x.shape[:2], *out), x.dtype)]

    def reference(self, op, inputs):
        (x,) = inputs
        (oshape, _), = self.infer(op)
        nd = x.ndim - 2
        k, s, d, p = self._params(op, nd)
        ins = x.shape[2:]
        # extend the end padding so that every (ceil_mode) window fits
        extra = [max(0, (oshape[2 + i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - (ins[i] + p[i] + p[i + nd])) for i in range(nd)]
        widths = [(0, 0), (0, 0)] + [(p[i], p[i + nd] + extra[i]) for i in range(nd)]
        inside = np.pad(np.ones(ins), widths[2:])
        if op.attrs["count_include_pad"]:
            counted = np.pad(np.ones([ins[i] + p[i] + p[i + nd] for i in range(nd)]), [(0, e) for e in extra])
        else:
            counted = inside
        is_max = op.attrs["kind"] == "max"
        xp = np.pad(x.astype(np.float64), widths, constant_values=-np.inf if is_max else 0.0)
        acc = np.full(oshape, -np.inf if is_max else 0.0)
        cnt = np.zeros(oshape[2:])
        for idx in itertools.product(*(range(kk) for kk in k)):
            sl = tuple(slice(idx[i] * d[i], idx[i] * d[i] + s[i] * (oshape[2 + i] - 1) + 1, s[i]) for i in range(nd))
            if is_max:
                acc = np.maximum(acc, xp[(slice(None), slice(None)) + sl])
            else:
                acc += xp[(slice(None), slice(None)) + sl]
                cnt += counted[sl]
        if not is_max:
            acc = acc / np.maximum(cnt, 1)
        return [acc.astype(x.dtype)]
