"""Reductions along axes and ops along one axis, a fragment per output element: Reduce, Softmax,
ArgReduce, CumSum, TopK. Softmax's fragment finds its row's maximum and sum itself (no scratch
texture); TopK's r-th result is the best element after the (r-1)-th in the order value, then index."""
from __future__ import annotations

from ...errors import ConversionError
from ..kernels import reduction_kinds
from .glsl import INF, f32_lit
from .program import decompose, is_float, lit, offset, size_of, strides

# kind -> (initial value, map of x, combine(a, b), final map of (acc, count))
FLOAT_KINDS = reduction_kinds({"zero": "0.0", "one": "1.0", "lowest": f"(-{INF})", "highest": INF})
INT_KINDS = reduction_kinds({"zero": "0", "one": "1", "lowest": "(-2147483647 - 1)", "highest": "2147483647"}, integer=True)


def reduce(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    kind, axes = step.attrs["kind"], step.attrs["axes"]
    f = is_float(x.dtype)
    table = FLOAT_KINDS if f else INT_KINDS
    if kind not in table:
        raise ConversionError(f"webgl backend: Reduce {kind} of {x.dtype} ({op.name!r}) is not supported")
    init, fmap, comb, fin = table[kind]
    if x.dtype == "bool" and kind in ("max", "min"):
        init = "0" if kind == "max" else "1"  # any / all of an empty set: false / true
    ty = "float" if f else "int"
    xs = strides(x.shape)
    kept = [k for k in range(len(x.shape)) if k not in axes]
    r_shape = [x.shape[k] for k in axes]
    R = size_of(r_shape)
    p = ctx.program()
    xa = p.bind("x", x)
    ol, oi = decompose("i", [x.shape[k] for k in kept], "k")
    lines = list(ol) + [f"int base = {offset(oi, [xs[k] for k in kept])};"]
    n = f32_lit(R) if f else lit(max(R, 1))

    def loop(acc, init_, fmap_, comb_):
        rl, ri = decompose("r", r_shape, "q")
        return [f"{ty} {acc} = {init_};",
                f"for (int r = 0; r < {lit(R)}; r++) {{", *("  " + ln for ln in rl),
                f"  {ty} xv = {xa}(base + {offset(ri, [xs[k] for k in axes])});",
                f"  {acc} = {comb_.format(a=acc, b=fmap_.format(x='xv'))};", "}"]
    if kind == "logsumexp":
        lines += loop("m", FLOAT_KINDS["max"][0], "{x}", FLOAT_KINDS["max"][2])
        lines.append(f"if (m == (-{INF}) || m == {INF}) {{ m = 0.0; }}")
    lines += loop("acc", init, fmap, comb)
    result = fin.format(acc="acc", n=n)
    if y.dtype == "bool":
        result = f"({result} != 0 ? 1 : 0)"
    return [p.draw(op.name, y, lines, result)]


def _line(i_line: str, A: int, inner: int) -> str:
    """Offset of the first element of line `i_line` of the lines along an axis of length A."""
    if inner == 1:
        return f"{i_line} * {lit(A)}"
    return f"({i_line} / {lit(inner)}) * {lit(A * inner)} + {i_line} % {lit(inner)}"


def _along(shape, axis):
    """(axis length, stride along it) and lines giving `base` (the element's line's first offset)
    and `j` (its position along the axis) for output element i of a tensor of `shape`."""
    A, inner = shape[axis], size_of(shape[axis + 1:])
    return A, inner, [f"int j = (i / {lit(inner)}) % {lit(A)};", f"int base = i - j * {lit(inner)};"]


def softmax(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    ax, log = step.attrs["axis"], step.attrs["log"]
    A, inner, lines = _along(x.shape, ax)
    p = ctx.program()
    xa = p.bind("x", x)
    at = f"base + t * {lit(inner)}" if inner != 1 else "base + t"
    lines += [f"float m = -{INF};",
              f"for (int t = 0; t < {lit(A)}; t++) {{ m = max(m, {xa}({at})); }}",
              "float s = 0.0;",
              f"for (int t = 0; t < {lit(A)}; t++) {{ s += exp({xa}({at}) - m); }}"]
    value = f"{xa}(i) - m - log(s)" if log else f"exp({xa}(i) - m) / s"
    return [p.draw(op.name, y, lines, value)]


def arg_reduce(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    a = step.attrs
    A, inner = x.shape[a["axis"]], size_of(x.shape[a["axis"] + 1:])
    ty = "float" if is_float(x.dtype) else "int"
    p = ctx.program()
    xa = p.bind("x", x)
    better = (">" if a["kind"] == "argmax" else "<") + ("=" if a["select_last_index"] else "")
    lines = [f"int base = {_line('i', A, inner)};", f"{ty} best = {xa}(base);", "int bi = 0;",
             f"for (int t = 1; t < {lit(A)}; t++) {{",
             f"  {ty} v = {xa}(base + t * {lit(inner)});",
             f"  if (v {better} best) {{ best = v; bi = t; }}", "}"]
    return [p.draw(op.name, y, lines, "bi")]


def cumsum(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    a = step.attrs
    A, inner, lines = _along(x.shape, a["axis"])
    f = is_float(x.dtype)
    ty = "float" if f else "int"
    unit = ("0.0" if f else "0") if a["kind"] == "sum" else ("1.0" if f else "1")
    comb = "+" if a["kind"] == "sum" else "*"
    p = ctx.program()
    xa = p.bind("x", x)
    # the elements before j (after j when reversed), and j itself unless exclusive
    lo, hi = ("j + 1" if a["exclusive"] else "j", lit(A)) if a["reverse"] else ("0", "j" if a["exclusive"] else "j + 1")
    lines += [f"{ty} acc = {unit};",
              f"for (int t = {lo}; t < {hi}; t++) {{ acc = acc {comb} {xa}(base + t * {lit(inner)}); }}"]
    return [p.draw(op.name, y, lines, "acc")]


def topk(step, ctx):
    op = step.op
    (x,), outs = op.inputs, op.outputs
    a = step.attrs
    k = a["k"]
    if k == 0:
        return []
    ax = a["axis"]
    A, inner = x.shape[ax], size_of(x.shape[ax + 1:])
    ty = "float" if is_float(x.dtype) else "int"
    gt = ">" if a["largest"] else "<"
    draws = []
    for which, y in enumerate(outs):
        p = ctx.program()
        xa = p.bind("x", x)
        lines = [f"int r = (i / {lit(inner)}) % {lit(k)};",
                 f"int base = (i / {lit(k * inner)}) * {lit(A * inner)} + i % {lit(inner)};",
                 f"{ty} pv = {xa}(base);", "int pi = -1;", f"{ty} bv = pv;", "int bi = 0;",
                 f"for (int q = 0; q < {lit(k)}; q++) {{",
                 "  bool found = false; bv = pv; bi = 0;",
                 f"  for (int t = 0; t < {lit(A)}; t++) {{",
                 f"    {ty} v = {xa}(base + t * {lit(inner)});",
                 f"    bool after = pi < 0 || (!(v {gt} pv) && (v != pv || t > pi));",
                 f"    if (after && (!found || v {gt} bv || (v == bv && t < bi))) {{ bv = v; bi = t; found = true; }}",
                 "  }",
                 "  if (q == r) { break; }", "  pv = bv; pi = bi;", "}"]
        draws.append(p.draw(f"{op.name}:{y.name}", y, lines, "bv" if which == 0 else "bi"))
    return draws
