"""Static memory plan: every activation gets an offset in one arena, reusing the bytes of
tensors that are dead by then (greedy by size, best fit over lifetimes). Reshape and Identity
outputs share their input's bytes. Backends with an arena (wasm memory, WebGPU buffers) use it."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph
from ..ir.dtype import np_dtype

ALIASING = ("Reshape",)  # output = input's bytes, no copy


def storage_bytes(t) -> int:
    """Bytes of a tensor as the runtimes store it (int64 as int32, bool as uint8, f16 as f32)."""
    item = {"int64": 4, "float16": 4, "bool": 1}.get(t.dtype, np.dtype(np_dtype(t.dtype)).itemsize)
    return max(1, t.size) * item


@dataclass
class MemoryPlan:
    offsets: dict[str, int] = field(default_factory=dict)  # tensor name -> byte offset
    arena_bytes: int = 0                                     # peak: the arena's size
    total_bytes: int = 0                                     # every activation side by side
    alignment: int = 16


def plan(graph: Graph, alignment: int = 16, sizeof=storage_bytes, ops=None) -> MemoryPlan:
    """``sizeof(tensor)``: bytes a backend stores a tensor in; ``ops``: the backend's own kernel
    list when it differs from graph.ops (objects with .type, .inputs, .outputs), e.g. after it
    fused an op into another's epilogue, so that the fused intermediate gets no memory."""
    ops = graph.ops if ops is None else list(ops)
    # storage groups: a Reshape's output lives in its input's bytes
    root: dict[int, object] = {}

    def find(t):
        while id(t) in root:
            t = root[id(t)]
        return t

    for op in ops:
        if op.type in ALIASING and not op.inputs[0].is_constant:
            root[id(op.outputs[0])] = op.inputs[0]

    first, last, size, tensors = {}, {}, {}, {}
    end = len(ops)

    def touch(t, i):
        r = find(t)
        k = id(r)
        tensors[k] = r
        size[k] = max(size.get(k, 0), sizeof(t))
        first[k] = min(first.get(k, i), i)
        last[k] = max(last.get(k, i), i)

    for t in graph.inputs:
        touch(t, -1)
    for i, op in enumerate(ops):
        for t in op.inputs:
            if t is not None and not t.is_constant:
                touch(t, i)
        for t in op.outputs:
            touch(t, i)
    for t in graph.outputs:
        if not t.is_constant:
            touch(t, end)  # outputs stay readable after the run

    def align(n):
        return -(-n // alignment) * alignment

    placed: list[tuple[int, int, int, int]] = []  # (offset, bytes, first, last)
    offsets_by_root: dict[int, int] = {}
    for k in sorted(size, key=lambda k: (-size[k], first[k])):
        need = align(size[k])
        busy = sorted((o, o + b) for o, b, f, l in placed if not (l < first[k] or last[k] < f))
        best, cursor = None, 0
        for lo, hi in busy:  # smallest gap that fits, else the end
            if lo - cursor >= need and (best is None or lo - cursor < best[1]):
                best = (cursor, lo - cursor)
            cursor = max(cursor, hi)
        off = best[0] if best else cursor
        placed.append((off, need, first[k], last[k]))
        offsets_by_root[k] = off

    result = MemoryPlan(alignment=alignment)
    all_tensors = list(graph.inputs) + [t for op in ops for t in op.outputs]
    for t in all_tensors:
        result.offsets[t.name] = offsets_by_root[id(find(t))]
    result.arena_bytes = max((o + b for o, b, _, _ in placed), default=0)
    result.total_bytes = sum(align(sizeof(t)) for t in all_tensors)
    return result
