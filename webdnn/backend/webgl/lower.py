"""The webgl backend: the optimized graph becomes GLSL ES 3.00 fragment programs, a texture plan and
a draw list (graph_webgl.json). The runtime (runtime/src/backends/webgl) draws that list as it is;
it knows no op.

    lower(graph) -> steps (IR ops, a contraction / pool with the Elementwise op it feeds fused in)
                 -> draws (a program per output tensor, from the kernel family of its op)
                 -> textures (plan.py: packing per tensor, slots shared by activations)
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import ConversionError
from ...ir import Graph
from ...ir.dtype import FLOAT_DTYPES
from ...options import ConvertOptions
from ...passes.unroll_recurrent import unroll_recurrent
from ..kernels import uniform_value
from ..lowering import Fusion, Lowered, lower_graph
from . import contraction, elementwise, indexmap, reduce, window
from .plan import DEFAULT_MAX_TEXTURE, packing, place
from .program import Program

GENERATORS = {
    "Elementwise": elementwise.elementwise,
    "Identity": indexmap.identity,
    "Transpose": indexmap.transpose,
    "Slice": indexmap.slice_,
    "Split": indexmap.split,
    "Expand": indexmap.expand,
    "Gather": indexmap.gather,
    "Pad": indexmap.pad,
    "Concat": indexmap.concat,
    "GatherElements": indexmap.gather_elements,
    "GatherND": indexmap.gather_nd,
    "ScatterElements": indexmap.scatter_elements,
    "ScatterND": indexmap.scatter_nd,
    "MatMul": contraction.matmul,
    "Conv": contraction.conv,
    "ConvTranspose": contraction.conv_transpose,
    "Pool": window.pool,
    "LRN": window.lrn,
    "Resize": window.resize,
    "Reduce": reduce.reduce,
    "Softmax": reduce.softmax,
    "ArgReduce": reduce.arg_reduce,
    "CumSum": reduce.cumsum,
    "TopK": reduce.topk,
}
FUSION = Fusion(families=("MatMul", "Conv", "ConvTranspose", "Pool"))
# WebGL2 guarantees 16 texture units per fragment program
MAX_SAMPLERS = 16
INT_LIMIT = 2**31


@dataclass
class Ctx:
    packings: dict
    roots: dict

    def program(self) -> Program:
        return Program(self.packings, self.roots)


def _check_ints(graph: Graph) -> None:
    """int64 constants live in 32-bit texels: values outside int32 are refused, not wrapped."""
    import numpy as np
    for t in graph.constants():
        if t.dtype == "int64" and t.size and uniform_value(t) is None:
            d = np.asarray(t.data)
            if d.min() < -INT_LIMIT or d.max() >= INT_LIMIT:
                raise ConversionError(f"webgl backend: int64 constant {t.name!r} holds values outside int32 "
                                      f"({int(d.min())}..{int(d.max())}); textures hold 32-bit integers")


def lower(graph: Graph, options: ConvertOptions | None = None) -> Lowered:
    """-> graph_webgl.json content (without the constants' storage fields) and the constants.
    Options: webgl_max_texture (the largest texture side the descriptor asks of the device)."""
    options = options or ConvertOptions()
    if any(t.is_symbolic for t in graph.inputs):
        raise ConversionError("the webgl backend does not take symbolic sizes")
    T = options.webgl_max_texture or DEFAULT_MAX_TEXTURE
    graph = unroll_recurrent(graph)  # a recurrence is steps of IR ops (no loop-carried state in a draw)
    lowered = lower_graph(graph, FUSION)
    lowered.check_attrs("webgl")
    steps = lowered.steps
    missing = sorted({s.type for s in steps if s.type not in GENERATORS and s.type != "Reshape"})
    if missing:
        raise ConversionError(f"webgl backend: no kernel for IR op(s) {missing}")
    _check_ints(graph)

    roots = {}
    for s in steps:
        if s.type == "Reshape":  # same elements in the same order: the same textures
            src = s.op.inputs[0].name
            roots[s.op.outputs[0].name] = roots.get(src, src)
    tensors = {t.name: t for t in graph.tensors()}
    tensors.update({t.name: t for s in steps for t in s.outputs})
    packings, kinds = {}, {}
    for name, t in tensors.items():
        r = roots.get(name, name)
        if r == name:
            packings[name] = packing(t.size, T)
            kinds[name] = "float" if t.dtype in FLOAT_DTYPES else "int"
    ctx = Ctx(packings, roots)

    draws = []
    for s in steps:
        if s.type == "Reshape":
            continue
        if s.outputs and all(t.size == 0 for t in s.outputs):
            continue
        try:
            draws += GENERATORS[s.type](s, ctx)
        except ConversionError:
            raise
        except (KeyError, ValueError) as e:
            raise ConversionError(f"webgl backend: {s.label}: {e}") from None
    for d in draws:
        if len(d.inputs) > MAX_SAMPLERS:
            raise ConversionError(f"webgl backend: {d.name!r} reads {len(d.inputs)} textures (at most {MAX_SAMPLERS})")

    # constants a draw reads (uniform ones are inlined as literals), and constant graph outputs
    read = {tn for d in draws for _, tn, _ in d.inputs}
    outputs = {roots.get(t.name, t.name) for t in graph.outputs}
    constants, seen = [], set()
    for t in graph.constants():
        if (t.name in read or t.name in outputs) and t.name not in seen:
            seen.add(t.name)
            constants.append(t)
    used = {c.name for c in constants}
    live = {n: p for n, p in packings.items() if not tensors[n].is_constant or n in used}
    textures, slots = place(graph, steps, live, roots, kinds)

    programs, index, draw_list = [], {}, []
    for d in draws:
        k = index.get(d.code)
        if k is None:
            k = index[d.code] = len(programs)
            programs.append(d.code)
        out = roots.get(d.output, d.output)
        p = packings[out]
        draw_list.append({"name": d.name, "program": k,
                          "inputs": [[u, slots[tn][part]] for u, tn, part in d.inputs],
                          "outputs": [[slots[out][part], part * p.cap] for part in range(len(p.parts))]})

    def meta(t):
        return {"shape": list(t.shape), "dtype": t.dtype}
    placed = {}
    for t in [*graph.inputs, *graph.outputs, *constants]:
        r = roots.get(t.name, t.name)
        placed[t.name] = packings[r].doc(slots[r])
    doc = {"format": "webdnn-graph", "version": 1, "backend": "webgl",
           "inputs": [t.name for t in graph.inputs], "outputs": [t.name for t in graph.outputs],
           "tensors": {t.name: meta(t) for t in [*graph.inputs, *graph.outputs]},
           "maxTextureSize": max([T if len(p.parts) > 1 else max(p.width, max(p.parts)) for p in live.values()] + [1]),
           "maxTextureUnits": max([len(d.inputs) for d in draws] + [0]),
           "textures": textures, "placement": placed, "programs": programs, "draws": draw_list}
    # activations: the texture slots they share, against a texture each
    fixed = {k for c in constants for k in slots[roots.get(c.name, c.name)]}
    peak = sum(4 * t["width"] * t["height"] for k, t in enumerate(textures) if k not in fixed)
    each = sum(4 * p.width * sum(p.parts) for n, p in live.items() if not tensors[n].is_constant)
    return Lowered(doc, constants, memory={"planned_peak": peak, "sum": each})
