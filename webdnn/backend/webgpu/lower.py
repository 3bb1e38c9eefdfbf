"""The webgpu backend: the optimized graph becomes WGSL shaders, a buffer plan and a dispatch
list (graph_webgpu.json). The runtime (runtime/src/backends/webgpu) and the native runner
(webdnn/runners/native.py) execute that list as it is; neither knows any op.

    lower(graph) -> steps (IR ops, a contraction with the Elementwise op it feeds fused into it)
                 -> dispatches (one or more per step, from the kernel family of its op)
                 -> layouts per precision (plan.py), shaders deduplicated
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...encoding import exact_int8, int4_axes, int4_fields, own_int4_matmul_fields, output_axes, stored_bytes, stores_quantized
from ...errors import ConversionError
from ...ir import Graph
from ..kernels import uniform_value
from ..lowering import Fusion, Lowered, is_symbolic_step, lower_graph
from ...options import ConvertOptions
from ...passes.unroll_recurrent import unroll_recurrent
from ...ir.symbolic import dim_json, is_symbolic, is_symbolic_array
from . import attention, contraction, elementwise, indexing, indexmap, indices, pool, recurrent, reduce, resize, rows, scan
from .plan import DEFAULT_BINDING_BYTES, layout, part_elems_for, symbolic_layout

@dataclass
class Ctx:
    part_elems: int
    roots: dict = field(default_factory=dict)  # tensor -> the tensor whose bytes it shares
    encoded: dict = field(default_factory=dict)  # constant -> encoding fields: bound as stored, unpacked by its kernels


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
    "GatherElements": indexing.gather_elements,
    "GatherND": indexing.gather_nd,
    "ScatterElements": indexing.scatter_elements,
    "ScatterND": indexing.scatter_nd,
    "ArgReduce": scan.arg_reduce,
    "CumSum": scan.cumsum,
    "TopK": scan.topk,
    "Resize": resize.resize,
    "Recurrent": recurrent.recurrent,
    "Attention": attention.attention,
    "Rows": rows.rows,
}
# every kernel family that stores through an Elementwise epilogue takes it, whatever its inputs
FUSION = Fusion(families=("MatMul", "Conv", "ConvTranspose", "Pool"), attention=attention.fits, rows=rows.fits)
# the kernel families whose generators take symbolic sizes (indices.u renders them from the sizes uniform)
SYMBOLIC_KERNELS = {"Elementwise", "Identity", "Reshape", "Transpose", "Slice", "Split", "Expand", "Gather", "Concat",
                    "MatMul", "Reduce", "Softmax", "CumSum", "ArgReduce", "Conv", "ConvTranspose", "Pool", "LRN",
                    "Recurrent", "Pad", "TopK", "GatherElements", "GatherND", "ScatterElements", "ScatterND",
                    "Attention", "Rows"}
# their window attributes must stay fixed (the shaders write them as literals)
FIXED_ATTRS = {"Conv": ("strides", "pads", "dilations"), "ConvTranspose": ("strides", "pads", "dilations"),
               "Pool": ("kernel", "strides", "pads", "dilations"), "Pad": ("pads",), "TopK": ("k",)}


def _check_symbolic(steps) -> None:
    """Refuses a graph with symbolic sizes where a kernel needs fixed ones (the converter then builds
    this backend for the fixed sizes, with a note saying why)."""
    for s in steps:
        if is_symbolic_step(s) and s.type not in SYMBOLIC_KERNELS:
            raise ConversionError(f"{s.type} {s.name!r}: the webgpu backend does not take symbolic sizes here")
        for a in FIXED_ATTRS.get(s.type, ()):
            v = s.attrs[a]
            if any(is_symbolic(x) for x in (v if isinstance(v, (list, tuple)) else [v])):
                raise ConversionError(f"{s.type} {s.name!r}: its {a} depend on the symbolic sizes")
        elementwise = [*(s.op.inputs if s.type == "Elementwise" else ()),
                       *(s.epilogue.inputs if s.epilogue is not None else ())]
        for t in s.inputs:
            if t is not None and t.is_constant and is_symbolic_array(t.data) and (
                    not any(t is e for e in elementwise) or uniform_value(t) is None):
                # an Elementwise expression inlines a size (all elements one size); nothing else reads one
                raise ConversionError(f"{s.type} {s.name!r} reads {t.name!r}, a tensor of sizes known only at run time")


def _own_int4(graph: Graph, weights: str, as_w: dict, uses: dict, tensors: dict, part_elems: int) -> dict:
    """{constant: its int4 fields} for a quantized model's own 4-bit MatMul weights (MatMulNBits: B [K, N] in
    blocks along K, encoding._exact_int4_fields with axis 0), where the descriptor stores them so (weights raw or
    f16, no exact 8-bit form first): contraction.matmul unpacks them where it loads them."""
    if weights not in ("raw", "f16") or not graph.quantized:
        return {}
    out = {}
    for n, (axis, k) in as_w.items():
        t = tensors.get(n)
        if t is None or axis != 1 or k != uses.get(n) or len(t.shape) != 2:
            continue
        fields = own_int4_matmul_fields(t.data)
        if fields is not None and stored_bytes(t.shape, fields) <= 4 * part_elems:
            out[n] = fields
    return out


def _stored_quantized(graph: Graph, steps, part_elems: int, weights: str) -> dict:
    """{constant: its encoding's fields} for the weights bound as --weights int8 / int4 stores them (under
    other encodings, a quantized model's weights that are exactly 8-bit: every encoding stores them int8)
    (contraction.matmul / conv unpack them where they load: a quarter / an eighth of the GPU memory and
    of the bytes read): 2-D float B's of MatMuls and weights of (not depthwise) Convs, read by nothing
    else, whose bytes fit one binding; int8 ones stored along their output channels (encoding.output_axes)."""
    uses, as_w = {}, {}  # as_w: constant -> [axis of its output channels, reads as a GEMM's weights]
    for s in steps:
        for t in s.inputs:
            if t is not None and t.is_constant:
                uses[t.name] = uses.get(t.name, 0) + 1
        w, axis = None, None
        if s.type == "MatMul":
            w, axis = s.op.inputs[1], 1
            if len(w.shape) != 2:
                w = None
        elif s.type == "Conv" and len(s.op.inputs) > 1:  # a GEMM's A (contraction.conv), not a depthwise one
            w, axis = s.op.inputs[1], 0
            if w.shape[1] == 1 and s.attrs["group"] > 1:
                w = None
        if (w is not None and w.is_constant and w.dtype == "float32" and w.name not in {t.name for t in s.inputs[2:]}
                and as_w.setdefault(w.name, [axis, 0])[0] == axis):
            as_w[w.name][1] += 1
    axes = output_axes(graph)
    tensors = {t.name: t for t in graph.constants()}
    out = _own_int4(graph, weights, as_w, uses, tensors, part_elems)
    own = weights not in ("int8", "int4")  # a quantized model's own 8-bit weights only (encoding.exact_int8)
    blocks = int4_axes(graph) if weights == "int4" else {}
    for n, (axis, k) in as_w.items():
        if n in out or n not in tensors:
            continue
        fields = {"encoding": "int8", "axis": axis}
        if weights == "int4":
            fields, rank = int4_fields(tensors[n].data, blocks.get(n)), len(tensors[n].shape)
            # contraction's unpackers: a MatMul's B in blocks along K (any scales, zero points), or symmetric
            # blocks with half-float scales in row-major order
            plain = not fields.get("zeros") and "scales" not in fields and fields.get("axis", rank - 1) == rank - 1
            if not (plain or (axis == 1 and fields.get("axis") == 0)):
                continue
        if (k == uses.get(n) and (weights == "int4" or axes.get(n) == axis)
                and stores_quantized(tensors[n].data, "float32") and stored_bytes(tensors[n].shape, fields) <= 4 * part_elems
                and (not own or exact_int8(tensors[n].data, axis) is not None)):
            out[n] = fields
    return out


def lower(graph: Graph, options: ConvertOptions | None = None) -> Lowered:
    """-> graph_webgpu.json content (without the constants' storage fields), the constants, the plan's size.
    Options: precision ("f32"/"f16"), max_binding_bytes (larger tensors are split into parts)."""
    options = options or ConvertOptions()
    symbols = sorted(graph.symbols) if any(t.is_symbolic for t in graph.inputs) else []
    if len(symbols) > indices.MAX_SYMBOLS:
        raise ConversionError(f"webgpu backend: at most {indices.MAX_SYMBOLS} symbolic sizes, the model has {len(symbols)}")
    indices.SYMBOLS[:] = symbols
    try:
        return _lower(graph, options, symbols)
    finally:
        indices.SYMBOLS[:] = []


def _lower(graph: Graph, options: ConvertOptions, symbols: list) -> Lowered:
    precision = options.precision
    part_elems = part_elems_for(options.max_binding_bytes or DEFAULT_BINDING_BYTES)
    graph = unroll_recurrent(graph, recurrent.fits)  # layers too large for the recurrence kernel: steps of IR ops
    lowered = lower_graph(graph, FUSION)
    lowered.check_attrs("webgpu")
    steps = lowered.steps
    ctx = Ctx(part_elems)
    for s in steps:
        if s.type == "Reshape" and not s.op.inputs[0].is_constant:
            src = s.op.inputs[0].name
            ctx.roots[s.op.outputs[0].name] = ctx.roots.get(src, src)

    if options.weights in ("int8", "int4") or graph.quantized:
        ctx.encoded = _stored_quantized(graph, steps, part_elems, options.weights)
    missing = sorted({s.type for s in steps if s.type not in GENERATORS and s.type != "Reshape"})
    if missing:
        raise ConversionError(f"webgpu backend: no kernel for IR op(s) {missing}")
    if symbols:
        _check_symbolic(steps)

    dispatches = []
    for s in steps:
        if s.type == "Reshape":
            if s.op.inputs[0].is_constant:  # the planner aliases only computed tensors
                dispatches += indexmap.identity(s, ctx)
            continue
        if s.outputs and all(not t.is_symbolic and t.size == 0 for t in s.outputs):
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
        conds = [] if d.when is None else d.when if isinstance(d.when, list) else [d.when]
        conds = [{"dim": dim_json(c[0]), **({"min": c[1]} if c[1] is not None else {}),
                  **({"max": c[2]} if c[2] is not None else {})} for c in conds]
        when = conds[0] if len(conds) == 1 else conds
        kernel_list.append({"name": d.name, "shader": i, "bindings": d.bindings, "groups": [dim_json(g) for g in d.groups],
                            **({"wrap": True} if d.wrap else {}), **({"when": when} if when else {})})
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

    def meta(t):
        return {"shape": [dim_json(d) for d in t.shape], "dtype": t.dtype}
    tensors = {}
    for t in graph.inputs:
        tensors[t.name] = meta(t)
    for s in steps:
        for t in s.outputs:
            tensors[t.name] = meta(t)
    for name in used:
        t = by_name.get(name)
        if t is not None and not t.is_constant:
            tensors.setdefault(name, meta(t))

    precisions = ["f32"] if precision == "f32" else ["f16", "f32"]
    if symbols:  # the activations are placed by the runtime for each binding of the sizes
        memory = {p: symbolic_layout(graph, steps, constants, p, part_elems, ctx.roots, encoded=ctx.encoded)
                  for p in precisions}
        plans = None
    else:
        plans = {p: layout(graph, steps, constants, p, part_elems, encoded=ctx.encoded) for p in precisions}
        memory = {p: doc for p, (doc, _) in plans.items()}
    doc = {"format": "webdnn-graph", "version": 1, "backend": "webgpu",
           "inputs": [t.name for t in graph.inputs], "outputs": [t.name for t in graph.outputs],
           "precision": precision,
           "tensors": tensors,
           "limits": {"maxStorageBuffersPerShaderStage": max_bind, "maxComputeWorkgroupStorageSize": max_wg,
                      "maxComputeInvocationsPerWorkgroup": max_inv},
           "memory": memory,
           "shaders": shaders,
           "dispatches": kernel_list}
    if ctx.encoded:  # bound as stored (int8: scales, then values), not decoded
        doc["encoded"] = dict(sorted(ctx.encoded.items()))
    if symbols:  # sizes bound at run time: written to the sizes uniform in this order
        doc["symbols"] = {n: int(graph.symbols[n]) for n in symbols}
        ranges = {n: list(r) for n, r in sorted(graph.symbol_ranges.items()) if n in graph.symbols}
        if ranges:
            doc["ranges"] = ranges
        return Lowered(doc, constants, memory=None)
    mp = plans[precision][1]
    return Lowered(doc, constants, memory={"planned_peak": mp.arena_bytes, "sum": mp.total_bytes})
