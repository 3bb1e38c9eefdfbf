"""Window ops, a fragment per output element: pooling (max / average, with a fused epilogue), LRN,
and Resize (a separable weighted gather over the converter's per-axis taps, backend/kernels.py)."""
from __future__ import annotations

from .contraction import _nchw
from .elementwise import store
from .glsl import f32_lit, i32_lit
from .program import decompose, is_float, lit, offset, strides

INT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int32": (-2**31, 2**31 - 1), "int64": (-2**31, 2**31 - 1)}


def pool(step, ctx):
    op = step.op
    (x,) = op.inputs
    a = step.attrs
    N, C, H, W = _nchw(x.shape)
    _, _, OH, OW = _nchw(op.outputs[0].shape)
    (kh, kw), (sh_, sw), (dh, dw) = a["kernel"], a["strides"], a["dilations"]
    pt, pl, pb, pr = a["pads"]
    is_max = a["kind"] == "max"
    p = ctx.program()
    xa = p.bind("x", x)
    lines, (n, c, oh, ow) = decompose("i", (N, C, OH, OW), "o")
    lines += [f"int base = ({n} * {lit(C)} + {c}) * {lit(H * W)};",
              f"int h0 = {oh} * {lit(sh_)} - {lit(pt)};", f"int w0 = {ow} * {lit(sw)} - {lit(pl)};",
              "float acc = " + ("-3.4028235e38;" if is_max else "0.0;"), "float cnt = 0.0;",
              f"for (int a = 0; a < {lit(kh)}; a++) {{", f"  int ih = h0 + a * {lit(dh)};",
              f"  for (int b = 0; b < {lit(kw)}; b++) {{", f"    int iw = w0 + b * {lit(dw)};"]
    if not is_max and a["count_include_pad"]:
        lines.append(f"    if (ih >= {lit(-pt)} && ih < {lit(H + pb)} && iw >= {lit(-pl)} && iw < {lit(W + pr)}) {{ cnt += 1.0; }}")
    lines += [f"    if (ih < 0 || ih >= {lit(H)} || iw < 0 || iw >= {lit(W)}) {{ continue; }}",
              f"    float v = float({xa}(base + ih * {lit(W)} + iw));"]
    if is_max:
        lines.append("    acc = max(acc, v);")
    else:
        lines.append("    acc += v;")
        if not a["count_include_pad"]:
            lines.append("    cnt += 1.0;")
    lines += ["  }", "}"]
    return [store(step, p, "acc" if is_max else "acc / max(cnt, 1.0)", lines)]


def lrn(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    a = step.attrs
    C = x.shape[1]
    inner = 1
    for d in x.shape[2:]:
        inner *= d
    lo, hi = (a["size"] - 1) // 2, -(-(a["size"] - 1) // 2)
    p = ctx.program()
    xa = p.bind("x", x)
    lines, (n, c, q) = decompose("i", (x.shape[0], C, inner), "o")
    lines += [f"int base = {n} * {lit(C * inner)} + {q};",
              f"int c0 = max({c} - {lit(lo)}, 0);", f"int c1 = min({c} + {lit(hi)}, {lit(C - 1)});",
              "float s = 0.0;",
              f"for (int k = c0; k <= c1; k++) {{ float v = {xa}(base + k * {lit(inner)}); s += v * v; }}",
              f"float d = {f32_lit(a['bias'])} + {f32_lit(float(a['alpha']) / a['size'])} * s;"]
    return [p.draw(op.name, y, lines, f"{xa}(i) / exp2({f32_lit(a['beta'])} * log2(d))")]


def _store(v: str, dtype: str) -> str:
    if is_float(dtype):
        return v
    if dtype == "bool":
        return f"({v} != 0.0 ? 1 : 0)"
    lo, hi = INT_RANGE[dtype]
    return f"int(clamp(roundEven({v}), {float(lo)!r}, {float(hi)!r}))"


def resize(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    a = step.attrs
    p = ctx.program()
    xa = p.bind("x", x)
    lines, idx = decompose("i", y.shape, "o")
    xs = strides(x.shape)
    axes = [k for k, t in enumerate(a["taps"]) if t]
    consts = []
    for k in axes:
        T, n = a["taps"][k], y.shape[k]
        consts.append(f"const int RI{k}[{n * T}] = int[{n * T}](" + ", ".join(i32_lit(v) for v in a["index"][k]) + ");")
        consts.append(f"const float RW{k}[{n * T}] = float[{n * T}](" + ", ".join(f32_lit(float(v)) for v in a["weight"][k]) + ");")
    p.accessors += consts
    fill = f32_lit(a["extrapolation_value"])
    lines.append("float acc = 0.0;")
    if axes:
        outside = " || ".join(f"RI{k}[{idx[k]} * {lit(a['taps'][k])}] < 0" for k in axes)
        fixed = offset([("0" if k in axes else idx[k]) for k in range(len(x.shape))], xs)
        lines.append(f"if ({outside}) {{ acc = {fill}; }} else {{")
        depth = 1
        for k in axes:
            T = a["taps"][k]
            lines.append("  " * depth + f"for (int t{k} = 0; t{k} < {lit(T)}; t{k}++) {{")
            depth += 1
            lines.append("  " * depth + f"int p{k} = {idx[k]} * {lit(T)} + t{k};")
        weight = " * ".join(f"RW{k}[p{k}]" for k in axes)
        off = " + ".join([fixed] + [f"RI{k}[p{k}] * {lit(xs[k])}" for k in axes])
        lines.append("  " * depth + f"acc += {weight} * float({xa}({off}));")
        for _ in axes:
            depth -= 1
            lines.append("  " * depth + "}")
        lines.append("}")
    else:
        lines.append(f"acc = float({xa}(i));")
    return [p.draw(op.name, y, lines, _store("acc", y.dtype))]
