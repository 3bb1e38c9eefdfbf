"""One step of a recurrent cell (simple RNN, LSTM, GRU) as IR ops, shared by the Keras layers and
the ONNX RNN / LSTM / GRU operators, which both unroll over the static sequence length.

The caller projects every step's input once (a MatMul over the whole sequence, input bias included)
and hands the step its slice; the step adds h·R and applies the gates in one Elementwise expression
per new state. An LSTM takes its four gates together: one matrix R [U, 4U] (gates i, f, c, o side by
side), one MatMul h·R per step with the step's input projection [N, 1, 4U] added where it stores, then
a slice per gate: one product per step instead of four (on threads, one join per step). Simple RNN
and GRU (whose reset gate sits between h·R and the candidate) take per-gate matrices and slices.
Tensors are [N, 1, U]; a state of None is all zeros (no initial state). A mask m ([N, 1, 1] bool)
holds the state through masked steps."""
from __future__ import annotations

from typing import Callable

from ..ir.activations import ACTIVATIONS
from ..ir.ops.elementwise import call, inp

Act = Callable[[object], object]


def sigmoid(x):
    return ACTIVATIONS["Sigmoid"].expr(x)


def tanh(x):
    return ACTIVATIONS["Tanh"].expr(x)


class Expr:
    """Collects an Elementwise op's inputs while its expression is built."""

    def __init__(self):
        self.ins = []

    def __call__(self, t):
        if t is None:
            return None
        for i, u in enumerate(self.ins):
            if u is t:
                return inp(i)
        self.ins.append(t)
        return inp(len(self.ins) - 1)


def plus(*terms):
    terms = [t for t in terms if t is not None]
    if not terms:
        return ["const", 0]
    e = terms[0]
    for t in terms[1:]:
        e = call("add", e, t)
    return e


class RecurrentStep:
    """kind: "RNN" (one gate), "LSTM" (gates i, f, c, o) or "GRU" (gates z, r, h).

    R: per gate the recurrent matrix [U, U]; for an LSTM one matrix [U, 4U], the gates i, f, c, o side
    by side (its step() takes one input projection [N, 1, 4U]). rb: per gate a recurrent bias [U] or
    None, read by RNN and GRU (GRU keeps it apart from the input bias: with reset_after it sits inside r * (h·R + rb)). gate: the gate
    activation (sigmoid), cand: the candidate's (tanh), out: the LSTM output's (default cand).
    clip bounds every gate's pre-activation; peep = (P_i, P_o, P_f) adds LSTM peepholes;
    input_forget couples f = 1 - i."""

    def __init__(self, c, kind: str, R: list, rb: list | None = None, gate: Act = sigmoid, cand: Act = tanh,
                 out: Act | None = None, reset_after: bool = False, clip: float | None = None, peep=None,
                 input_forget: bool = False):
        self.c, self.kind, self.R = c, kind, R
        self.rb = rb or [None] * 3
        self.gate, self.cand, self.out = gate, cand, out or cand
        self.reset_after, self.clip, self.peep, self.input_forget = reset_after, clip, peep, input_forget

    def _pre(self, e):
        return e if self.clip is None else call("max", -self.clip, call("min", self.clip, e))

    def ew(self, e: Expr, expr):
        return self.c.op1("Elementwise", e.ins, {"expr": expr})

    def step(self, xs, h, cst, m):
        """One step from the gate inputs xs ([N,1,U] each; an LSTM's as one [N,1,4U]); returns (output, h, c)."""
        c, kind, pre = self.c, self.kind, self._pre
        if kind == "LSTM":
            U = self.R.shape[0]
            if h is not None:
                e = Expr()
                xs = self.ew(e, call("add", e(c.op1("MatMul", [h, self.R])), e(xs)))
            xs = [c.op1("Slice", [xs], {"starts": [g * U], "ends": [(g + 1) * U], "axes": [2]}) for g in range(4)]
            hr = [None] * 4
        else:
            hr = [None if h is None else c.op1("MatMul", [h, R]) for R in self.R]
        hold = (lambda e, new, prev: new if m is None else call("where", e(m), new, plus(e(prev))))
        if kind == "RNN":
            e = Expr()
            h_new = self.ew(e, hold(e, self.cand(pre(plus(e(xs[0]), e(hr[0]), e(self.rb[0])))), h))
            return h_new, h_new, None
        if kind == "LSTM":
            p_i, p_o, p_f = self.peep or (None, None, None)
            e = Expr()
            peep = (lambda p: None if p is None or cst is None else call("mul", e(p), e(cst)))
            i = self.gate(pre(plus(e(xs[0]), e(hr[0]), peep(p_i))))
            f = call("sub", 1, i) if self.input_forget else self.gate(pre(plus(e(xs[1]), e(hr[1]), peep(p_f))))
            g = self.cand(pre(plus(e(xs[2]), e(hr[2]))))
            c_new = call("mul", i, g) if cst is None else call("add", call("mul", f, e(cst)), call("mul", i, g))
            c_t = self.ew(e, hold(e, c_new, cst))
            e = Expr()
            o = self.gate(pre(plus(e(xs[3]), e(hr[3]), None if p_o is None else call("mul", e(p_o), e(c_t)))))
            h_t = self.ew(e, hold(e, call("mul", o, self.out(e(c_t))), h))
            return h_t, h_t, c_t
        # GRU
        e = Expr()
        z = self.gate(pre(plus(e(xs[0]), e(hr[0]), e(self.rb[0]))))
        r = self.gate(pre(plus(e(xs[1]), e(hr[1]), e(self.rb[1]))))
        if self.reset_after:
            hh = self.cand(pre(plus(e(xs[2]), call("mul", r, plus(e(hr[2]), e(self.rb[2]))))))
        else:
            if h is None:
                rh = None
            else:
                er = Expr()
                r_t = self.ew(er, self.gate(pre(plus(er(xs[1]), er(hr[1]), er(self.rb[1])))))
                er = Expr()
                rh = c.op1("MatMul", [self.ew(er, call("mul", er(r_t), er(h))), self.R[2]])
            hh = self.cand(pre(plus(e(xs[2]), e(rh), e(self.rb[2]))))
        keep = call("mul", call("sub", 1, z), hh)
        h_new = keep if h is None else call("add", call("mul", z, e(h)), keep)
        h_t = self.ew(e, hold(e, h_new, h))
        return h_t, h_t, None
