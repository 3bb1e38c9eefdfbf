"""The webgpu backend: the optimized graph becomes WGSL shaders, a buffer plan and a dispatch
list (graph_webgpu.json). The runtime (runtime/src/backends/webgpu) and the native runner
(webdnn/runners/native.py) execute that list as it is; neither knows any op.

    lower(graph) -> steps (IR ops, a contraction with the Elementwise op it feeds fused into it)
                 -> dispatches (one or more per step, from the kernel family of its op)
                 -> layouts per precision (plan.py), shaders deduplicated
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import ConversionError
from ...ir import Graph, Op
from ..kernels import kernel_attrs
from ..options import Options
from . import contraction, elementwise, indexdata, indexmap, pool, reduce, resize, scan
from .plan import DEFAULT_BINDING_BYTES, layout, part_elems_for

PRECISIONS = ("f32", "f16")
_options = Options("webgpu", ("precision", "max_binding_bytes"))


def options(**kw):
    """Lowering options for the conversions inside the block, e.g.
    ``with options(precision="f16"): convert(...)``. Keys: precision ("f32"/"f16"),
    max_binding_bytes (tensors larger than this are split into parts)."""
    if kw.get("precision", "f32") not in PRECISIONS:
        raise ConversionError(f"precision must be one of {PRECISIONS}, got {kw['precision']!r}")
    return _options.scope(**kw)


@dataclass
class Ctx:
    part_elems: int
    roots: dict = field(default_factory=dict)  # tensor -> the tensor whose bytes it shares


@dataclass
class Step:
    """One op as the planner and the kernel families see it; a fused Elementwise epilogue
    contributes its other inputs and its output."""
    op: Op
    attrs: dict
    epilogue: Op | None = None
    slot: int = 0
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    @property
    def type(self):
        return self.op.type

    @property
    def name(self):
        return self.op.name


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
    "MatMul": contraction.matmul,
    "Conv": contraction.conv,
    "ConvTranspose": contraction.conv_transpose,
    "Pool": pool.pool,
    "LRN": pool.lrn,
    "Reduce": reduce.reduce,
    "Softmax": reduce.softmax,
    "GatherElements": indexdata.gather_elements,
    "GatherND": indexdata.gather_nd,
    "ScatterElements": indexdata.scatter_elements,
    "ScatterND": indexdata.scatter_nd,
    "ArgReduce": scan.arg_reduce,
    "CumSum": scan.cumsum,
    "TopK": scan.topk,
    "Resize": resize.resize,
}
# families that can apply a fused Elementwise epilogue where they store
FUSES_EPILOGUE = ("MatMul", "Conv", "ConvTranspose", "Pool")


def build_steps(graph: Graph) -> list[Step]:
    consumers = graph.consumers()
    outputs = {id(t) for t in graph.outputs}
    steps, fused, done = [], set(), {id(t) for t in graph.inputs}
    for op in graph.ops:
        if id(op) in fused:
            continue
        try:
            attrs = kernel_attrs(op)
        except ConversionError as e:
            raise ConversionError(f"webgpu backend: {e}") from None
        step = Step(op, attrs, inputs=[t for t in op.inputs if t is not None], outputs=list(op.outputs))
        if op.type in FUSES_EPILOGUE:
            t = op.outputs[0]
            users = consumers.get(id(t), [])
            if (len(users) == 1 and users[0].type == "Elementwise" and id(t) not in outputs
                    and sum(u is t for u in users[0].inputs) == 1 and users[0].outputs[0].shape == t.shape
                    and id(users[0]) not in fused
                    # the epilogue's other inputs must exist when this op runs
                    and all(u is t or u.is_constant or id(u) in done for u in users[0].inputs)):
                e = users[0]
                step.epilogue, step.slot = e, next(i for i, u in enumerate(e.inputs) if u is t)
                step.inputs += [u for u in e.inputs if u is not t]
                step.outputs = list(e.outputs)
                fused.add(id(e))
        done.update(id(o) for o in op.outputs)
        steps.append(step)
    return steps


def lower(graph: Graph) -> tuple[dict, list]:
    """-> (graph_webgpu.json content without the constants' storage fields, constant tensors)."""
    opts = _options.get()
    precision = opts.get("precision", "f32")
    part_elems = part_elems_for(opts.get("max_binding_bytes", DEFAULT_BINDING_BYTES))
    steps = build_steps(graph)
    ctx = Ctx(part_elems)
    for s in steps:
        if s.type == "Reshape" and not s.op.inputs[0].is_constant:
            src = s.op.inputs[0].name
            ctx.roots[s.op.outputs[0].name] = ctx.roots.get(src, src)

    missing = sorted({s.type for s in steps if s.type not in GENERATORS and s.type != "Reshape"})
    if missing:
        raise ConversionError(f"webgpu backend: no kernel for IR op(s) {missing}")

    dispatches = []
    for s in steps:
        if s.type == "Reshape":
            if s.op.inputs[0].is_constant:  # the planner aliases only computed tensors
                dispatches += indexmap.identity(s, ctx)
            continue
        if s.outputs and all(t.size == 0 for t in s.outputs):
            continue
        dispatches += GENERATORS[s.type](s, ctx)

    by_name = {t.name: t for t in graph.tensors()}
    by_name.update({t.name: t for s in steps for t in s.outputs})
    shaders, shader_index, kernel_list = [], {}, []
    max_bind = max_wg = max_inv = 0
    used = set()
    for d in dispatches:
        i = shader_index.get(d.code)
        if i is None:
            i = shader_index[d.code] = len(shaders)
            shaders.append(d.code)
        kernel_list.append({"name": d.name, "shader": i, "bindings": d.bindings, "groups": list(d.groups)})
        used.update(b[0] for b in d.bindings)
        max_bind = max(max_bind, len(d.bindings))
        max_wg = max(max_wg, d.workgroup_bytes)
        max_inv = max(max_inv, d.invocations)

    constants = []
    seen = set()
    for t in list(graph.tensors()):
        if t.is_constant and (t.name in used or any(o is t for o in graph.outputs)) and t.name not in seen:
            seen.add(t.name)
            constants.append(t)

    tensors = {}
    for t in graph.inputs:
        tensors[t.name] = {"shape": list(t.shape), "dtype": t.dtype}
    for s in steps:
        for t in s.outputs:
            tensors[t.name] = {"shape": list(t.shape), "dtype": t.dtype}
    for name in used:
        t = by_name[name]
        if not t.is_constant:
            tensors.setdefault(name, {"shape": list(t.shape), "dtype": t.dtype})

    memory = {p: layout(graph, steps, constants, p, part_elems) for p in (["f32"] if precision == "f32" else ["f16", "f32"])}
    doc = {"format": "webdnn-graph", "version": 1, "backend": "webgpu",
           "inputs": [t.name for t in graph.inputs], "outputs": [t.name for t in graph.outputs],
           "precision": precision,
           "tensors": tensors,
           "limits": {"maxStorageBuffersPerShaderStage": max_bind, "maxComputeWorkgroupStorageSize": max_wg,
                      "maxComputeInvocationsPerWorkgroup": max_inv},
           "memory": memory,
           "shaders": shaders,
           "dispatches": kernel_list}
    return doc, constants
