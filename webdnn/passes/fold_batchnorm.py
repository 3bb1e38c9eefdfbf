"""BatchNormalization folded into the Conv or Gemm that feeds it (constant weights, single use).

    before:  Conv(x, W, B) → BatchNormalization(scale, bias, mean, var)
    after:   Conv(x, W * s, (B - mean) * s + bias)        s = scale / sqrt(var + eps)

Gemm likewise scales the columns of B and rewrites C.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph


def bn_scale_shift(bn):
    scale, bias, mean, var = (t.data.astype(np.float64) for t in bn.inputs[1:])
    s = scale / np.sqrt(var + bn.attrs["epsilon"])
    return s, bias - mean * s


def run(graph: Graph) -> bool:
    changed = False
    producers = graph.producers()
    consumers = graph.consumers()
    outputs = {id(t) for t in graph.outputs}
    for bn in list(graph.ops):
        if bn.type != "BatchNormalization" or not all(t.is_constant for t in bn.inputs[1:]):
            continue
        x = bn.inputs[0]
        prev = producers.get(id(x))
        if prev is None or prev.type not in ("Conv", "Gemm") or len(consumers.get(id(x), [])) != 1 or id(x) in outputs:
            continue
        if not all(t is None or t.is_constant for t in prev.inputs[1:]):
            continue
        s, t = bn_scale_shift(bn)
        dtype = prev.inputs[1].data.dtype
        if prev.type == "Conv":
            w = prev.inputs[1].data.astype(np.float64)
            b = prev.inputs[2].data.astype(np.float64) if len(prev.inputs) > 2 and prev.inputs[2] is not None else 0.0
            new_w = w * s.reshape(-1, *([1] * (w.ndim - 1)))
            new_b = b * s + t
        else:
            if len(x.shape) != 2:
                continue
            a = prev.attrs
            b_mat = prev.inputs[1].data.astype(np.float64)
            new_w = b_mat * (s.reshape(-1, 1) if a["transB"] else s.reshape(1, -1))
            c = prev.inputs[2].data.astype(np.float64) * a["beta"] if len(prev.inputs) > 2 and prev.inputs[2] is not None else 0.0
            new_b = np.asarray(c * s + t)
            a["beta"] = 1.0
        prev.inputs = [prev.inputs[0], graph.constant(new_w.astype(dtype), name=f"{prev.name}_W_bn"),
                       graph.constant(new_b.astype(dtype), name=f"{prev.name}_B_bn")]
        y = bn.outputs[0]
        graph.remove_op(bn)
        graph.replace_uses(y, x)
        outputs = {id(o) for o in graph.outputs}
        changed = True
    return changed
