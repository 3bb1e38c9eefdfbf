"""A zero constant Pad on the spatial dims feeding a Conv becomes the Conv's own padding.

    before:  Pad(x, pads=[0,0,1,1, 0,0,1,1], constant 0) → Conv(pads=[0,0,0,0])
    after:   Conv(x, pads=[1,1,1,1])

(Keras' ZeroPadding2D before a 'valid' convolution is the common case.)
"""
from __future__ import annotations

from ..ir import Graph


def run(graph: Graph) -> bool:
    changed = False
    producers, consumers = graph.producers(), graph.consumers()
    outputs = {id(t) for t in graph.outputs}
    for conv in list(graph.ops):
        if conv.type != "Conv":
            continue
        x = conv.inputs[0]
        pad = producers.get(id(x))
        if (pad is None or pad.type != "Pad" or pad.attrs["mode"] != "constant" or float(pad.attrs["value"]) != 0.0
                or len(consumers.get(id(x), [])) != 1 or id(x) in outputs):
            continue
        rank = len(x.shape)
        p = list(pad.attrs["pads"])
        if any(p[i] != 0 or p[i + rank] != 0 for i in range(2)) or any(v < 0 for v in p):
            continue  # batch/channel padding or cropping: not a convolution's padding
        nd = rank - 2
        cp = list(conv.attrs["pads"] or [0] * (2 * nd))
        conv.attrs["pads"] = [cp[i] + p[2 + i] for i in range(nd)] + [cp[nd + i] + p[rank + 2 + i] for i in range(nd)]
        conv.inputs[0] = pad.inputs[0]
        graph.remove_op(pad)
        changed = True
    return changed
