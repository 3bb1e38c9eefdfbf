"""Kernel attributes shared by every backend: each IR op's attributes normalized the way
docs/descriptor.md says (axes non-negative, constants folded, 1-D conv/pool in 2-D form)."""
from __future__ import annotations

import numpy as np

from ..errors import ConversionError
from ..ir.dtype import FLOAT_DTYPES
from ..ir.ops import norm_axis
from ..ir.ops.indexmap import slice_params
from ..ir.ops.resize import resize_taps
from ..ir.symbolic import Expr, is_symbolic_array


# Reduce kinds: (initial value, map of x, combine(a, b), final map of (acc, count)) in the C-style syntax the GPU
# dialects share; the initial value a key ("zero", "one", "lowest", "highest") each dialect writes as its own literal
# (reduction_kinds). Kinds after "l1" are float only.
REDUCE_KINDS = {
    "sum": ("zero", "{x}", "{a} + {b}", "{acc}"),
    "mean": ("zero", "{x}", "{a} + {b}", "{acc} / {n}"),
    "max": ("lowest", "{x}", "max({a}, {b})", "{acc}"),
    "min": ("highest", "{x}", "min({a}, {b})", "{acc}"),
    "prod": ("one", "{x}", "{a} * {b}", "{acc}"),
    "sumsquare": ("zero", "{x} * {x}", "{a} + {b}", "{acc}"),
    "l1": ("zero", "abs({x})", "{a} + {b}", "{acc}"),
    "l2": ("zero", "{x} * {x}", "{a} + {b}", "sqrt({acc})"),
    "logsum": ("zero", "{x}", "{a} + {b}", "log({acc})"),
    # logsumexp: a max pass first (m), then Σ exp(x - m)
    "logsumexp": ("zero", "exp({x} - m)", "{a} + {b}", "log({acc}) + m"),
}
INT_REDUCE_KINDS = ("sum", "mean", "max", "min", "prod", "sumsquare", "l1")


def reduction_kinds(literals: dict, integer: bool = False) -> dict:
    """REDUCE_KINDS (the integer ones where `integer`) with their initial values written by `literals`."""
    return {k: (literals[init], *rest) for k, (init, *rest) in REDUCE_KINDS.items()
            if not integer or k in INT_REDUCE_KINDS}


def folded_rows(a_shape, b_shape, out_shape) -> int | None:
    """A batched product [..., M, K] × [K, N] whose B is one matrix shared by the whole batch and whose A
    is not broadcast is one [batch·M, K] × [K, N] product (B read or packed once, not per batch entry):
    its rows, or None where it is not."""
    batch = 1
    for d in out_shape[:-2]:
        batch *= d
    nb, na = 1, 1
    for d in b_shape[:-2]:
        nb *= d
    for d in a_shape[:-2]:
        na *= d
    # a symbolic batch folds too (one product of batch·M rows, whatever its size)
    if (isinstance(batch, Expr) or batch > 1) and nb == 1 and na == batch:
        return a_shape[-2] * batch
    return None


def _as_2d(op, values, pads=False):
    """1-D conv/pool attributes get a leading H entry (1, or 0 for pads); 3-D+ is refused."""
    nd = len(op.inputs[0].shape) - 2
    v = list(values)
    if nd == 2:
        return v
    if nd == 1:
        return [0, v[0], 0, v[1]] if pads else [1] + v
    raise ConversionError(f"{op.type} {op.name!r}: {nd}-D is not supported by the backends yet (1-D and 2-D are)")


def _conv(op):
    nd = len(op.inputs[0].shape) - 2
    a = op.attrs
    return {"strides": _as_2d(op, a["strides"] or [1] * nd), "pads": _as_2d(op, a["pads"] or [0] * 2 * nd, True),
            "dilations": _as_2d(op, a["dilations"] or [1] * nd), "group": a["group"]}


def _pool(op):
    nd = len(op.inputs[0].shape) - 2
    a = op.attrs
    return {"kind": a["kind"], "kernel": _as_2d(op, a["kernel_shape"]), "strides": _as_2d(op, a["strides"] or [1] * nd),
            "pads": _as_2d(op, a["pads"] or [0] * 2 * nd, True), "dilations": _as_2d(op, a["dilations"] or [1] * nd),
            "count_include_pad": int(a["count_include_pad"])}


def _rank(op):
    return len(op.inputs[0].shape)


def _resize(op):
    """Per input axis the taps of ir/ops/resize.py, flattened; taps 0 leaves the axis as it is."""
    taps, index, weight = [], [], []
    for t in resize_taps(op):
        idx, w = t if t is not None else (None, None)
        taps.append(0 if t is None else int(idx.shape[1]))
        index.append([] if t is None else idx.reshape(-1).tolist())
        weight.append([] if t is None else w.reshape(-1).tolist())
    return {"taps": taps, "index": index, "weight": weight,
            "extrapolation_value": float(op.attrs["extrapolation_value"])}


KERNEL_ATTRS = {
    "Elementwise": lambda op: {"expr": op.attrs["expr"], "dtype": op.outputs[0].dtype},
    "Conv": _conv,
    "ConvTranspose": _conv,
    "MatMul": lambda op: {},
    "Pool": _pool,
    "LRN": lambda op: {k: op.attrs[k] for k in ("size", "alpha", "beta", "bias")},
    "Softmax": lambda op: {"axis": norm_axis(op.attrs["axis"], _rank(op)), "log": int(op.attrs["log"])},
    "Reduce": lambda op: {"kind": op.attrs["kind"], "axes": list(op.definition.axes(op, _rank(op))),
                          "keepdims": int(op.attrs["keepdims"])},
    "Reshape": lambda op: {},
    "Transpose": lambda op: {"perm": op.definition.perm(op, _rank(op))},
    "Concat": lambda op: {"axis": norm_axis(op.attrs["axis"], _rank(op))},
    "Split": lambda op: {"axis": norm_axis(op.attrs["axis"], _rank(op)), "split": list(op.attrs["split"])},
    "Slice": lambda op: dict(zip(("starts", "steps"), map(list, zip(*[(s, p) for s, p, _ in slice_params(op.inputs[0].shape, op.attrs)]))))
    if _rank(op) else {"starts": [], "steps": []},
    "Gather": lambda op: {"axis": norm_axis(op.attrs["axis"], _rank(op))},
    "Pad": lambda op: {"pads": list(op.attrs["pads"]), "mode": op.attrs["mode"], "value": float(op.attrs["value"])},
    "Expand": lambda op: {},
    "Identity": lambda op: {},
    "GatherElements": lambda op: {"axis": norm_axis(op.attrs["axis"], _rank(op))},
    "GatherND": lambda op: {"batch_dims": int(op.attrs["batch_dims"])},
    "ScatterElements": lambda op: {"axis": norm_axis(op.attrs["axis"], _rank(op)),
                                   "reduction": op.attrs["reduction"]},
    "ScatterND": lambda op: {"reduction": op.attrs["reduction"]},
    "ArgReduce": lambda op: {"kind": op.attrs["kind"], "axis": norm_axis(op.attrs["axis"], _rank(op)),
                             "keepdims": int(op.attrs["keepdims"]),
                             "select_last_index": int(op.attrs["select_last_index"])},
    "CumSum": lambda op: {"kind": op.attrs["kind"], "axis": norm_axis(op.attrs["axis"], _rank(op)),
                          "exclusive": int(op.attrs["exclusive"]), "reverse": int(op.attrs["reverse"])},
    "TopK": lambda op: {"k": int(op.attrs["k"]), "axis": norm_axis(op.attrs["axis"], _rank(op)),
                        "largest": int(op.attrs["largest"]), "sorted": int(op.attrs["sorted"])},
    "Resize": _resize,
    "Recurrent": lambda op: {"kind": op.attrs["kind"], "reverse": int(op.attrs["reverse"])},
}


def kernel_attrs(op) -> dict:
    try:
        fn = KERNEL_ATTRS[op.type]
    except KeyError:
        raise ConversionError(f"IR op {op.type} ({op.name!r}) has no kernel; the optimizer should have lowered it") from None
    return fn(op)


def uniform_value(t):
    """The value of a constant whose elements are all equal (inlined as a literal), else None; for a
    constant of sizes known only at run time (all equal), the size as an Expr."""
    if not t.is_constant or (not t.is_symbolic and t.size == 0):
        return None
    if is_symbolic_array(t.data):
        flat = list(t.data.reshape(-1))
        return flat[0] if all(v == flat[0] for v in flat) else None
    flat = t.data.reshape(-1)
    v = flat[0]
    if t.size > 1 and not np.all(flat == v):
        return None
    if t.dtype in FLOAT_DTYPES and np.isnan(v):
        return "nan"
    return v.item() if hasattr(v, "item") else v
