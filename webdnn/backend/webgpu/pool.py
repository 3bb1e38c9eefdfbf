"""Pooling (max/avg over a window, with a fused epilogue) and LRN: a thread per output element."""
from __future__ import annotations

from .elementwise import Epilogue
from .indices import Shader, decompose, flat_kernel, si, u
from .wgsl import f32_lit, store_value


def nchw(shape):
    """The descriptor's 2-D form: [N, C, W] is read as [N, C, 1, W]."""
    return (shape[0], shape[1], 1, shape[2]) if len(shape) == 3 else tuple(shape)


def pool(step, ctx):
    op = step.op
    (x,) = op.inputs
    a = step.attrs
    N, C, H, W = nchw(x.shape)
    _, _, OH, OW = nchw(op.outputs[0].shape)
    (kh, kw), (sh_, sw), (dh, dw) = a["kernel"], a["strides"], a["dilations"]
    pt, pl, pb, pr = a["pads"]
    is_max = a["kind"] == "max"
    out = step.outputs[0]
    sh = Shader(ctx.part_elems, ctx.roots)
    sh.bind("y", out, write=True)
    xb = sh.bind("x", x)
    lines, (n, c, oh, ow) = decompose("gi", (N, C, OH, OW), "o")
    lines += [f"let base = ({n} * {u(C)} + {c}) * {u(H * W)};",
              f"let h0 = i32({oh} * {u(sh_)}) - {pt}i;", f"let w0 = i32({ow} * {u(sw)}) - {pl}i;",
              "var acc = " + ("(-f_inf());" if is_max else "0.0;"), "var cnt = 0.0;",
              f"for (var i = 0i; i < {kh}i; i = i + 1i) {{",
              f"  let ih = h0 + i * {dh}i;",
              f"  for (var j = 0i; j < {kw}i; j = j + 1i) {{",
              f"    let iw = w0 + j * {dw}i;"]
    if not is_max and a["count_include_pad"]:
        lines.append(f"    if (ih >= -{pt}i && ih < {si(H + pb)} && iw >= -{pl}i && iw < {si(W + pr)}) {{ cnt = cnt + 1.0; }}")
    lines += [f"    if (ih < 0i || ih >= {si(H)} || iw < 0i || iw >= {si(W)}) {{ continue; }}",
              f"    let v = f32({xb.get('base + u32(ih) * ' + u(W) + ' + u32(iw)')});"]
    if is_max:
        lines.append("    acc = max(acc, v);")
    else:
        lines.append("    acc = acc + v;")
        if not a["count_include_pad"]:
            lines.append("    cnt = cnt + 1.0;")
    lines += ["  }", "}"]
    value = store_value("acc" if is_max else "acc / max(cnt, 1.0)", "f", out.dtype)
    if step.epilogue is not None:
        lines += Epilogue(sh, step.epilogue, step.slot).store("gi", value)
    else:
        lines.append(f"y_set(gi, {value});")
    return [flat_kernel(op.name, sh, out.size, lines)]


def lrn(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    a = step.attrs
    C = x.shape[1]
    inner = 1
    for d in x.shape[2:]:
        inner *= d
    lo, hi = (a["size"] - 1) // 2, -(-(a["size"] - 1) // 2)
    sh = Shader(ctx.part_elems, ctx.roots)
    yb = sh.bind("y", y, write=True)
    xb = sh.bind("x", x)
    lines, (n, c, q) = decompose("gi", (x.shape[0], C, inner), "o")
    lines += [f"let base = {n} * {u(C * inner)} + {q};",
              f"let c0 = max(i32({c}) - {lo}i, 0i);", f"let c1 = min(i32({c}) + {hi}i, {si(C - 1)});",
              "var s = 0.0;",
              "for (var k = c0; k <= c1; k = k + 1i) {",
              f"  let v = {xb.get(f'base + u32(k) * {u(inner)}')};",
              "  s = s + v * v;", "}",
              f"let d = {f32_lit(a['bias'])} + {f32_lit(float(a['alpha']) / a['size'])} * s;",
              yb.set("gi", f"{xb.get('gi')} / exp2({f32_lit(a['beta'])} * log2(d))")]
    return [flat_kernel(op.name, sh, y.size, lines)]
