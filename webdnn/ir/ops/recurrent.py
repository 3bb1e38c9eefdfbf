"""Recurrent: the recurrence of a simple RNN, an LSTM or a GRU over a whole sequence, its input
projections already computed (a MatMul over the sequence does that for every step at once).

    inputs   P [N, T, G·U]  each step's input projection, biases added (a GRU's recurrent bias apart)
             R [U, G·U]     the recurrent matrix, gates side by side
             rb [G·U]       a GRU's recurrent bias (it sits inside r · (h·R + rb)), else absent
             h0, c0 [N, U]  initial states, absent for zeros (c0: LSTM only)
    outputs  Y [N, T, U] every step's h; hT [N, U] the last step's (in the order of the run);
             cT [N, U] the last cell state (LSTM only)

Gates: RNN h; LSTM i, f, c, o; GRU z, r, h (linear_before_reset form). Standard activations only
(sigmoid for gates, tanh for candidates): the frontend unrolls the other variants into steps of
IR ops. `reverse` runs t = T-1 .. 0. Backends without a kernel for it unroll it too
(passes/unroll_recurrent.py)."""
from __future__ import annotations

import numpy as np

from . import OpDef, register, check

KINDS = {"RNN": 1, "LSTM": 4, "GRU": 3}


@register
class Recurrent(OpDef):
    type = "Recurrent"
    attrs = {"kind": "LSTM", "reverse": 0}

    def infer(self, op):
        p, r, rb, h0, c0 = (list(op.inputs) + [None] * 5)[:5]
        kind = op.attrs["kind"]
        check(kind in KINDS, f"kind must be one of {sorted(KINDS)}")
        check(p is not None and r is not None and len(p.shape) == 3 and len(r.shape) == 2, "needs P [N, T, G*U] and R [U, G*U]")
        g = KINDS[kind]
        n, t, gu = p.shape
        u = r.shape[0]
        check(r.shape[1] == g * u and gu == g * u, f"P {list(p.shape)} and R {list(r.shape)} do not fit {g} gates")
        check(rb is None or (kind == "GRU" and rb.shape == (g * u,)), "rb: a GRU's [G*U] recurrent bias")
        for s in (h0, c0):
            check(s is None or s.shape == (n, u), f"initial states must be [{n}, {u}]")
        check(c0 is None or kind == "LSTM", "c0 is an LSTM's")
        check(all(x is None or x.dtype == "float32" for x in (p, r, rb, h0, c0)), "float32 only")
        outs = [((n, t, u), "float32"), ((n, u), "float32")]
        if kind == "LSTM":
            outs.append(((n, u), "float32"))
        return outs

    def reference(self, op, inputs):
        p, r, rb, h0, c0 = (list(inputs) + [None] * 5)[:5]
        kind, u = op.attrs["kind"], r.shape[0]
        n, t_len, _ = p.shape
        sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
        p, r = p.astype(np.float64), r.astype(np.float64)
        h = np.zeros((n, u)) if h0 is None else h0.astype(np.float64)
        c = np.zeros((n, u)) if c0 is None else c0.astype(np.float64)
        y = np.zeros((n, t_len, u))
        for t in (range(t_len - 1, -1, -1) if op.attrs["reverse"] else range(t_len)):
            hr = h @ r
            if kind == "RNN":
                h = np.tanh(p[:, t] + hr)
            elif kind == "LSTM":
                z = p[:, t] + hr
                i, f, g, o = (z[:, k * u:(k + 1) * u] for k in range(4))
                c = sig(f) * c + sig(i) * np.tanh(g)
                h = sig(o) * np.tanh(c)
            else:
                if rb is not None:
                    hr = hr + rb
                x = p[:, t]
                zg = sig(x[:, :u] + hr[:, :u])
                rg = sig(x[:, u:2 * u] + hr[:, u:2 * u])
                cand = np.tanh(x[:, 2 * u:] + rg * hr[:, 2 * u:])
                h = (1 - zg) * cand + zg * h
            y[:, t] = h
        outs = [y.astype(np.float32), h.astype(np.float32)]
        if kind == "LSTM":
            outs.append(c.astype(np.float32))
        return outs
