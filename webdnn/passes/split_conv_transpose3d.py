"""A 3-D ConvTranspose becomes kd 2-D ones, one per kernel depth slice, so every backend that runs
2-D transposed convolutions runs 3-D ones too. Input depth i with kernel depth z lands on output
depth i·s + z·dil - pad: each 2-D result (depth folded into the batch) is spread to stride s along
depth by a zero Pad, shifted by z·dil - pad (Slice, Pad), and the kd results are summed with the bias.

    before:  ConvTranspose(x [N,C,D,H,W], w [C,M/g,kd,kh,kw], b)
    after:   Transpose ← Reshape ← add(place_z(ConvTranspose2D(x' [N·D,C,H,W], w[:,:,z])) for z) + b
"""
from __future__ import annotations

from ..ir import Graph
from ..ir.ops.elementwise import chain


def run(graph: Graph) -> bool:
    changed = False
    for op in list(graph.ops):
        if op.type != "ConvTranspose" or len(op.inputs[0].shape) != 5:
            continue
        x, w = op.inputs[0], op.inputs[1]
        b = op.inputs[2] if len(op.inputs) > 2 else None
        (y,) = op.outputs
        a = op.attrs
        N, C, D, H, W = x.shape
        _, M, Do, Ho, Wo = y.shape
        kd = w.shape[2]
        s = list(a["strides"] or [1] * 3)
        d = list(a["dilations"] or [1] * 3)
        p = list(a["pads"] or [0] * 6)
        opad = list(a["output_padding"] or [0] * 3)
        pos = graph.ops.index(op)

        def add(type, ins, attrs=None):
            nonlocal pos
            (out,) = graph.add_op(type, ins, attrs, name=op.name, index=pos)
            pos += 1
            return out

        xt = add("Reshape", [add("Transpose", [x], {"perm": [0, 2, 1, 3, 4]})], {"shape": [N * D, C, H, W]})
        span = (D - 1) * s[0] + 1  # input depths spread to stride s[0]
        parts = []
        for z in range(kd):
            wz = add("Reshape", [add("Slice", [w], {"starts": [z], "ends": [z + 1], "axes": [2]})],
                     {"shape": [w.shape[0], w.shape[1], w.shape[3], w.shape[4]]})
            t = add("ConvTranspose", [xt, wz], {"strides": s[1:], "dilations": d[1:], "pads": [p[1], p[2], p[4], p[5]],
                                                 "output_padding": opad[1:], "group": a["group"]})
            t = add("Reshape", [t], {"shape": [N, D, 1, M * Ho * Wo]})
            if s[0] > 1:  # zeros between the depths, then the trailing ones dropped
                t = add("Pad", [t], {"pads": [0, 0, 0, 0, 0, 0, s[0] - 1, 0], "mode": "constant", "value": 0.0})
                t = add("Slice", [add("Reshape", [t], {"shape": [N, D * s[0], M * Ho * Wo]})],
                        {"starts": [0], "ends": [span], "axes": [1]})
            else:
                t = add("Reshape", [t], {"shape": [N, D, M * Ho * Wo]})
            lo = z * d[0] - p[0]  # output depth of input depth 0
            hi = Do - lo - span   # zeros after the last one
            if lo < 0 or hi < 0:
                t = add("Slice", [t], {"starts": [max(0, -lo)], "ends": [span - max(0, -hi)], "axes": [1]})
            if lo > 0 or hi > 0:
                t = add("Pad", [t], {"pads": [0, max(0, lo), 0, 0, max(0, hi), 0], "mode": "constant", "value": 0.0})
            parts.append(t)
        shaped = [add("Reshape", [q], {"shape": [N, Do, M, Ho * Wo]}) for q in parts]
        if b is not None:
            shaped.append(add("Reshape", [b], {"shape": [1, 1, M, 1]}))
        t = shaped[0] if len(shaped) == 1 else add("Elementwise", shaped, {"expr": chain("add", len(shaped))})
        t = add("Reshape", [t], {"shape": [N, Do, M, Ho, Wo]})
        t = add("Transpose", [t], {"perm": [0, 2, 1, 3, 4]})
        graph.remove_op(op)
        graph.replace_uses(y, t)
        changed = True
    return changed
