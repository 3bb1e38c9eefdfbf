"""The js backend: the runtime interprets the kernel list with its generic kernels, so lowering
is the kernel table (kernels.py) plus a liveness plan (when each activation can be dropped)."""
from __future__ import annotations

from ...errors import ConversionError
from ...ir import Graph
from ...ir.symbolic import Expr, dim_json, is_symbolic_array, symbols
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


def symbolic_attrs(v):
    """Kernel attributes with every symbolic size written {"dim": text} (the runtime binds it)."""
    if isinstance(v, Expr):
        return {"dim": str(v)}
    if isinstance(v, dict):
        return {k: symbolic_attrs(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [symbolic_attrs(x) for x in v]
    return v


def lower(graph: Graph, options: ConvertOptions | None = None) -> Lowered:
    """-> graph_js.json content (without the constants' storage fields) and the constants. No options
    apply, nothing is fused: the runtime's generic kernels run every IR op as it is."""
    lowered = lower_graph(graph)  # Fusion() fuses nothing: one step per op, in graph order
    lowered.check_attrs("js")
    tensors, constants, kernels, sizes = {}, {}, [], {}
    for t in graph.inputs:
        tensors[t.name] = {"shape": [dim_json(d) for d in t.shape], "dtype": t.dtype}
    free = liveness_free_lists(graph)
    for step, fr in zip(lowered.steps, free):
        op = step.op
        for t in op.inputs:
            if t is not None and t.is_constant and is_symbolic_array(t.data):
                # computed from the sizes: the runtime evaluates it for each binding
                sizes[t.name] = {"shape": list(t.shape), "dtype": t.dtype,
                                 "values": [dim_json(v) for v in t.data.reshape(-1)]}
            elif t is not None and t.is_constant:
                constants[t.name] = t
        for t in op.outputs:
            tensors[t.name] = {"shape": [dim_json(d) for d in t.shape], "dtype": t.dtype}
        kernels.append({"op": op.type, "name": op.name,
                        "inputs": ["" if t is None else t.name for t in op.inputs],
                        "outputs": [t.name for t in op.outputs], "attrs": symbolic_attrs(step.attrs),
                        "free": sorted(fr)})
    doc = {"format": "webdnn-graph", "version": 1, "backend": "js",
           "inputs": [t.name for t in graph.inputs], "outputs": [t.name for t in graph.outputs],
           "tensors": tensors, "kernels": kernels}
    names = symbols([t.shape for t in graph.inputs])
    if names:  # sizes bound at run time from the inputs' shapes; the defaults are the fixed backends'
        missing = sorted(n for n in names if n not in graph.symbols)
        if missing:
            raise ConversionError(f"js backend: no default size for {missing}")
        doc["symbols"] = {n: int(graph.symbols[n]) for n in sorted(names)}
        ranges = {n: list(graph.symbol_ranges[n]) for n in sorted(names) if n in graph.symbol_ranges}
        if ranges:
            doc["ranges"] = ranges
        if sizes:
            doc["sizes"] = sizes
    elif sizes:
        raise ConversionError(f"js backend: symbolic constants {sorted(sizes)} in a graph without symbolic inputs")
    return Lowered(doc, list(constants.values()))
