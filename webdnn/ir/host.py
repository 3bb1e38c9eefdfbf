"""Host steps: the ops whose output shapes depend on the data (ir/ops/dynamic.py), and the
Transposes and Gathers that read what those produce (`host_capable`: torch.nonzero is NonZero +
Transpose; detections are picked by Gather), run after the backend's static plan, on the CPU, in
the runtime (runtime/src/host.ts) and in the Python runners (run_host below, with the ops' numpy
references).

    graph:   x → Conv → Sigmoid → s → NonZero → idx (graph output)      y (graph output)
    static:  x → Conv → Sigmoid → s (an extra output of the backend graph)     y
    host:    {"steps": [NonZero(s) → idx], "tensors": {s, idx}, "constants": {}}

A host step reads graph inputs, outputs of the static part, constants (written inline) and the
outputs of earlier host steps; its outputs may only be graph outputs or inputs of other host steps.
"""
from __future__ import annotations

import copy

import numpy as np

from .dtype import np_dtype
from .graph import Graph, Op, data_dependent_use, runs_on_host
from ..errors import ConversionError
from .symbolic import dim_json, is_symbolic_array

# a host step's constant input is written into model.json; beyond this it belongs in the weights
MAX_INLINE_ELEMENTS = 1 << 16


def _attrs_json(attrs: dict) -> dict:
    out = {}
    for k, v in attrs.items():
        if v is None:
            continue
        out[k] = np.asarray(v).tolist() if isinstance(v, (np.ndarray, np.generic)) else v
    return out


def split_host(graph: Graph) -> tuple[Graph, dict | None]:
    """-> (the graph without its host steps, whose outputs also carry what the host steps read;
    the `host` section of model.json, or None when there are no host steps)."""
    steps, rest, host_out, bad = [], [], set(), []
    for op in graph.ops:  # in order: a host step's consumers are decided after it
        reads_host = [t for t in op.inputs if t is not None and id(t) in host_out]
        if runs_on_host(op.definition, bool(reads_host)):
            steps.append(op)
            host_out.update(id(t) for t in op.outputs)
        else:
            rest.append(op)
            bad += [data_dependent_use(op, t) for t in reads_host]
    if not steps:
        return graph, None
    if bad:
        raise ConversionError("data-dependent shapes reach static ops:\n  " + "\n  ".join(bad))

    static = copy.copy(graph)
    static.ops = rest
    inputs = {id(t) for t in graph.inputs}
    extra, seen, constants, tensors = [], set(), {}, {}
    for op in steps:
        for t in op.inputs:
            if t is None or id(t) in host_out or id(t) in inputs or id(t) in seen:
                continue
            seen.add(id(t))
            if t.is_constant:
                if is_symbolic_array(t.data):
                    raise ConversionError(f"{op.type} node {op.name!r}: its input {t.name!r} is computed from the "
                                          f"symbolic sizes; host steps take constants")
                if t.size > MAX_INLINE_ELEMENTS:
                    raise ConversionError(f"{op.type} node {op.name!r}: its constant input {t.name!r} has {t.size} "
                                          f"elements; host steps take at most {MAX_INLINE_ELEMENTS} inline")
                constants[t.name] = {"shape": list(t.shape), "dtype": t.dtype,
                                     "values": np.asarray(t.data).reshape(-1).tolist()}
            else:
                extra.append(t)
    for t in [*graph.inputs, *extra, *(t for op in steps for t in op.outputs)]:
        # a symbolic size as its text (bound at run time), a data-dependent one as its name
        tensors[t.name] = {"shape": [d if isinstance(d, str) else dim_json(d) for d in t.shape], "dtype": t.dtype}
    static.outputs = [t for t in graph.outputs if id(t) not in host_out]
    static.outputs += [t for t in extra if not any(o is t for o in static.outputs)]
    host = {"steps": [{"op": op.type, "name": op.name, "inputs": [t.name if t is not None else "" for t in op.inputs],
                       "outputs": [t.name for t in op.outputs], "attrs": _attrs_json(op.attrs)} for op in steps],
            "tensors": tensors, "constants": constants}
    return static, host


def run_host(host: dict, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Runs the host steps on `values` (graph inputs and the static part's outputs, by name), with
    the ops' numpy references; -> `values` with every host step output added."""
    from .ops import get_op_def
    values = dict(values)
    for name, c in host.get("constants", {}).items():
        values[name] = np.array(c["values"], dtype=np_dtype(c["dtype"])).reshape(c["shape"])
    for s in host["steps"]:
        d = get_op_def(s["op"])
        op = Op(s["op"], s["name"], [], [], d.with_defaults(s.get("attrs", {})))
        args = []
        for n in s["inputs"]:
            if not n:
                args.append(None)
                continue
            spec = host["tensors"].get(n) or host["constants"][n]
            a = np.asarray(values[n])
            if all(isinstance(d, int) for d in spec["shape"]):  # flat from a runner
                a = a.reshape(spec["shape"])
            args.append(a.astype(np_dtype(spec["dtype"]), copy=False))
        for n, a in zip(s["outputs"], d.reference(op, args)):
            values[n] = np.asarray(a).astype(np_dtype(host["tensors"][n]["dtype"]), copy=False)
    return values
