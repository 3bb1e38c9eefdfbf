"""One handler per Caffe layer type: ``handler(b, layer, blobs)`` reads its bottoms from the
Builder ``b`` (caffe.py), writes ONNX nodes and sets its tops with their shapes, computed with Caffe's
own rules. ``blobs`` are the layer's weight blobs from the caffemodel as float32 arrays."""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConversionError

HANDLERS = {}


def handler(*types):
    def deco(fn):
        for t in types:
            HANDLERS[t] = fn
        return fn
    return deco


def unsupported_setting(layer) -> str | None:
    """Why a layer of a supported type still cannot be converted (None: it can)."""
    t = layer.type
    if t == "Pooling" and layer.pooling_param.pool == 2:
        return "STOCHASTIC pooling"
    if t == "BatchNorm" and layer.batch_norm_param.HasField("use_global_stats") \
            and not layer.batch_norm_param.use_global_stats:
        return "use_global_stats: false, i.e. batch statistics at inference"
    if t == "LRN" and layer.lrn_param.local_size % 2 == 0:
        return "even local_size"
    return None


def want(blob: np.ndarray, shape, what: str) -> np.ndarray:
    """The weight blob in the shape the layer needs (legacy 4-D blobs have the same values)."""
    shape = tuple(int(d) for d in shape)
    if blob.size != int(np.prod(shape)):
        raise ConversionError(f"the {what} blob has shape {list(blob.shape)} ({blob.size} values); "
                              f"expected {list(shape)} ({int(np.prod(shape))} values)")
    return blob.reshape(shape)


def blob_count(blobs, n_min: int, n_max: int, what: str):
    if not n_min <= len(blobs) <= n_max:
        raise ConversionError(f"expected {what} in the caffemodel, found {len(blobs)} weight blob(s) "
                              f"(is the layer's name the same in the prototxt and the caffemodel?)")


def axis_of(axis: int, ndim: int) -> int:
    a = axis + ndim if axis < 0 else axis
    if not 0 <= a < ndim:
        raise ConversionError(f"axis {axis} is out of range for a {ndim}-D input")
    return a


def channel_shape(c: int, ndim: int, axis: int = 1) -> tuple:
    """A per-channel vector shaped to broadcast over an ndim tensor whose channel axis is `axis`."""
    return (c,) + (1,) * (ndim - axis - 1)


def spatial(p, nd: int, name: str, default: int, h_field: str, w_field: str, repeated: bool = True) -> list[int]:
    """Caffe's kernel/stride/pad/dilation: the _h/_w fields (2-D only), else 1 or nd values."""
    if nd == 2 and h_field and (p.HasField(h_field) or p.HasField(w_field)):
        return [int(getattr(p, h_field)), int(getattr(p, w_field))]
    vals = list(getattr(p, name)) if repeated else ([getattr(p, name)] if p.HasField(name) else [])
    if not vals:
        return [default] * nd
    if len(vals) == 1:
        return [int(vals[0])] * nd
    if len(vals) != nd:
        raise ConversionError(f"{name} has {len(vals)} values for {nd} spatial axes")
    return [int(v) for v in vals]


def _positive(**values):
    for name, v in values.items():
        if any(int(x) < 1 for x in v):
            raise ConversionError(f"{name} must be at least 1, got {list(v)}")


# ---- contractions ---------------------------------------------------------------------------------

@handler("Convolution", "Deconvolution")
def _conv(b, layer, blobs):
    p = layer.convolution_param
    shape = b.shape()
    axis = axis_of(p.axis, len(shape))
    if axis != 1:
        raise ConversionError(f"convolution over axis {p.axis} (only the channel axis 1 is supported)")
    nd = len(shape) - 2
    k = spatial(p, nd, "kernel_size", 0, "kernel_h", "kernel_w")
    s = spatial(p, nd, "stride", 1, "stride_h", "stride_w")
    pad = spatial(p, nd, "pad", 0, "pad_h", "pad_w")
    d = spatial(p, nd, "dilation", 1, "", "")
    if not all(k):
        raise ConversionError("kernel_size (or kernel_h and kernel_w) is missing")
    _positive(stride=s, dilation=d, group=[p.group], num_output=[p.num_output])
    c, m, g = shape[1], int(p.num_output), int(p.group)
    if c % g or m % g:
        raise ConversionError(f"{c} input and {m} output channels are not divisible by group {g}")
    blob_count(blobs, 1 + p.bias_term, 1 + p.bias_term, "a weight" + (" and a bias" if p.bias_term else ""))
    deconv = layer.type == "Deconvolution"
    w = want(blobs[0], (c, m // g, *k) if deconv else (m, c // g, *k), "weight")
    inputs = [b.bottom(), b.const(w, "W")]
    if p.bias_term:
        inputs.append(b.const(want(blobs[1], (m,), "bias"), "B"))
    attrs = {"kernel_shape": k, "strides": s, "pads": pad + pad, "dilations": d, "group": g}
    if deconv:
        out = [s[i] * (shape[2 + i] - 1) + d[i] * (k[i] - 1) + 1 - 2 * pad[i] for i in range(nd)]
        y = b.node("ConvTranspose", inputs, attrs)
    else:
        out = [(shape[2 + i] + 2 * pad[i] - (d[i] * (k[i] - 1) + 1)) // s[i] + 1 for i in range(nd)]
        y = b.node("Conv", inputs, attrs)
    if min(out) < 1:
        raise ConversionError(f"the output would be empty ({out}) for input {list(shape)}")
    b.set_top(0, y, (shape[0], m, *out))


@handler("InnerProduct")
def _inner_product(b, layer, blobs):
    p = layer.inner_product_param
    shape = b.shape()
    axis = axis_of(p.axis, len(shape))
    k, n = int(np.prod(shape[axis:])), int(p.num_output)
    blob_count(blobs, 1 + p.bias_term, 1 + p.bias_term, "a weight" + (" and a bias" if p.bias_term else ""))
    w = want(blobs[0], (k, n) if p.transpose else (n, k), "weight")
    x = b.bottom()
    if len(shape) != 2 or axis != 1:
        x = b.node("Flatten", [x], {"axis": axis})
    inputs = [x, b.const(w, "W")] + ([b.const(want(blobs[1], (n,), "bias"), "B")] if p.bias_term else [])
    y = b.node("Gemm", inputs, {"transB": 0 if p.transpose else 1})
    out = (*shape[:axis], n)
    if len(out) != 2:
        y = b.node("Reshape", [y, b.const(np.array(out, np.int64), "shape")])
    b.set_top(0, y, out)


# ---- pooling and normalization --------------------------------------------------------------------

def caffe_pool_size(n, k, s, p, ceil):
    out = (math.ceil((n + 2 * p - k) / s) if ceil else (n + 2 * p - k) // s) + 1
    if p > 0 and (out - 1) * s >= n + p:
        out -= 1  # the last window starts inside the input or its begin padding
    return out


@handler("Pooling")
def _pooling(b, layer, blobs):
    p = layer.pooling_param
    shape = b.shape()
    if len(shape) != 4:
        raise ConversionError(f"pooling needs a 4-D input, got {list(shape)}")
    is_max = p.pool == 0
    if p.global_pooling:
        y = b.node("GlobalMaxPool" if is_max else "GlobalAveragePool", [b.bottom()])
        return b.set_top(0, y, (*shape[:2], 1, 1))
    k = spatial(p, 2, "kernel_size", 0, "kernel_h", "kernel_w", repeated=False)
    s = spatial(p, 2, "stride", 1, "stride_h", "stride_w", repeated=False)
    pad = spatial(p, 2, "pad", 0, "pad_h", "pad_w", repeated=False)
    if not all(k):
        raise ConversionError("kernel_size (or kernel_h and kernel_w) is missing")
    _positive(stride=s)
    ceil = p.round_mode == 0
    out = [caffe_pool_size(shape[2 + i], k[i], s[i], pad[i], ceil) for i in range(2)]
    for i in range(2):
        if ceil and pad[i] == 0 and (out[i] - 1) * s[i] >= shape[2 + i]:
            raise ConversionError(f"stride {s[i]} larger than kernel {k[i]} without padding leaves Caffe a last "
                                  f"window outside the input")
    attrs = {"kernel_shape": k, "strides": s, "pads": pad + pad, "ceil_mode": int(ceil)}
    if not is_max:
        attrs["count_include_pad"] = 1  # Caffe divides by the window clipped to the padded input
    y = b.node("MaxPool" if is_max else "AveragePool", [b.bottom()], attrs)
    b.set_top(0, y, (*shape[:2], *out))


@handler("BatchNorm")
def _batch_norm(b, layer, blobs):
    shape = b.shape()
    c = shape[1] if len(shape) > 1 else 1
    blob_count(blobs, 2, 3, "mean and variance (and the scale factor)")
    factor = float(blobs[2].reshape(-1)[0]) if len(blobs) == 3 else 1.0
    factor = 0.0 if factor == 0 else 1.0 / factor  # Caffe stores running sums and their weight
    mean = want(blobs[0], (c,), "mean") * factor
    var = want(blobs[1], (c,), "variance") * factor
    eps = layer.batch_norm_param.eps
    inputs = [b.bottom(), b.const(np.ones(c, np.float32), "scale"), b.const(np.zeros(c, np.float32), "bias"),
              b.const(mean.astype(np.float32), "mean"), b.const(var.astype(np.float32), "var")]
    b.set_top(0, b.node("BatchNormalization", inputs, {"epsilon": eps}), shape)


def _affine_operand(b, layer, shape, axis, num_axes, blobs, bottom_index, what):
    """The Scale/Bias layer's second operand, broadcast over `shape` from `axis`."""
    if len(layer.bottom) > 1:
        other = b.shape(bottom_index)
        n = len(other)
        operand = b.bottom(bottom_index)
        target = (*other, *(1,) * (len(shape) - axis - n))
        if tuple(target) != tuple(other):
            operand = b.node("Reshape", [operand, b.const(np.array(target, np.int64), "shape")])
        return operand
    n = len(shape) - axis if num_axes == -1 else num_axes
    param_shape = shape[axis:axis + n]
    value = want(blobs.pop(0), param_shape, what)
    return b.const(value.reshape((*param_shape, *(1,) * (len(shape) - axis - n))).astype(np.float32), what)


@handler("Scale")
def _scale(b, layer, blobs):
    p = layer.scale_param
    shape = b.shape()
    axis = axis_of(p.axis, len(shape))
    blobs = list(blobs)
    blob_count(blobs, (len(layer.bottom) < 2) + p.bias_term, (len(layer.bottom) < 2) + p.bias_term,
               "the scale" * (len(layer.bottom) < 2) + " and bias" * p.bias_term)
    y = b.node("Mul", [b.bottom(), _affine_operand(b, layer, shape, axis, p.num_axes, blobs, 1, "scale")])
    if p.bias_term:
        n = len(shape) - axis if p.num_axes == -1 else p.num_axes
        if len(layer.bottom) > 1:
            n = len(b.shape(1))
        bias = want(blobs.pop(0), shape[axis:axis + n], "bias")
        y = b.node("Add", [y, b.const(bias.reshape((*bias.shape, *(1,) * (len(shape) - axis - n))), "bias")])
    b.set_top(0, y, shape)


@handler("Bias")
def _bias(b, layer, blobs):
    p = layer.bias_param
    shape = b.shape()
    axis = axis_of(p.axis, len(shape))
    blobs = list(blobs)
    y = b.node("Add", [b.bottom(), _affine_operand(b, layer, shape, axis, p.num_axes, blobs, 1, "bias")])
    b.set_top(0, y, shape)


@handler("LRN")
def _lrn(b, layer, blobs):
    p = layer.lrn_param
    shape, x, n = b.shape(), b.bottom(), int(p.local_size)
    if p.norm_region == 0:  # ACROSS_CHANNELS: ONNX's LRN is Caffe's formula
        y = b.node("LRN", [x], {"size": n, "alpha": p.alpha, "beta": p.beta, "bias": p.k})
        return b.set_top(0, y, shape)
    # WITHIN_CHANNEL: x / (1 + alpha * mean of x^2 over the n x n window, padding counted)^beta
    sq = b.node("Mul", [x, x])
    pad = (n - 1) // 2
    avg = b.node("AveragePool", [sq], {"kernel_shape": [n, n], "pads": [pad] * 4, "count_include_pad": 1})
    base = b.node("Add", [b.node("Mul", [avg, b.const(np.float32(p.alpha), "alpha")]), b.const(np.float32(1), "one")])
    y = b.node("Div", [x, b.node("Pow", [base, b.const(np.float32(p.beta), "beta")])])
    b.set_top(0, y, shape)


@handler("Normalize")
def _normalize(b, layer, blobs):
    """SSD's L2 normalization: x / sqrt(sum x^2 + eps) over C (or C,H,W), times a learned scale."""
    p = layer.norm_param
    shape, x = b.shape(), b.bottom()
    axes = list(range(1, len(shape))) if p.across_spatial else [1]
    ss = b.node("ReduceSum", [b.node("Mul", [x, x]), b.const(np.array(axes, np.int64), "axes")], {"keepdims": 1})
    norm = b.node("Sqrt", [b.node("Add", [ss, b.const(np.float32(p.eps), "eps")])])
    y = b.node("Div", [x, norm])
    if blobs:
        c = 1 if p.channel_shared else shape[1]
        scale = want(blobs[0], (c,), "scale")
        scale = scale.reshape(()) if p.channel_shared else scale.reshape(channel_shape(c, len(shape)))
        y = b.node("Mul", [y, b.const(scale.astype(np.float32), "scale")])
    b.set_top(0, y, shape)


# ---- activations and elementwise ------------------------------------------------------------------

def _unary(op, **attrs):
    def fn(b, layer, blobs):
        b.set_top(0, b.node(op, [b.bottom()], attrs), b.shape())
    return fn


for _t, _op in {"Sigmoid": "Sigmoid", "TanH": "Tanh", "AbsVal": "Abs", "BNLL": "Softplus"}.items():
    HANDLERS[_t] = _unary(_op)


@handler("ReLU")
def _relu(b, layer, blobs):
    slope = layer.relu_param.negative_slope
    y = b.node("LeakyRelu", [b.bottom()], {"alpha": slope}) if slope else b.node("Relu", [b.bottom()])
    b.set_top(0, y, b.shape())


@handler("PReLU")
def _prelu(b, layer, blobs):
    shape = b.shape()
    blob_count(blobs, 1, 1, "the slopes")
    c = 1 if layer.prelu_param.channel_shared else shape[1]
    slope = want(blobs[0], (c,), "slope")
    slope = slope.reshape((1,)) if c == 1 else slope.reshape(channel_shape(c, len(shape)))
    b.set_top(0, b.node("PRelu", [b.bottom(), b.const(slope, "slope")]), shape)


@handler("ELU")
def _elu(b, layer, blobs):
    b.set_top(0, b.node("Elu", [b.bottom()], {"alpha": layer.elu_param.alpha}), b.shape())


@handler("Clip")
def _clip(b, layer, blobs):
    p = layer.clip_param
    y = b.node("Clip", [b.bottom(), b.const(np.float32(p.min), "min"), b.const(np.float32(p.max), "max")])
    b.set_top(0, y, b.shape())


@handler("Swish")
def _swish(b, layer, blobs):
    x, beta = b.bottom(), layer.swish_param.beta
    arg = x if beta == 1 else b.node("Mul", [x, b.const(np.float32(beta), "beta")])
    b.set_top(0, b.node("Mul", [x, b.node("Sigmoid", [arg])]), b.shape())


def _linear(b, x, scale, shift):
    if scale != 1:
        x = b.node("Mul", [x, b.const(np.float32(scale), "scale")])
    if shift != 0:
        x = b.node("Add", [x, b.const(np.float32(shift), "shift")])
    return x


@handler("Power")
def _power(b, layer, blobs):
    p = layer.power_param  # (shift + scale * x) ^ power
    y = _linear(b, b.bottom(), p.scale, p.shift)
    if p.power != 1:
        y = b.node("Pow", [y, b.const(np.float32(p.power), "power")])
    if y == b.bottom():
        y = b.node("Identity", [y])
    b.set_top(0, y, b.shape())


@handler("Exp")
def _exp(b, layer, blobs):
    p = layer.exp_param  # base ^ (shift + scale * x), base -1 meaning e
    ln_base = 1.0 if p.base == -1 else math.log(p.base)
    b.set_top(0, b.node("Exp", [_linear(b, b.bottom(), p.scale * ln_base, p.shift * ln_base)]), b.shape())


@handler("Log")
def _log(b, layer, blobs):
    p = layer.log_param  # log_base(shift + scale * x)
    y = b.node("Log", [_linear(b, b.bottom(), p.scale, p.shift)])
    if p.base != -1:
        y = b.node("Mul", [y, b.const(np.float32(1 / math.log(p.base)), "inv_ln_base")])
    b.set_top(0, y, b.shape())


@handler("Threshold")
def _threshold(b, layer, blobs):
    gt = b.node("Greater", [b.bottom(), b.const(np.float32(layer.threshold_param.threshold), "threshold")])
    b.set_top(0, b.node("Cast", [gt], {"to": 1}), b.shape())


@handler("Eltwise")
def _eltwise(b, layer, blobs):
    p = layer.eltwise_param
    shape = b.shape()
    xs = [b.bottom(i) for i in range(len(layer.bottom))]
    if any(b.shape(i) != shape for i in range(len(xs))):
        raise ConversionError(f"inputs of different shapes {[list(b.shape(i)) for i in range(len(xs))]}")
    if p.operation == 1:  # SUM, with one coefficient per input
        coeff = list(p.coeff) or [1.0] * len(xs)
        if len(coeff) != len(xs):
            raise ConversionError(f"{len(coeff)} coefficients for {len(xs)} inputs")
        xs = [x if c == 1 else b.node("Mul", [x, b.const(np.float32(c), "coeff")]) for x, c in zip(xs, coeff)]
        op = "Sum"
    else:
        op = "Mul" if p.operation == 0 else "Max"
    y = xs[0]
    for x in xs[1:]:
        y = b.node(op if op != "Sum" else "Add", [y, x])
    if y == xs[0]:
        y = b.node("Identity", [y])
    b.set_top(0, y, shape)


# ---- structure ------------------------------------------------------------------------------------

def _identity_tops(b, layer, blobs):
    x, shape = b.bottom(), b.shape()
    for i in range(len(layer.top)):
        b.set_top(i, b.node("Identity", [x]), shape)


HANDLERS["Split"] = _identity_tops
HANDLERS["Dropout"] = _identity_tops


@handler("Concat")
def _concat(b, layer, blobs):
    p = layer.concat_param
    shape = b.shape()
    axis = axis_of(p.axis if p.HasField("axis") or not p.HasField("concat_dim") else p.concat_dim, len(shape))
    shapes = [b.shape(i) for i in range(len(layer.bottom))]
    out = list(shape)
    out[axis] = sum(s[axis] for s in shapes)
    xs = [b.bottom(i) for i in range(len(layer.bottom))]
    b.set_top(0, b.node("Concat", xs, {"axis": axis}) if len(xs) > 1 else b.node("Identity", xs), out)


@handler("Slice")
def _slice(b, layer, blobs):
    p = layer.slice_param
    shape = b.shape()
    axis = axis_of(p.axis if p.HasField("axis") or not p.HasField("slice_dim") else p.slice_dim, len(shape))
    n, tops = shape[axis], len(layer.top)
    if p.slice_point:
        points = [0, *p.slice_point, n]
        if len(points) != tops + 1 or any(a >= c for a, c in zip(points, points[1:])):
            raise ConversionError(f"slice points {list(p.slice_point)} do not cut axis {axis} of size {n} into {tops} parts")
        sizes = [c - a for a, c in zip(points, points[1:])]
    else:
        if n % tops:
            raise ConversionError(f"axis {axis} of size {n} does not split evenly into {tops} parts")
        sizes = [n // tops] * tops
    outs = b.nodes_out("Split", [b.bottom(), b.const(np.array(sizes, np.int64), "split")], tops, {"axis": axis})
    for i, (y, size) in enumerate(zip(outs, sizes)):
        out = list(shape)
        out[axis] = size
        b.set_top(i, y, out)


def _reshape_to(b, out):
    return b.node("Reshape", [b.bottom(), b.const(np.array(out, np.int64), "shape")])


@handler("Flatten")
def _flatten(b, layer, blobs):
    p, shape = layer.flatten_param, b.shape()
    a, e = axis_of(p.axis, len(shape)), axis_of(p.end_axis, len(shape))
    out = (*shape[:a], int(np.prod(shape[a:e + 1])), *shape[e + 1:])
    b.set_top(0, _reshape_to(b, out), out)


@handler("Reshape")
def _reshape(b, layer, blobs):
    p, shape = layer.reshape_param, b.shape()
    dims = list(p.shape.dim)
    start = axis_of(p.axis, len(shape) + 1) if p.axis >= 0 else axis_of(p.axis, len(shape)) + 1
    end = len(shape) if p.num_axes == -1 else start + p.num_axes
    if end > len(shape):
        raise ConversionError(f"axis {p.axis} and num_axes {p.num_axes} go past the {len(shape)}-D input")
    middle = [shape[start + i] if d == 0 else int(d) for i, d in enumerate(dims)]
    if middle.count(-1) > 1:
        raise ConversionError(f"shape {dims} has more than one -1")
    replaced = int(np.prod(shape[start:end]))
    if -1 in middle:
        known = int(np.prod([d for d in middle if d != -1]))
        if known == 0 or replaced % known:
            raise ConversionError(f"cannot reshape {list(shape)} to {dims}")
        middle[middle.index(-1)] = replaced // known
    if int(np.prod(middle)) != replaced:
        raise ConversionError(f"cannot reshape {list(shape)} to {dims}: {replaced} values vs {int(np.prod(middle))}")
    out = (*shape[:start], *middle, *shape[end:])
    b.set_top(0, _reshape_to(b, out), out)


@handler("Softmax")
def _softmax(b, layer, blobs):
    shape = b.shape()
    axis = axis_of(layer.softmax_param.axis, len(shape))
    b.set_top(0, b.node("Softmax", [b.bottom()], {"axis": axis}), shape)


@handler("Crop")
def _crop(b, layer, blobs):
    p = layer.crop_param
    shape, ref = b.shape(0), b.shape(1)
    b.bottom(1)  # read: the reference blob only gives the shape
    axis = axis_of(p.axis, len(shape))
    n = len(shape) - axis
    offsets = list(p.offset)
    if len(offsets) not in (0, 1, n):
        raise ConversionError(f"{len(offsets)} offsets for {n} cropped axes")
    offsets = offsets * n if len(offsets) == 1 else (offsets or [0] * n)
    axes = list(range(axis, len(shape)))
    for a, o in zip(axes, offsets):
        if o + ref[a] > shape[a]:
            raise ConversionError(f"axis {a}: offset {o} + size {ref[a]} exceeds {shape[a]}")
    starts = np.array(offsets, np.int64)
    ends = starts + np.array([ref[a] for a in axes], np.int64)
    y = b.node("Slice", [b.bottom(0), b.const(starts, "starts"), b.const(ends, "ends"), b.const(np.array(axes, np.int64), "axes")])
    b.set_top(0, y, (*shape[:axis], *ref[axis:]))


@handler("Permute")
def _permute(b, layer, blobs):
    shape = b.shape()
    order = [int(o) for o in layer.permute_param.order]
    if len(set(order)) != len(order) or any(o >= len(shape) for o in order):
        raise ConversionError(f"order {order} is not a permutation of the {len(shape)} axes")
    order += [a for a in range(len(shape)) if a not in order]
    b.set_top(0, b.node("Transpose", [b.bottom()], {"perm": order}), tuple(shape[o] for o in order))


@handler("MVN")
def _mvn(b, layer, blobs):
    """(x - mean) / (std + eps) per sample and channel (or per sample, across_channels)."""
    p = layer.mvn_param
    shape, x = b.shape(), b.bottom()
    axes = np.array(list(range(1 if p.across_channels else 2, len(shape))), np.int64)
    mean = b.node("ReduceMean", [x], {"axes": [int(a) for a in axes], "keepdims": 1})
    y = b.node("Sub", [x, mean])
    if p.normalize_variance:
        var = b.node("ReduceMean", [b.node("Mul", [y, y])], {"axes": [int(a) for a in axes], "keepdims": 1})
        std = b.node("Add", [b.node("Sqrt", [var]), b.const(np.float32(p.eps), "eps")])
        y = b.node("Div", [y, std])
    b.set_top(0, y, shape)


@handler("Reduction")
def _reduction(b, layer, blobs):
    p = layer.reduction_param
    shape, x = b.shape(), b.bottom()
    axis = axis_of(p.axis, len(shape))
    axes = np.array(list(range(axis, len(shape))), np.int64)
    op = {1: "ReduceSum", 2: "ReduceL1", 3: "ReduceSumSquare", 4: "ReduceMean"}[p.operation]
    y = b.node(op, [x, b.const(axes, "axes")], {"keepdims": 0}) if op == "ReduceSum" else \
        b.node(op, [x], {"axes": [int(a) for a in axes], "keepdims": 0})
    if p.coeff != 1:
        y = b.node("Mul", [y, b.const(np.float32(p.coeff), "coeff")])
    b.set_top(0, y, shape[:axis])


@handler("Tile")
def _tile(b, layer, blobs):
    p = layer.tile_param
    shape = b.shape()
    axis = axis_of(p.axis, len(shape))
    if p.tiles < 1:
        raise ConversionError(f"tiles must be at least 1, got {p.tiles}")
    reps = [1] * len(shape)
    reps[axis] = int(p.tiles)
    out = list(shape)
    out[axis] *= int(p.tiles)
    b.set_top(0, b.node("Tile", [b.bottom(), b.const(np.array(reps, np.int64), "repeats")]), out)


@handler("ArgMax")
def _argmax(b, layer, blobs):
    """The top_k indices (as floats, as Caffe gives them) or, with out_max_val, their values; without
    an axis over each sample's flattened values: (N, 1, k), or (N, 2, k) indices then values."""
    p = layer.argmax_param
    shape, x = b.shape(), b.bottom()
    k = int(p.top_k)
    if p.HasField("axis"):
        axis = axis_of(p.axis, len(shape))
    else:
        x = b.node("Flatten", [x], {"axis": 1})
        axis = 1
    values, indices = b.nodes_out("TopK", [x, b.const(np.array([k], np.int64), "k")], 2, {"axis": axis})
    indices = b.node("Cast", [indices], {"to": 1})
    if p.HasField("axis"):
        out = list(shape)
        out[axis] = k
        return b.set_top(0, values if p.out_max_val else indices, out)
    n = shape[0]
    if p.out_max_val:
        y = b.node("Concat", [b.node("Reshape", [t, b.const(np.array([n, 1, k], np.int64), "shape")])
                              for t in (indices, values)], {"axis": 1})
        return b.set_top(0, y, (n, 2, k))
    b.set_top(0, b.node("Reshape", [indices, b.const(np.array([n, 1, k], np.int64), "shape")]), (n, 1, k))
