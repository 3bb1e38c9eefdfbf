"""Conv and ConvTranspose over any number of spatial dims (pads/auto_pad resolved by the frontend)."""
from __future__ import annotations

import itertools

import numpy as np

from ..symbolic import Expr
from . import OpDef, register, check


def conv_out_size(n, k, s, d, pb, pe):
    return (n + pb + pe - ((k - 1) * d + 1)) // s + 1


def _spatial_attrs(op, nd):
    s = list(op.attrs["strides"] or [1] * nd)
    d = list(op.attrs["dilations"] or [1] * nd)
    p = list(op.attrs["pads"] or [0] * (2 * nd))
    check(len(s) == nd and len(d) == nd and len(p) == 2 * nd,
          f"strides/dilations need {nd} entries and pads {2 * nd}")
    check(all(v >= 1 for v in s + d), "strides and dilations must be >= 1")
    return s, d, p


@register
class Conv(OpDef):
    type = "Conv"
    attrs = {"strides": None, "pads": None, "dilations": None, "group": 1}

    def infer(self, op):
        x, w = op.inputs[0], op.inputs[1]
        b = op.inputs[2] if len(op.inputs) > 2 else None
        nd = len(x.shape) - 2
        check(nd >= 1 and len(w.shape) == nd + 2, f"X must be [N,C,spatial...] and W [M,C/group,k...]")
        g = op.attrs["group"]
        check(x.shape[1] == w.shape[1] * g and w.shape[0] % g == 0,
              f"channels: X has {x.shape[1]}, W expects {w.shape[1]}×group {g}, M={w.shape[0]}")
        check(b is None or b.shape == (w.shape[0],), f"bias must be [{w.shape[0]}]")
        s, d, p = _spatial_attrs(op, nd)
        out = [conv_out_size(x.shape[2 + i], w.shape[2 + i], s[i], d[i], p[i], p[i + nd]) for i in range(nd)]
        check(all(isinstance(o, Expr) or o >= 1 for o in out), f"output spatial size {out} is empty")
        return [((x.shape[0], w.shape[0], *out), x.dtype)]

    def reference(self, op, inputs):
        x, w = inputs[0], inputs[1]
        b = inputs[2] if len(inputs) > 2 else None
        (oshape, _), = self.infer(op)
        nd = x.ndim - 2
        s, d, p = _spatial_attrs(op, nd)
        g = op.attrs["group"]
        n, c = x.shape[:2]
        m = w.shape[0]
        xp = np.pad(x, [(0, 0), (0, 0)] + [(p[i], p[i + nd]) for i in range(nd)])
        xg = xp.reshape(n, g, c // g, *xp.shape[2:])
        wg = w.reshape(g, m // g, c // g, *w.shape[2:])
        out = np.zeros((n, g, m // g, *oshape[2:]), dtype=np.float64)
        for idx in itertools.product(*(range(k) for k in w.shape[2:])):
            sl = tuple(slice(idx[i] * d[i], idx[i] * d[i] + s[i] * (oshape[2 + i] - 1) + 1, s[i]) for i in range(nd))
            patch = xg[(slice(None),) * 3 + sl]
            out += np.einsum("ngc...,gmc->ngm...", patch, wg[(slice(None),) * 3 + idx], optimize=True)
        out = out.reshape(oshape)
        if b is not None:
            out += b.reshape(1, -1, *([1] * nd))
        return [out.astype(x.dtype)]


@register
class ConvTranspose(OpDef):
    type = "ConvTranspose"
    attrs = {"strides": None, "pads": None, "dilations": None, "group": 1, "output_padding": None}

    def infer(self, op):
        x, w = op.inputs[0], op.inputs[1]
        b = op.inputs[2] if len(op.inputs) > 2 else None
        nd = len(x.shape) - 2
        check(nd >= 1 and len(w.shape) == nd + 2, "X must be [N,C,spatial...] and W [C,M/group,k...]")
        g = op.attrs["group"]
        check(x.shape[1] == w.shape[0] and w.shape[0] % g == 0, f"X has {x.shape[1]} channels, W {w.shape[0]}")
        m = w.shape[1] * g
        check(b is None or b.shape == (m,), f"bias must be [{m}]")
        s, d, p = _spatial_attrs(op, nd)
        opad = list(op.attrs["output_padding"] or [0] * nd)
        out = [s[i] * (x.shape[2 + i] - 1) + opad[i] + (w.shape[2 + i] - 1) * d[i] + 1 - p[i] - p[i + nd]
               for i in range(nd)]
        check(all(isinstance(o, Expr) or o >= 1 for o in out), f"output spatial size {out} is empty")
        return [((x.shape[0], m, *out), x.dtype)]

    def reference(self, op, inputs):
        x, w = inputs[0], inputs[1]
        b = inputs[2] if len(inputs) > 2 else None
        (oshape, _), = self.infer(op)
        nd = x.ndim - 2
        s, d, p = _spatial_attrs(op, nd)
        g = op.attrs["group"]
        n, c = x.shape[:2]
        mg = w.shape[1]
        ins = x.shape[2:]
        full = [s[i] * (ins[i] - 1) + (w.shape[2 + i] - 1) * d[i] + 1 for i in range(nd)]
        # room for output_padding / pads beyond the computed region (those positions stay 0)
        size = [max(full[i], p[i] + oshape[2 + i]) for i in range(nd)]
        buf = np.zeros((n, g, mg, *size), dtype=np.float64)
        xg = x.reshape(n, g, c // g, *ins)
        wg = w.reshape(g, c // g, mg, *w.shape[2:])
        for idx in itertools.product(*(range(k) for k in w.shape[2:])):
            sl = tuple(slice(idx[i] * d[i], idx[i] * d[i] + s[i] * (ins[i] - 1) + 1, s[i]) for i in range(nd))
            buf[(slice(None),) * 3 + sl] += np.einsum("ngc...,gcm->ngm...", xg, wg[(slice(None),) * 3 + idx], optimize=True)
        crop = tuple(slice(p[i], p[i] + oshape[2 + i]) for i in range(nd))
        out = buf[(slice(None),) * 3 + crop].reshape(oshape)
        if b is not None:
            out = out + b.reshape(1, -1, *([1] * nd))
        return [out.astype(x.dtype)]
