"""The wasm backend: per-model C (static shapes, a static memory plan, fused epilogues) compiled
with the kernel library to one .wasm (SIMD128; threads over shared memory), and once more with
relaxed SIMD for engines that have it."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ...ir import Graph
from ...ir.symbolic import dim_json
from ...options import ConvertOptions
from ..lowering import Lowered
from . import toolchain
from .lower import lower_program

MODULE_FILE = "graph_wasm.wasm"
# the memory a module with symbolic sizes may grow to (its arena is planned at run time)
SYMBOLIC_MEMORY_BYTES = 2 << 30
RELAXED_FILE = "graph_wasm.relaxed.wasm"


def lower(graph: Graph, options: ConvertOptions | None = None) -> Lowered:
    """-> graph_wasm.json content (without the constants' storage fields), the constants, the .wasm
    files and the plan's size. Options: relaxed=False builds the plain SIMD128 module only (for a host
    known to lack relaxed SIMD: half the compile time)."""
    options = options or ConvertOptions()
    src, layout, constants, steps = lower_program(graph, options.weights)
    symbolic = layout["arenaBytes"] is None  # sizes bound at run time: the arena grows as they need
    # beyond the static data: the region (constants, arena, temp) and every thread's scratch and stack
    dynamic = layout["scratchOffset"] + layout["maxThreads"] * (layout["scratchBytes"] + layout["stackBytes"]) + (1 << 20)
    if symbolic:
        dynamic = SYMBOLIC_MEMORY_BYTES
    # two builds of one program, compiled side by side: SIMD128, and relaxed SIMD (fused multiply-add)
    # for engines that have it; the runtime downloads one
    variants = (False, True) if options.relaxed else (False,)
    with ThreadPoolExecutor(2) as pool:
        linked = list(pool.map(lambda r: toolchain.build(src, dynamic, relaxed=r), variants))
    static = max(initial for _, initial in linked)  # a memory larger than a module's minimum is valid for it
    built = [b for b, _ in linked]
    need = static + dynamic
    io = [*graph.inputs, *graph.outputs]
    doc = {
        "format": "webdnn-graph", "version": 1, "backend": "wasm",
        "inputs": [t.name for t in graph.inputs], "outputs": [t.name for t in graph.outputs],
        "tensors": {t.name: {"shape": [dim_json(d) for d in t.shape], "dtype": t.dtype} for t in io},
        "module": MODULE_FILE, **({"moduleRelaxed": RELAXED_FILE} if len(built) > 1 else {}),
        "memory": {"initialPages": static // 65536, "maximumPages": -(-need // 65536),
                   "maxThreads": layout["maxThreads"]},
        "placement": {name: off for name, off in layout["offsets"].items()
                      if (name in {t.name for t in io} and not symbolic) or name in {c.name for c in constants}},
        "kernels": layout["steps"],  # what run() executes, in order (wd_step(i) runs one)
        # constants copied in as stored (int8: scales, then values), not decoded: 8-bit products read them
        **({"encoded": layout["encoded"]} if layout["encoded"] else {}),
        "stats": {**{k: layout[k] for k in ("constBytes", "arenaBytes", "sumBytes", "scratchBytes", "int8Products",
                                             "int4Products") if layout[k] is not None},
                  **({"int4ProductsA8": layout["int4ProductsA8"]} if layout["int4ProductsA8"] else {})},
    }
    if symbolic:  # the runtime writes the sizes (in this order) and asks wd_io() where the inputs and outputs are
        doc["symbols"] = {n: int(graph.symbols[n]) for n in sorted(graph.symbols)}
        ranges = {n: list(r) for n, r in sorted(graph.symbol_ranges.items()) if n in graph.symbols}
        if ranges:
            doc["ranges"] = ranges
    return Lowered(doc, constants, dict(zip((MODULE_FILE, RELAXED_FILE), built)),
                   memory=None if symbolic else {"planned_peak": layout["arenaBytes"], "sum": layout["sumBytes"]})
