"""ONNX RNN, GRU and LSTM, unrolled over the static sequence length on the step the Keras layers
use (frontend/recurrent.py): per direction, one MatMul per gate (for an LSTM one for all four)
projects the whole sequence (input and, where it can be, recurrent bias added), then each step adds
h·R. sequence_lens (a constant) becomes per-step masks: a finished sequence holds its state and
outputs zeros, as the operator says. Both layouts, all three directions, clip, peepholes,
input_forget and the standard activation functions with their alpha/beta."""
from __future__ import annotations

import numpy as np

from ..ir.activations import ACTIVATIONS
from ..ir.ops.elementwise import call
from .onnx_registry import handler
from .recurrent import RecurrentStep, sigmoid

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
# ONNX stores LSTM gates as i, o, f, c; the step takes i, f, c, o. GRU (z, r, h) and RNN agree.
ORDER = {"RNN": [0], "GRU": [0, 1, 2], "LSTM": [0, 2, 3, 1]}
DEFAULT_ACTS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"], "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
# the activation functions the operators name (their formulas: ir/activations.py)
ACTS = ("Sigmoid", "Tanh", "Relu", "Softsign", "Softplus", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh",
        "HardSigmoid", "Elu")


def _activations(c, kind, dirs):
    names = list(c.attr("activations") or DEFAULT_ACTS[kind] * dirs)
    names = [n.decode() if isinstance(n, bytes) else n for n in names]
    alphas, betas = list(c.attr("activation_alpha") or []), list(c.attr("activation_beta") or [])
    per = len(DEFAULT_ACTS[kind])
    if len(names) != per * dirs:
        c.fail(f"needs {per * dirs} activations, got {names}")
    out = []
    for name in names:
        key = next((k for k in ACTS if k.lower() == name.lower()), None)
        if key is None:
            c.fail(f"activation {name!r} is not supported (supported: {', '.join(ACTS)})")
        act = ACTIVATIONS[key]
        params = {}  # activation_alpha / activation_beta fill the first / second parameter, in order
        for name_, given in zip(act.params, (alphas, betas)):
            if given:
                params[name_] = float(given.pop(0))
        out.append(lambda x, act=act, params=params: act.expr(x, **params))
    return [out[d * per:(d + 1) * per] for d in range(dirs)]


@handler("RNN", "GRU", "LSTM", since=7)
def _recurrent(c):
    kind = c.node.op_type
    G = GATES[kind]
    x = c.input(0)
    W, R = c.const(1, "W"), c.const(2, "R")
    B = c.const(3, "B") if c.has_input(3) else None
    lens = c.const(4, "sequence_lens") if c.has_input(4) else None
    h0 = c.input(5) if c.has_input(5) else None
    c0 = c.input(6) if kind == "LSTM" and c.has_input(6) else None
    P = c.const(7, "P") if kind == "LSTM" and c.has_input(7) else None
    direction = c.attr("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    layout = int(c.attr("layout", 0))
    if x is None or len(x.shape) != 3:
        c.fail(f"X must be 3-D, got {None if x is None else list(x.shape)}")
    if layout == 0:  # [T, N, I] -> [N, T, I]
        x = c.op1("Transpose", [x], {"perm": [1, 0, 2]})
    n, steps, feat = x.shape
    H = int(c.attr("hidden_size") or W.shape[1] // G)
    if W.shape != (dirs, G * H, feat) or R.shape != (dirs, G * H, H):
        c.fail(f"W {list(W.shape)} / R {list(R.shape)} do not fit {dirs} direction(s), hidden_size {H}, {feat} inputs")
    if steps == 0:
        c.fail("a sequence of length 0 cannot be unrolled")
    clip = c.attr("clip")
    acts = _activations(c, kind, dirs)
    lbr = bool(c.attr("linear_before_reset", 0))
    masks = None  # per step: the [N, 1, 1] mask of sequences still running (sequence_lens)
    if lens is not None:
        lens = np.asarray(lens).reshape(-1)
        if lens.shape != (n,):
            c.fail(f"sequence_lens has {lens.size} entries for a batch of {n}")
        if (lens < steps).any():
            masks = [c.constant((t < lens).reshape(n, 1, 1)) for t in range(steps)]

    def state(t, d):  # an initial state [dirs, N, H] (layout 1: [N, dirs, H]) -> [N, 1, H] of direction d
        if t is None:
            return None
        ax = 0 if layout == 0 else 1
        s = c.op1("Slice", [t], {"starts": [d], "ends": [d + 1], "axes": [ax]})
        return c.op1("Reshape", [s], {"shape": [n, 1, H]})

    # the standard cell (default activations, nothing extra) runs as one Recurrent op per direction
    names = c.attr("activations")
    fused = (not names or [a.decode() if isinstance(a, bytes) else a for a in names] == DEFAULT_ACTS[kind] * dirs) \
        and c.attr("activation_alpha") is None and c.attr("activation_beta") is None and clip is None \
        and P is None and not c.attr("input_forget", 0) and masks is None \
        and (kind != "GRU" or lbr)

    ys, hs, cs = [], [], []
    for d in range(dirs):
        order = ORDER[kind]
        wb = B[d][:G * H] if B is not None else None
        rbias = B[d][G * H:] if B is not None else None
        gate = lambda a, g: a[g * H:(g + 1) * H]  # noqa: E731
        proj, rb, Rs = [], [], []
        # an LSTM projects and multiplies its four gates together (frontend/recurrent.py), as does
        # every cell that runs as a Recurrent op
        groups = [order] if kind == "LSTM" or fused else [[g] for g in order]
        keep_rb = kind == "GRU"  # GRU's recurrent bias stays inside the step (r * (h·R + rb))
        for gs in groups:
            cat = lambda a: np.concatenate([gate(a, g) for g in gs])  # noqa: E731
            t = c.op1("MatMul", [x, c.constant(np.ascontiguousarray(cat(W[d]).T))])
            bias = None if wb is None else cat(wb)
            if rbias is not None and not keep_rb:
                bias = bias + cat(rbias)
            if bias is not None and np.any(bias):
                t = c.ew(call("add", ["in", 0], ["in", 1]), [t, c.constant(bias.astype(np.float32))])
            proj.append(t)
            rb.append(c.constant(cat(rbias).astype(np.float32)) if keep_rb and rbias is not None else None)
            Rs.append(c.constant(np.ascontiguousarray(cat(R[d]).T)))
        if fused:
            flat = lambda t: None if t is None else c.op1("Reshape", [t], {"shape": [n, H]})  # noqa: E731
            ins = [proj[0], Rs[0], rb[0], flat(state(h0, d)), flat(state(c0, d))]
            while ins[-1] is None:
                ins.pop()
            res = c.op("Recurrent", ins, {"kind": kind, "reverse": int(direction == "reverse" or d == 1)})
            ys.append(res[0])
            hs.append(c.op1("Reshape", [res[1]], {"shape": [n, 1, H]}))
            cs.append(c.op1("Reshape", [res[2]], {"shape": [n, 1, H]}) if kind == "LSTM" else None)
            continue
        if kind == "LSTM":
            Rs, rb = Rs[0], None
        peep = None
        if P is not None:  # P: [dirs, 3H] as i, o, f
            peep = tuple(c.constant(P[d][k * H:(k + 1) * H].astype(np.float32)) for k in range(3))
        a = acts[d]
        cell = RecurrentStep(c, kind, Rs, rb, gate=a[0] if kind != "RNN" else sigmoid, cand=a[1] if kind != "RNN" else a[0],
                             out=a[2] if kind == "LSTM" else None, reset_after=lbr, clip=clip, peep=peep,
                             input_forget=bool(c.attr("input_forget", 0)))
        h, cst = state(h0, d), state(c0, d)
        backward = direction == "reverse" or d == 1
        outs = [None] * steps
        masks = masks or [None] * steps
        for t in (range(steps - 1, -1, -1) if backward else range(steps)):
            sl = {"starts": [t], "ends": [t + 1], "axes": [1]}
            xs = [c.op1("Slice", [p], sl) for p in proj]
            out, h, cst = cell.step(xs[0] if kind == "LSTM" else xs, h, cst, masks[t])
            if masks[t] is not None:  # a finished sequence outputs zeros
                out = c.ew(call("where", ["in", 1], ["in", 0], 0), [out, masks[t]])
            outs[t] = out
        ys.append(c.op1("Concat", outs, {"axis": 1}) if steps > 1 else outs[0])  # [N, T, H]
        hs.append(h)
        cs.append(cst if cst is not None else None)

    def stack_dirs(parts, shape, axis):
        parts = [c.op1("Reshape", [p], {"shape": shape}) for p in parts]
        return parts[0] if len(parts) == 1 else c.op1("Concat", parts, {"axis": axis})

    y = stack_dirs(ys, [n, steps, 1, H], 2)  # [N, T, dirs, H]
    if layout == 0:
        y = c.op1("Transpose", [y], {"perm": [1, 2, 0, 3]})  # [T, dirs, N, H]
    state_shape, axis = ([1, n, H], 0) if layout == 0 else ([n, 1, H], 1)
    outs = [y, stack_dirs(hs, state_shape, axis)]
    if kind == "LSTM":
        if any(s is None for s in cs):
            c.fail("no cell state computed")
        outs.append(stack_dirs(cs, state_shape, axis))
    return outs
