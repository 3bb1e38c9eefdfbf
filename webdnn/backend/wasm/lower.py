"""The wasm backend's lowering: the optimized graph becomes a program of kernel steps (a
contraction followed by an elementwise op is fused into one step with an epilogue), a static
memory layout (constants, the planned activation arena, per-thread scratch and stacks) and one C
file with every shape and offset a constant. The runtime only copies bytes to the offsets given
in graph_wasm.json and calls the module's run()."""
from __future__ import annotations

from ...encoding import exact_int8, int4_axes, int4_fields, own_int4_matmul_fields, output_axes, stored_bytes, stores_quantized
from ...errors import ConversionError, ShapeError
from ...ir.symbolic import Expr, is_symbolic_array
from ...ir import Graph
from ..lowering import Fusion, is_symbolic_step, lower_graph
from ..memory import plan as plan_memory, storage_bytes
from .symbolic import SYMBOLIC_KERNELS, SymProgram, bind_source, plan_groups
from .emit import (ALIGN, CONTRACTIONS, EMIT, GEMM_SCRATCH, MAX_THREADS, THREAD_STACK, Program, align_up,
                   epilogue_strides, gemm_slivers, gemv_panels, matmul_geometry, q8_weight_of)

__all__ = ["FUSION", "lower_program", "GEMM_SCRATCH"]

# a contraction's kernel applies a float32 epilogue whose other inputs it can walk with its stores
FUSION = Fusion(families=CONTRACTIONS, dtypes=("float32",),
                reads=lambda op, t: epilogue_strides(op.type, op.outputs[0].shape, t) is not None)


# ---- layout and the whole file -----------------------------------------------------------------
def _io_source(p, graph) -> list[str]:
    """C: wd_io(i), the address of graph input i (then output i - inputs) under the current plan."""
    io = [*graph.inputs, *graph.outputs]
    return ["WD_EXPORT(wd_io) unsigned wd_io(int i) {", "  switch (i) {",
            *[f"    case {i}: return (unsigned)(uintptr_t){p.ptr(t)};" for i, t in enumerate(io)],
            "  }", "  return 0;", "}"]


def exact_q8(graph: Graph, steps) -> frozenset:
    """The weights of a quantized model (Graph.quantized) that are exactly 8-bit values times a scale per
    output channel (encoding.exact_int8) where a product on 8-bit weights would read them: the model's
    author chose 8-bit arithmetic for them, so they run on 8-bit products under any --weights (and every
    encoding stores them so)."""
    if not graph.quantized:
        return frozenset()
    tensors = {t.name: t for t in graph.constants()}
    exact = set()
    for s in steps:
        w = q8_weight_of(s, True)
        if w is not None and w[0] in tensors and exact_int8(tensors[w[0]].data, w[1]) is not None:
            exact.add(w[0])
    return frozenset(exact)


def _stored_quantized(graph: Graph, steps, weights: str, exact: frozenset, q4: dict) -> dict:
    """{constant name: its encoding's fields} of the weights that go into memory as --weights int8 / int4
    stores them (scales, then 8- or 4-bit values), not decoded to float32: those read only by products
    on 8-bit weights (q8_weight_of; not those of q4, the 4-bit products'); int8 ones stored along their output
    channels (encoding.output_axes), int4 ones as encoding.int4_fields says (decoded one at a time at load and
    quantized again per channel: row-major, or a B in blocks along K). Under other encodings, the exact 8-bit
    weights of a quantized model (exact_q8), stored int8 as well."""
    int8 = weights in ("int8", "int4")
    uses, q8 = {}, {}
    for s in steps:
        for t in s.inputs:
            if t is not None and t.is_constant:
                uses[t.name] = uses.get(t.name, 0) + 1
        w = q8_weight_of(s, int8, exact, q4)
        if w is not None:
            q8.setdefault(w[0], []).append(w[1])
    axes = output_axes(graph)
    blocks = int4_axes(graph) if weights == "int4" else {}
    tensors = {t.name: t for t in graph.constants()}
    out = {}
    for n, a in q8.items():
        if not (len(a) == uses.get(n) and len(set(a)) == 1 and n in tensors
                and stores_quantized(tensors[n].data, tensors[n].dtype) and (int8 or n in exact)):
            continue
        if weights != "int4":
            if axes.get(n) == a[0]:
                out[n] = {"encoding": "int8", "axis": a[0]}
            continue
        fields, shape = int4_fields(tensors[n].data, blocks.get(n)), tensors[n].shape
        if fields.get("axis", len(shape) - 1) == len(shape) - 1 or (fields["axis"] == 0 and len(shape) == 2):
            out[n] = fields  # wd_int4_decode's orders: row-major, or [N][K]
    return out


def _stored_int4(graph: Graph, steps, weights: str, taken: dict) -> dict:
    """{constant name: its int4 fields} of the weights that stay 4-bit in memory, B's [K, N] in blocks along K
    read only as the B of MatMuls: a quantized model's own 4-bit ones (MatMulNBits; encoding._exact_int4_fields)
    where the descriptor stores them so (weights raw or f16, and no exact 8-bit form first); under --weights int4,
    those of products of fewer than 4 rows or of rows known only at run time (a decoder's step), whose time is
    reading the weights (more rows run faster on 8-bit products: _stored_quantized), and a model's own ones
    for any rows, as without it (its exact weights are not quantized again). wd_matmul_q4 multiplies by
    them as stored: an eighth of the memory float32 would take, and of the bytes a product of few rows reads."""
    if not (weights == "int4" or (weights in ("raw", "f16") and graph.quantized)):
        return {}
    blocks = int4_axes(graph) if weights == "int4" else {}
    uses, as_b = {}, {}
    for s in steps:
        for t in s.inputs:
            if t is not None and t.is_constant:
                uses[t.name] = uses.get(t.name, 0) + 1
        if s.type == "MatMul":
            b = s.op.inputs[1]
            if b.is_constant and len(b.shape) == 2 and b.dtype == "float32" and s.op.inputs[0] is not b:
                M = matmul_geometry(s)[0]
                few = isinstance(M, Expr) or M < 4
                _, n, all_few = as_b.get(b.name, (b, 0, True))
                as_b[b.name] = (b, n + 1, all_few and few)
    out = {}
    for name, (t, n, few) in as_b.items():
        if n != uses.get(name) or name in taken or not stores_quantized(t.data, t.dtype):
            continue
        fields = own_int4_matmul_fields(t.data)  # a model's own: as they are, for any number of rows
        if fields is None and weights == "int4" and few:
            fields = int4_fields(t.data, blocks.get(name))
            fields = fields if fields.get("axis") == 0 else None
        if fields is not None and t.shape[0] % 16 == 0:  # the kernel reads 16 values of a column at a time
            out[name] = fields
    return out


def lower_program(graph: Graph, weights: str = "raw"):
    """-> (C source, layout dict, constants, program steps). weights: the encoding (--weights); under
    int8 and int4, products with constant float weights run on 8-bit weights (int8 stores them so
    already; int4's values are decoded and quantized again per output channel at load)."""
    int8 = weights in ("int8", "int4")
    steps = lower_graph(graph, FUSION).steps
    unsupported = sorted({f"{s.type} ({s.name!r})" for s in steps if s.type not in EMIT})
    if unsupported:
        raise ConversionError(f"the wasm backend has no kernel for: {', '.join(unsupported)}")
    exact = exact_q8(graph, steps) if not int8 else frozenset()
    if weights == "int4":  # the 4-bit products choose first, the 8-bit ones take the rest
        q4 = _stored_int4(graph, steps, weights, {})
        stored = _stored_quantized(graph, steps, weights, exact, q4)
    else:
        stored = _stored_quantized(graph, steps, weights, exact, {})
        q4 = _stored_int4(graph, steps, weights, stored)
    stored.update(q4)
    tensors_by_name = {t.name: t for t in graph.constants()}
    # constants first, then the activation arena the planner lays out, the temporary buffer, data
    # derived from the constants at load, then per-thread scratch and stacks
    constants, offsets, at, sizes = [], {}, 0, {}
    for s in steps:
        for t in s.inputs:
            if t is not None and t.is_constant and is_symbolic_array(t.data):
                sizes[t.name] = t  # computed from the sizes: wd_bind() fills it (symbolic.py)
            elif t is not None and t.is_constant and t.name not in offsets:
                offsets[t.name] = at
                at = align_up(at + (stored_bytes(t.shape, stored[t.name]) if t.name in stored else storage_bytes(t)))
                constants.append(t)
    const_bytes = at
    symbols = sorted(graph.symbols) if any(t.is_symbolic for t in graph.inputs) else []
    if symbols:  # sizes bound at run time: the activations' plan too (symbolic.py)
        place, groups = plan_groups(graph, steps)
        mem, arena_at = None, align_up(const_bytes)
        p = SymProgram(offsets, symbols, place, sizes)
    else:
        if sizes:
            raise ConversionError(f"wasm backend: symbolic constants {sorted(sizes)} in a graph without symbolic inputs")
        mem = plan_memory(graph, alignment=ALIGN, ops=steps, contiguous_views=True)
        arena_at = align_up(const_bytes)
        for name, off in mem.offsets.items():
            offsets[name] = arena_at + off
        p = Program(offsets)
    p.int8 = int8
    p.q8_exact = exact
    p.stored = dict(stored)
    p.q4 = q4
    # the 4-bit products whose GEMV may take A in 8 bits: on weights --weights int4 quantized (not a model's own),
    # and where the model allows it (Graph.int8_activations: MatMulNBits with accuracy_level 4)
    p.q4_a8 = {n for n in q4 if n in graph.int8_activations
               or (weights == "int4" and own_int4_matmul_fields(tensors_by_name[n].data) is None)}
    for s in steps:
        for t in s.inputs:
            if t is not None and t.is_constant:
                p.uses[t.name] = p.uses.get(t.name, 0) + 1
        if gemv_panels(s.op):
            b = s.op.inputs[1]
            p.gemv_uses[b.name] = p.gemv_uses.get(b.name, 0) + 1
        if gemm_slivers(s.op) and not q8_weight_of(s, int8, exact, q4):
            b = s.op.inputs[1]
            p.sliver_uses[b.name] = p.sliver_uses.get(b.name, 0) + 1
    body_errors = []
    for i, s in enumerate(steps):
        if all(t is None or 0 in t.shape for t in s.outputs):
            continue  # empty outputs: nothing to compute
        try:
            if symbols and is_symbolic_step(s) and s.type not in SYMBOLIC_KERNELS:
                raise ConversionError(f"{s.type} {s.name!r}: the wasm backend does not take symbolic sizes here")
            p.pre = []
            code = EMIT[s.type](p, s, i)
            if code and p.pre:
                code = "\n".join(p.pre) + "\n" + code
        except (ConversionError, ShapeError) as e:
            body_errors.append(str(e))
            continue
        label = s.label
        if code:
            p.funcs.append(f"/* {label} */\nstatic void k{i}(void) {{\n{code}\n}}")
            p.calls.append(f"  k{i}();")
            p.steps.append((i, label))
    if body_errors:
        raise ConversionError(f"wasm backend: {len(body_errors)} step(s) cannot be compiled:\n  " + "\n  ".join(body_errors))
    if symbols and not all(isinstance(v, int) for v in (p.temp, p.prep, p.scratch)):
        raise ConversionError("wasm backend: a kernel's working memory depends on the symbolic sizes")
    temp_at = align_up(arena_at + (mem.arena_bytes if mem else 0))
    prep_at = align_up(temp_at + p.temp)
    scratch_at = align_up(prep_at + p.prep)
    scratch = align_up(p.scratch)
    layout = {"constBytes": const_bytes, "arenaOffset": arena_at, "arenaBytes": mem.arena_bytes if mem else None,
              "sumBytes": mem.total_bytes if mem else None, "scratchOffset": scratch_at, "scratchBytes": scratch,
              "stackBytes": THREAD_STACK, "maxThreads": MAX_THREADS, "offsets": offsets,
              "steps": [label for _, label in p.steps], "int8Products": p.q8_steps,
              "int4Products": p.q4_steps, "int4ProductsA8": p.q4_a8_steps,
              "encoded": dict(sorted(stored.items()))}
    src = "\n".join([
        "/* generated by webdnn: the wasm backend's program for one model */",
        '#include "wdnn.h"',
        "extern unsigned char __heap_base;",
        "static char* wd_base;",
        f"#define wd_temp (wd_base + {temp_at})",
        f"#define wd_prep (wd_base + {prep_at})",
        *(bind_source(p, groups, ALIGN) if symbols else []),
        *p.decls,
        *p.funcs,
        "WD_EXPORT(wd_init) unsigned wd_init(int nthreads) {",
        "  if (nthreads < 1) nthreads = 1;",
        f"  if (nthreads > {MAX_THREADS}) nthreads = {MAX_THREADS};",
        "  wd_nthreads = nthreads;",
        f"  wd_base = (char*)(((uintptr_t)&__heap_base + {ALIGN - 1}) & ~(uintptr_t){ALIGN - 1});",
        f"  wd_scratch = wd_base + {scratch_at};",
        f"  wd_scratch_bytes = {scratch};",
        *([f"  wd_arena = (char*)(((uintptr_t)(wd_base + {scratch_at} + (size_t)nthreads * {scratch} + "
           f"(size_t)(nthreads - 1) * {THREAD_STACK}) + {ALIGN - 1}) & ~(uintptr_t){ALIGN - 1});"] if symbols else []),
        f"  return (unsigned)(uintptr_t)(wd_base + {scratch_at} + (size_t)nthreads * {scratch} + "
        f"(size_t)(nthreads - 1) * {THREAD_STACK});",
        "}",
        "WD_EXPORT(wd_base_address) unsigned wd_base_address(void) { return (unsigned)(uintptr_t)wd_base; }",
        *(_io_source(p, graph) if symbols else []),
        "/* the top of helper thread tid's stack (tid >= 1) */",
        f"WD_EXPORT(wd_stack_top) unsigned wd_stack_top(int tid) {{ return (unsigned)(uintptr_t)(wd_base + {scratch_at} + "
        f"(size_t)wd_nthreads * {scratch} + (size_t)tid * {THREAD_STACK}); }}",
        "/* once, after the runtime copied the constants in */",
        "WD_EXPORT(wd_prepare) void wd_prepare(void) {",
        *p.prepare, *p.prepare_last,
        "}",
        "WD_EXPORT(run) void run(void) {",
        "  wd_run_begin();",
        *p.calls,
        "  wd_run_end();",
        "}",
        "/* one kernel of run() at a time, for profiling (graph_wasm.json lists them) */",
        "WD_EXPORT(wd_step) void wd_step(int i) {",
        "  wd_run_begin();",
        "  switch (i) {",
        *[f"    case {n}: k{i}(); break;" for n, (i, _) in enumerate(p.steps)],
        "  }",
        "  wd_run_end();",
        "}",
        "",
    ])
    return src, layout, constants, steps
