"""Where every tensor lives on the GPU, per storage precision.

Activations share one arena buffer laid out by the static memory planner (backend/memory.py)
with offsets aligned to 256 bytes, WebGPU's largest minStorageBufferOffsetAlignment, so every
tensor can be bound at its own offset. Weights are packed into buffers of at most
`max_buffer` bytes. A tensor of more than `part_elems` elements is stored as consecutive parts
that are bound separately (see indices.TensorBinding), which keeps every binding under the
device's maxStorageBufferBindingSize.
"""
from __future__ import annotations

from ...encoding import stored_bytes
from ...ir.dtype import FLOAT_DTYPES
from .. import memory
from .indices import n_parts

OFFSET_ALIGN = 256
DEFAULT_BINDING_BYTES = 128 << 20  # WebGPU's default maxStorageBufferBindingSize
DEFAULT_BUFFER_BYTES = 256 << 20   # and its default maxBufferSize


def part_elems_for(max_binding_bytes: int) -> int:
    """Elements per part: whole 256-byte blocks at 4 bytes per element (2 for f16 halves it)."""
    return max(128, (max_binding_bytes // 4) // 128 * 128)


def item_bytes(dtype: str, precision: str) -> int:
    return 2 if (precision == "f16" and dtype in FLOAT_DTYPES) else 4


def _align(n: int, a: int) -> int:
    return -(-n // a) * a


def tensor_parts(size: int, dtype: str, precision: str, part_elems: int) -> list[tuple[int, int]]:
    """(byte offset within the tensor, bytes) of each part; bytes rounded up to a multiple of 4."""
    item = item_bytes(dtype, precision)
    size = max(size, 1)
    out = []
    for p in range(n_parts(size, part_elems)):
        n = min(part_elems, size - p * part_elems)
        out.append((p * part_elems * item, _align(n * item, 4)))
    return out


def layout(graph, steps, constants, precision: str, part_elems: int,
           max_buffer: int = DEFAULT_BUFFER_BYTES, encoded=None) -> tuple[dict, memory.MemoryPlan]:
    """-> ({"buffers": [{"kind", "bytes"}], "tensors": {name: [[buffer, byte offset, bytes], ...]}},
    the activation plan it placed)"""

    def sizeof(t):
        return _align(max(t.size, 1) * item_bytes(t.dtype, precision), 4)

    mp = memory.plan(graph, alignment=OFFSET_ALIGN, sizeof=sizeof, ops=steps)
    by_name = {t.name: t for t in graph.tensors()}
    by_name.update({t.name: t for s in steps for t in s.outputs})  # a kernel's own scratch tensors
    buffers = [{"kind": "arena", "bytes": max(_align(mp.arena_bytes, 16), 16)}]
    tensors = {}
    for name, off in mp.offsets.items():
        t = by_name[name]
        tensors[name] = [[0, off + o, b] for o, b in tensor_parts(t.size, t.dtype, precision, part_elems)]

    cur = None
    encoded = encoded or {}
    for t in constants:
        locs = []
        # a constant bound as its encoding stores it (graph "encoded"): its stored bytes, one part
        parts = ([(0, _align(stored_bytes(t.shape, encoded[t.name]), 4))] if t.name in encoded
                 else tensor_parts(t.size, t.dtype, precision, part_elems))
        for _, b in parts:
            if cur is None or _align(buffers[cur]["bytes"], OFFSET_ALIGN) + b > max_buffer:
                buffers.append({"kind": "weights", "bytes": 0})
                cur = len(buffers) - 1
            at = _align(buffers[cur]["bytes"], OFFSET_ALIGN)
            locs.append([cur, at, b])
            buffers[cur]["bytes"] = at + b
        tensors[t.name] = locs
    for b in buffers:
        b["bytes"] = max(_align(b["bytes"], 16), 16)
    return {"buffers": buffers, "tensors": tensors, "activation_bytes": mp.arena_bytes}, mp
