"""ONNX handlers for index maps driven by data (GatherElements, GatherND, Scatter*, TensorScatter),
ordering and scans (ArgMax/ArgMin, Hardmax, CumSum/CumProd, TopK) and resampling (Resize, Upsample)."""
from __future__ import annotations

import numpy as np

from ..ir.ops import norm_axis
from ..ir.ops.elementwise import inp, call
from ..ir.symbolic import Expr
from .onnx_registry import handler, ints


# ---- gather / scatter ----------------------------------------------------------------------
@handler("GatherElements", since=11)
def _gather_elements(c):
    return [c.op1("GatherElements", [c.input(0), c.input(1)], {"axis": c.attr("axis", 0)})]


@handler("GatherND", since=11)
def _gather_nd(c):
    return [c.op1("GatherND", [c.input(0), c.input(1)], {"batch_dims": c.attr("batch_dims", 0)})]


@handler("ScatterElements", "Scatter", since=9)
def _scatter_elements(c):
    if c.node.op_type == "ScatterElements" and c.opset < 11:
        c.fail("ScatterElements needs opset 11")
    return [c.op1("ScatterElements", [c.input(0), c.input(1), c.input(2)],
                  {"axis": c.attr("axis", 0), "reduction": c.attr("reduction", "none")})]


@handler("ScatterND", since=11)
def _scatter_nd(c):
    return [c.op1("ScatterND", [c.input(0), c.input(1), c.input(2)], {"reduction": c.attr("reduction", "none")})]


@handler("TensorScatter", since=24)
def _tensor_scatter(c):
    """The update goes to positions write_indices[b] + i along `axis` (mod its length in circular
    mode): a ScatterElements with those indices broadcast to the update's shape."""
    past, update, write = c.input(0), c.input(1), c.input(2)
    r = len(past.shape)
    ax = norm_axis(c.attr("axis", -2), r)
    if ax == 0:
        c.fail("axis must not be the batch axis 0")
    length, seq = past.shape[ax], update.shape[ax]
    iota = np.arange(seq, dtype=np.int64).reshape([1] * ax + [seq] + [1] * (r - ax - 1))
    expr, ins = inp(0), [c.constant(iota)]
    if write is not None:
        w = c.op1("Reshape", [write], {"shape": [write.shape[0]] + [1] * (r - 1)})
        if w.dtype != "int64":
            w = c.ew(["cast", "int64", inp(0)], [w])
        expr, ins = call("add", inp(0), inp(1)), ins + [w]
    if c.attr("mode", "linear") == "circular":
        expr = call("imod", expr, length)
    idx = c.ew(expr, ins)
    idx = c.op1("Expand", [idx], {"shape": list(update.shape)})
    return [c.op1("ScatterElements", [past, idx, update], {"axis": ax})]


@handler("ReverseSequence", since=10)
def _reverse_sequence(c):
    """Along time_axis, position t of batch entry b reads sequence_lens[b]-1-t where t < sequence_lens[b]:
    a GatherElements with indices computed from the lengths."""
    x, lens = c.input(0), c.input(1)
    r = len(x.shape)
    b_ax, t_ax = norm_axis(c.attr("batch_axis", 1), r), norm_axis(c.attr("time_axis", 0), r)
    if r < 2 or b_ax == t_ax:
        c.fail(f"batch_axis {b_ax} and time_axis {t_ax} must be two different axes")
    along = lambda ax, n: [n if i == ax else 1 for i in range(r)]  # noqa: E731
    iota = c.constant(np.arange(x.shape[t_ax], dtype=np.int64).reshape(along(t_ax, x.shape[t_ax])))
    n = c.op1("Reshape", [lens], {"shape": along(b_ax, x.shape[b_ax])})
    t, ln = inp(0), call("cast", "int64", inp(1))
    idx = c.ew(call("where", call("lt", t, ln), call("sub", call("sub", ln, 1), t), t), [iota, n])
    idx = c.op1("Expand", [idx], {"shape": list(x.shape)})
    return [c.op1("GatherElements", [x, idx], {"axis": t_ax})]


@handler("MaxUnpool", since=9)
def _max_unpool(c):
    """Values scattered to their flat indices (as MaxPool's Indices output gives them) in a zero tensor of
    the pooling's input shape; a larger output_shape pads that with zeros at the end of each axis."""
    x, idx = c.input(0), c.input(1)
    nd = len(x.shape) - 2
    k = list(c.attr("kernel_shape"))
    s = list(c.attr("strides") or [1] * nd)
    p = list(c.attr("pads") or [0] * (2 * nd))
    shape = list(x.shape[:2]) + [(x.shape[2 + i] - 1) * s[i] + k[i] - p[i] - p[i + nd] for i in range(nd)]
    zeros = c.op1("ConstantOfShape", [c.constant(np.array([int(np.prod(shape))], np.int64))],
                  {"value": np.zeros(1, dtype=x.dtype)})
    flat = lambda t: c.op1("Reshape", [t], {"shape": [t.size]})  # noqa: E731
    y = c.op1("Reshape", [c.op1("ScatterElements", [zeros, flat(idx), flat(x)], {"axis": 0})], {"shape": shape})
    out = ints(c.const(2, "output_shape")) if c.has_input(2) else shape
    if len(out) != len(shape) or any(o < i for o, i in zip(out, shape)):
        c.fail(f"output_shape {out} is smaller than the unpooled shape {shape}")
    if out != shape:
        y = c.op1("Pad", [y], {"pads": [0] * len(shape) + [o - i for o, i in zip(out, shape)], "mode": "constant",
                               "value": 0.0})
    return [y]


def max_pool_indices(c, x, y_shape, k, s, d, pads, storage_order):
    """MaxPool's Indices output: every window gathered from the flattened input (a -inf slot stands for
    padding), the first maximum's position per window by ArgReduce, mapped through a constant table to
    its flat index in the whole input (spatial dims row-major, or column-major for storage_order=1)."""
    n, ch, sizes = x.shape[0], x.shape[1], list(x.shape[2:])
    nd, out = len(k), y_shape[2:]
    hw, p, kk = int(np.prod(sizes)), int(np.prod(out)), int(np.prod(k))
    table = np.full((p, kk), hw, dtype=np.int64)  # window element -> input position (hw: padding)
    flat = np.zeros((p, kk), dtype=np.int64)      # -> index as the Indices output counts it
    for i, o in enumerate(np.ndindex(*out)):
        for j, w in enumerate(np.ndindex(*k)):
            pos = [o[a] * s[a] - pads[a] + w[a] * d[a] for a in range(nd)]
            if all(0 <= q < z for q, z in zip(pos, sizes)):
                table[i, j] = np.ravel_multi_index(pos, sizes)
                flat[i, j] = np.ravel_multi_index(pos, sizes, order="F" if storage_order else "C")
    lowest = -np.inf if np.dtype(x.dtype).kind == "f" else np.iinfo(x.dtype).min
    xf = c.op1("Reshape", [x], {"shape": [n, ch, hw]})
    xf = c.op1("Concat", [xf, c.constant(np.full((n, ch, 1), lowest), dtype=x.dtype)], {"axis": 2})
    windows = c.op1("Gather", [xf, c.constant(table)], {"axis": 2})
    arg = c.op1("ArgReduce", [windows], {"kind": "argmax", "axis": 3, "keepdims": 0})
    at = c.ew(call("add", inp(0), inp(1)), [arg, c.constant(np.arange(p, dtype=np.int64) * kk)])
    idx = c.op1("Gather", [c.constant(flat.reshape(-1)), at], {"axis": 0})
    base = c.constant((np.arange(n * ch, dtype=np.int64) * hw).reshape(n, ch, 1))
    return c.op1("Reshape", [c.ew(call("add", inp(0), inp(1)), [idx, base])], {"shape": y_shape})


# ---- ordering and scans --------------------------------------------------------------------
@handler("ArgMax", "ArgMin")
def _arg(c):
    return [c.op1("ArgReduce", [c.input(0)], {"kind": c.node.op_type.lower(), "axis": c.attr("axis", 0),
                                              "keepdims": int(c.attr("keepdims", 1)),
                                              "select_last_index": int(c.attr("select_last_index", 0))})]


@handler("Hardmax")
def _hardmax(c):
    """One-hot of the first maximum along axis: ArgReduce, then compare with the axis positions."""
    x = c.input(0)
    shape = list(x.shape)
    if c.opset < 13:  # the input is coerced to 2-D at `axis`
        axis = norm_axis(c.attr("axis", 1), len(shape))
        x = c.op1("Reshape", [x], {"shape": [int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))]})
        axis = 1
    else:
        axis = norm_axis(c.attr("axis", -1), len(shape))
    r = len(x.shape)
    idx = c.op1("ArgReduce", [x], {"kind": "argmax", "axis": axis, "keepdims": 1})
    iota = np.arange(x.shape[axis], dtype=np.int64).reshape([1] * axis + [x.shape[axis]] + [1] * (r - axis - 1))
    y = c.ew(["cast", x.dtype, call("eq", inp(0), inp(1))], [c.constant(iota), idx])
    if list(y.shape) != shape:
        y = c.op1("Reshape", [y], {"shape": shape})
    return [y]


@handler("CumSum", "CumProd", since=11)
def _cumsum(c):
    axis = c.const(1, "axis")
    kind = "sum" if c.node.op_type == "CumSum" else "prod"
    return [c.op1("CumSum", [c.input(0)], {"kind": kind, "axis": ints(axis)[0],
                                           "exclusive": int(c.attr("exclusive", 0)),
                                           "reverse": int(c.attr("reverse", 0))})]


@handler("TopK")
def _topk(c):
    k = c.attr("k") if c.opset < 10 else ints(c.const(1, "K"))[0]
    return c.op("TopK", [c.input(0)], {"k": int(k), "axis": c.attr("axis", -1), "largest": int(c.attr("largest", 1)),
                                       "sorted": int(c.attr("sorted", 1))})


# ---- resampling ----------------------------------------------------------------------------
def _floats(v):
    return [float(f) for f in np.reshape(np.asarray(v, dtype=np.float32), -1)]


def _resize_attrs(c, x, scales, sizes, axes, roi, policy):
    """Full-rank scales, sizes and roi from the ONNX inputs (a subset of axes, keep_aspect_ratio_policy)."""
    r = len(x.shape)
    axes = list(range(r)) if axes is None else [norm_axis(int(a), r) for a in axes]
    if len(set(axes)) != len(axes):
        c.fail(f"axes {axes} repeat an axis")
    full_scales = [1.0] * r
    full_sizes = list(x.shape)
    if sizes is not None:
        if len(sizes) != len(axes):
            c.fail(f"sizes {sizes} need one entry per axis {axes}")
        ratio = [s / x.shape[a] if x.shape[a] else 1.0 for s, a in zip(sizes, axes)]
        if policy == "stretch":
            for a, s, q in zip(axes, sizes, ratio):
                full_sizes[a], full_scales[a] = int(s), q
        elif policy in ("not_larger", "not_smaller"):
            q = min(ratio) if policy == "not_larger" else max(ratio)
            for a in axes:
                full_sizes[a], full_scales[a] = int(q * x.shape[a] + 0.5), q  # rounds half up
        else:
            c.fail(f"keep_aspect_ratio_policy {policy!r} must be stretch, not_larger or not_smaller")
    else:
        if len(scales) != len(axes):
            c.fail(f"scales {scales} need one entry per axis {axes}")
        for a, s in zip(axes, scales):
            if s <= 0:
                c.fail(f"scales {scales} must be positive")
            # float32 arithmetic, as onnxruntime and ONNX shape inference compute it
            full_sizes[a], full_scales[a] = int(np.floor(np.float32(s) * np.float32(x.shape[a]))), s
    full_roi = None
    if roi is not None:
        if len(roi) != 2 * len(axes):
            c.fail(f"roi {roi} needs {2 * len(axes)} entries (starts and ends of axes {axes})")
        full_roi = [0.0] * r + [1.0] * r
        for i, a in enumerate(axes):
            full_roi[a], full_roi[a + r] = roi[i], roi[i + len(axes)]
    return full_scales, full_sizes, full_roi


def _repeat_nearest(c, x, scales, sizes, axes, attrs):
    """A nearest-neighbour resize by whole factors on symbolic sizes (an FCN's or a detector's 2x
    upsampling): each element repeated k times per axis, [.., d, ..] -> [.., d, 1, ..] -> expand
    [.., d, k, ..] -> [.., d·k, ..]. Other resizes need fixed sizes."""
    r = len(x.shape)
    axes = list(range(r)) if axes is None else [norm_axis(int(a), r) for a in axes]
    ctm, nm = attrs.get("coordinate_transformation_mode"), attrs.get("nearest_mode")
    # the coordinate rules under which output o reads input floor(o / k) for a whole k
    exact = (ctm in ("asymmetric",) and nm in ("floor", "simple")) or \
        (ctm in ("half_pixel", "pytorch_half_pixel") and nm in ("round_prefer_floor", "round_prefer_ceil"))
    factors = [1] * r
    if scales is not None and len(scales) == len(axes):
        for a, s in zip(axes, scales):
            factors[a] = int(s) if float(s).is_integer() and s >= 1 else 0
    if attrs.get("mode") != "nearest" or not exact or sizes is not None or 0 in factors or roi_given(attrs):
        c.fail(f"on symbolic sizes {list(x.shape)}, only a nearest resize by whole factors (asymmetric/floor or "
               f"half_pixel/round_prefer_floor) is supported; this one has mode {attrs.get('mode')!r}, "
               f"coordinate_transformation_mode {ctm!r}, scales {scales}, sizes {sizes}")
    inner, expanded, out = [], [], []
    for d, k in zip(x.shape, factors):
        inner += [d, 1] if k > 1 else [d]
        expanded += [d, k] if k > 1 else [d]
        out.append(d * k)
    if all(k == 1 for k in factors):
        return c.op1("Identity", [x])
    y = c.op1("Expand", [c.op1("Reshape", [x], {"shape": inner})], {"shape": expanded})
    return c.op1("Reshape", [y], {"shape": out})


def roi_given(attrs) -> bool:
    return attrs.get("coordinate_transformation_mode") == "tf_crop_and_resize"


@handler("Resize", "Upsample", since=7)
def _resize(c):
    x = c.input(0)
    op_type, opset = c.node.op_type, c.opset
    if op_type == "Resize" and opset < 10:
        c.fail("Resize needs opset 10")
    mode = c.attr("mode", "nearest")
    if op_type == "Upsample" and mode == "bilinear":
        mode = "linear"
    attrs = {"mode": mode}
    roi = sizes = scales = axes = None
    policy = "stretch"
    if op_type == "Upsample" or opset < 11:  # asymmetric coordinates, scales only
        from_attr = op_type == "Upsample" and not c.has_input(1)  # Upsample-7 has a scales attribute
        scales = _floats(c.attr("scales") if from_attr else c.const(1, "scales"))
        attrs.update(coordinate_transformation_mode="asymmetric", nearest_mode="simple")
    else:
        ctm = c.attr("coordinate_transformation_mode", "half_pixel")
        attrs.update(coordinate_transformation_mode=ctm, nearest_mode=c.attr("nearest_mode", "round_prefer_floor"),
                     cubic_coeff_a=float(c.attr("cubic_coeff_a", -0.75)),
                     exclude_outside=int(c.attr("exclude_outside", 0)),
                     extrapolation_value=float(c.attr("extrapolation_value", 0.0)),
                     antialias=int(c.attr("antialias", 0)))
        if ctm == "tf_crop_and_resize":
            roi = c.const(1, "roi")
            if roi is None or np.size(roi) == 0:
                c.fail("coordinate_transformation_mode tf_crop_and_resize needs a roi")
            roi = _floats(roi)
        s, z = c.const(2, "scales"), c.const(3, "sizes")
        if z is not None and np.size(z):
            sizes = ints(z)
        elif s is not None and np.size(s):
            scales = _floats(s)
        else:
            c.fail("needs one of scales and sizes")
        if c.attr("axes") is not None:
            axes = list(c.attr("axes"))
        policy = c.attr("keep_aspect_ratio_policy", "stretch")
    if mode not in ("nearest", "linear", "cubic"):
        c.fail(f"mode {mode!r} must be nearest, linear or cubic")
    if any(isinstance(d, Expr) for d in x.shape):
        return [_repeat_nearest(c, x, scales, sizes, axes, attrs)]
    full_scales, full_sizes, full_roi = _resize_attrs(c, x, scales, sizes, axes, roi, policy)
    attrs.update(scales=full_scales, sizes=full_sizes, roi=full_roi)
    return [c.op1("Resize", [x], attrs)]


# ---- data-dependent output shapes: host steps (ir/ops/dynamic.py) ---------------------------
@handler("NonZero", since=9)
def _non_zero(c):
    return [c.op1("NonZero", [c.input(0)])]


@handler("Compress", since=9)
def _compress(c):
    x, cond = c.input(0), c.input(1)
    axis = c.attr("axis")
    if cond.is_constant:  # a constant condition is a static Gather
        keep = np.flatnonzero(np.reshape(cond.data, -1) != 0)
        if axis is None:
            x, axis = c.op1("Reshape", [x], {"shape": [x.size]}), 0
        return [c.op1("Gather", [x, c.constant(keep.astype(np.int64))], {"axis": axis})]
    return [c.op1("Compress", [x, cond], {"axis": axis})]


@handler("Unique", since=11)
def _unique(c):
    return c.op("Unique", [c.input(0)], {"axis": c.attr("axis"), "sorted": c.attr("sorted", 1)})


@handler("NonMaxSuppression", since=10)
def _non_max_suppression(c):
    return [c.op1("NonMaxSuppression", [c.input(i) for i in range(min(c.num_inputs(), 5))],
                  {"center_point_box": c.attr("center_point_box", 0)})]
