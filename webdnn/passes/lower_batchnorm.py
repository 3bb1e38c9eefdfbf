"""A BatchNormalization that could not be folded becomes one Elementwise: x * s + t.

    before:  BatchNormalization(x, scale, bias, mean, var)
    after:   Elementwise(add(mul(x, s), t)), s and t constants of shape [C, 1, ...]
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph
from ..ir.ops.elementwise import call, inp
from .fold_batchnorm import bn_scale_shift


def run(graph: Graph) -> bool:
    changed = False
    for bn in list(graph.ops):
        if bn.type != "BatchNormalization":
            continue
        x = bn.inputs[0]
        dtype = np.dtype(np.float16 if x.dtype == "float16" else np.float32)
        shape = (-1,) + (1,) * (len(x.shape) - 2)
        if all(t.is_constant for t in bn.inputs[1:]):
            s, t = bn_scale_shift(bn)
            s_t = graph.constant(s.reshape(shape).astype(dtype), name=f"{bn.name}_scale")
            t_t = graph.constant(t.reshape(shape).astype(dtype), name=f"{bn.name}_shift")
            expr, ins = call("add", call("mul", inp(0), inp(1)), inp(2)), [x, s_t, t_t]
        else:  # statistics computed at run time: the full formula
            eps = bn.attrs["epsilon"]
            rs = [graph.add_op("Reshape", [t], {"shape": [t.shape[0]] + [1] * (len(x.shape) - 2)},
                               index=graph.ops.index(bn))[0] for t in bn.inputs[1:]]
            expr = call("add", call("mul", call("div", call("sub", inp(0), inp(3)),
                                                call("sqrt", call("add", inp(4), eps))), inp(1)), inp(2))
            ins = [x, *rs]
        (y,) = graph.add_op("Elementwise", ins, {"expr": expr}, name=bn.name, index=graph.ops.index(bn))
        graph.remove_op(bn)
        graph.replace_uses(bn.outputs[0], y)
        changed = True
    return changed
