"""Ops along one axis, a thread per line: ArgReduce (argmax/argmin), CumSum (running sum or
product) and TopK (selection without scratch memory: the r-th result is the best element after
the (r-1)-th in the order value, then index)."""
from __future__ import annotations

from ...ir.dtype import FLOAT_DTYPES
from .indices import Shader, flat_kernel, line_base, lines_along, u


def arg_reduce(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    a = step.attrs
    n, A, inner = lines_along(x.shape, a["axis"])
    sh = Shader(ctx.part_elems, ctx.roots)
    yb, xb = sh.bind("y", y, write=True), sh.bind("x", x)
    better = (">" if a["kind"] == "argmax" else "<") + ("=" if a["select_last_index"] else "")
    lines = [f"let base = {line_base('gi', A, inner)};",
             f"var best = {xb.get('base')};", "var bi = 0i;",
             f"for (var j = 1u; j < {u(A)}; j = j + 1u) {{",
             f"  let v = {xb.get(f'base + j * {u(inner)}')};",
             f"  if (v {better} best) {{ best = v; bi = i32(j); }}", "}",
             yb.set("gi", "bi")]
    return [flat_kernel(op.name, sh, n, lines)]


def cumsum(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    a = step.attrs
    n, A, inner = lines_along(x.shape, a["axis"])
    is_f = x.dtype in FLOAT_DTYPES
    unit = ("0.0" if is_f else "0i") if a["kind"] == "sum" else ("1.0" if is_f else "1i")
    comb = "+" if a["kind"] == "sum" else "*"
    sh = Shader(ctx.part_elems, ctx.roots)
    yb, xb = sh.bind("y", y, write=True), sh.bind("x", x)
    pos = f"{u(A - 1)} - t" if a["reverse"] else "t"
    at = f"base + ({pos}) * {u(inner)}"
    step_lines = ([yb.set(at, "acc"), f"acc = acc {comb} {xb.get(at)};"] if a["exclusive"]
                  else [f"acc = acc {comb} {xb.get(at)};", yb.set(at, "acc")])
    lines = [f"let base = {line_base('gi', A, inner)};", f"var acc = {unit};",
             f"for (var t = 0u; t < {u(A)}; t = t + 1u) {{", *("  " + s for s in step_lines), "}"]
    return [flat_kernel(op.name, sh, n, lines)]


def topk(step, ctx):
    op = step.op
    (x,), (vals, idx) = op.inputs, op.outputs
    a = step.attrs
    n, A, inner = lines_along(x.shape, a["axis"])
    k = a["k"]
    if k == 0:
        return []
    sh = Shader(ctx.part_elems, ctx.roots)
    vb, ib, xb = sh.bind("y", vals, write=True), sh.bind("yi", idx, write=True), sh.bind("x", x)
    gt = ">" if a["largest"] else "<"
    ct = "f32" if x.dtype in FLOAT_DTYPES else "i32"
    lines = [f"let base = {line_base('gi', A, inner)};",
             f"let obase = {line_base('gi', k, inner)};",
             f"var pv: {ct} = {xb.get('base')};", "var pi = -1i;",
             f"for (var r = 0u; r < {u(k)}; r = r + 1u) {{",
             "  var found = false;", f"  var bv: {ct} = pv;", "  var bi = 0i;",
             f"  for (var j = 0u; j < {u(A)}; j = j + 1u) {{",
             f"    let v = {xb.get(f'base + j * {u(inner)}')};",
             "    let jj = i32(j);",
             # after the previous pick in the order (value, then lower index first) ...
             f"    let after = pi < 0i || (!(v {gt} pv) && (v != pv || jj > pi));",
             # ... and better than the best so far
             f"    if (after && (!found || v {gt} bv || (v == bv && jj < bi))) {{ bv = v; bi = jj; found = true; }}",
             "  }",
             f"  {vb.set(f'obase + r * {u(inner)}', 'bv')}",
             f"  {ib.set(f'obase + r * {u(inner)}', 'bi')}",
             "  pv = bv; pi = bi;", "}"]
    return [flat_kernel(op.name, sh, n, lines)]
