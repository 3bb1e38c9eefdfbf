"""Keras recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional) unrolled over the static sequence
length: one MatMul per gate (an LSTM's four gates in one) projects every step's input at once; each
step (frontend/recurrent.py, shared with the ONNX operators) then adds its slice to h·R in one
Elementwise expression. Steps keep the shape [N, 1, units], so the sequence output is one Concat. A
mask (Embedding(mask_zero=True), Masking) holds the state through masked steps, as Keras does."""
from __future__ import annotations

from ..ir.ops.elementwise import call, inp
from .keras_context import Value, activation_expr
from .recurrent import RecurrentStep

GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def _act(c, act):
    return lambda e: activation_expr(c, act, e)


class _Cell(RecurrentStep):
    """A Keras cell's weights, split per gate, on the shared step."""

    def __init__(self, c, cls, cfg, weights, n_features):
        if cfg.get("time_major"):
            c.fail("time_major=True is not supported")
        self.U = U = int(cfg["units"])
        G = GATES[cls]
        kernel, rec = weights[0], weights[1]
        if kernel.shape != (n_features, G * U) or rec.shape != (U, G * U):
            c.fail(f"weights {[list(w.shape) for w in weights]} do not fit {cls}(units={U}) on {n_features} features")
        bias = weights[2] if cfg.get("use_bias", True) and len(weights) > 2 else None
        in_b = rec_b = None
        if bias is not None:
            in_b, rec_b = (bias[0], bias[1]) if bias.ndim == 2 else (bias, None)
        tag = id(weights[0])  # a Bidirectional's two directions share the layer's cache
        if cls == "LSTM":  # the four gates together (i, f, c, o side by side, as Keras stores them)
            self.W = [c.param(("kernel", tag), lambda: kernel)]
            R = c.param(("recurrent", tag), lambda: rec)
            self.b = [None if in_b is None else c.param(("bias", tag), lambda: in_b)]
        else:
            self.W = [c.param(("kernel", tag, g), lambda g=g: kernel[:, g * U:(g + 1) * U]) for g in range(G)]
            R = [c.param(("recurrent", tag, g), lambda g=g: rec[:, g * U:(g + 1) * U]) for g in range(G)]
            self.b = [None if in_b is None else c.param(("bias", tag, g), lambda g=g: in_b[g * U:(g + 1) * U])
                      for g in range(G)]
        rb = None if cls == "LSTM" else [
            None if rec_b is None else c.param(("rbias", tag, g), lambda g=g: rec_b[g * U:(g + 1) * U]) for g in range(G)]
        super().__init__(c, "RNN" if cls == "SimpleRNN" else cls, R, rb,
                         gate=_act(c, cfg.get("recurrent_activation", "sigmoid")), cand=_act(c, cfg.get("activation", "tanh")),
                         reset_after=bool(cfg.get("reset_after", c.keras_major >= 3)) if cls == "GRU" else False)


class RnnResult:
    """A recurrent layer's outputs: the sequence in time order or in the order the layer ran it
    (reversed for go_backwards), the last output [N, 1, U] and the final states [N, 1, U]."""

    def __init__(self, c, backwards, last, states, steps=None, seq=None):
        self.c, self.backwards, self.last, self.states = c, backwards, last, states
        self._steps, self._seq = steps, seq  # per-step outputs in processing order, or Y [N, T, U] in time order

    def _cat(self, parts):
        return self.c.op1("Concat", parts, {"axis": 1}) if len(parts) > 1 else parts[0]

    def in_time(self):
        if self._seq is not None:
            return self._seq
        return self._cat(self._steps[::-1] if self.backwards else self._steps)

    def processing(self):
        if self._seq is not None:
            if not self.backwards:
                return self._seq
            n = self._seq.shape[1]
            return self.c.op1("Slice", [self._seq], {"starts": [n - 1], "ends": [-n - 1], "axes": [1], "steps": [-1]})
        return self._cat(self._steps)


def _standard(c, cls, cfg) -> bool:
    """The cell a Recurrent op runs: tanh candidate, sigmoid gates, a GRU's reset after h·R."""
    act, ract = cfg.get("activation", "tanh"), cfg.get("recurrent_activation", "sigmoid")
    return act == "tanh" and (cls == "SimpleRNN" or ract == "sigmoid") and \
        (cls != "GRU" or bool(cfg.get("reset_after", c.keras_major >= 3)))


def run_rnn(c, cls, cfg, weights, v: Value, initial=(), go_backwards=False) -> RnnResult:
    """The layer over the whole sequence: one Recurrent op for the standard cells without a mask,
    else unrolled steps."""
    x = c.logical(v)
    if len(x.shape) != 3:
        c.fail(f"expects a [batch, steps, features] input, got {list(x.shape)}")
    n, steps, feat = x.shape
    cell = _Cell(c, cls, cfg, weights, feat)
    U = cell.U
    if v.mask is None and _standard(c, cls, cfg) and steps:
        return _fused(c, cls, weights, x, cell, initial, go_backwards)
    proj = []
    for g in range(len(cell.W)):
        t = c.op1("MatMul", [x, cell.W[g]])
        if cell.b[g] is not None:
            t = c.op1("Elementwise", [t, cell.b[g]], {"expr": call("add", inp(0), inp(1))})
        proj.append(t)
    mask = None
    if v.mask is not None:
        mask = c.op1("Reshape", [v.mask], {"shape": [n, steps, 1]})
    states = [c.op1("Reshape", [c.logical(s)], {"shape": [n, 1, U]}) for s in initial]
    h = states[0] if states else None
    cst = states[1] if len(states) > 1 else None
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    outs = []
    zero_masked = bool(cfg.get("zero_output_for_mask", False))
    for t in order:
        sl = {"starts": [t], "ends": [t + 1], "axes": [1]}
        xs = [c.op1("Slice", [p], sl) for p in proj]
        m = c.op1("Slice", [mask], sl) if mask is not None else None
        out, h, cst = cell.step(xs[0] if cls == "LSTM" else xs, h, cst, m)
        if m is not None and zero_masked:
            out = c.op1("Elementwise", [out, m], {"expr": call("mul", inp(0), inp(1))})
        outs.append(out)
    if h is None:  # zero steps
        c.fail("a sequence of length 0 cannot be unrolled")
    return RnnResult(c, go_backwards, outs[-1], [h] + ([cst] if cls == "LSTM" else []), steps=outs)


def _fused(c, cls, weights, x, cell, initial, go_backwards) -> RnnResult:
    n, U = x.shape[0], cell.U
    kernel, rec = weights[0], weights[1]
    tag = id(weights[0])
    p = c.op1("MatMul", [x, c.param(("kernel", tag), lambda: kernel)])
    bias = weights[2] if len(weights) > 2 and weights[2] is not None else None
    in_b, rec_b = (None, None) if bias is None else ((bias[0], bias[1]) if bias.ndim == 2 else (bias, None))
    if in_b is not None:
        p = c.op1("Elementwise", [p, c.param(("bias", tag), lambda: in_b)], {"expr": call("add", inp(0), inp(1))})
    rb = None if rec_b is None else c.param(("rbias", tag), lambda: rec_b)
    states = [c.op1("Reshape", [c.logical(s)], {"shape": [n, U]}) for s in initial]
    ins = [p, c.param(("recurrent", tag), lambda: rec), rb, *(states + [None, None])[:2]]
    while ins[-1] is None:
        ins.pop()
    kind = {"SimpleRNN": "RNN"}.get(cls, cls)
    res = c.op("Recurrent", ins, {"kind": kind, "reverse": int(go_backwards)})
    flat = [c.op1("Reshape", [t], {"shape": [n, 1, U]}) for t in res[1:]]
    return RnnResult(c, go_backwards, flat[0], flat, seq=res[0])


def _initial(c, count):
    init = c.kw_values.get("initial_state") or c.inputs[1:]
    if init and len(init) != count:
        c.fail(f"expects {count} initial state tensor(s), got {len(init)}")
    return init


def _squeeze(c, t, U):
    return Value(c.op1("Reshape", [t], {"shape": [t.shape[0], U]}))


def _rnn(c):
    cfg = c.cfg
    U = int(cfg["units"])
    n_states = 2 if c.class_name == "LSTM" else 1
    r = run_rnn(c, c.class_name, cfg, c.weights(), c.x, _initial(c, n_states), bool(cfg.get("go_backwards", False)))
    if cfg.get("return_sequences"):
        y = Value(r.processing(), mask=c.x.mask)
    else:
        y = _squeeze(c, r.last, U)
    res = [y]
    if cfg.get("return_state"):
        res += [_squeeze(c, s, U) for s in r.states]
    return res


def _bidirectional(c):
    cfg = c.cfg
    inner = cfg["layer"]
    icls, icfg = inner["class_name"], dict(inner.get("config") or {})
    if icls not in GATES:
        c.fail(f"wraps {icls}; SimpleRNN, LSTM and GRU are supported")
    bw = cfg.get("backward_layer")
    bcfg = dict(bw.get("config") or {}) if isinstance(bw, dict) else dict(icfg, go_backwards=not icfg.get("go_backwards", False))
    w = c.weights()
    half = len(w) // 2
    U = int(icfg["units"])
    n_states = 2 if icls == "LSTM" else 1
    init = _initial(c, 2 * n_states) if (c.kw_values.get("initial_state") or len(c.inputs) > 1) else []
    f = run_rnn(c, icls, icfg, w[:half], c.x, init[:n_states], bool(icfg.get("go_backwards", False)))
    b = run_rnn(c, icls, bcfg, w[half:], c.x, init[n_states:], bool(bcfg.get("go_backwards", True)))
    seq = bool(icfg.get("return_sequences"))
    if seq:
        fy = Value(f.processing())
        by = Value(b.in_time())  # back in time order
    else:
        fy, by = _squeeze(c, f.last, U), _squeeze(c, b.last, U)
    mode = cfg.get("merge_mode", "concat")
    if mode is None:
        res = [fy, by]
    elif mode == "concat":
        res = [Value(c.op1("Concat", [fy.t, by.t], {"axis": fy.rank - 1}))]
    else:
        prim = {"sum": "add", "mul": "mul", "ave": "add"}.get(mode)
        if prim is None:
            c.fail(f"merge_mode {mode!r} is not supported")
        expr = call(prim, inp(0), inp(1))
        res = [Value(c.op1("Elementwise", [fy.t, by.t], {"expr": call("mul", expr, 0.5) if mode == "ave" else expr}))]
    if seq:
        for r in res:
            r.mask = c.x.mask
    if cfg.get("return_state") or icfg.get("return_state"):
        res += [_squeeze(c, s, U) for s in f.states + b.states]
    return res


def register_rnn(layer):
    layer("SimpleRNN", "LSTM", "GRU")(_rnn)
    layer("Bidirectional")(_bidirectional)


