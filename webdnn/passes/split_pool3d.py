"""A 3-D Pool becomes two 2-D Pools, so every backend that pools 2-D pools 3-D too. Max and
average over a box window are separable: pool over (H, W) with the depth folded into the
channels, then over D with (H, W) flattened. Per axis the strides, pads, dilations, ceil mode and
divisor (count_include_pad or not: the count of a box is the product of per-axis counts) carry
over unchanged, so the result equals the 3-D pool.

    before:  Pool(x [N,C,D,H,W]; k=(kd,kh,kw), ...)
    after:   Reshape [N,C,D',H',W'] ← Pool(k=(kd,1)) ← Reshape [N,C,D,H'W'] ← Pool(k=(kh,kw)) ← Reshape [N,CD,H,W]
"""
from __future__ import annotations

from ..ir import Graph


def run(graph: Graph) -> bool:
    changed = False
    for op in list(graph.ops):
        if op.type != "Pool" or len(op.inputs[0].shape) != 5:
            continue
        x, (y,) = op.inputs[0], op.outputs
        a = op.attrs
        N, C, D, H, W = x.shape
        k = list(a["kernel_shape"])
        s = list(a["strides"] or [1] * 3)
        d = list(a["dilations"] or [1] * 3)
        p = list(a["pads"] or [0] * 6)
        pos = graph.ops.index(op)

        def add(type, ins, attrs):
            nonlocal pos
            (out,) = graph.add_op(type, ins, attrs, name=op.name, index=pos)
            pos += 1
            return out

        common = {"kind": a["kind"], "ceil_mode": a["ceil_mode"], "count_include_pad": a["count_include_pad"]}
        t = add("Reshape", [x], {"shape": [N, C * D, H, W]})
        t = add("Pool", [t], {**common, "kernel_shape": k[1:], "strides": s[1:], "dilations": d[1:],
                              "pads": [p[1], p[2], p[4], p[5]]})
        _, _, H2, W2 = t.shape
        t = add("Reshape", [t], {"shape": [N, C, D, H2 * W2]})
        t = add("Pool", [t], {**common, "kernel_shape": [k[0], 1], "strides": [s[0], 1], "dilations": [d[0], 1],
                              "pads": [p[0], 0, p[3], 0]})
        t = add("Reshape", [t], {"shape": list(y.shape)})
        graph.remove_op(op)
        graph.replace_uses(y, t)
        changed = True
    return changed
