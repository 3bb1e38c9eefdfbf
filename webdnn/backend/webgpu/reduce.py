"""Reductions and softmax. A long reduction gets a workgroup per output that combines its
threads' partial results in workgroup memory; a short one a thread per output."""
from __future__ import annotations

from ...ir.dtype import FLOAT_DTYPES
from ..kernels import reduction_kinds
from .wgsl import f32_lit
from .indices import (Dispatch, Shader, decompose, flat_groups, flat_kernel, is_sym, offset, size_of, strides, u)

COOP = 64        # threads cooperating on one output
COOP_FROM = 128  # reductions at least this long are cooperative

# kind -> (initial value, map of x, combine(a, b), final map of (acc, count)); f32 / i32 arithmetic
FLOAT_KINDS = reduction_kinds({"zero": "0.0", "one": "1.0", "lowest": "(-f_inf())", "highest": "f_inf()"})
INT_KINDS = reduction_kinds({"zero": "0i", "one": "1i", "lowest": "i32(-2147483647 - 1)", "highest": "2147483647i"},
                            integer=True)


def _fmt(t, **kw):
    return t.format(**kw)


def _coop_entry(n_out):
    groups = flat_groups(n_out, 1)
    wid = "wid.y * 65535u + wid.x" if is_sym(n_out) or groups[1] > 1 else "wid.x"
    return groups, wid


def _coop(length) -> bool:
    """A workgroup per output for long reductions, and for those whose length is known only at run time."""
    return is_sym(length) or length >= COOP_FROM


def _count(n, is_float: bool) -> str:
    """The reduction length as an f32 / i32 operand (a symbolic one from the sizes uniform)."""
    if is_sym(n):
        return f"f32({u(n)})" if is_float else f"i32({u(n)})"
    return f32_lit(n) if is_float else f"{n}i"


def _reduce_loop(acc, init, fmap, comb, x, base, r_count, r_shape, r_strides, coop: bool, var="r") -> list[str]:
    """Lines accumulating fmap(x[base + roff(r)]) over r < r_count into `acc`."""
    rl, ri = decompose(var, r_shape, "q")
    roff = offset(ri, r_strides)
    start, step = ("lid", u(COOP)) if coop else ("0u", "1u")
    return [f"var {acc} = {init};",
            f"for (var {var} = {start}; {var} < {u(r_count)}; {var} = {var} + {step}) {{",
            *("  " + ln for ln in rl),
            f"  let xv = {x.get(f'{base} + {roff}' if roff != '0u' else base)};",
            f"  {acc} = {_fmt(comb, a=acc, b=_fmt(fmap, x='xv'))};",
            "}"]


# f32 combines a subgroup operation does (wgsl.header's sg_* functions)
SUBGROUP_COMBINES = {"{a} + {b}": "sg_add", "max({a}, {b})": "sg_max", "min({a}, {b})": "sg_min", "{a} * {b}": "sg_mul"}
# workgroup memory of the subgroup path: how many subgroups have put their result in `red`
SG_SLOTS = "var<workgroup> sg_slots: atomic<u32>;"


def _coop_combine(acc, comb, sh_name, is_float: bool = True) -> list[str]:
    """Combine every thread's `acc` over the workgroup; every thread's `acc` ends as the result (the shader
    declares SG_SLOTS beside `sh_name`). Where the device has subgroups (SUBGROUPS, a header constant) each
    subgroup combines its own, its first invocation puts that in the next free slot of `sh_name`, and every
    thread folds the slots; otherwise a tree in workgroup memory."""
    tree = [f"{sh_name}[lid] = {acc};", "workgroupBarrier();"]
    s = COOP // 2
    while s >= 1:
        tree += [f"if (lid < {u(s)}) {{ {sh_name}[lid] = {_fmt(comb, a=f'{sh_name}[lid]', b=f'{sh_name}[lid + {u(s)}]')}; }}",
                 "workgroupBarrier();"]
        s //= 2
    tree.append(f"{acc} = {sh_name}[0];")
    sg = SUBGROUP_COMBINES.get(comb) if is_float else None
    if sg is None:
        return tree
    # the count is cleared first rather than trusted to start at zero (not every driver zeroes workgroup memory)
    return ["if (SUBGROUPS) {",
            "  if (lid == 0u) { atomicStore(&sg_slots, 0u); }",
            "  workgroupBarrier();",
            f"  let sg_v = {sg}({acc});",
            f"  if (sg_first()) {{ {sh_name}[atomicAdd(&sg_slots, 1u)] = sg_v; }}",
            "  let sg_n = workgroupUniformLoad(&sg_slots);",  # a barrier, then the count every thread sees
            f"  {acc} = {sh_name}[0];",
            f"  for (var i = 1u; i < sg_n; i = i + 1u) {{ {acc} = {_fmt(comb, a=acc, b=f'{sh_name}[i]')}; }}",
            "  workgroupBarrier();",  # every thread has read the slots before they are used again
            "} else {", *("  " + ln for ln in tree), "}"]


def reduce(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    kind, axes = step.attrs["kind"], step.attrs["axes"]
    is_float = x.dtype in FLOAT_DTYPES
    table = FLOAT_KINDS if is_float else INT_KINDS
    if kind not in table:
        from ...errors import ConversionError
        raise ConversionError(f"webgpu backend: Reduce {kind} of {x.dtype} ({op.name!r}) is not supported")
    init, fmap, comb, fin = table[kind]
    if x.dtype == "bool" and kind in ("max", "min"):
        init = "0i" if kind == "max" else "1i"  # any / all of an empty set: false / true
    ty = "f32" if is_float else "i32"
    xs = strides(x.shape)
    kept = [k for k in range(len(x.shape)) if k not in axes]
    k_shape = [x.shape[k] for k in kept]
    r_shape = [x.shape[k] for k in axes] or [1]
    r_strides = [xs[k] for k in axes] or [0]
    R = size_of([x.shape[k] for k in axes])
    n_out = size_of(k_shape)
    coop = _coop(R)
    sh = Shader(ctx.part_elems, ctx.roots)
    yb = sh.bind("y", y, write=True)
    xb = sh.bind("x", x)
    flat = "o" if coop else "gi"
    ol, oi = decompose(flat, k_shape, "k")
    base = offset(oi, [xs[k] for k in kept])
    if R == 0:  # an empty set: the reduction's identity, finished (log 0 = -inf, mean 0/0 = NaN)
        result = "log(acc)" if kind == "logsumexp" else _fmt(fin, acc="acc", n=_count(0 if is_float else 1, is_float))
        return [flat_kernel(op.name, sh, n_out, [f"var acc = {init};", yb.set("gi", result)])]
    lines = list(ol) + [f"let base = {base};"]
    if kind == "logsumexp":
        lines += _reduce_loop("m", FLOAT_KINDS["max"][0], "{x}", FLOAT_KINDS["max"][2], xb, "base", R, r_shape,
                              r_strides, coop, "r0")
        if coop:
            lines += _coop_combine("m", FLOAT_KINDS["max"][2], "red")
            lines.append("workgroupBarrier();")
        lines.append("if (m == (-f_inf()) || m == f_inf()) { m = 0.0; }")
    lines += _reduce_loop("acc", init, fmap, comb, xb, "base", R, r_shape, r_strides, coop)
    result = _fmt(fin, acc="acc", n=_count(R, is_float))
    if kind == "logsumexp":
        result = "log(acc) + m"
    if coop:
        lines += _coop_combine("acc", comb, "red", is_float)
        lines.append(f"if (lid == 0u) {{ {yb.set(flat, result)} }}")
        groups, wid = _coop_entry(n_out)
        sh.helpers.append(f"var<workgroup> red: array<{ty}, {COOP}>;\n{SG_SLOTS}")
        body = "\n".join([f"@compute @workgroup_size({COOP})",
                          "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
                          f"  let o = {wid};", f"  if (o >= {u(n_out)}) {{ return; }}",
                          *("  " + ln for ln in lines), "}"])
        return [Dispatch(op.name, sh.code(body), sh.binding_list(), groups, workgroup_bytes=4 * COOP + 4, invocations=COOP,
                         wrap=is_sym(n_out))]
    lines.append(yb.set(flat, result))
    return [flat_kernel(op.name, sh, n_out, lines)]


def softmax(step, ctx):
    """Softmax / log-softmax along one axis: rows of A elements at stride `inner`."""
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    ax, log = step.attrs["axis"], step.attrs["log"]
    outer = size_of(x.shape[:ax])
    A = x.shape[ax]
    inner = size_of(x.shape[ax + 1:])
    rows = outer * inner
    coop = _coop(A)
    sh = Shader(ctx.part_elems, ctx.roots)
    yb = sh.bind("y", y, write=True)
    xb = sh.bind("x", x)
    row = "o" if coop else "gi"
    start, stp = ("lid", u(COOP)) if coop else ("0u", "1u")
    lines = [f"let base = ({row} / {u(inner)}) * {u(A * inner)} + {row} % {u(inner)};" if inner != 1
             else f"let base = {row} * {u(A)};"]
    at = (lambda j: f"base + {j} * {u(inner)}") if inner != 1 else (lambda j: f"base + {j}")
    lines += ["var m = (-f_inf());",
              f"for (var j = {start}; j < {u(A)}; j = j + {stp}) {{ m = max(m, {xb.get(at('j'))}); }}"]
    if coop:
        lines += _coop_combine("m", "max({a}, {b})", "red") + ["workgroupBarrier();"]
    lines += ["var s = 0.0;",
              f"for (var j = {start}; j < {u(A)}; j = j + {stp}) {{ s = s + exp({xb.get(at('j'))} - m); }}"]
    if coop:
        lines += _coop_combine("s", "{a} + {b}", "red")
    val = f"{xb.get(at('j'))} - m - ls" if log else f"exp({xb.get(at('j'))} - m) * rs"
    lines += ["let ls = log(s);" if log else "let rs = 1.0 / s;",
              f"for (var j = {start}; j < {u(A)}; j = j + {stp}) {{ {yb.set(at('j'), val)} }}"]
    if coop:
        groups, wid = _coop_entry(rows)
        sh.helpers.append(f"var<workgroup> red: array<f32, {COOP}>;\n{SG_SLOTS}")
        body = "\n".join([f"@compute @workgroup_size({COOP})",
                          "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
                          f"  let o = {wid};", f"  if (o >= {u(rows)}) {{ return; }}",
                          *("  " + ln for ln in lines), "}"])
        return [Dispatch(op.name, sh.code(body), sh.binding_list(), groups, workgroup_bytes=4 * COOP + 4, invocations=COOP,
                         wrap=is_sym(rows))]
    return [flat_kernel(op.name, sh, rows, lines)]

