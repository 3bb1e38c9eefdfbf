"""The js backend: the runtime interprets the kernel list with its generic kernels, so lowering
is the kernel table (kernels.py) plus a liveness plan (when each activation can be dropped)."""
from __future__ import annotations

from ...ir import Graph
from ...options import ConvertOptions
from ..lowering import Lowered, lower_graph


def liveness_free_lists(graph: Graph) -> list[list[str]]:
    """free[i]: activations whose last use is kernel i (graph outputs are never freed; graph
    inputs are, since the runner keeps the caller's copy in its input views)."""
    last: dict[str, int] = {}
    keep = {t.name for t in graph.outputs}
    for i, op in enumerate(graph.ops):
        for t in op.outputs:
            last[t.name] = i  # produced but never read: drop right away
        for t in op.inputs:
            if t is not None and not t.is_constant:
                last[t.name] = i
    free: list[list[str]] = [[] for _ in graph.ops]
    for name, i in last.items():
        if name not in keep:
            free[i].append(name)
    return free


def lower(graph: Graph, options: ConvertOptions | None = None) -> Lowered:
    """-> graph_js.json content (without the constants' storage fields) and the constants. No options
    apply, nothing is fused: the runtime's generic kernels run every IR op as it is."""
    lowered = lower_graph(graph)  # Fusion() fuses nothing: one step per op, in graph order
    lowered.check_attrs("js")
    tensors, constants, kernels = {}, {}, []
    for t in graph.inputs:
        tensors[t.name] = {"shape": list(t.shape), "dtype": t.dtype}
    free = liveness_free_lists(graph)
    for step, fr in zip(lowered.steps, free):
        op = step.op
        for t in op.inputs:
            if t is not None and t.is_constant:
                constants[t.name] = t
        for t in op.outputs:
            tensors[t.name] = {"shape": list(t.shape), "dtype": t.dtype}
        kernels.append({"op": op.type, "name": op.name,
                        "inputs": ["" if t is None else t.name for t in op.inputs],
                        "outputs": [t.name for t in op.outputs], "attrs": step.attrs, "free": sorted(fr)})
    doc = {"format": "webdnn-graph", "version": 1, "backend": "js",
           "inputs": [t.name for t in graph.inputs], "outputs": [t.name for t in graph.outputs],
           "tensors": tensors, "kernels": kernels}
    return Lowered(doc, list(constants.values()))
