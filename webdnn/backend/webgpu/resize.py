"""Resize: a separable weighted gather. The converter's per-axis taps (input index and weight of
every tap of every output position, backend/kernels.py) become private arrays of the shader;
each output element sums the product of its taps over the resized axes."""
from __future__ import annotations

from ...ir.dtype import FLOAT_DTYPES
from .indices import Shader, decompose, flat_kernel, offset, strides, u
from .wgsl import f32_lit, i32_lit

INT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int32": (-2**31, 2**31 - 1), "int64": (-2**31, 2**31 - 1)}


def resize(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    a = step.attrs
    sh = Shader(ctx.part_elems, ctx.roots)
    yb, xb = sh.bind("y", y, write=True), sh.bind("x", x)
    lines, idx = decompose("gi", y.shape, "o")
    xs = strides(x.shape)
    axes = [k for k, t in enumerate(a["taps"]) if t]
    for k in axes:
        T, n = a["taps"][k], y.shape[k]
        sh.helpers.append(f"var<private> RI{k}: array<i32, {n * T}> = array<i32, {n * T}>("
                          + ", ".join(i32_lit(v) for v in a["index"][k]) + ");")
        sh.helpers.append(f"var<private> RW{k}: array<f32, {n * T}> = array<f32, {n * T}>("
                          + ", ".join(f32_lit(float(v)) for v in a["weight"][k]) + ");")
    fill = f32_lit(a["extrapolation_value"])
    if axes:
        outside = " || ".join(f"RI{k}[{idx[k]} * {u(a['taps'][k])}] < 0i" for k in axes)
        lines.append(f"if ({outside}) {{ {yb.set('gi', _store(fill, y.dtype))} return; }}")
    lines.append("var acc = 0.0;")
    # one loop per resized axis, the untouched axes at their output index
    fixed = offset([("0u" if k in axes else idx[k]) for k in range(len(x.shape))], xs)
    depth = 0
    for k in axes:
        T = a["taps"][k]
        lines.append("  " * depth + f"for (var t{k} = 0u; t{k} < {u(T)}; t{k} = t{k} + 1u) {{")
        depth += 1
        lines.append("  " * depth + f"let p{k} = {idx[k]} * {u(T)} + t{k};")
    if axes:
        weight = " * ".join(f"RW{k}[p{k}]" for k in axes)
        off = " + ".join([fixed] + [f"u(RI{k}[p{k}]) * {u(xs[k])}".replace("u(", "u32(", 1) for k in axes])
        lines.append("  " * depth + f"acc = acc + {weight} * f32({xb.get(off)});")
        for _ in axes:
            depth -= 1
            lines.append("  " * depth + "}")
    else:
        lines.append(f"acc = f32({xb.get('gi')});")
    lines.append(yb.set("gi", _store("acc", y.dtype)))
    return [flat_kernel(op.name, sh, y.size, lines)]


def _store(v: str, dtype: str) -> str:
    if dtype in FLOAT_DTYPES:
        return v
    if dtype == "bool":
        return f"select(0i, 1i, {v} != 0.0)"
    lo, hi = INT_RANGE[dtype]
    return f"i32(clamp(round({v}), {float(lo)!r}, {float(hi)!r}))"

