"""Index-mapping kernels: every output element is one input element (or a pad value).
Transpose, Slice, Split, Gather, Pad, Expand, Concat, Identity (and Reshape when it must copy)
differ only in how an output index becomes an input offset."""
from __future__ import annotations

from ...ir.dtype import FLOAT_DTYPES
from .indices import Shader, broadcast_offset, decompose, flat_kernel, is_sym, offset, si, strides, u
from .wgsl import literal


def linear(base: int, terms: list[tuple[str, int]]) -> str:
    """base + Σ index * coef as a u32 expression; coefficients may be negative."""
    terms = [(i, c) for i, c in terms if i != "0u" and c != 0]
    if all(c >= 0 for _, c in terms) and base >= 0:
        parts = ([u(base)] if base else []) + [i if c == 1 else f"{i} * {u(c)}" for i, c in terms]
        return " + ".join(parts) or "0u"
    def i32(n):
        return f"i32({u(n)})" if is_sym(n) else f"{int(n)}i"
    parts = [i32(base)] + [f"i32({i}) * {i32(c)}" for i, c in terms]
    return f"u32({' + '.join(parts)})"


def _kernel(name, ctx, x_tensors, out, make_lines):
    sh = Shader(ctx.part_elems, ctx.roots)
    sh.bind("y", out, write=True)
    xs = [sh.bind(f"x{i}", t) for i, t in enumerate(x_tensors)]
    lines, idx = decompose("gi", out.shape, "o")
    return flat_kernel(name, sh, out.size, lines + make_lines(xs, idx))


def _copy(name, ctx, x, out, off_fn):
    return _kernel(name, ctx, [x], out, lambda xs, idx: [f"y_set(gi, {xs[0].get(off_fn(idx))});"])


def transpose(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    perm = step.attrs["perm"]
    ist = strides(x.shape)
    return [_copy(op.name, ctx, x, y, lambda idx: offset(idx, [ist[p] for p in perm]))]


def _slice(name, ctx, x, y, starts, steps):
    ist = strides(x.shape)
    base = sum(s * st for s, st in zip(starts, ist))
    return _copy(name, ctx, x, y, lambda idx: linear(base, [(i, sp * st) for i, sp, st in zip(idx, steps, ist)]))


def slice_(step, ctx):
    op = step.op
    return [_slice(op.name, ctx, op.inputs[0], op.outputs[0], step.attrs["starts"], step.attrs["steps"])]


def split(step, ctx):
    op = step.op
    x = op.inputs[0]
    ax = step.attrs["axis"]
    out, start = [], 0
    for y, size in zip(op.outputs, step.attrs["split"]):
        starts = [start if k == ax else 0 for k in range(len(x.shape))]
        if y.size:
            out.append(_slice(f"{op.name}:{y.name}", ctx, x, y, starts, [1] * len(x.shape)))
        start += size
    return out


def expand(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    return [_copy(op.name, ctx, x, y, lambda idx: broadcast_offset(x.shape, idx))]


def identity(step, ctx):
    op = step.op
    sh = Shader(ctx.part_elems, ctx.roots)
    y = sh.bind("y", op.outputs[0], write=True)
    x = sh.bind("x0", op.inputs[0])
    return [flat_kernel(op.name, sh, y.size, [f"y_set(gi, {x.get('gi')});"])]


def gather(step, ctx):
    op = step.op
    data, ind = op.inputs
    (y,) = op.outputs
    ax = step.attrs["axis"]
    r = len(ind.shape)
    dst = strides(data.shape)
    d = data.shape[ax]

    def lines(xs, idx):
        x, ix = xs
        j_off = offset(idx[ax:ax + r], strides(ind.shape))
        rest = offset(idx[:ax] + ["0u"] + idx[ax + r:], dst)
        di = f"i32({u(d)})" if is_sym(d) else f"{d}i"
        return [f"var j = {ix.get(j_off)};",
                f"if (j < 0i) {{ j = j + {di}; }}",
                f"let jj = u32(clamp(j, 0i, {di} - 1i));",
                f"y_set(gi, {x.get(f'{rest} + jj * {u(dst[ax])}')});"]
    return [_kernel(op.name, ctx, [data, ind], y, lines)]


def pad(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    rank = len(x.shape)
    p = step.attrs["pads"]
    mode = step.attrs["mode"]
    ist = strides(x.shape)
    fill = literal(step.attrs["value"], "f" if y.dtype in FLOAT_DTYPES else "i")

    def lines(xs, idx):
        out, terms, conds = [], [], []
        for k in range(rank):
            lo, hi = max(0, -p[k]), max(0, -p[k + rank])   # cropped by negative pads
            d = x.shape[k] - lo - hi                        # extent after the crop
            before = max(0, p[k])
            if before == 0 and p[k + rank] <= 0 and lo == 0:
                terms.append((idx[k], ist[k]))
                continue
            v = f"v{k}"
            out.append(f"var {v} = i32({idx[k]}) - {before}i;")
            if mode == "constant":
                conds.append(f"{v} < 0i || {v} >= {si(d)}")
            elif mode == "reflect":
                out.append(f"if ({v} < 0i) {{ {v} = -{v}; }}")
                out.append(f"if ({v} >= {si(d)}) {{ {v} = {si(2 * (d - 1))} - {v}; }}")
            else:  # edge
                out.append(f"{v} = clamp({v}, 0i, {si(d - 1)});")
            terms.append((f"u32({v} + {lo}i)", ist[k]))
        if conds:
            out.append(f"if ({' || '.join(conds)}) {{ y_set(gi, {fill}); return; }}")
        out.append(f"y_set(gi, {xs[0].get(offset([i for i, _ in terms], [s for _, s in terms]))});")
        return out
    return [_kernel(op.name, ctx, [x], y, lines)]


def concat(step, ctx, max_inputs: int = 6):
    """Inputs go in groups (a kernel binds at most a few buffers); each group's kernel writes
    its slab of the output: the output indices with the axis restricted to the group's range."""
    op = step.op
    (y,) = op.outputs
    ax = step.attrs["axis"]
    items, start = [], 0
    for t in op.inputs:
        if t.shape[ax]:
            items.append((t, start))
        start += t.shape[ax]
    yst = strides(y.shape)
    out = []
    for g in range(0, len(items), max_inputs):
        group = items[g:g + max_inputs]
        g0 = group[0][1]
        extent = sum(t.shape[ax] for t, _ in group)
        vshape = list(y.shape)
        vshape[ax] = extent
        sh = Shader(ctx.part_elems, ctx.roots)
        sh.bind("y", y, write=True)
        xs = [sh.bind(f"x{i}", t) for i, (t, _) in enumerate(group)]
        lines, idx = decompose("gi", vshape, "o")
        oidx = list(idx)
        oidx[ax] = f"({idx[ax]} + {u(g0)})" if g0 else idx[ax]
        lines.append(f"let yo = {offset(oidx, yst)};")
        for b, (t, s0) in zip(xs, group):
            sub = list(idx)
            rel = s0 - g0
            sub[ax] = f"({idx[ax]} - {u(rel)})" if rel else idx[ax]
            lines.append(f"if ({idx[ax]} < {u(rel + t.shape[ax])}) {{ y_set(yo, {b.get(offset(sub, strides(t.shape)))}); return; }}")
        n = 1
        for d in vshape:
            n *= d
        out.append(flat_kernel(f"{op.name}:{g0}", sh, n, lines))
    return out
