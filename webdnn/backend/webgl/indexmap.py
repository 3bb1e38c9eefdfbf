"""Index mapping: every output element is one input element (or a pad value). Transpose, Slice,
Split, Expand, Gather, Pad, Concat, Identity differ only in how an output index becomes an input
offset; GatherElements / GatherND read where an index tensor says; ScatterElements / ScatterND
start from the data and apply, in update order, every update that targets the element."""
from __future__ import annotations

from .glsl import literal
from .program import broadcast_offset, decompose, is_float, lit, offset, size_of, strides


def _copy(name, ctx, x, y, off_fn):
    p = ctx.program()
    at = p.bind("x", x)
    lines, idx = decompose("i", y.shape, "o")
    return p.draw(name, y, lines, f"{at}({off_fn(idx)})")


def identity(step, ctx):
    op = step.op
    p = ctx.program()
    at = p.bind("x", op.inputs[0])
    return [p.draw(op.name, op.outputs[0], [], f"{at}(i)")]


def transpose(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    ist = strides(x.shape)
    return [_copy(op.name, ctx, x, y, lambda idx: offset(idx, [ist[q] for q in step.attrs["perm"]]))]


def _linear(base: int, terms) -> str:
    parts = [lit(base)] if base else []
    parts += [i if c == 1 else f"{i} * {lit(c)}" for i, c in terms if i != "0" and c != 0]
    return " + ".join(parts) or "0"


def _slice(name, ctx, x, y, starts, steps):
    ist = strides(x.shape)
    base = sum(s * st for s, st in zip(starts, ist))
    return _copy(name, ctx, x, y, lambda idx: _linear(base, [(i, sp * st) for i, sp, st in zip(idx, steps, ist)]))


def slice_(step, ctx):
    op = step.op
    return [_slice(op.name, ctx, op.inputs[0], op.outputs[0], step.attrs["starts"], step.attrs["steps"])]


def split(step, ctx):
    op = step.op
    x = op.inputs[0]
    ax = step.attrs["axis"]
    out, start = [], 0
    for y, n in zip(op.outputs, step.attrs["split"]):
        if y.size:
            out.append(_slice(f"{op.name}:{y.name}", ctx, x, y, [start if k == ax else 0 for k in range(len(x.shape))],
                              [1] * len(x.shape)))
        start += n
    return out


def expand(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    return [_copy(op.name, ctx, x, y, lambda idx: broadcast_offset(x.shape, idx))]


def _norm(v: str, dim: int) -> str:
    """An index value (int) with negatives counted from the end, clamped into [0, dim)."""
    return f"clamp(({v}) < 0 ? ({v}) + {lit(dim)} : ({v}), 0, {lit(max(dim - 1, 0))})"


def gather(step, ctx):
    op = step.op
    (data, ind), (y,) = op.inputs, op.outputs
    ax = step.attrs["axis"]
    r = len(ind.shape)
    dst = strides(data.shape)
    p = ctx.program()
    xa, ia = p.bind("x", data), p.bind("ix", ind)
    lines, idx = decompose("i", y.shape, "o")
    j_off = offset(idx[ax:ax + r], strides(ind.shape))
    rest = offset(idx[:ax] + ["0"] + idx[ax + r:], dst)
    lines += [f"int j = {ia}({j_off});", f"j = {_norm('j', data.shape[ax])};"]
    return [p.draw(op.name, y, lines, f"{xa}({rest} + j * {lit(dst[ax])})")]


def pad(step, ctx):
    op = step.op
    (x,), (y,) = op.inputs, op.outputs
    rank = len(x.shape)
    pads, mode = step.attrs["pads"], step.attrs["mode"]
    ist = strides(x.shape)
    fill = literal(step.attrs["value"], "f" if is_float(y.dtype) else "i")
    p = ctx.program()
    at = p.bind("x", x)
    lines, idx = decompose("i", y.shape, "o")
    terms, conds = [], []
    for k in range(rank):
        lo, hi = max(0, -pads[k]), max(0, -pads[k + rank])  # cropped by negative pads
        d = x.shape[k] - lo - hi
        before = max(0, pads[k])
        if before == 0 and pads[k + rank] <= 0 and lo == 0:
            terms.append((idx[k], ist[k]))
            continue
        v = f"v{k}"
        lines.append(f"int {v} = {idx[k]} - {lit(before)};")
        if mode == "constant":
            conds.append(f"{v} < 0 || {v} >= {lit(d)}")
        elif mode == "reflect":
            lines += [f"if ({v} < 0) {{ {v} = -{v}; }}", f"if ({v} >= {lit(d)}) {{ {v} = {lit(2 * (d - 1))} - {v}; }}"]
        else:  # edge
            lines.append(f"{v} = clamp({v}, 0, {lit(d - 1)});")
        terms.append((f"({v} + {lit(lo)})", ist[k]))
    value = f"{at}({offset([i for i, _ in terms], [s for _, s in terms])})"
    if conds:
        value = f"(({' || '.join(conds)}) ? {fill} : {value})"
    return [p.draw(op.name, y, lines, value)]


def concat(step, ctx, max_inputs: int = 8):
    """Inputs go in groups (a program samples at most 16 textures); each group's program writes the
    whole output, taking the previous group's output for the positions outside its range."""
    op = step.op
    (y,) = op.outputs
    ax = step.attrs["axis"]
    items, start = [], 0
    for t in op.inputs:
        if t.shape[ax]:
            items.append((t, start))
        start += t.shape[ax]
    if len(items) > max_inputs:
        from ...errors import ConversionError
        raise ConversionError(f"webgl backend: Concat {op.name!r} of {len(items)} inputs (at most {max_inputs})")
    p = ctx.program()
    lines, idx = decompose("i", y.shape, "o")
    value = None
    for k, (t, s0) in reversed(list(enumerate(items))):
        at = p.bind(f"x{k}", t)
        sub = list(idx)
        sub[ax] = f"({idx[ax]} - {lit(s0)})" if s0 else idx[ax]
        read = f"{at}({offset(sub, strides(t.shape))})"
        value = read if value is None else f"({idx[ax]} < {lit(s0 + t.shape[ax])} ? {read} : {value})"
    return [p.draw(op.name, y, lines, value)]


def gather_elements(step, ctx):
    op = step.op
    (data, ind), (y,) = op.inputs, op.outputs
    ax = step.attrs["axis"]
    p = ctx.program()
    xa, ia = p.bind("x", data), p.bind("ix", ind)
    lines, idx = decompose("i", y.shape, "o")
    pos = list(idx)
    pos[ax] = "j"
    lines.append(f"int j = {_norm(f'{ia}(i)', data.shape[ax])};")
    return [p.draw(op.name, y, lines, f"{xa}({offset(pos, strides(data.shape))})")]


def gather_nd(step, ctx):
    op = step.op
    (data, ind), (y,) = op.inputs, op.outputs
    b, m, q = step.attrs["batch_dims"], ind.shape[-1], len(ind.shape)
    ds = strides(data.shape)
    p = ctx.program()
    xa, ia = p.bind("x", data), p.bind("ix", ind)
    lines, idx = decompose("i", y.shape, "o")
    ibase = offset(idx[:q - 1] + ["0"], strides(ind.shape))
    terms = [(idx[t], ds[t]) for t in range(b)] + [(idx[q - 1 + t], ds[b + m + t]) for t in range(len(data.shape) - b - m)]
    lines.append(f"int off = {offset([i for i, _ in terms], [s for _, s in terms])};")
    for t in range(m):
        lines.append(f"off += {_norm(f'{ia}({ibase} + {t})', data.shape[b + t])} * {lit(ds[b + t])};")
    return [p.draw(op.name, y, lines, f"{xa}(off)")]


def _combine(reduction: str, old: str, new: str) -> str:
    return {"none": new, "add": f"{old} + {new}", "mul": f"{old} * {new}", "max": f"max({old}, {new})",
            "min": f"min({old}, {new})"}[reduction]


def scatter_elements(step, ctx):
    op = step.op
    (data, ind, upd), (y,) = op.inputs, op.outputs
    ax, red = step.attrs["axis"], step.attrs["reduction"]
    ty = "float" if is_float(y.dtype) else "int"
    p = ctx.program()
    xa, ia, ua = p.bind("x", data), p.bind("ix", ind), p.bind("u", upd)
    lines, idx = decompose("i", y.shape, "o")
    lines.append(f"{ty} acc = {xa}(i);")
    if upd.size:
        inside = [f"{idx[k]} < {lit(upd.shape[k])}" for k in range(len(y.shape)) if k != ax and idx[k] != "0"]
        pos = list(idx)
        pos[ax] = "t"
        ust = strides(upd.shape)
        lines += [f"if ({' && '.join(inside) or 'true'}) {{",
                  f"  for (int t = 0; t < {lit(upd.shape[ax])}; t++) {{",
                  f"    int uo = {offset(pos, ust)};",
                  f"    if ({_norm(f'{ia}(uo)', data.shape[ax])} == {idx[ax]}) {{ acc = {_combine(red, 'acc', f'{ua}(uo)')}; }}",
                  "  }", "}"]
    return [p.draw(op.name, y, lines, "acc")]


def scatter_nd(step, ctx):
    op = step.op
    (data, ind, upd), (y,) = op.inputs, op.outputs
    red = step.attrs["reduction"]
    m = ind.shape[-1]
    S = size_of(data.shape[m:])
    J = size_of(ind.shape[:-1])
    ds = strides(data.shape)
    ty = "float" if is_float(y.dtype) else "int"
    p = ctx.program()
    xa, ia, ua = p.bind("x", data), p.bind("ix", ind), p.bind("u", upd)
    lines = [f"{ty} acc = {xa}(i);"]
    if J and S:
        lines += [f"int s = i % {lit(S)};", "int head = i - s;",
                  f"for (int j = 0; j < {lit(J)}; j++) {{", "  int to = 0;"]
        for t in range(m):
            lines.append(f"  to += {_norm(f'{ia}(j * {lit(m)} + {t})', data.shape[t])} * {lit(ds[t])};")
        lines += [f"  if (to == head) {{ acc = {_combine(red, 'acc', f'{ua}(j * {lit(S)} + s)')}; }}", "}"]
    return [p.draw(op.name, y, lines, "acc")]
