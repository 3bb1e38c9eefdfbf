"""Contractions with a fused epilogue: MatMul, Conv, ConvTranspose. A fragment sums the products
for its output element (four at a time where the contracted length allows) and stores through
the epilogue (bias + activation + residual)."""
from __future__ import annotations

from .elementwise import store
from .program import broadcast_offset, decompose, is_float, lit


def _nchw(shape):
    """The descriptor's 2-D form: [N, C, W] is read as [N, C, 1, W]."""
    return (shape[0], shape[1], 1, shape[2]) if len(shape) == 3 else tuple(shape)


def _sum_loop(n: int, term, acc: str = "acc", var: str = "k") -> list[str]:
    """Lines adding term(index text) for index < n to `acc`, unrolled by 4 (products in the
    same order as a plain loop's partial sums: acc += t0 + t1 + t2 + t3 keeps four reads in flight)."""
    q = n // 4 * 4
    lines = []
    if q:
        lines += [f"for (int {var} = 0; {var} < {lit(q)}; {var} += 4) {{",
                  f"  {acc} += " + " + ".join(term(f'({var} + {j})' if j else var) for j in range(4)) + ";", "}"]
    for j in range(q, n):
        lines.append(f"{acc} += {term(lit(j))};")
    return lines


def matmul(step, ctx):
    op = step.op
    a, b = op.inputs
    y = op.outputs[0]
    M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
    p = ctx.program()
    aa, ba = p.bind("a", a), p.bind("b", b)
    lines, idx = decompose("i", y.shape, "o")
    bidx, m, n = idx[:-2], idx[-2], idx[-1]
    a_base = broadcast_offset(a.shape[:-2], bidx) if a.shape[:-2] else "0"
    b_base = broadcast_offset(b.shape[:-2], bidx) if b.shape[:-2] else "0"
    kind = "f" if is_float(y.dtype) else "i"
    lines += [f"int ab = ({a_base}) * {lit(M * K)} + {m} * {lit(K)};",
              f"int bb = ({b_base}) * {lit(K * N)} + {n};",
              f"{'float' if kind == 'f' else 'int'} acc = {'0.0' if kind == 'f' else '0'};"]
    lines += _sum_loop(K, lambda k: f"{aa}(ab + {k}) * {ba}(bb + {k} * {lit(N)})")
    return [store(step, p, "acc", lines, kind=kind)]


def conv(step, ctx):
    op = step.op
    x, w = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    at = step.attrs
    N, C, H, W = _nchw(x.shape)
    _, M, OH, OW = _nchw(op.outputs[0].shape)
    g = at["group"]
    Cg, Mg = C // g, M // g
    kh, kw = (w.shape[2], w.shape[3]) if len(w.shape) == 4 else (1, w.shape[2])
    (sh_, sw), (dh, dw) = at["strides"], at["dilations"]
    pt, pl = at["pads"][0], at["pads"][1]
    p = ctx.program()
    xa, wa = p.bind("x", x), p.bind("w", w)
    lines, (n, m, oh, ow) = decompose("i", (N, M, OH, OW), "o")
    lines += [f"int grp = {m} / {lit(Mg)};",
              f"int h0 = {oh} * {lit(sh_)} - {lit(pt)};", f"int w0 = {ow} * {lit(sw)} - {lit(pl)};",
              f"float acc = {p.bind('bias', bias) + f'({m})' if bias is not None else '0.0'};",
              f"int xc = ({n} * {lit(C)} + grp * {lit(Cg)}) * {lit(H * W)};",
              f"int wc = {m} * {lit(Cg * kh * kw)};",
              f"for (int a = 0; a < {lit(kh)}; a++) {{",
              f"  int ih = h0 + a * {lit(dh)};",
              f"  if (ih < 0 || ih >= {lit(H)}) {{ continue; }}",
              f"  for (int b = 0; b < {lit(kw)}; b++) {{",
              f"    int iw = w0 + b * {lit(dw)};",
              f"    if (iw < 0 || iw >= {lit(W)}) {{ continue; }}",
              f"    int xo = xc + ih * {lit(W)} + iw;", f"    int wo = wc + a * {lit(kw)} + b;"]
    lines += ["    " + ln for ln in _sum_loop(Cg, lambda c: f"{xa}(xo + {c} * {lit(H * W)}) * {wa}(wo + {c} * {lit(kh * kw)})",
                                           var="c")]
    lines += ["  }", "}"]
    return [store(step, p, "acc", lines)]


def conv_transpose(step, ctx):
    """Gather form: each output element sums the input positions that scatter into it."""
    op = step.op
    x, w = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    at = step.attrs
    N, C, H, W = _nchw(x.shape)
    _, M, OH, OW = _nchw(op.outputs[0].shape)
    g = at["group"]
    Cg, Mg = C // g, M // g
    kh, kw = (w.shape[2], w.shape[3]) if len(w.shape) == 4 else (1, w.shape[2])
    (sh_, sw), (dh, dw) = at["strides"], at["dilations"]
    pt, pl = at["pads"][0], at["pads"][1]
    p = ctx.program()
    xa, wa = p.bind("x", x), p.bind("w", w)
    lines, (n, m, oh, ow) = decompose("i", (N, M, OH, OW), "o")
    lines += [f"int grp = {m} / {lit(Mg)};", f"int mm = {m} % {lit(Mg)};",
              f"float acc = {p.bind('bias', bias) + f'({m})' if bias is not None else '0.0'};",
              f"for (int a = 0; a < {lit(kh)}; a++) {{",
              f"  int th = {oh} + {lit(pt)} - a * {lit(dh)};",
              f"  if (th < 0 || th % {lit(sh_)} != 0) {{ continue; }}",
              f"  int ih = th / {lit(sh_)};", f"  if (ih >= {lit(H)}) {{ continue; }}",
              f"  for (int b = 0; b < {lit(kw)}; b++) {{",
              f"    int tw = {ow} + {lit(pl)} - b * {lit(dw)};",
              f"    if (tw < 0 || tw % {lit(sw)} != 0) {{ continue; }}",
              f"    int iw = tw / {lit(sw)};", f"    if (iw >= {lit(W)}) {{ continue; }}",
              f"    for (int c = 0; c < {lit(Cg)}; c++) {{",
              f"      int ci = grp * {lit(Cg)} + c;",
              f"      acc += {xa}((({n} * {lit(C)} + ci) * {lit(H)} + ih) * {lit(W)} + iw)"
              f" * {wa}(((ci * {lit(Mg)} + mm) * {lit(kh)} + a) * {lit(kw)} + b);",
              "    }", "  }", "}"]
    return [store(step, p, "acc", lines)]

