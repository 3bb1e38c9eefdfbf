"""ONNX op handlers of the core families (elementwise, contraction, pooling and normalization,
shapes and index maps): each maps one ONNX op (by opset) onto IR ops. Most pointwise ops are
Elementwise expressions (activations from ir/activations.py); Flatten/Squeeze/Unsqueeze are
Reshape; global pooling is Reduce."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir.activations import ACTIVATIONS
from ..ir.symbolic import as_dim, is_symbolic_array, prod
from ..ir.ops.elementwise import inp, call, chain
from .onnx_registry import X, conv_pads, handler, tensor_dtype, unary
from .onnx_ops_index import max_pool_indices


# ---- elementwise ---------------------------------------------------------------------------
MATH = {"Log": "log", "Sqrt": "sqrt", "Reciprocal": "reciprocal", "Neg": "neg", "Abs": "abs", "Floor": "floor",
        "Ceil": "ceil", "Round": "round", "Erf": "erf", "Sin": "sin", "Cos": "cos", "Sign": "sign", "Not": "not",
        "IsNaN": "isnan"}  # ops that are one primitive

for _name, _prim in MATH.items():
    unary(_name, lambda c, p=_prim: call(p, X))


def _activation(act):
    """The activation's expression with the node's attributes (the table's defaults where absent)."""
    return lambda c: act.expr(X, **{p: c.attr(p, default) for p, default in act.params.items()})


for _name, _act in ACTIVATIONS.items():  # Relu, Sigmoid, Gelu, ...: one table for every frontend
    if _act.onnx_since is not None:
        unary(_name, _activation(_act), _act.onnx_since)


BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Pow": "pow", "Equal": "eq", "Less": "lt", "Greater": "gt",
          "LessOrEqual": "le", "GreaterOrEqual": "ge", "And": "and", "Or": "or", "Xor": "xor"}


def _is_int(t):
    return t.dtype.startswith(("int", "uint"))


@handler(*BINARY, "Div", since=7)
def _binary(c):
    a, b = c.input(0), c.input(1)
    prim = BINARY.get(c.node.op_type) or ("idiv" if _is_int(a) else "div")
    return [c.ew(call(prim, inp(0), inp(1)), [a, b])]


@handler("Mod", since=10)
def _mod(c):
    a, b = c.input(0), c.input(1)
    r = call("imod", inp(0), inp(1))  # C fmod: the sign of the dividend
    if c.attr("fmod", 0):
        return [c.ew(r, [a, b])]
    # Python-style modulo: a non-zero remainder takes the sign of the divisor
    expr = call("where", call("and", call("not", call("eq", r, 0)), call("xor", call("lt", r, 0), call("lt", inp(1), 0))),
                call("add", r, inp(1)), r)
    return [c.ew(expr, [a, b])]


@handler("Max", "Min", "Sum", "Mean", since=6)
def _variadic(c):
    xs = c.inputs()
    if len(xs) == 1:
        return [c.op1("Identity", xs)]
    prim = {"Max": "max", "Min": "min", "Sum": "add", "Mean": "add"}[c.node.op_type]
    expr = chain(prim, len(xs))
    if c.node.op_type == "Mean":
        expr = call("div", expr, len(xs))
    return [c.ew(expr, xs)]


@handler("Where", since=9)
def _where(c):
    return [c.ew(call("where", inp(0), inp(1), inp(2)), [c.input(0), c.input(1), c.input(2)])]


@handler("PRelu", since=7)
def _prelu(c):
    x, slope = c.input(0), c.input(1)
    if len(slope.shape) == 1 and len(x.shape) > 2 and slope.shape[0] == x.shape[1] and slope.shape[0] != x.shape[-1]:
        slope = c.op1("Reshape", [slope], {"shape": [slope.shape[0]] + [1] * (len(x.shape) - 2)})
    return [c.ew(ACTIVATIONS["LeakyRelu"].expr(X, alpha=inp(1)), [x, slope])]  # a LeakyRelu with a tensor slope


@handler("Clip")
def _clip(c):
    x = c.input(0)
    if c.opset < 11:
        return [c.ew(call("min", call("max", X, c.attr("min", -3.4028234663852886e38)),
                          c.attr("max", 3.4028234663852886e38)), [x])]
    expr, ins = X, [x]
    for i, prim in ((1, "max"), (2, "min")):  # bounds may be constants or run-time tensors
        if c.has_input(i):
            expr = call(prim, expr, inp(len(ins)))
            ins.append(c.input(i))
    return [c.ew(expr, ins)]


@handler("Cast", since=6)
def _cast(c):
    to = tensor_dtype(c.attr("to"), f"Cast node {c.name!r}")
    return [c.ew(["cast", to, X], [c.input(0)])]


# ---- contraction ---------------------------------------------------------------------------
@handler("Conv")
def _conv(c):
    return [conv(c, c.input(0), c.input(1), c.input(2))]


def conv(c, x, w, b=None):
    """An IR Conv with the node's strides, dilations, pads (auto_pad resolved) and group."""
    k = list(w.shape[2:])
    nd = len(k)
    s = list(c.attr("strides", [1] * nd))
    d = list(c.attr("dilations", [1] * nd))
    pads = conv_pads(c, x.shape, k, s, d)
    ins = [x, w] + ([b] if b is not None else [])
    return c.op1("Conv", ins, {"strides": s, "pads": pads, "dilations": d, "group": c.attr("group", 1)})


@handler("ConvTranspose")
def _conv_transpose(c):
    x, w, b = c.input(0), c.input(1), c.input(2)
    k = list(w.shape[2:])
    nd = len(k)
    s = list(c.attr("strides", [1] * nd))
    d = list(c.attr("dilations", [1] * nd))
    opad = list(c.attr("output_padding", [0] * nd))
    out_shape = c.attr("output_shape")
    if out_shape is not None:
        out_shape = list(out_shape)[-nd:]
        auto = c.attr("auto_pad", "NOTSET")
        begins, ends = [], []
        for i in range(nd):
            total = s[i] * (x.shape[2 + i] - 1) + opad[i] + (k[i] - 1) * d[i] + 1 - out_shape[i]
            if total < 0:  # the requested size is larger than the computed one: extend at the end
                opad[i] -= total
                total = 0
            b_, e_ = (total // 2, total - total // 2) if auto == "SAME_UPPER" else (total - total // 2, total // 2)
            begins.append(b_)
            ends.append(e_)
        pads = begins + ends
    else:
        pads = conv_pads(c, x.shape, k, s, d, transpose=True)
    ins = [x, w] + ([b] if b is not None else [])
    return [c.op1("ConvTranspose", ins, {"strides": s, "pads": pads, "dilations": d, "group": c.attr("group", 1),
                                          "output_padding": opad})]


@handler("Gemm")
def _gemm(c):
    ins = [c.input(0), c.input(1)] + ([c.input(2)] if c.has_input(2) else [])
    return [c.op1("Gemm", ins, {"alpha": float(c.attr("alpha", 1.0)), "beta": float(c.attr("beta", 1.0)),
                                "transA": c.attr("transA", 0), "transB": c.attr("transB", 0)})]


@handler("MatMul")
def _matmul(c):
    a, b = c.input(0), c.input(1)
    a2 = c.op1("Reshape", [a], {"shape": [1, a.shape[0]]}) if len(a.shape) == 1 else a
    b2 = c.op1("Reshape", [b], {"shape": [b.shape[0], 1]}) if len(b.shape) == 1 else b
    y = c.op1("MatMul", [a2, b2])
    if len(a.shape) == 1 or len(b.shape) == 1:
        shape = list(y.shape)
        if len(b.shape) == 1:
            shape.pop(-1)
        if len(a.shape) == 1:
            shape.pop(-2 if len(b.shape) != 1 else -1)
        y = c.op1("Reshape", [y], {"shape": shape})
    return [y]


@handler("BatchNormalization")
def _bn(c):
    if c.attr("training_mode", 0):
        c.fail("training_mode=1 is not supported (inference only)")
    if len(c.node.output) > 1 and any(c.node.output[1:]):
        c.fail("running mean/var outputs are training-only")
    return [c.op1("BatchNormalization", [c.input(i) for i in range(5)], {"epsilon": float(c.attr("epsilon", 1e-5))})]


# ---- pooling and normalization -------------------------------------------------------------
@handler("MaxPool", "AveragePool")
def _pool(c):
    x = c.input(0)
    k = list(c.attr("kernel_shape"))
    nd = len(k)
    s = list(c.attr("strides", [1] * nd))
    d = list(c.attr("dilations", [1] * nd))
    ceil_mode = c.attr("ceil_mode", 0)
    auto = c.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = conv_pads(c, x.shape, k, s, d)
    else:
        pads = [0] * (2 * nd) if auto == "VALID" else list(c.attr("pads", [0] * (2 * nd)))
    kind = "max" if c.node.op_type == "MaxPool" else "avg"
    y = c.op1("Pool", [x], {"kind": kind, "kernel_shape": k, "strides": s, "pads": pads, "dilations": d,
                            "ceil_mode": ceil_mode, "count_include_pad": c.attr("count_include_pad", 0)})
    if len(c.node.output) > 1 and c.node.output[1]:
        return [y, max_pool_indices(c, x, list(y.shape), k, s, d, pads, c.attr("storage_order", 0))]
    return [y]


@handler("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(c):
    x = c.input(0)
    kind = "mean" if c.node.op_type == "GlobalAveragePool" else "max"
    return [c.op1("Reduce", [x], {"kind": kind, "axes": list(range(2, len(x.shape))), "keepdims": 1})]


@handler("LRN")
def _lrn(c):
    return [c.op1("LRN", [c.input(0)], {"size": int(c.attr("size")), "alpha": float(c.attr("alpha", 1e-4)),
                                        "beta": float(c.attr("beta", 0.75)), "bias": float(c.attr("bias", 1.0))})]


@handler("Softmax", "LogSoftmax")
def _softmax(c):
    x = c.input(0)
    rank = len(x.shape)
    log = int(c.node.op_type == "LogSoftmax")
    if c.opset >= 13:
        return [c.op1("Softmax", [x], {"axis": c.attr("axis", -1) % max(rank, 1), "log": log})]
    axis = c.attr("axis", 1) % max(rank, 1)
    if axis == rank - 1:
        return [c.op1("Softmax", [x], {"axis": axis, "log": log})]
    # before opset 13 the input is coerced to 2-D at `axis`
    flat = c.op1("Reshape", [x], {"shape": [prod(x.shape[:axis]), prod(x.shape[axis:])]})
    y = c.op1("Softmax", [flat], {"axis": 1, "log": log})
    return [c.op1("Reshape", [y], {"shape": list(x.shape)})]


REDUCE_KINDS = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "min",
                "ReduceProd": "prod", "ReduceSumSquare": "sumsquare", "ReduceL1": "l1", "ReduceL2": "l2",
                "ReduceLogSum": "logsum", "ReduceLogSumExp": "logsumexp"}


@handler(*REDUCE_KINDS)
def _reduce(c):
    x = c.input(0)
    axes_from_input = c.opset >= 18 or (c.node.op_type == "ReduceSum" and c.opset >= 13)
    axes = c.const(1, "axes") if axes_from_input else c.attr("axes")
    axes = None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]
    if not axes:
        if c.attr("noop_with_empty_axes", 0):
            return [c.op1("Identity", [x])]
        axes = None
    return [c.op1("Reduce", [x], {"kind": REDUCE_KINDS[c.node.op_type], "axes": axes,
                                  "keepdims": int(c.attr("keepdims", 1))})]


# ---- shapes and index maps -----------------------------------------------------------------
@handler("Reshape", since=5)
def _reshape(c):
    x = c.input(0)
    target = [as_dim(v) for v in c.const(1, "shape").reshape(-1)]
    allowzero = c.attr("allowzero", 0)
    shape = [x.shape[i] if v == 0 and not allowzero else v for i, v in enumerate(target)]
    if shape.count(-1) > 1:
        c.fail(f"shape {target} has more than one -1")
    if -1 in shape:
        known = prod([v for v in shape if v != -1])
        try:
            if known == 0 or prod(x.shape) % known:
                c.fail(f"cannot reshape {list(x.shape)} to {target}")
            shape[shape.index(-1)] = prod(x.shape) // known
        except ShapeError as e:
            c.fail(f"cannot reshape {list(x.shape)} to {target}: {e}")
    return [c.op1("Reshape", [x], {"shape": shape})]


@handler("Flatten")
def _flatten(c):
    x = c.input(0)
    axis = c.attr("axis", 1)
    axis = axis + len(x.shape) if axis < 0 else axis
    return [c.op1("Reshape", [x], {"shape": [prod(x.shape[:axis]), prod(x.shape[axis:])]})]


@handler("Squeeze")
def _squeeze(c):
    x = c.input(0)
    axes = c.const(1, "axes") if c.opset >= 13 else c.attr("axes")
    rank = len(x.shape)
    axes = [i for i, d in enumerate(x.shape) if d == 1] if axes is None else [int(a) % rank for a in np.reshape(axes, -1)]
    for a in axes:
        if x.shape[a] != 1:
            c.fail(f"cannot squeeze axis {a} of shape {list(x.shape)}")
    return [c.op1("Reshape", [x], {"shape": [d for i, d in enumerate(x.shape) if i not in axes]})]


@handler("Unsqueeze")
def _unsqueeze(c):
    x = c.input(0)
    axes = c.const(1, "axes") if c.opset >= 13 else c.attr("axes")
    rank = len(x.shape) + len(np.reshape(axes, -1))
    axes = sorted(int(a) % rank for a in np.reshape(axes, -1))
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return [c.op1("Reshape", [x], {"shape": shape})]


@handler("Transpose")
def _transpose(c):
    perm = c.attr("perm")
    return [c.op1("Transpose", [c.input(0)], {"perm": None if perm is None else list(perm)})]


@handler("Concat", since=4)
def _concat(c):
    # empty inputs drop out; one of symbolic size stays (it is empty only for some bindings)
    xs = [t for t in c.inputs() if t.is_symbolic or t.size > 0 or len(c.inputs()) == 1]
    return [c.op1("Concat", xs, {"axis": c.attr("axis")})]


@handler("Split", since=2)
def _split(c):
    x = c.input(0)
    axis = c.attr("axis", 0) % len(x.shape)
    split = c.const(1, "split") if c.opset >= 13 else c.attr("split")
    n = len(c.node.output)
    if split is None or len(np.reshape(split, -1)) == 0:
        num = c.attr("num_outputs", n)
        dim = x.shape[axis]
        size = -(-dim // num)
        split = [size] * (dim // size) + ([dim % size] if dim % size else [])
    split = [int(v) for v in np.reshape(split, -1)]
    return c.op("Split", [x], {"axis": axis, "split": split})


@handler("Slice")
def _slice(c):
    x = c.input(0)
    if c.opset < 10:
        starts, ends, axes, steps = c.attr("starts"), c.attr("ends"), c.attr("axes"), None
    else:
        starts, ends, axes, steps = c.const(1, "starts"), c.const(2, "ends"), c.const(3, "axes"), c.const(4, "steps")
    lst = lambda v: None if v is None else [int(i) for i in np.reshape(v, -1)]  # noqa: E731
    return [c.op1("Slice", [x], {"starts": lst(starts), "ends": lst(ends), "axes": lst(axes), "steps": lst(steps)})]


@handler("Gather")
def _gather(c):
    return [c.op1("Gather", [c.input(0), c.input(1)], {"axis": c.attr("axis", 0)})]


@handler("Pad", since=2)
def _pad(c):
    x = c.input(0)
    rank = len(x.shape)
    mode = c.attr("mode", "constant")
    if c.opset < 11:
        pads, value = list(c.attr("pads")), float(c.attr("value", 0.0))
    else:
        pads = [int(v) for v in c.const(1, "pads").reshape(-1)]
        v = c.const(2, "constant_value")
        value = float(np.reshape(v, -1)[0]) if v is not None and np.size(v) else 0.0
        axes = c.const(3, "axes")
        if axes is not None:
            full = [0] * (2 * rank)
            ax = [int(a) % rank for a in axes.reshape(-1)]
            for j, a in enumerate(ax):
                full[a], full[a + rank] = pads[j], pads[j + len(ax)]
            pads = full
    if mode == "wrap":  # each padded axis is a Gather of positions taken modulo its length
        for a in range(rank):
            lo, hi, n = pads[a], pads[a + rank], x.shape[a]
            if lo or hi:
                if n == 0:
                    c.fail(f"mode 'wrap' cannot pad the empty axis {a}")
                x = c.op1("Gather", [x, c.constant(np.arange(-lo, n + hi, dtype=np.int64) % n)], {"axis": a})
        return [c.op1("Identity", [x])]
    if mode not in ("constant", "reflect", "edge"):
        c.fail(f"mode {mode!r} is not supported (constant, reflect, edge, wrap)")
    return [c.op1("Pad", [x], {"pads": pads, "mode": mode, "value": value})]


@handler("Expand", since=8)
def _expand(c):
    return [c.op1("Expand", [c.input(0)], {"shape": [as_dim(v) for v in c.const(1, "shape").reshape(-1)]})]


@handler("Identity")
def _identity(c):
    return [c.op1("Identity", [c.input(0)])]


@handler("Dropout")
def _dropout(c):
    x = c.input(0)
    outs = [c.op1("Identity", [x])]
    if len(c.node.output) > 1 and c.node.output[1]:
        outs.append(c.constant(np.ones(x.shape, dtype=bool)))  # inference: nothing is dropped
    return outs


@handler("Shape")
def _shape(c):
    return [c.op1("Shape", [c.input(0)], {"start": c.attr("start", 0), "end": c.attr("end")})]


@handler("Size")
def _size(c):
    return [c.constant(np.array(c.input(0).size, dtype=np.int64))]


@handler("Constant")
def _constant(c):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in c.attrs:
            v = c.attr(key)
            arr = np.asarray(v, dtype=np.float32 if "float" in key else np.int64 if "int" in key else None)
            return [c.constant(arr)]
    c.fail(f"unsupported Constant attribute(s) {sorted(c.attrs)}")


@handler("ConstantOfShape", since=9)
def _constant_of_shape(c):
    value = c.attr("value")
    shape = c.const(0, "shape")  # the output shape must be known, fixed or symbolic
    if is_symbolic_array(shape):  # sized at run time: a broadcast of the value
        v = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(1)
        return [c.op1("Expand", [c.constant(v)], {"shape": list(shape.reshape(-1))})]
    return [c.op1("ConstantOfShape", [c.input(0)], {"value": None if value is None else np.asarray(value)})]
