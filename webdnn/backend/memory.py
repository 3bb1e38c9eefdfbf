"""Static memory plan: every activation gets an offset in one arena, reusing the bytes of
tensors that are dead by then (greedy by size, best fit over lifetimes). A Reshape's output shares
its input's bytes. Backends with an arena (wasm memory, WebGPU buffers) use it.

With ``contiguous_views`` (a backend whose kernels take any byte offset), tensors that are contiguous pieces of
another share its bytes too, so the op that would copy them costs nothing:

    x [1, 4U] ─► Slice [U:2U] ─► y          y lives at x + U·4 bytes (a view)
    a ─┐                                    a at z + 0, b at z + |a|: the producers of a and b
    b ─┴► Concat(axis 1, N = 1) ─► z        store into z, the Concat copies nothing

A tensor belongs to one storage group (a root and every tensor at an offset inside it); the group is
live from its first producer to its last reader, and tensors inside it never move."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph
from ..ir.dtype import np_dtype
from ..ir.ops import norm_axis
from ..ir.ops.indexmap import slice_params

ALIASING = ("Reshape",)  # output = input's bytes, no copy


def _contiguous_range(shape, counts, starts):
    """Element offset of the box [starts, starts + counts) of a row-major `shape` when it is one
    contiguous range of it (leading dims of count 1, then one dim of any range, then whole dims), else None."""
    d = len(shape)
    while d > 0 and counts[d - 1] == shape[d - 1]:
        d -= 1  # trailing whole dims
    if any(c != 1 for c in counts[:max(0, d - 1)]):
        return None
    stride, off = 1, 0
    for ax in range(len(shape) - 1, -1, -1):
        off += starts[ax] * stride
        stride *= shape[ax]
    return off


def views(op):
    """[(inner tensor, outer tensor, element offset)]: the tensors of `op` that are contiguous pieces
    of another of its tensors (a Slice's or a Split's output of its input, a Concat's input of its
    output); op may be a lowering Step (its .op)."""
    op = getattr(op, "op", op)
    ins, outs = op.inputs, op.outputs
    if op.type == "Slice" and not ins[0].is_constant and outs[0].size:
        params = slice_params(ins[0].shape, op.attrs)
        if all(sp == 1 or n <= 1 for _, sp, n in params):
            off = _contiguous_range(ins[0].shape, [n for _, _, n in params], [st for st, _, _ in params])
            return [] if off is None else [(outs[0], ins[0], off)]
    if op.type in ("Split", "Concat"):
        whole = ins[0] if op.type == "Split" else outs[0]
        parts = outs if op.type == "Split" else ins
        ax = norm_axis(op.attrs["axis"], len(whole.shape))
        if whole.is_constant or any(d != 1 for d in whole.shape[:ax]):
            return []
        inner, res, at = int(np.prod(whole.shape[ax + 1:])), [], 0
        for t in parts:
            if t.size and not t.is_constant:
                res.append((t, whole, at))
            at += t.shape[ax] * inner
        return res
    return []


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
    inside: dict[str, tuple[str, int]] = field(default_factory=dict)  # tensor -> (tensor whose bytes it lives in, byte offset)


def visit_uses(graph, ops, touch) -> None:
    """touch(tensor, step) for every activation use: graph inputs at step -1, each op's computed inputs
    and its outputs at its index, graph outputs (which stay readable after the run) at len(ops)."""
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
            touch(t, len(ops))


def plan(graph: Graph, alignment: int = 16, sizeof=storage_bytes, ops=None, contiguous_views: bool = False) -> MemoryPlan:
    """``sizeof(tensor)``: bytes a backend stores a tensor in; ``ops``: the backend's own kernel
    list when it differs from graph.ops (objects with .type, .inputs, .outputs), e.g. after it
    fused an op into another's epilogue, so that the fused intermediate gets no memory;
    ``contiguous_views``: place Slice/Split/Concat pieces inside their whole (see the module doc)."""
    ops = graph.ops if ops is None else list(ops)
    # storage groups: id(tensor) -> (the tensor whose bytes it lives in, byte offset there)
    root: dict[int, tuple] = {}

    def find(t):
        off = 0
        while id(t) in root:
            t, o = root[id(t)]
            off += o
        return t, off

    graph_inputs = {id(t) for t in graph.inputs}
    for op in ops:
        if op.type in ALIASING and not op.inputs[0].is_constant:
            root[id(op.outputs[0])] = (op.inputs[0], 0)
        elif contiguous_views:
            for inner, outer, at in views(op):
                if find(outer)[0] is inner or find(inner)[0] is not inner or id(inner) in graph_inputs:
                    continue  # already one group, or inner already lives inside another tensor
                root[id(inner)] = (outer, at * (sizeof(inner) // inner.size))

    first, last, size, tensors = {}, {}, {}, {}

    def touch(t, i):
        r, off = find(t)
        k = id(r)
        tensors[k] = r
        size[k] = max(size.get(k, 0), off + sizeof(t))
        first[k] = min(first.get(k, i), i)
        last[k] = max(last.get(k, i), i)

    visit_uses(graph, ops, touch)

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
        r, off = find(t)
        result.offsets[t.name] = offsets_by_root[id(r)] + off
        if id(t) in root:
            outer, at = root[id(t)]
            result.inside[t.name] = (outer.name, at)
    result.arena_bytes = max((o + b for o, b, _, _ in placed), default=0)
    result.total_bytes = sum(align(sizeof(t)) for t in all_tensors)
    return result
