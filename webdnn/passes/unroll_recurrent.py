"""Unroll Recurrent ops into steps of IR ops, for a backend without a recurrence kernel for them (webgpu's
takes layers whose state fits its workgroup memory).

    before:  P ─► Recurrent(R, h0, c0) ─► Y, hT, cT
    after:   per step t: Slice(P, t) ─► MatMul(h, R) + ─► gates (Elementwise) ─► h_t, c_t
             Concat(h_0 .. h_T-1) ─► Y;  Reshape(h_last) ─► hT;  Reshape(c_last) ─► cT

The step is the one the frontends unroll other cells with (frontend/recurrent.py). It returns a
copy of the graph (the ops list is new; tensors and constants are shared), so the graph other
backends lower keeps its Recurrent ops."""
from __future__ import annotations

import copy

from ..errors import ConversionError
from ..ir import Graph
from ..ir.graph import Op
from ..ir.ops.recurrent import KINDS
from ..ir.symbolic import Expr


class _Builder:
    """What frontend/recurrent.py's RecurrentStep asks of its context: op1()."""

    def __init__(self, graph: Graph, name: str):
        self.graph, self.name = graph, name

    def op1(self, type, inputs, attrs=None):
        return self.graph.add_op(type, inputs, attrs, name=self.name)[0]

    def constant(self, value):
        return self.graph.constant(value, name=f"{self.name}_c")


def _slice(b, t, start, end, axis):
    if t.is_constant:
        import numpy as np
        return b.constant(np.ascontiguousarray(np.take(t.data, range(start, end), axis=axis)))
    return b.op1("Slice", [t], {"starts": [start], "ends": [end], "axes": [axis]})


def _emit(graph: Graph, type, inputs, outputs, attrs, name):
    op = Op(type, graph._op_name(name), inputs, [], attrs)
    op.outputs = list(outputs)
    graph.ops.append(op)


def _unroll(g: Graph, op) -> None:
    from ..frontend.recurrent import RecurrentStep
    p, r, rb, h0, c0 = (list(op.inputs) + [None] * 5)[:5]
    kind = op.attrs["kind"]
    n, steps, _ = p.shape
    u = r.shape[0]
    if isinstance(steps, Expr):
        raise ConversionError(f"Recurrent {op.name!r}: unrolling needs a fixed sequence length, not {steps}")
    b = _Builder(g, op.name)
    if kind == "LSTM":
        R, rbs = r, None
    else:
        G = KINDS[kind]
        R = [_slice(b, r, k * u, (k + 1) * u, 1) for k in range(G)]
        rbs = [None if rb is None else _slice(b, rb, k * u, (k + 1) * u, 0) for k in range(G)]
    cell = RecurrentStep(b, kind, R, rbs, reset_after=True)
    as3 = lambda t: None if t is None else b.op1("Reshape", [t], {"shape": [n, 1, u]})  # noqa: E731
    h, c = as3(h0), as3(c0)
    outs = [None] * steps
    for t in (range(steps - 1, -1, -1) if op.attrs["reverse"] else range(steps)):
        x = b.op1("Slice", [p], {"starts": [t], "ends": [t + 1], "axes": [1]})
        if kind != "LSTM":
            x = [b.op1("Slice", [x], {"starts": [k * u], "ends": [(k + 1) * u], "axes": [2]}) for k in range(KINDS[kind])]
        outs[t], h, c = cell.step(x, h, c, None)
    y, h_out = op.outputs[0], op.outputs[1]
    _emit(g, "Concat" if steps > 1 else "Identity", outs, [y], {"axis": 1} if steps > 1 else {}, f"{op.name}_y")
    _emit(g, "Reshape", [h], [h_out], {"shape": [n, u]}, f"{op.name}_h")
    if kind == "LSTM":
        _emit(g, "Reshape", [c], [op.outputs[2]], {"shape": [n, u]}, f"{op.name}_c")


def unroll_recurrent(graph: Graph, keep=lambda op: False) -> Graph:
    """The graph itself when it has no Recurrent op to unroll, else a copy with each one unrolled
    (except those `keep(op)` leaves to the backend's own kernel)."""
    if not any(op.type == "Recurrent" and not keep(op) for op in graph.ops):
        return graph
    g = copy.copy(graph)
    g.ops = []
    for op in graph.ops:
        if op.type == "Recurrent" and keep(op):
            g.ops.append(op)
        elif op.type == "Recurrent" and op.inputs[0].shape[1] != 0:
            _unroll(g, op)
        elif op.type == "Recurrent":
            raise ConversionError(f"Recurrent {op.name!r}: an empty sequence")
        else:
            g.ops.append(op)
    return g
