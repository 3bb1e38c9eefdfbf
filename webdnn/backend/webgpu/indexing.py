"""Data-dependent index maps: GatherElements and GatherND read where an index tensor says;
ScatterElements and ScatterND copy the data, then apply the updates in their order. Scatter
updates run a thread per independent slice (targets of different threads never meet), each in
update order, so duplicates behave as the reference says (the last one wins, or they combine)."""
from __future__ import annotations

from .indices import Shader, decompose, flat_kernel, offset, si, size_of, strides, u
from .indexmap import identity


def _norm(v: str, dim) -> str:
    """An index value (i32) with negatives counted from the end, clamped into [0, dim)."""
    return f"u32(clamp(select({v}, {v} + {si(dim)}, {v} < 0i), 0i, {si(dim - 1)}))"


def gather_elements(step, ctx):
    op = step.op
    (data, ind), (y,) = op.inputs, op.outputs
    ax = step.attrs["axis"]
    sh = Shader(ctx.part_elems, ctx.roots)
    yb, xb, ib = sh.bind("y", y, write=True), sh.bind("x", data), sh.bind("ix", ind)
    lines, idx = decompose("gi", y.shape, "o")
    pos = list(idx)
    pos[ax] = "j"
    lines += [f"let j = {_norm(ib.get('gi'), data.shape[ax])};", yb.set("gi", xb.get(offset(pos, strides(data.shape))))]
    return [flat_kernel(op.name, sh, y.size, lines)]


def gather_nd(step, ctx):
    op = step.op
    (data, ind), (y,) = op.inputs, op.outputs
    b = step.attrs["batch_dims"]
    m = ind.shape[-1]
    q = len(ind.shape)
    ds = strides(data.shape)
    sh = Shader(ctx.part_elems, ctx.roots)
    yb, xb, ib = sh.bind("y", y, write=True), sh.bind("x", data), sh.bind("ix", ind)
    lines, idx = decompose("gi", y.shape, "o")
    # output axes: indices.shape[:-1] (batch b.., then j..), then data.shape[b+m:]
    ibase = offset(idx[:q - 1] + ["0u"], strides(ind.shape))
    terms = [(idx[t], ds[t]) for t in range(b)] + [(idx[q - 1 + t], ds[b + m + t]) for t in range(len(data.shape) - b - m)]
    lines.append(f"var off = {offset([i for i, _ in terms], [s for _, s in terms])};")
    for t in range(m):
        lines.append(f"off = off + {_norm(ib.get(f'{ibase} + {u(t)}'), data.shape[b + t])} * {u(ds[b + t])};")
    lines.append(yb.set("gi", xb.get("off")))
    return [flat_kernel(op.name, sh, y.size, lines)]


def _combine(reduction: str, old: str, new: str) -> str:
    return {"none": new, "add": f"{old} + {new}", "mul": f"{old} * {new}", "max": f"max({old}, {new})",
            "min": f"min({old}, {new})"}[reduction]


def scatter_elements(step, ctx):
    """A thread per line along `axis` of the updates: its targets stay on that line of the output."""
    op = step.op
    (data, ind, upd), (y,) = op.inputs, op.outputs
    ax, red = step.attrs["axis"], step.attrs["reduction"]
    out = identity(step, ctx)
    if upd.size == 0:
        return out
    line_shape = list(upd.shape)
    A = line_shape[ax]
    line_shape[ax] = 1
    sh = Shader(ctx.part_elems, ctx.roots)
    yb, ub, ib = sh.bind("y", y, write=True), sh.bind("u", upd), sh.bind("ix", ind)
    lines, idx = decompose("gi", line_shape, "o")
    ust, yst = strides(upd.shape), strides(y.shape)
    ubase, ybase = offset(idx, ust), offset(idx, yst)
    lines += [f"for (var t = 0u; t < {u(A)}; t = t + 1u) {{",
              f"  let uo = {ubase} + t * {u(ust[ax])};",
              f"  let yo = {ybase} + {_norm(ib.get('uo'), data.shape[ax])} * {u(yst[ax])};",
              f"  {yb.set('yo', _combine(red, yb.get('yo'), ub.get('uo')))}", "}"]
    return out + [flat_kernel(f"{op.name}:updates", sh, size_of(line_shape), lines)]


def scatter_nd(step, ctx):
    """A thread per element of one update slice, looping over the index tuples in order."""
    op = step.op
    (data, ind, upd), (y,) = op.inputs, op.outputs
    red = step.attrs["reduction"]
    out = identity(step, ctx)
    m = ind.shape[-1]
    S = size_of(data.shape[m:])
    J = size_of(ind.shape[:-1])
    if J == 0 or S == 0:
        return out
    ds = strides(data.shape)
    sh = Shader(ctx.part_elems, ctx.roots)
    yb, ub, ib = sh.bind("y", y, write=True), sh.bind("u", upd), sh.bind("ix", ind)
    lines = [f"for (var j = 0u; j < {u(J)}; j = j + 1u) {{", "  var yo = gi;"]
    for t in range(m):
        lines.append(f"  yo = yo + {_norm(ib.get(f'j * {u(m)} + {u(t)}'), data.shape[t])} * {u(ds[t])};")
    lines += [f"  {yb.set('yo', _combine(red, yb.get('yo'), ub.get(f'j * {u(S)} + gi')))}", "}"]
    return out + [flat_kernel(f"{op.name}:updates", sh, S, lines)]

