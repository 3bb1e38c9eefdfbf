"""Fused elementwise programs, and the epilogue every other family applies to the value it computes
(bias + activation + residual add, decided once in backend/lowering.py)."""
from __future__ import annotations

from ..expr import kind_of
from ..kernels import uniform_value
from .glsl import GLSLRenderer, literal
from .program import Program, broadcast_offset, decompose, is_float


def _reader(p: Program, t, var: str, out_shape, idx, flat: str):
    """GLSL text reading input `t` at the output element (flat index `flat`, indices idx)."""
    v = uniform_value(t)
    if v is not None:
        return literal(v, "f" if is_float(t.dtype) else "i")
    at = p.bind(var, t)
    if tuple(t.shape) == tuple(out_shape):
        return f"{at}({flat})"
    if t.size == 1:
        return f"{at}(0)"
    return f"{at}({broadcast_offset(t.shape, idx)})"


def _needs_indices(inputs, out_shape) -> bool:
    return any(uniform_value(t) is None and tuple(t.shape) != tuple(out_shape) and t.size != 1 for t in inputs)


def render(p: Program, op, values: dict, flat: str = "i", prefix: str = "x") -> tuple[list[str], str]:
    """(lines, result) of Elementwise `op` at output element `flat`; values: {input slot: (GLSL
    text, dtype)} computed by the caller (an epilogue's slot), the other inputs read from textures."""
    out = op.outputs[0]
    others = [t for k, t in enumerate(op.inputs) if k not in values]
    lines, idx = ([], [])
    if _needs_indices(others, out.shape):
        lines, idx = decompose(flat, out.shape, f"{prefix}o")
    readers = [values[k] if k in values else (_reader(p, t, f"{prefix}{k}", out.shape, idx, flat), t.dtype)
               for k, t in enumerate(op.inputs)]
    r = GLSLRenderer(readers)
    k = kind_of(out.dtype)
    text = r.store(r.render(op.attrs["expr"], k, out.dtype), k, out.dtype)
    p.helpers |= r.helpers
    return lines, text


def elementwise(step, ctx):
    op = step.op
    p = ctx.program()
    lines, text = render(p, op, {})
    return [p.draw(op.name, op.outputs[0], lines, text)]


def store(step, p: Program, value: str, lines: list[str], flat: str = "i", kind: str = "f"):
    """The draw of a step whose value at output element `flat` is `value` (of `kind`, as computed):
    through its epilogue if it has one, cast to the output's dtype otherwise."""
    out = step.op.outputs[0]
    if step.epilogue is None:
        r = GLSLRenderer()
        text = r.store(value, kind, out.dtype)
        p.helpers |= r.helpers
        return p.draw(step.op.name, out, lines, text)
    more, text = render(p, step.epilogue, {step.slot: (value, out.dtype)}, flat, "e")
    return p.draw(step.op.name, step.epilogue.outputs[0], lines + more, text)
