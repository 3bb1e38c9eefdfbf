"""The wasm backend's lowering: the optimized graph becomes a program of kernel steps (a
contraction followed by an elementwise op is fused into one step with an epilogue), a static
memory layout (constants, the planned activation arena, per-thread scratch and stacks) and one C
file with every shape and offset a constant. The runtime only copies bytes to the offsets given
in graph_wasm.json and calls the module's run()."""
from __future__ import annotations

from ...errors import ConversionError
from ...ir import Graph
from ..memory import plan as plan_memory, storage_bytes
from .emit import (ALIGN, CONTRACTIONS, EMIT, GEMM_SCRATCH, MAX_THREADS, THREAD_STACK, Program, _align,
                   _epilogue_strides)

__all__ = ["Step", "build_steps", "lower_program", "GEMM_SCRATCH"]


class Step:
    """One kernel of the program; duck-types an IR op for the memory planner."""
    __slots__ = ("type", "name", "inputs", "outputs", "op", "epi", "slot")

    def __init__(self, op, epi=None, slot=None):
        self.op, self.epi, self.slot = op, epi, slot
        self.type, self.name = op.type, op.name
        if epi is None:
            self.inputs, self.outputs = list(op.inputs), list(op.outputs)
        else:
            extra = [t for i, t in enumerate(epi.inputs) if i != slot]
            self.inputs, self.outputs = list(op.inputs) + extra, list(epi.outputs)


# ---- fusion --------------------------------------------------------------------------------------
def build_steps(graph: Graph) -> list[Step]:
    consumers = graph.consumers()
    outputs = {id(t) for t in graph.outputs}
    fused = {}  # id(elementwise op) -> (contraction op, slot)
    for op in graph.ops:
        if op.type not in CONTRACTIONS or op.outputs[0].dtype != "float32":
            continue
        t = op.outputs[0]
        cs = consumers.get(id(t), [])
        if len(cs) != 1 or cs[0].type != "Elementwise" or id(t) in outputs:
            continue
        ew = cs[0]
        slots = [i for i, u in enumerate(ew.inputs) if u is t]
        if len(slots) != 1 or ew.outputs[0].shape != t.shape or ew.outputs[0].dtype != "float32":
            continue
        if any(_epilogue_strides(op.type, t.shape, u) is None for i, u in enumerate(ew.inputs) if i != slots[0]):
            continue
        fused[id(ew)] = (op, slots[0])
    absorbed = {id(op) for op, _ in fused.values()}
    steps = []
    for op in graph.ops:
        if id(op) in absorbed:
            continue
        if id(op) in fused:
            c, slot = fused[id(op)]
            steps.append(Step(c, op, slot))  # at the elementwise op's place: every input exists by then
        else:
            steps.append(Step(op))
    return steps


# ---- layout and the whole file -----------------------------------------------------------------
def lower_program(graph: Graph):
    """-> (C source, layout dict, constants, program steps)."""
    steps = build_steps(graph)
    unsupported = sorted({f"{s.type} ({s.name!r})" for s in steps if s.type not in EMIT})
    if unsupported:
        raise ConversionError(f"the wasm backend has no kernel for: {', '.join(unsupported)}")
    # constants first, then the activation arena the planner lays out, then per-thread scratch
    constants, offsets, at = [], {}, 0
    for s in steps:
        for t in s.inputs:
            if t is not None and t.is_constant and t.name not in offsets:
                offsets[t.name] = at
                at = _align(at + storage_bytes(t))
                constants.append(t)
    const_bytes = at
    mem = plan_memory(graph, alignment=ALIGN, ops=steps)
    arena_at = _align(const_bytes)
    for name, off in mem.offsets.items():
        offsets[name] = arena_at + off
    p = Program(offsets)
    for s in steps:
        for t in s.inputs:
            if t is not None and t.is_constant:
                p.uses[t.name] = p.uses.get(t.name, 0) + 1
    body_errors = []
    for i, s in enumerate(steps):
        if all(t is None or 0 in t.shape for t in s.outputs):
            continue  # empty outputs: nothing to compute
        try:
            code = EMIT[s.type](p, s, i)
        except ConversionError as e:
            body_errors.append(str(e))
            continue
        label = f"{s.type} {s.name}" + (f" + {s.epi.name}" if s.epi is not None else "")
        if code:
            p.funcs.append(f"/* {label} */\nstatic void k{i}(void) {{\n{code}\n}}")
            p.calls.append(f"  k{i}();")
            p.steps.append((i, label))
    if body_errors:
        raise ConversionError(f"wasm backend: {len(body_errors)} step(s) cannot be compiled:\n  " + "\n  ".join(body_errors))
    temp_at = _align(arena_at + mem.arena_bytes)
    scratch_at = _align(temp_at + p.temp)
    scratch = _align(p.scratch)
    layout = {"constBytes": const_bytes, "arenaOffset": arena_at, "arenaBytes": mem.arena_bytes,
              "sumBytes": mem.total_bytes, "scratchOffset": scratch_at, "scratchBytes": scratch,
              "stackBytes": THREAD_STACK, "maxThreads": MAX_THREADS, "offsets": offsets,
              "steps": [label for _, label in p.steps]}
    src = "\n".join([
        "/* generated by webdnn: the wasm backend's program for one model */",
        '#include "wdnn.h"',
        "extern unsigned char __heap_base;",
        "static char* wd_base;",
        f"#define wd_temp (wd_base + {temp_at})",
        *p.decls,
        *p.funcs,
        "WD_EXPORT(wd_init) unsigned wd_init(int nthreads) {",
        "  if (nthreads < 1) nthreads = 1;",
        f"  if (nthreads > {MAX_THREADS}) nthreads = {MAX_THREADS};",
        "  wd_nthreads = nthreads;",
        f"  wd_base = (char*)(((uintptr_t)&__heap_base + {ALIGN - 1}) & ~(uintptr_t){ALIGN - 1});",
        f"  wd_scratch = wd_base + {scratch_at};",
        f"  wd_scratch_bytes = {scratch};",
        f"  return (unsigned)(uintptr_t)(wd_base + {scratch_at} + (size_t)nthreads * {scratch} + "
        f"(size_t)(nthreads - 1) * {THREAD_STACK});",
        "}",
        "WD_EXPORT(wd_base_address) unsigned wd_base_address(void) { return (unsigned)(uintptr_t)wd_base; }",
        "/* the top of helper thread tid's stack (tid >= 1) */",
        f"WD_EXPORT(wd_stack_top) unsigned wd_stack_top(int tid) {{ return (unsigned)(uintptr_t)(wd_base + {scratch_at} + "
        f"(size_t)wd_nthreads * {scratch} + (size_t)tid * {THREAD_STACK}); }}",
        "/* once, after the runtime copied the constants in */",
        "WD_EXPORT(wd_prepare) void wd_prepare(void) {",
        *p.prepare,
        "}",
        "WD_EXPORT(run) void run(void) {",
        *p.calls,
        "}",
        "/* one kernel of run() at a time, for profiling (graph_wasm.json lists them) */",
        "WD_EXPORT(wd_step) void wd_step(int i) {",
        "  switch (i) {",
        *[f"    case {n}: k{i}(); break;" for n, (i, _) in enumerate(p.steps)],
        "  }",
        "}",
        "",
    ])
    return src, layout, constants, steps
