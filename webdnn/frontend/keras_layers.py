"""Keras layer handlers: each maps one Keras layer class onto existing IR ops. Convolutions and
pooling run channels-first (the Value's layout says so, no Transpose back); activations are
Elementwise expressions; padding/cropping is Pad; nearest UpSampling is Reshape+Expand+Reshape, other resizing is Resize; recurrent
layers are unrolled over the static sequence length into MatMul + Elementwise + Slice/Concat."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir.activations import ACTIVATIONS
from ..ir.ops.elementwise import call, inp
from .keras_context import (X, Value, activation_name, config_axes, conv_pads, data_format, int_list,
                            is_supported_activation, per_axis, spatial_perm)
from .keras_rnn import register_rnn

LAYERS: dict[str, Callable] = {}


def layer(*names):
    def deco(fn):
        for n in names:
            LAYERS[n] = fn
        return fn
    return deco


def unsupported_settings(class_name: str, cfg: dict) -> list:
    """Config values a supported layer class cannot convert (reported with unsupported layers)."""
    bad = []
    for key in ("activation", "recurrent_activation"):
        if key in cfg and not is_supported_activation(activation_name(cfg[key])):
            bad.append(f"{key} {activation_name(cfg[key])!r}")
    interp = cfg.get("interpolation", "nearest")
    if class_name in ("UpSampling1D", "UpSampling3D") and interp != "nearest":
        bad.append(f"interpolation {interp!r}")
    if class_name in ("UpSampling2D", "Resizing") and interp not in RESIZE_MODES:
        bad.append(f"interpolation {interp!r} (supported: {', '.join(RESIZE_MODES)})")
    if class_name == "Resizing" and cfg.get("pad_to_aspect_ratio") and cfg.get("fill_mode", "constant") != "constant":
        bad.append(f"fill_mode {cfg['fill_mode']!r}")
    inner = cfg.get("layer")
    if class_name in ("TimeDistributed", "Bidirectional") and isinstance(inner, dict):
        icls = inner.get("class_name")
        if icls not in LAYERS:
            bad.append(f"wrapped {icls}")
        else:
            bad += [f"wrapped {icls} {w}" for w in unsupported_settings(icls, inner.get("config") or {})]
    return bad


# ---- pass-through ---------------------------------------------------------------------------------
@layer("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
       "AlphaDropout", "ActivityRegularization", "Identity")
def _identity(c):
    return [c.x]


# ---- convolutions --------------------------------------------------------------------------------
def _conv_geometry(c, v, nd):
    cfg = c.cfg
    fmt = data_format(cfg)
    x = c.spatial(v, fmt)
    k = int_list(cfg["kernel_size"], nd)
    s = int_list(cfg.get("strides", 1), nd)
    d = int_list(cfg.get("dilation_rate", 1), nd)
    return fmt, x, k, s, d


def _bias(c, w, i, use_bias):
    return c.param("bias", lambda: w[i]) if use_bias else None


@layer("Conv1D", "Conv2D", "Conv3D")
def _conv(c):
    v, cfg = c.x, c.cfg
    nd = v.rank - 2
    fmt, x, k, s, d = _conv_geometry(c, v, nd)
    w = c.weights()
    W = c.param("kernel", lambda: w[0].transpose(nd + 1, nd, *range(nd)))
    pads = conv_pads(c, x.shape[2:], k, s, d, cfg.get("padding", "valid"))
    ins = [x, W] + ([_bias(c, w, 1, True)] if cfg.get("use_bias", True) else [])
    y = c.op1("Conv", ins, {"strides": s, "pads": pads, "dilations": d, "group": int(cfg.get("groups", 1))})
    return [c.activate(Value(y, spatial_perm(v.rank, fmt)), cfg.get("activation"))]


def _depthwise_w(w, nd):
    # (k..., cin, multiplier) → [cin*multiplier, 1, k...]: output channel c*multiplier + m
    cin, mult = w.shape[nd], w.shape[nd + 1]
    return w.transpose(nd, nd + 1, *range(nd)).reshape(cin * mult, 1, *w.shape[:nd])


@layer("DepthwiseConv1D", "DepthwiseConv2D")
def _depthwise(c):
    v, cfg = c.x, c.cfg
    nd = v.rank - 2
    fmt, x, k, s, d = _conv_geometry(c, v, nd)
    w = c.weights()
    W = c.param("kernel", lambda: _depthwise_w(w[0], nd))
    pads = conv_pads(c, x.shape[2:], k, s, d, cfg.get("padding", "valid"))
    ins = [x, W] + ([_bias(c, w, 1, True)] if cfg.get("use_bias", True) else [])
    y = c.op1("Conv", ins, {"strides": s, "pads": pads, "dilations": d, "group": x.shape[1]})
    return [c.activate(Value(y, spatial_perm(v.rank, fmt)), cfg.get("activation"))]


@layer("SeparableConv1D", "SeparableConv2D")
def _separable(c):
    v, cfg = c.x, c.cfg
    nd = v.rank - 2
    fmt, x, k, s, d = _conv_geometry(c, v, nd)
    w = c.weights()
    Wd = c.param("depthwise", lambda: _depthwise_w(w[0], nd))
    Wp = c.param("pointwise", lambda: w[1].reshape(w[1].shape[-2:]).T.reshape(w[1].shape[-1], w[1].shape[-2], *([1] * nd)))
    pads = conv_pads(c, x.shape[2:], k, s, d, cfg.get("padding", "valid"))
    h = c.op1("Conv", [x, Wd], {"strides": s, "pads": pads, "dilations": d, "group": x.shape[1]})
    ins = [h, Wp] + ([_bias(c, w, 2, True)] if cfg.get("use_bias", True) else [])
    y = c.op1("Conv", ins, {"strides": [1] * nd, "pads": [0] * (2 * nd), "dilations": [1] * nd, "group": 1})
    return [c.activate(Value(y, spatial_perm(v.rank, fmt)), cfg.get("activation"))]


@layer("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def _conv_transpose(c):
    v, cfg = c.x, c.cfg
    nd = v.rank - 2
    fmt, x, k, s, d = _conv_geometry(c, v, nd)
    w = c.weights()
    W = c.param("kernel", lambda: w[0].transpose(nd + 1, nd, *range(nd)))  # (k..., out, in) → [in, out, k...]
    padding = str(cfg.get("padding", "valid")).lower()
    opad_cfg = cfg.get("output_padding")
    opad_cfg = None if opad_cfg is None else int_list(opad_cfg, nd)
    begins, ends, opad = [], [], []
    for i in range(nd):
        n, kk = x.shape[2 + i], (k[i] - 1) * d[i] + 1
        if opad_cfg is None:  # Keras' deconv_output_length
            length = n * s[i] + max(kk - s[i], 0) if padding == "valid" else n * s[i]
        else:
            pad = kk // 2 if padding == "same" else 0
            length = (n - 1) * s[i] + kk - 2 * pad + opad_cfg[i]
        full = (n - 1) * s[i] + kk
        b = 0 if padding == "valid" else max(full - length, 0) // 2
        e = full - length - b
        begins.append(b)
        ends.append(max(e, 0))
        opad.append(max(-e, 0))
    ins = [x, W] + ([_bias(c, w, 1, True)] if cfg.get("use_bias", True) else [])
    y = c.op1("ConvTranspose", ins, {"strides": s, "pads": begins + ends, "dilations": d, "group": 1,
                                     "output_padding": opad})
    return [c.activate(Value(y, spatial_perm(v.rank, fmt)), cfg.get("activation"))]


@layer("Dense")
def _dense(c):
    v, cfg = c.x, c.cfg
    w = c.weights()
    use_bias = cfg.get("use_bias", True)
    W = c.param("kernel", lambda: w[0])
    if v.rank == 2 and v.perm == (0, 1):
        ins = [v.t, W] + ([_bias(c, w, 1, True)] if use_bias else [])
        return [c.activate(Value(c.op1("Gemm", ins), mask=v.mask), cfg.get("activation"))]
    perm = v.perm if v.perm[-1] == v.rank - 1 else tuple(range(v.rank))  # contract the last physical axis
    y = Value(c.op1("MatMul", [c.layout(v, perm), W]), perm, v.mask)
    if use_bias:
        y = c.pointwise(call("add", X, inp(1)), [y, w[1]], mask=v.mask)
    return [c.activate(y, cfg.get("activation"))]


# ---- normalization -------------------------------------------------------------------------------
@layer("BatchNormalization")
def _batchnorm(c):
    v, cfg = c.x, c.cfg
    axes = config_axes(cfg, v.rank)
    w = list(c.weights())
    n = w[-2].size
    gamma = w.pop(0) if cfg.get("scale", True) else np.ones(n, np.float32)
    beta = w.pop(0) if cfg.get("center", True) else np.zeros(n, np.float32)
    mean, var = w[0], w[1]
    eps = float(cfg.get("epsilon", 1e-3))
    if len(axes) == 1 and v.rank >= 2 and v.phys(axes[0]) == 1:  # folds into the Conv before it
        ins = [v.t] + [c.param(k, lambda a=a: a.reshape(-1)) for k, a in
                       (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))]
        return [Value(c.op1("BatchNormalization", ins, {"epsilon": eps}), v.perm, v.mask)]
    s = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    t = beta - mean * s
    return [c.pointwise(call("add", call("mul", X, inp(1)), inp(2)),
                        [v, per_axis(s, axes, v.rank), per_axis(t, axes, v.rank)], mask=v.mask)]


@layer("LayerNormalization")
def _layernorm(c):
    v, cfg = c.x, c.cfg
    axes = config_axes(cfg, v.rank)
    phys = [v.phys(a) for a in axes]
    eps = float(cfg.get("epsilon", 1e-3))
    w = list(c.weights())
    if cfg.get("rms_scaling"):
        ms = c.op1("Reduce", [c.op1("Elementwise", [v.t], {"expr": call("mul", X, X)})],
                   {"kind": "mean", "axes": phys, "keepdims": 1})
        y = Value(c.op1("Elementwise", [v.t, ms], {"expr": call("div", X, call("sqrt", call("add", inp(1), eps)))}),
                  v.perm)
        return [c.pointwise(call("mul", X, inp(1)), [y, per_axis(w[0], axes, v.rank)], mask=v.mask)]
    return [_scale_center(c, Value(_standardize(c, v.t, phys, eps), v.perm), cfg, w, axes)]


def _standardize(c, t, phys_axes, eps: float):
    """(t - mean) / sqrt(var + eps) over the physical axes given (biased variance, as Keras computes it)."""
    mean = c.op1("Reduce", [t], {"kind": "mean", "axes": phys_axes, "keepdims": 1})
    cen = c.op1("Elementwise", [t, mean], {"expr": call("sub", X, inp(1))})
    var = c.op1("Reduce", [c.op1("Elementwise", [cen], {"expr": call("mul", X, X)})],
                {"kind": "mean", "axes": phys_axes, "keepdims": 1})
    return c.op1("Elementwise", [cen, var], {"expr": call("div", X, call("sqrt", call("add", inp(1), eps)))})


def _scale_center(c, y: Value, cfg, w: list, axes) -> Value:
    """y * gamma + beta with per-`axes` weights, each present as the config says."""
    v = c.x
    args, expr = [y], X
    if cfg.get("scale", True):
        args.append(per_axis(w.pop(0), axes, v.rank))
        expr = call("mul", expr, inp(len(args) - 1))
    if cfg.get("center", True):
        args.append(per_axis(w.pop(0), axes, v.rank))
        expr = call("add", expr, inp(len(args) - 1))
    return c.pointwise(expr, args, mask=v.mask) if len(args) > 1 else y


@layer("GroupNormalization")
def _groupnorm(c):
    """The channel axis split into (groups, channels per group), standardized over everything but the batch
    and the group, in whatever physical layout the input has."""
    v, cfg = c.x, c.cfg
    (axis,) = config_axes(cfg, v.rank)
    p, b = v.phys(axis), v.phys(0)
    shape = list(v.t.shape)
    groups = int(cfg.get("groups", 32))
    if groups <= 0 or shape[p] % groups:
        c.fail(f"{shape[p]} channels cannot be split into {groups} groups")
    split = shape[:p] + [groups, shape[p] // groups] + shape[p + 1:]
    t = c.op1("Reshape", [v.t], {"shape": split})
    phys = [q for q in range(len(split)) if q not in (p, b if b < p else b + 1)]
    y = c.op1("Reshape", [_standardize(c, t, phys, float(cfg.get("epsilon", 1e-3)))], {"shape": shape})
    return [_scale_center(c, Value(y, v.perm), cfg, list(c.weights()), [axis])]


@layer("Rescaling")
def _rescaling(c):
    scale, offset = c.cfg.get("scale", 1.0), c.cfg.get("offset", 0.0)
    if isinstance(scale, dict) or isinstance(offset, dict):
        c.fail("scale/offset given as tensors are not supported")
    return [c.pointwise(call("add", call("mul", X, inp(1)), inp(2)), [c.x, np.asarray(scale), np.asarray(offset)],
                        mask=c.x.mask)]


@layer("Normalization")
def _normalization(c):
    v, cfg = c.x, c.cfg
    axis = cfg.get("axis", -1)
    axes = [] if axis is None else config_axes({"axis": axis}, v.rank)
    if cfg.get("mean") is not None:
        mean, var = np.asarray(cfg["mean"], np.float64), np.asarray(cfg["variance"], np.float64)
    else:
        w = c.weights()
        mean, var = w[0].astype(np.float64), w[1].astype(np.float64)
    mean, var = per_axis(mean, axes, v.rank), per_axis(var, axes, v.rank)
    std = np.maximum(np.sqrt(var), 1e-7)
    if cfg.get("invert"):
        return [c.pointwise(call("add", call("mul", X, inp(1)), inp(2)), [v, std, mean], mask=v.mask)]
    return [c.pointwise(call("mul", call("sub", X, inp(1)), inp(2)), [v, mean, 1 / std], mask=v.mask)]


@layer("UnitNormalization")
def _unit_norm(c):
    v = c.x
    phys = [v.phys(a) for a in config_axes(c.cfg, v.rank)]
    ss = c.op1("Reduce", [c.op1("Elementwise", [v.t], {"expr": call("mul", X, X)})],
               {"kind": "sum", "axes": phys, "keepdims": 1})
    y = c.op1("Elementwise", [v.t, ss], {"expr": call("mul", X, call("reciprocal", call("sqrt", call("max", inp(1), 1e-12))))})
    return [Value(y, v.perm, v.mask)]


# ---- activation layers ---------------------------------------------------------------------------
@layer("Activation")
def _activation(c):
    return [c.activate(c.x, c.cfg.get("activation"))]


@layer("ReLU")
def _relu(c):
    cfg = c.cfg
    mx, slope, th = cfg.get("max_value"), float(cfg.get("negative_slope", 0.0) or 0.0), float(cfg.get("threshold", 0.0) or 0.0)
    expr = call("where", call("gt", X, th), X, call("mul", slope, call("sub", X, th))) if slope or th \
        else ACTIVATIONS["Relu"].expr()
    if mx is not None:
        expr = call("where", call("ge", X, float(mx)), float(mx), expr)
    return [c.pointwise(expr, [c.x], mask=c.x.mask)]


@layer("LeakyReLU")
def _leaky(c):
    a = c.cfg.get("negative_slope", c.cfg.get("alpha", 0.3))
    return [c.pointwise(ACTIVATIONS["LeakyRelu"].expr(alpha=float(a)), [c.x], mask=c.x.mask)]


@layer("ELU")
def _elu_layer(c):
    return [c.pointwise(ACTIVATIONS["Elu"].expr(alpha=float(c.cfg.get("alpha", 1.0))), [c.x], mask=c.x.mask)]


@layer("ThresholdedReLU")
def _thresholded(c):
    return [c.pointwise(ACTIVATIONS["ThresholdedRelu"].expr(alpha=float(c.cfg.get("theta", 1.0))), [c.x], mask=c.x.mask)]


@layer("PReLU")
def _prelu(c):
    alpha = c.weights()[0]  # shape = input shape[1:], 1 on shared axes
    # a LeakyRelu whose slope is a tensor
    return [c.pointwise(ACTIVATIONS["LeakyRelu"].expr(alpha=inp(1)), [c.x, alpha[None]], mask=c.x.mask)]


@layer("Softmax")
def _softmax(c):
    v = c.x
    axes = config_axes(c.cfg, v.rank)
    if len(axes) != 1:
        c.fail(f"softmax over several axes {axes} is not supported")
    return [Value(c.op1("Softmax", [v.t], {"axis": v.phys(axes[0]), "log": 0}), v.perm, v.mask)]


# ---- merging ---------------------------------------------------------------------------------------
MERGE = {"Add": "add", "Subtract": "sub", "Multiply": "mul", "Maximum": "max", "Minimum": "min", "Average": "add"}


@layer(*MERGE)
def _merge(c):
    xs = c.inputs
    prim = MERGE[c.class_name]
    expr = X
    for i in range(1, len(xs)):
        expr = call(prim, expr, inp(i))
    if c.class_name == "Average":
        expr = call("mul", expr, 1.0 / len(xs))
    return [c.pointwise(expr, xs, mask=xs[0].mask)]


@layer("Concatenate")
def _concatenate(c):
    xs = c.inputs
    perm = c.common_perm(xs)
    axis = int(c.cfg.get("axis", -1)) % xs[0].rank
    return [Value(c.op1("Concat", [c.layout(v, perm) for v in xs], {"axis": perm.index(axis)}), perm)]


@layer("Dot")
def _dot(c):
    a, b = c.inputs
    axes = c.cfg.get("axes", -1)
    axes = int_list(axes, 2)
    axes = [axes[0] % a.rank, axes[1] % b.rank]
    if a.rank != b.rank or a.rank not in (2, 3) or axes[0] == 0:
        c.fail(f"Dot of ranks {a.rank}, {b.rank} over axes {axes} is not supported")
    ta, tb = c.logical(a), c.logical(b)
    if c.cfg.get("normalize"):
        ta, tb = (_l2_normalize(c, t, ax) for t, ax in ((ta, axes[0]), (tb, axes[1])))
    if a.rank == 2:  # [N, D]·[N, D] → [N, 1]
        y = c.op1("Reduce", [c.op1("Elementwise", [ta, tb], {"expr": call("mul", X, inp(1))})],
                  {"kind": "sum", "axes": [1], "keepdims": 1})
        return [Value(y)]
    # batched: contract axes[0] of a with axes[1] of b
    if axes[0] == 1:
        ta = c.op1("Transpose", [ta], {"perm": [0, 2, 1]})
    if axes[1] == 2:
        tb = c.op1("Transpose", [tb], {"perm": [0, 2, 1]})
    return [Value(c.op1("MatMul", [ta, tb]))]


def _l2_normalize(c, t, axis):
    ss = c.op1("Reduce", [c.op1("Elementwise", [t], {"expr": call("mul", X, X)})],
               {"kind": "sum", "axes": [axis], "keepdims": 1})
    return c.op1("Elementwise", [t, ss], {"expr": call("mul", X, call("reciprocal", call("sqrt", call("max", inp(1), 1e-12))))})


# ---- pooling ---------------------------------------------------------------------------------------
@layer("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D")
def _pool(c):
    v, cfg = c.x, c.cfg
    nd = v.rank - 2
    fmt = data_format(cfg)
    x = c.spatial(v, fmt)
    k = int_list(cfg.get("pool_size", 2), nd)
    strides = cfg.get("strides")
    s = k if strides is None else int_list(strides, nd)
    pads = conv_pads(c, x.shape[2:], k, s, [1] * nd, cfg.get("padding", "valid"))
    kind = "max" if c.class_name.startswith("Max") else "avg"
    y = c.op1("Pool", [x], {"kind": kind, "kernel_shape": k, "strides": s, "pads": pads, "dilations": [1] * nd,
                           "ceil_mode": 0, "count_include_pad": 0})  # Keras averages over the real pixels only
    return [Value(y, spatial_perm(v.rank, fmt))]


def reduce_value(c, v: Value, axes, kind: str, keepdims: bool) -> Value:
    phys = sorted(v.phys(a) for a in axes)
    y = c.op1("Reduce", [v.t], {"kind": kind, "axes": phys, "keepdims": int(keepdims)})
    if keepdims:
        return Value(y, v.perm)
    kept = [a for a in v.perm if a not in axes]  # logical axes left, in physical order
    order = sorted(kept)
    return Value(y, [order.index(a) for a in kept])


@layer("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
       "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D")
def _global_pool(c):
    v, cfg = c.x, c.cfg
    sp = spatial_perm(v.rank, data_format(cfg))[2:]
    kind = "max" if "Max" in c.class_name else "mean"
    keep = bool(cfg.get("keepdims", False))
    if v.mask is not None and kind == "mean" and v.rank == 3:  # masked mean over the steps
        m = c.op1("Reshape", [v.mask], {"shape": list(v.mask.shape) + [1]})
        mv = Value(m)
        num = reduce_value(c, c.pointwise(call("mul", X, inp(1)), [v, mv]), sp, "sum", keep)
        den = reduce_value(c, mv, [1], "sum", keep)
        return [c.pointwise(call("div", X, call("max", inp(1), 1e-12)), [num, den])]
    return [reduce_value(c, v, sp, kind, keep)]


# ---- shapes and index maps -------------------------------------------------------------------------
def _spatial_pads(c, v, fmt, pairs, sign=1, value=0.0):
    perm = v.perm
    nd = len(pairs)
    sp = spatial_perm(v.rank, fmt)[2:]
    begins, ends = [0] * v.rank, [0] * v.rank
    for i in range(nd):
        p = v.phys(sp[i])
        begins[p], ends[p] = sign * pairs[i][0], sign * pairs[i][1]
    return Value(c.op1("Pad", [v.t], {"pads": begins + ends, "mode": "constant", "value": value}), perm)


def _pairs(val, nd):
    if isinstance(val, int):
        return [(val, val)] * nd
    val = list(val)
    if nd == 1 and len(val) == 2 and all(isinstance(e, int) for e in val):
        return [(val[0], val[1])]
    return [(e, e) if isinstance(e, int) else (int(e[0]), int(e[1])) for e in val]


@layer("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def _zero_pad(c):
    nd = c.x.rank - 2
    return [_spatial_pads(c, c.x, data_format(c.cfg), _pairs(c.cfg.get("padding", 1), nd))]


@layer("Cropping1D", "Cropping2D", "Cropping3D")
def _crop(c):
    nd = c.x.rank - 2
    return [_spatial_pads(c, c.x, data_format(c.cfg), _pairs(c.cfg.get("cropping", 1), nd), sign=-1)]


# Keras image resizing (UpSampling2D with an interpolation, Resizing) as the Resize IR op. Keras's
# backends agree on half-pixel centres; "nearest" picks floor((out + 0.5) * in / out) (TensorFlow's
# half-pixel nearest, torch's nearest-exact), i.e. half_pixel + round_prefer_ceil. Bicubic differs by
# backend: Keys a = -0.5 in TensorFlow and JAX, -0.75 in torch (an .h5 file records its backend; a
# .keras file does not, and TensorFlow's is assumed).
RESIZE_MODES = ("nearest", "bilinear", "bicubic")


def _resize_value(c, v: Value, fmt: str, out_hw, interpolation: str, antialias=False) -> Value:
    sp = spatial_perm(v.rank, fmt)[2:]
    sizes = list(v.t.shape)
    for ax, n in zip(sp, out_hw):
        sizes[v.phys(ax)] = int(n)
    if sizes == list(v.t.shape) and interpolation != "bicubic" and not antialias:
        return v  # same size: every mode is the identity at half-pixel centres
    scales = [o / i if i else 1.0 for o, i in zip(sizes, v.t.shape)]
    attrs = {"coordinate_transformation_mode": "half_pixel", "sizes": sizes, "scales": scales}
    if interpolation == "nearest":
        attrs.update(mode="nearest", nearest_mode="round_prefer_ceil")
    else:
        attrs.update(mode="linear" if interpolation == "bilinear" else "cubic")
        if antialias:  # every backend filters as Pillow does: Keys -0.5, taps outside the image dropped
            attrs.update(antialias=1, exclude_outside=1, cubic_coeff_a=-0.5)
        elif interpolation == "bicubic":
            attrs["cubic_coeff_a"] = -0.75 if c.imp.kfile.backend == "torch" else -0.5
    return Value(c.op1("Resize", [v.t], attrs), v.perm)


@layer("Resizing")
def _resizing(c):
    v, cfg = c.x, c.cfg
    if v.rank != 4:
        c.fail(f"needs a batch of images (rank 4), got shape {list(v.shape)}")
    fmt = data_format(cfg)
    sp = spatial_perm(v.rank, fmt)[2:]
    h, w = (v.shape[a] for a in sp)
    th, tw = int(cfg["height"]), int(cfg["width"])
    if cfg.get("crop_to_aspect_ratio"):  # centred crop to the target's aspect ratio, as Keras computes it
        ch = max(min(h, int(float(w * th) / tw)), 1)
        cw = max(min(w, int(float(h * tw) / th)), 1)
        top, left = int(float(h - ch) / 2), int(float(w - cw) / 2)
        v = _spatial_pads(c, v, fmt, [(top, h - ch - top), (left, w - cw - left)], sign=-1)
    elif cfg.get("pad_to_aspect_ratio"):  # Keras pads the same amount on both sides
        top = int(float(max(h, int(float(w * th) / tw)) - h) / 2)
        left = int(float(max(w, int(float(h * tw) / th)) - w) / 2)
        v = _spatial_pads(c, v, fmt, [(top, top), (left, left)], value=float(cfg.get("fill_value", 0.0)))
    return [_resize_value(c, v, fmt, (th, tw), cfg.get("interpolation", "bilinear"), cfg.get("antialias", False))]


@layer("UpSampling1D", "UpSampling2D", "UpSampling3D")
def _upsample(c):
    v, cfg = c.x, c.cfg
    nd = v.rank - 2
    size = int_list(cfg.get("size", 2), nd)
    fmt = data_format(cfg) if nd > 1 else "channels_last"
    sp = spatial_perm(v.rank, fmt)[2:]
    if cfg.get("interpolation", "nearest") != "nearest":  # UpSampling2D only (checked up front)
        return [_resize_value(c, v, fmt, [v.shape[a] * f for a, f in zip(sp, size)], cfg["interpolation"])]
    factor = {v.phys(sp[i]): size[i] for i in range(nd)}
    shape = v.t.shape
    split, expanded, merged = [], [], []
    for p, dim in enumerate(shape):
        f = factor.get(p, 1)
        if f == 1:
            split.append(dim), expanded.append(dim), merged.append(dim)
        else:
            split += [dim, 1]
            expanded += [dim, f]
            merged.append(dim * f)
    t = c.op1("Reshape", [v.t], {"shape": split})
    t = c.op1("Expand", [t], {"shape": expanded})
    return [Value(c.op1("Reshape", [t], {"shape": merged}), v.perm)]


@layer("Reshape")
def _reshape(c):
    v = c.x
    target = [int(d) for d in c.cfg["target_shape"]]
    n = v.shape[0]
    rest = int(np.prod(v.shape[1:]))
    if target.count(-1) == 1:
        known = int(np.prod([d for d in target if d != -1]))
        target[target.index(-1)] = rest // known if known else 0
    if int(np.prod(target)) != rest:
        c.fail(f"cannot reshape {list(v.shape)} to (batch, {', '.join(map(str, target))})")
    return [Value(c.op1("Reshape", [c.logical(v)], {"shape": [n] + target}))]


@layer("Flatten")
def _flatten(c):
    v = c.x
    if v.rank <= 2:
        return [v]
    perm = tuple(range(v.rank))
    if data_format(c.cfg) == "channels_first":  # Keras moves the channels last first (weight-order compatibility)
        perm = (0, *range(2, v.rank), 1)
    return [Value(c.op1("Reshape", [c.layout(v, perm)], {"shape": [v.shape[0], int(np.prod(v.shape[1:]))]}))]


@layer("Permute")
def _permute(c):
    v = c.x
    order = [0] + [int(d) for d in c.cfg["dims"]]  # new logical axis j is old logical axis order[j]
    return [Value(v.t, [order.index(a) for a in v.perm], v.mask)]


@layer("RepeatVector")
def _repeat(c):
    v = c.x
    n = int(c.cfg["n"])
    t = c.op1("Reshape", [c.logical(v)], {"shape": [v.shape[0], 1, v.shape[1]]})
    return [Value(c.op1("Expand", [t], {"shape": [v.shape[0], n, v.shape[1]]}))]


@layer("Embedding")
def _embedding(c):
    v, cfg = c.x, c.cfg
    ids = c.logical(v)
    if ids.dtype not in ("int32", "int64"):
        ids = c.op1("Elementwise", [ids], {"expr": ["cast", "int32", X]})
    E = c.param("embeddings", lambda: c.weights()[0])
    y = c.op1("Gather", [E, ids], {"axis": 0})
    mask = None
    if cfg.get("mask_zero") and v.rank == 2:
        mask = c.op1("Elementwise", [ids], {"expr": ["cast", "float32", call("not", call("eq", X, 0))]})
    return [Value(y, mask=mask)]


@layer("Masking")
def _masking(c):
    v = c.x
    t = c.logical(v)
    mv = float(c.cfg.get("mask_value", 0.0))
    keep = c.op1("Reduce", [c.op1("Elementwise", [t], {"expr": ["cast", "float32", call("not", call("eq", X, mv))]})],
                 {"kind": "max", "axes": [v.rank - 1], "keepdims": 0})
    y = c.op1("Elementwise", [t, c.op1("Reshape", [keep], {"shape": list(keep.shape) + [1]})],
              {"expr": call("mul", X, inp(1))})
    return [Value(y, mask=keep)]


@layer("TimeDistributed")
def _time_distributed(c):
    v = c.x
    inner = c.cfg["layer"]
    n, t = v.shape[0], v.shape[1]
    flat = Value(c.op1("Reshape", [c.logical(v)], {"shape": [n * t, *v.shape[2:]]}))
    (y,) = c.sub(inner["class_name"], inner.get("config") or {}, [flat], c.weights())[:1]
    out = c.op1("Reshape", [c.logical(y)], {"shape": [n, t, *y.shape[1:]]})
    return [Value(out, mask=v.mask)]


register_rnn(layer)
