"""C for the wasm backend's data-movement and indexing steps: Transpose, Slice, Expand, Pad (offset
tables, or strides where sizes are symbolic), Concat/Split (row copies), Gather and the element
gathers and scatters, ArgReduce/CumSum/TopK along one axis, Resize (separable taps). Each
emitter returns its step's body, like those of emit.py, which lists them all in EMIT."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ...errors import ConversionError
from ...ir.symbolic import Expr, prod
from ..kernels import kernel_attrs
from ..memory import storage_bytes
from . import render as R


def align_up(n: int, a: int = 64) -> int:  # emit.align_up's rule (emit.py imports this module)
    return -(-n // a) * a

def _map_call(p: Program, k: int, x, y, tables, fill=None):
    """wd_map with one offset table per output dim (-1 entries are filled with `fill`)."""
    shape = list(y.shape)
    if len(shape) > 8:
        raise ConversionError(f"rank {len(shape)} > 8 is not supported by the wasm backend's index kernels")
    names = [p.table("int32_t", tab, f"k{k}_m{d}") for d, tab in enumerate(tables)]
    p.decls.append(f"static const int32_t* const k{k}_m[] = {{{', '.join(names) or '0'}}};")
    s = p.table("int32_t", shape or [1], f"k{k}_s")
    ct = R.CTYPE[y.dtype]
    if fill is None:
        fill = 0
    fv = R.c_float(fill) if ct == "float" else R.c_int(0 if isinstance(fill, float) and not np.isfinite(fill) else int(fill))
    p.decls.append(f"static const {ct} k{k}_f = {fv};")
    return (f"  wd_map({p.ptr(y)}, {p.ptr(x, True)}, {R.ESIZE[y.dtype]}, {len(shape)}, {s}, k{k}_m, &k{k}_f);")


def _affine_tables(out_shape, in_strides, base=0):
    """Offset tables for out[i] = in[base + Σ i_k in_strides[k]], adjacent dims merged first."""
    ost = R.broadcast_strides(out_shape, out_shape)
    dims, (_, st) = R.collapse(list(out_shape), [ost, list(in_strides)])
    if not dims:
        return [1], [[base]]
    # negative entries mean padding to wd_map: shift each table to start at 0, fold the shifts into base
    low = [min(0, (d - 1) * s) for d, s in zip(dims, st)]
    tabs = [[i * s - lo for i in range(d)] for d, s, lo in zip(dims, st, low)]
    tabs[0] = [v + base + sum(low) for v in tabs[0]]
    return dims, tabs


def _map_affine(p, k, x, y, in_strides, base=0):
    if p.symbolic and any(isinstance(v, Expr) for v in [*y.shape, *in_strides, base]):
        # sizes known at run time: offsets from the strides, no tables
        ost = R.broadcast_strides(y.shape, y.shape)
        dims, (_, st) = R.collapse(list(y.shape), [ost, list(in_strides)])
        if len(dims) > 8:
            raise ConversionError(f"rank {len(dims)} > 8 is not supported by the wasm backend's index kernels")
        ds = p.table("int32_t", dims or [1], f"k{k}_s")
        ss = p.table("int32_t", st or [0], f"k{k}_t")
        return (f"  wd_map_strided({p.ptr(y)}, {p.ptr(x, True)}, {R.ESIZE[y.dtype]}, {len(dims)}, {ds}, {ss}, "
                f"{p.dim(base)});")
    dims, tabs = _affine_tables(y.shape, in_strides, base)
    view = SimpleNamespace(shape=tuple(dims), dtype=y.dtype, name=y.name)
    return _map_call(p, k, x, view, tabs)


def k_transpose(p, step, k):
    op = step.op
    perm = kernel_attrs(op)["perm"]
    ist = R.broadcast_strides(op.inputs[0].shape, op.inputs[0].shape)
    return _map_affine(p, k, op.inputs[0], op.outputs[0], [ist[d] for d in perm])


def k_slice(p, step, k):
    op = step.op
    if p.in_place(step):
        return ""  # a view: the output lies in the input's bytes
    a = kernel_attrs(op)
    ist = R.broadcast_strides(op.inputs[0].shape, op.inputs[0].shape)
    base = sum(s * st for s, st in zip(a["starts"], ist))
    return _map_affine(p, k, op.inputs[0], op.outputs[0], [st * sp for st, sp in zip(ist, a["steps"])], base)


def k_expand(p, step, k):
    op = step.op
    return _map_affine(p, k, op.inputs[0], op.outputs[0], R.broadcast_strides(op.inputs[0].shape, op.outputs[0].shape))


def k_pad(p, step, k):
    op = step.op
    x, y = op.inputs[0], op.outputs[0]
    a = kernel_attrs(op)
    rank = len(x.shape)
    pads, mode = a["pads"], a["mode"]
    ist = R.broadcast_strides(x.shape, x.shape)
    tables = []
    for d in range(rank):
        n, tab = x.shape[d], []
        for i in range(y.shape[d]):
            s = i - pads[d]
            if not 0 <= s < n:
                if mode == "constant":
                    tab.append(-1)
                    continue
                if mode == "edge":
                    s = min(max(s, 0), n - 1)
                else:  # reflect
                    period = 2 * (n - 1) if n > 1 else 1
                    s = abs(s) % period
                    s = period - s if s >= n else s
            tab.append(s * ist[d])
        tables.append(tab)
    return _map_call(p, k, x, y, tables, a["value"])


def _row_copies(p, step, whole, parts, into_whole: bool) -> str:
    """Concat (parts into whole) or Split (whole into parts) along the kernel's axis: one strided
    copy of rows per part, none for a part the memory plan put inside the whole."""
    ax = kernel_attrs(step.op)["axis"]
    inner, outer = prod(whole.shape[ax + 1:]), prod(whole.shape[:ax])
    es = R.ESIZE[whole.dtype]
    stride = p.dim(whole.shape[ax] * inner * es)
    lines, at, placed = [], 0, p.in_place(step)
    for t in parts:
        row = t.shape[ax] * inner * es
        if row != 0 and t.name not in placed:
            if into_whole:
                dst, src = (f"(char*){p.ptr(whole)} + {p.dim(at)}", stride), (p.ptr(t, True), p.dim(row))
            else:
                dst, src = (p.ptr(t), p.dim(row)), (f"(const char*){p.ptr(whole, True)} + {p.dim(at)}", stride)
            lines.append(f"  wd_copy2d({dst[0]}, {dst[1]}, {src[0]}, {src[1]}, {p.dim(outer)}, {p.dim(row)});")
        at += row
    return "\n".join(lines)


def k_concat(p, step, k):
    return _row_copies(p, step, step.op.outputs[0], step.op.inputs, True)


def k_split(p, step, k):
    return _row_copies(p, step, step.op.inputs[0], step.op.outputs, False)


def k_gather(p, step, k):
    op = step.op
    data, idx = op.inputs
    y = op.outputs[0]
    ax = kernel_attrs(op)["axis"]
    s = list(data.shape)
    return (f"  wd_gather({p.ptr(y)}, {p.ptr(data, True)}, {p.ptr(idx, True)}, {R.ESIZE[data.dtype]}, "
            f"{p.dim(prod(s[:ax]))}, {p.dim(s[ax])}, {p.dim(prod(s[ax + 1:]))}, {p.dim(idx.size)});")


def k_copy(p, step, k):
    x, y = step.op.inputs[0], step.op.outputs[0]
    if p.symbolic:
        return p.copy(x, y)
    if x.name in p.offsets and y.name in p.offsets and not x.is_constant and p.offsets[x.name] == p.offsets[y.name]:
        return ""  # the plan put the output in the input's bytes
    return f"  wd_copy({p.ptr(y)}, {p.ptr(x, True)}, {storage_bytes(y)});"


DT = {"float32": "WD_F32", "float16": "WD_F32", "int32": "WD_I32", "int64": "WD_I32", "uint8": "WD_U8", "bool": "WD_U8",
      "int8": "WD_I8"}
SCATTER = {"none": 0, "add": 1, "mul": 2, "max": 3, "min": 4}


def _rank_ok(op, *tensors):
    if any(len(t.shape) > 8 for t in tensors):
        raise ConversionError(f"{op.type} {op.name!r}: rank > 8 is not supported by the wasm backend")


def _copy_into(p, y, x):
    """y starts as a copy of x (scatter ops update a copy of their data)."""
    return f"  wd_copy({p.ptr(y)}, {p.ptr(x, True)}, {storage_bytes(y)});"


def _strides(shape):
    return R.broadcast_strides(shape, shape) if shape else []


def k_gather_elements(p, step, k):
    op = step.op
    data, idx = op.inputs
    y = op.outputs[0]
    _rank_ok(op, data)
    ax = kernel_attrs(op)["axis"]
    ds = p.table("int32_t", data.shape, f"k{k}_d")
    is_ = p.table("int32_t", idx.shape, f"k{k}_i")
    return (f"  wd_gather_elements({p.ptr(y)}, {p.ptr(data, True)}, {p.ptr(idx, True)}, {DT[data.dtype]}, "
            f"{len(data.shape)}, {ds}, {is_}, {ax});")


def k_scatter_elements(p, step, k):
    op = step.op
    data, idx, upd = op.inputs
    y = op.outputs[0]
    _rank_ok(op, data)
    a = kernel_attrs(op)
    ys = p.table("int32_t", y.shape, f"k{k}_o")
    is_ = p.table("int32_t", idx.shape, f"k{k}_i")
    return (_copy_into(p, y, data) + "\n" +
            f"  wd_scatter_elements({p.ptr(y)}, {p.ptr(idx, True)}, {p.ptr(upd, True)}, {DT[data.dtype]}, {len(y.shape)}, "
            f"{ys}, {is_}, {a['axis']}, {SCATTER[a['reduction']]});")


def k_gather_nd(p, step, k):
    op = step.op
    data, idx = op.inputs
    y = op.outputs[0]
    b = kernel_attrs(op)["batch_dims"]
    m = idx.shape[-1]
    st = _strides(data.shape)
    nb = int(np.prod(data.shape[:b]))
    J = int(np.prod(idx.shape[b:-1]))
    S = int(np.prod(data.shape[b + m:]))
    dims = p.table("int32_t", data.shape[b:b + m], f"k{k}_d")
    strides = p.table("int32_t", st[b:b + m], f"k{k}_s")
    return (f"  wd_gather_nd({p.ptr(y)}, {p.ptr(data, True)}, {p.ptr(idx, True)}, {DT[data.dtype]}, {nb}, {J}, {m}, "
            f"{dims}, {strides}, {int(np.prod(data.shape[b:]))}, {S});")


def k_scatter_nd(p, step, k):
    op = step.op
    data, idx, upd = op.inputs
    y = op.outputs[0]
    m = idx.shape[-1]
    st = _strides(data.shape)
    J = int(np.prod(idx.shape[:-1]))
    S = int(np.prod(data.shape[m:]))
    dims = p.table("int32_t", data.shape[:m], f"k{k}_d")
    strides = p.table("int32_t", st[:m], f"k{k}_s")
    red = SCATTER[kernel_attrs(op)["reduction"]]
    return (_copy_into(p, y, data) + "\n" +
            f"  wd_scatter_nd({p.ptr(y)}, {p.ptr(idx, True)}, {p.ptr(upd, True)}, {DT[data.dtype]}, {J}, {m}, {dims}, "
            f"{strides}, {S}, {red});")


def _axis_split(shape, ax):
    s = list(shape)
    return prod(s[:ax]), s[ax], prod(s[ax + 1:])


def k_argreduce(p, step, k):
    op = step.op
    x, y = op.inputs[0], op.outputs[0]
    a = kernel_attrs(op)
    outer, n, inner = map(p.dim, _axis_split(x.shape, a["axis"]))
    return (f"  wd_argreduce({p.ptr(y)}, {p.ptr(x, True)}, {DT[x.dtype]}, {outer}, {n}, {inner}, "
            f"{int(a['kind'] == 'argmax')}, {a['select_last_index']});")


def k_cumsum(p, step, k):
    op = step.op
    x, y = op.inputs[0], op.outputs[0]
    a = kernel_attrs(op)
    outer, n, inner = map(p.dim, _axis_split(x.shape, a["axis"]))
    return (f"  wd_cumsum({p.ptr(y)}, {p.ptr(x, True)}, {DT[x.dtype]}, {outer}, {n}, {inner}, {int(a['kind'] == 'prod')}, "
            f"{a['exclusive']}, {a['reverse']});")


def k_topk(p, step, k):
    op = step.op
    x = op.inputs[0]
    vals, idx = op.outputs
    a = kernel_attrs(op)
    outer, n, inner = _axis_split(x.shape, a["axis"])
    return (f"  wd_topk({p.ptr(vals)}, {p.ptr(idx)}, {p.ptr(x, True)}, {DT[x.dtype]}, {outer}, {n}, {inner}, {a['k']}, "
            f"{a['largest']});")


def k_resize(p, step, k):
    op = step.op
    x, y = op.inputs[0], op.outputs[0]
    _rank_ok(op, x)
    a = kernel_attrs(op)
    taps, index, weight = a["taps"], a["index"], a["weight"]
    rank = len(x.shape)
    fill = a["extrapolation_value"]
    ist = _strides(x.shape)
    if all(t in (0, 1) for t in taps) and all(w == 1 or i < 0 for ix, wt in zip(index, weight) for i, w in zip(ix, wt)):
        tables = [[-1 if i < 0 else i * ist[d] for i in index[d]] if taps[d] else [j * ist[d] for j in range(y.shape[d])]
                  for d in range(rank)]
        return _map_call(p, k, x, y, tables, fill)
    itabs = [p.table("int32_t", index[d] if taps[d] else [0], f"k{k}_x{d}") for d in range(rank)]
    wtabs = []
    for d in range(rank):
        vals = ", ".join(repr(float(v)) for v in weight[d]) if taps[d] else "0"
        p.decls.append(f"static const double k{k}_w{d}[] = {{{vals}}};")
        wtabs.append(f"k{k}_w{d}")
    p.decls.append(f"static const int32_t* const k{k}_xs[] = {{{', '.join(itabs)}}};")
    p.decls.append(f"static const double* const k{k}_ws[] = {{{', '.join(wtabs)}}};")
    # the largest intermediate, in doubles, twice (ping-pong)
    shape, most = list(x.shape), int(np.prod(x.shape))
    for d in range(rank):
        if taps[d]:
            shape[d] = y.shape[d]
            most = max(most, int(np.prod(shape)))
    half = align_up(most * 8)
    p.temp = max(p.temp, 2 * half)
    its = p.table("int32_t", x.shape, f"k{k}_is")
    ots = p.table("int32_t", y.shape, f"k{k}_os")
    tps = p.table("int32_t", taps, f"k{k}_t")
    return (f"  wd_resize({p.ptr(y)}, {p.ptr(x, True)}, {DT[x.dtype]}, {int(y.dtype == 'float16')}, {rank}, {its}, {ots}, "
            f"{tps}, k{k}_xs, k{k}_ws, (double*)wd_temp, (double*)(wd_temp + {half}), {R.c_float(fill).replace('(float)', '(double)')});")
