"""Where every tensor lives: textures of one texel per element, and which activations share one.

A tensor of n elements is packed `width` = min(n, T) texels wide, T the largest texture side the
descriptor asks of the device (`max_texture`, 2048 by default: the MAX_TEXTURE_SIZE WebGL2 guarantees,
so a descriptor loads everywhere; the runtime refuses a device with less); a tensor of more than T × T elements is
split over several textures of `cap` = width × T elements each. Shapes do not enter the packing,
so a Reshape shares its input's textures as they are.

Textures are "slots" of one size and kind (float / int). An activation takes a free slot of its
size when its step runs and gives it back after its last reader; a step's outputs are placed before
its inputs are released, so no draw reads the texture it writes (WebGL forbids that feedback loop).
Inputs, outputs and constants keep slots of their own.
"""
from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_TEXTURE = 2048


@dataclass(frozen=True)
class Packing:
    width: int
    cap: int                 # elements per texture
    parts: tuple             # (height of each texture)

    def doc(self, slots) -> dict:
        return {"width": self.width, "cap": self.cap, "textures": list(slots)}


def packing(size: int, max_texture: int) -> Packing:
    n = max(size, 1)
    width = min(n, max_texture)
    cap = width * max_texture
    parts, left = [], n
    while left > 0:
        rows = -(-min(left, cap) // width)
        parts.append(rows)
        left -= cap
    return Packing(width, cap, tuple(parts))


def place(graph, steps, packings: dict, roots: dict, kinds: dict) -> tuple[list, dict]:
    """-> (textures [{"width", "height", "type"}], {tensor root: [slot per part]}).
    kinds: root -> "float" | "int"; steps: the lowered steps (their inputs / outputs)."""
    textures, slots, free = [], {}, {}
    pinned = {roots.get(t.name, t.name) for t in graph.outputs} | {roots.get(t.name, t.name) for t in graph.inputs}

    def take(root, reuse: bool):
        p = packings[root]
        got = []
        for h in p.parts:
            key = (p.width, h, kinds[root])
            pool = free.get(key) if reuse else None
            if pool:
                got.append(pool.pop())
            else:
                textures.append({"width": p.width, "height": h, "type": kinds[root]})
                got.append(len(textures) - 1)
        slots[root] = got

    last = {}
    for i, s in enumerate(steps):
        for t in s.inputs:
            if t is not None and not t.is_constant:
                last[roots.get(t.name, t.name)] = i
    for t in graph.inputs:
        take(roots.get(t.name, t.name), False)
    for t in graph.constants():
        r = roots.get(t.name, t.name)
        if r not in slots and r in packings:
            take(r, False)
    for i, s in enumerate(steps):
        for t in s.outputs:
            r = roots.get(t.name, t.name)
            if r not in slots:
                take(r, r not in pinned)
        for t in {roots.get(t.name, t.name) for t in s.inputs if t is not None and not t.is_constant}:
            if last.get(t) == i and t not in pinned:
                p = packings[t]
                for h, k in zip(p.parts, slots[t]):
                    free.setdefault((p.width, h, kinds[t]), []).append(k)
        for t in s.outputs:  # written and never read: its slot is free again after this step
            r = roots.get(t.name, t.name)
            if r not in last and r not in pinned and r in slots and not any(
                    roots.get(o.name, o.name) == r for o in graph.outputs):
                p = packings[r]
                for h, k in zip(p.parts, slots[r]):
                    free.setdefault((p.width, h, kinds[r]), []).append(k)
                last[r] = i
    return textures, slots
