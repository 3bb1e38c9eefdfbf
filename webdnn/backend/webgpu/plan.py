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

    _place_constants(buffers, tensors, constants, precision, part_elems, max_buffer, encoded or {})
    return {"buffers": buffers, "tensors": tensors, "activation_bytes": mp.arena_bytes}, mp


def _place_constants(buffers, tensors, constants, precision, part_elems, max_buffer, encoded) -> None:
    """Packs the constants into `weights` buffers appended to `buffers` (their parts into `tensors`), then
    rounds every buffer's size up to 16 bytes."""
    cur = None
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


def symbolic_layout(graph, steps, constants, precision: str, part_elems: int, roots: dict,
                    max_buffer: int = DEFAULT_BUFFER_BYTES, encoded=None) -> dict:
    """The plan of a graph with symbolic sizes: constants placed as layout() places them; activations
    in storage groups (a tensor and the Reshapes that share its bytes) whose sizes are expressions
    of the symbols and whose lifetimes are step indices, placed in the arena by the runtime for each
    binding (docs/descriptor.md): {"buffers", "tensors" (constants), "arena": {"groups": [[bytes,
    first, last]], "tensors": {name: group}}}. Buffer 0, the arena, is sized by that placement."""
    from ...ir.symbolic import dim_json
    doc = {"buffers": [{"kind": "arena", "bytes": 16}], "tensors": {}}  # the arena: sized by the runtime
    _place_constants(doc["buffers"], doc["tensors"], constants, precision, part_elems, max_buffer, encoded or {})
    index, groups, members = {}, [], {}

    def touch(t, i):
        r = roots.get(t.name, t.name)
        g = index.get(r)
        if g is None:
            g = index[r] = len(groups)
            groups.append([None, i, i])
        groups[g][1], groups[g][2] = min(groups[g][1], i), max(groups[g][2], i)
        b = (t.size if t.is_symbolic else max(t.size, 1)) * item_bytes(t.dtype, precision)  # the runtime binds at least 4
        b = (b + 3) // 4 * 4
        if groups[g][0] is None or (r == t.name):
            groups[g][0] = b
        members[t.name] = g

    memory.visit_uses(graph, steps, touch)
    doc["arena"] = {"groups": [[dim_json(b), f, l] for b, f, l in groups], "tensors": members}
    return doc


def place_groups(groups: list[tuple[int, int, int]], align: int = OFFSET_ALIGN) -> tuple[list[int], int]:
    """(offsets, arena bytes) of storage groups (bytes, first step, last step) at one binding of the
    sizes: largest first, each in the smallest gap among the groups live with it (as
    runtime/src/backends/webgpu placeGroups does)."""
    order = sorted(range(len(groups)), key=lambda k: (-groups[k][0], groups[k][1]))
    offsets, placed, total = [0] * len(groups), [], 0
    for k in order:
        need, first, last = _align(groups[k][0], align), groups[k][1], groups[k][2]
        busy = sorted((offsets[j], offsets[j] + _align(groups[j][0], align)) for j in placed
                      if not (groups[j][2] < first or last < groups[j][1]))
        best, cursor = None, 0
        for lo, hi in busy:
            if lo - cursor >= need and (best is None or lo - cursor < best[1]):
                best = (cursor, lo - cursor)
            cursor = max(cursor, hi)
        offsets[k] = best[0] if best else cursor
        placed.append(k)
        total = max(total, offsets[k] + need)
    return offsets, total
