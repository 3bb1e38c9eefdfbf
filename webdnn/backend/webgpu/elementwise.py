"""Fused elementwise kernels, and the epilogue every other family applies to its results.

An Elementwise op is one expression over broadcast inputs; the contraction, pooling and conv
kernels call `Epilogue` to apply the Elementwise op fused into them (bias + activation +
residual add) at the point where they store a result."""
from __future__ import annotations

from ...ir.dtype import FLOAT_DTYPES
from ...ir.symbolic import Expr
from ..kernels import uniform_value
from .indices import Shader, broadcast_offset, decompose, flat_kernel, u
from ..expr import kind_of
from .wgsl import WGSLRenderer, literal, store_value


def _input_reader(sh: Shader, t, var: str, out_shape, out_idx, flat: str, bound: dict):
    """WGSL text reading input `t` at the output position (flat index `flat`, indices out_idx)."""
    v = uniform_value(t)
    if isinstance(v, Expr):  # a size bound at run time: from the sizes uniform
        return f"{'f32' if t.dtype in FLOAT_DTYPES else 'i32'}({u(v)})"
    if v is not None:
        kind = "f" if t.dtype in FLOAT_DTYPES else "i"
        return literal(v, kind)
    b = bound.get(t.name)
    if b is None:
        b = bound[t.name] = sh.bind(var, t)
    if tuple(t.shape) == tuple(out_shape):
        return b.get(flat)
    if t.size == 1:
        return b.get("0u")
    return b.get(broadcast_offset(t.shape, out_idx))


def needs_indices(inputs, out_shape) -> bool:
    return any(uniform_value(t) is None and tuple(t.shape) != tuple(out_shape) and t.size != 1 for t in inputs)


class Epilogue:
    """An Elementwise op applied to a value computed in registers (its input `slot`)."""

    def __init__(self, sh: Shader, op, slot: int, prefix: str = "e"):
        self.op, self.slot, self.sh, self.prefix = op, slot, sh, prefix
        self.out = op.outputs[0]
        self.bound: dict = {}

    def value(self, flat: str, value: str, idx_prefix: str = "eo") -> tuple[list[str], str, str]:
        """(lines, text, kind) of the epilogue's result for output element `flat` (value: f32 text)."""
        others = [t for i, t in enumerate(self.op.inputs) if i != self.slot]
        lines, idx = [], []
        if needs_indices(others, self.out.shape):
            lines, idx = decompose(flat, self.out.shape, idx_prefix)
        readers = []
        for i, t in enumerate(self.op.inputs):
            if i == self.slot:
                readers.append((value, "float32"))
            else:
                readers.append((_input_reader(self.sh, t, f"{self.prefix}{i}", self.out.shape, idx, flat, self.bound), t.dtype))
        r = WGSLRenderer(readers)
        k = kind_of(self.out.dtype)
        text = r.render(self.op.attrs["expr"], k, self.out.dtype)
        for h in r.helper_code().split("\n"):
            if h and h not in self.sh.helpers:
                self.sh.helpers.append(h)
        return lines, text, k

    def store(self, flat: str, value: str, idx_prefix: str = "eo") -> list[str]:
        """Lines computing the epilogue for output element `flat` (value: f32 text) and storing it
        through the output binding named 'y' (bound by the caller)."""
        lines, text, k = self.value(flat, value, idx_prefix)
        return lines + [f"y_set({flat}, {store_value(text, k, self.out.dtype)});"]


def elementwise(step, ctx):
    op = step.op
    out = op.outputs[0]
    sh = Shader(ctx.part_elems, ctx.roots)
    sh.bind("y", out, write=True)
    lines, idx = ([], [])
    if needs_indices(op.inputs, out.shape):
        lines, idx = decompose("gi", out.shape, "o")
    bound: dict = {}
    readers = [(_input_reader(sh, t, f"x{i}", out.shape, idx, "gi", bound), t.dtype) for i, t in enumerate(op.inputs)]
    r = WGSLRenderer(readers)
    k = kind_of(out.dtype)
    text = r.render(op.attrs["expr"], k, out.dtype)
    sh.helpers.append(r.helper_code())
    lines.append(f"y_set(gi, {store_value(text, k, out.dtype)});")
    return [flat_kernel(op.name, sh, out.size, lines)]
