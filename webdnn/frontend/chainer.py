"""Chainer frontend: a ``chainer.Link`` / ``Chain`` is run once on example inputs under
``chainer.using_config('train', False)``; the computational graph is walked back from the output
variables (``variable.creator_node``), each FunctionNode becomes ONNX nodes (onnx.helper), and the
ONNX model goes through the ONNX frontend, as the PyTorch frontend does with torch.onnx.

    webdnn.convert(link, example_inputs, "output")     # a saved model: chainer.serializers.load_npz
                                                       # into the Chain class first, then convert it

A FunctionHook records every function's input arrays during that run, so constants made inside the
forward pass (not only the link's parameters) are known. Shapes are the run's own. Chainer is
optional: it is imported only when a Link is converted. Every unsupported function of the model is
listed at once (UnsupportedFunctionsError) before anything is built.
"""
from __future__ import annotations

import inspect
import sys

import numpy as np

from ..errors import ConversionError, UnsupportedOpsError
from .onnx_builder import GraphBuilder


def _chainer():
    try:
        import chainer
    except ImportError:
        raise ConversionError("converting a Chainer link needs chainer: `pip install chainer`") from None
    return chainer


def is_chainer_link(model) -> bool:
    chainer = sys.modules.get("chainer")
    return chainer is not None and isinstance(model, chainer.Link)


class UnsupportedFunctionsError(UnsupportedOpsError):
    """Raised once, before anything is built, listing every unsupported Chainer function."""

    def __init__(self, unsupported: dict[str, int]):
        self.functions = unsupported
        self.unsupported = {(t, "chainer", None): [f"#{i}" for i in range(n)] for t, n in unsupported.items()}
        total = sum(unsupported.values())
        lines = [f"{total} call(s) of {len(unsupported)} unsupported Chainer function(s):"]
        lines += [f"  {t}: {n} call(s)" for t, n in sorted(unsupported.items())]
        ConversionError.__init__(self, "\n".join(lines))


# ---- function handlers: fn(b, f, ins, arrays, out_shapes) -> [onnx outputs] -------------------------
HANDLERS = {}


def handler(*names):
    def deco(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return deco


def _c(b, value, base="c"):
    return b.const(np.asarray(value, np.float32), base)


def _unary(op, **attrs):
    return lambda b, f, ins, arrays, shapes: [b.node(op, ins[:1], attrs)]


for _name, _op in {"ReLU": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
                   "Absolute": "Abs", "Neg": "Neg", "Sin": "Sin", "Cos": "Cos", "Erf": "Erf", "Copy": "Identity", "Identity": "Identity"}.items():
    HANDLERS[_name] = _unary(_op)


@handler("LeakyReLU")
def _leaky(b, f, ins, arrays, shapes):
    return [b.node("LeakyRelu", ins, {"alpha": float(f.slope)})]


@handler("ELU")
def _elu(b, f, ins, arrays, shapes):
    return [b.node("Elu", ins, {"alpha": float(f.alpha)})]


@handler("ClippedReLU")
def _clipped(b, f, ins, arrays, shapes):
    return [b.node("Clip", [ins[0], _c(b, 0.0), _c(b, f.cap)])]


@handler("Softmax", "LogSoftmax")
def _softmax(b, f, ins, arrays, shapes):
    return [b.node(type(f).__name__, ins, {"axis": int(f.axis)})]


_BINARY = {"Add": "Add", "Sub": "Sub", "Mul": "Mul", "Div": "Div", "PowVarVar": "Pow", "Maximum": "Max",
           "Minimum": "Min"}
for _name, _op in _BINARY.items():
    HANDLERS[_name] = (lambda op: lambda b, f, ins, arrays, shapes: [b.node(op, ins[:2])])(_op)

_WITH_CONSTANT = {"AddConstant": ("Add", False), "SubFromConstant": ("Sub", True), "MulConstant": ("Mul", False),
                  "DivFromConstant": ("Div", True), "PowVarConst": ("Pow", False), "PowConstVar": ("Pow", True)}


def _constant_op(op, constant_first):
    def fn(b, f, ins, arrays, shapes):
        c = _c(b, f.value, "value")
        return [b.node(op, [c, ins[0]] if constant_first else [ins[0], c])]
    return fn


for _name, (_op, _first) in _WITH_CONSTANT.items():
    HANDLERS[_name] = _constant_op(_op, _first)


@handler("Clip")
def _clip(b, f, ins, arrays, shapes):
    return [b.node("Clip", [ins[0], _c(b, f.x_min), _c(b, f.x_max)])]


@handler("Convolution2DFunction", "ConvolutionND")
def _conv(b, f, ins, arrays, shapes):
    x, w = arrays[0], arrays[1]
    nd = x.ndim - 2
    stride, pad, dil = _conv_params(f, nd)
    k = list(w.shape[2:])
    out = list(shapes[0][2:])
    # cover_all: Chainer pads the end so that the last window covers the input
    end = [max(0, (out[i] - 1) * stride[i] + dil[i] * (k[i] - 1) + 1 - x.shape[2 + i] - pad[i]) for i in range(nd)]
    attrs = {"kernel_shape": k, "strides": stride, "pads": pad + end, "dilations": dil, "group": int(getattr(f, "groups", 1))}
    return [b.node("Conv", ins, attrs)]


def _conv_params(f, nd):
    if nd == 2 and hasattr(f, "sy"):
        return [f.sy, f.sx], [f.ph, f.pw], [getattr(f, "dy", 1), getattr(f, "dx", 1)]
    return list(f.stride), list(f.pad), list(getattr(f, "dilate", (1,) * nd))


@handler("Deconvolution2DFunction", "DeconvolutionND")
def _deconv(b, f, ins, arrays, shapes):
    x, w = arrays[0], arrays[1]
    nd = x.ndim - 2
    stride, pad, dil = _conv_params(f, nd)
    k = list(w.shape[2:])
    g = int(getattr(f, "groups", 1))
    if g != 1:
        raise ConversionError("grouped deconvolution is not supported")
    natural = [stride[i] * (x.shape[2 + i] - 1) + dil[i] * (k[i] - 1) + 1 - 2 * pad[i] for i in range(nd)]
    extra = [shapes[0][2 + i] - natural[i] for i in range(nd)]  # Chainer's outsize beyond the formula
    attrs = {"kernel_shape": k, "strides": stride, "pads": pad + pad, "dilations": dil}
    if any(extra):
        attrs["output_padding"] = extra
    return [b.node("ConvTranspose", ins, attrs)]


@handler("LinearFunction")
def _linear(b, f, ins, arrays, shapes):
    x = ins[0]
    if arrays[0].ndim != 2:
        x = b.node("Flatten", [x], {"axis": 1})
    return [b.node("Gemm", [x, *ins[1:]], {"transB": 1})]


@handler("FixedBatchNormalization")
def _bn(b, f, ins, arrays, shapes):
    x = arrays[0]
    if tuple(f.axis) != (0, *range(2, x.ndim)):
        raise ConversionError(f"batch normalization over axes {tuple(f.axis)} (only the channel axis 1 is supported)")
    return [b.node("BatchNormalization", ins, {"epsilon": float(f.eps)})]


def _pool_params(f, nd):
    if hasattr(f, "kh"):
        return [f.kh, f.kw], [f.sy, f.sx], [f.ph, f.pw]
    return list(f.ksize), list(f.stride), list(f.pad)


@handler("MaxPooling2D", "MaxPoolingND", "AveragePooling2D", "AveragePoolingND")
def _pool(b, f, ins, arrays, shapes):
    x = arrays[0]
    nd = x.ndim - 2
    k, s, p = _pool_params(f, nd)
    out = list(shapes[0][2:])
    end = [max(0, (out[i] - 1) * s[i] + k[i] - x.shape[2 + i] - p[i]) for i in range(nd)]
    attrs = {"kernel_shape": k, "strides": s, "pads": p + end}
    if type(f).__name__.startswith("Max"):
        return [b.node("MaxPool", ins, attrs)]
    if getattr(f, "pad_value", 0) is None:  # average_pooling_nd(pad_value=None): padding not counted
        if any(end):
            raise ConversionError("average pooling with cover_all and uncounted padding is not supported")
        return [b.node("AveragePool", ins, attrs)]
    return [b.node("AveragePool", ins, {**attrs, "count_include_pad": 1})]  # Chainer divides by the window size


@handler("LocalResponseNormalization")
def _lrn(b, f, ins, arrays, shapes):
    n = int(f.n)  # Chainer: x / (k + alpha * sum x^2)^beta, ONNX divides alpha by the size
    return [b.node("LRN", ins, {"size": n, "alpha": float(f.alpha) * n, "beta": float(f.beta), "bias": float(f.k)})]


@handler("Unpooling2D")
def _unpool(b, f, ins, arrays, shapes):
    x = arrays[0]
    if (f.kh, f.kw) != (f.sy, f.sx) or f.ph or f.pw:
        raise ConversionError(f"unpooling with kernel {(f.kh, f.kw)}, stride {(f.sy, f.sx)} and pad {(f.ph, f.pw)} "
                              f"(only kernel == stride without padding is supported)")
    up = b.node("Resize", [ins[0], "", _c(b, [1, 1, f.sy, f.sx], "scales")],
                {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})
    full = (x.shape[2] * f.sy, x.shape[3] * f.sx)
    if tuple(shapes[0][2:]) == full:
        return [up]
    starts, ends = [0, 0], list(shapes[0][2:])
    return [b.node("Slice", [up, b.const(np.array(starts, np.int64)), b.const(np.array(ends, np.int64)),
                             b.const(np.array([2, 3], np.int64))])]


@handler("ResizeImages")
def _resize(b, f, ins, arrays, shapes):
    mode = getattr(f, "mode", "bilinear")
    if mode != "bilinear":
        raise ConversionError(f"resize_images mode {mode!r} (bilinear is supported)")
    ctm = "align_corners" if getattr(f, "align_corners", True) else "half_pixel"
    sizes = b.const(np.array(shapes[0], np.int64), "sizes")
    return [b.node("Resize", [ins[0], "", "", sizes], {"mode": "linear", "coordinate_transformation_mode": ctm})]


@handler("Concat")
def _concat(b, f, ins, arrays, shapes):
    return [b.node("Concat", ins, {"axis": int(f.axis) % arrays[0].ndim})]


@handler("Reshape", "Squeeze", "ExpandDims", "Flatten")
def _reshape(b, f, ins, arrays, shapes):
    return [b.node("Reshape", [ins[0], b.const(np.array(shapes[0], np.int64), "shape")])]


@handler("BroadcastTo", "Broadcast")
def _broadcast(b, f, ins, arrays, shapes):
    return [b.node("Expand", [x, b.const(np.array(s, np.int64), "shape")]) for x, s in zip(ins, shapes)]


@handler("Transpose")
def _transpose(b, f, ins, arrays, shapes):
    axes = list(f.axes) if f.axes is not None else list(reversed(range(arrays[0].ndim)))
    return [b.node("Transpose", ins, {"perm": [a % arrays[0].ndim for a in axes]})]


@handler("Swapaxes")
def _swapaxes(b, f, ins, arrays, shapes):
    perm = list(range(arrays[0].ndim))
    perm[f.axis1], perm[f.axis2] = perm[f.axis2], perm[f.axis1]
    return [b.node("Transpose", ins, {"perm": perm})]


@handler("SplitAxis")
def _split(b, f, ins, arrays, shapes):
    axis = int(f.axis) % arrays[0].ndim
    n = arrays[0].shape[axis]
    ios = f.indices_or_sections  # an unused part has no output node: the sizes come from the call
    bounds = [0, *ios, n] if isinstance(ios, (list, tuple, np.ndarray)) else list(range(0, n + 1, n // int(ios)))
    sizes = [int(min(c, n) - min(a, n)) for a, c in zip(bounds, bounds[1:])]
    return b.nodes_out("Split", [ins[0], b.const(np.array(sizes, np.int64), "split")], len(sizes), {"axis": axis})


def _basic_index(slices, ndim):
    """(starts, ends, steps) per input axis for basic indexing (slices, ints, None, Ellipsis), or None."""
    items = list(slices) if isinstance(slices, tuple) else [slices]
    if any(not (isinstance(i, (slice, int, np.integer)) or i is None or i is Ellipsis) for i in items):
        return None
    n_axes = sum(1 for i in items if i is not None and i is not Ellipsis)
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items = items[:at] + [slice(None)] * (ndim - n_axes) + items[at + 1:]
    items = [i for i in items if i is not None] + [slice(None)] * (ndim - n_axes)
    return items


@handler("GetItem")
def _getitem(b, f, ins, arrays, shapes):
    x = arrays[0]
    items = _basic_index(f.slices, x.ndim)
    starts, ends, axes, steps = [], [], [], []
    for axis, item in enumerate(items):
        if isinstance(item, slice):
            start, stop, step = item.indices(x.shape[axis])
            if (start, stop, step) == (0, x.shape[axis], 1):
                continue
            if step < 0 and stop < 0:
                stop = -x.shape[axis] - 1  # "to the beginning" for a negative step
        else:
            start = int(item) % x.shape[axis]
            stop, step = start + 1, 1
        starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
    y = ins[0]
    if axes:
        y = b.node("Slice", [y] + [b.const(np.array(v, np.int64)) for v in (starts, ends, axes, steps)])
    return [b.node("Reshape", [y, b.const(np.array(shapes[0], np.int64), "shape")])]


@handler("Sum", "Mean")
def _reduce(b, f, ins, arrays, shapes):
    nd = arrays[0].ndim
    axes = list(range(nd)) if f.axis is None else [a % nd for a in f.axis]
    op = "ReduceSum" if type(f).__name__ == "Sum" else "ReduceMean"
    y = b.node(op, [ins[0], b.const(np.array(axes, np.int64), "axes")], {"keepdims": 1})
    return [b.node("Reshape", [y, b.const(np.array(shapes[0], np.int64), "shape")])]


@handler("MatMul")
def _matmul(b, f, ins, arrays, shapes):
    a, c = ins[:2]
    if f.transa:
        a = b.node("Transpose", [a], {"perm": [*range(arrays[0].ndim - 2), arrays[0].ndim - 1, arrays[0].ndim - 2]})
    if f.transb:
        c = b.node("Transpose", [c], {"perm": [*range(arrays[1].ndim - 2), arrays[1].ndim - 1, arrays[1].ndim - 2]})
    return [b.node("MatMul", [a, c])]


@handler("Pad")
def _pad(b, f, ins, arrays, shapes):
    if f.mode != "constant":
        raise ConversionError(f"pad mode {f.mode!r} (constant is supported)")
    widths = np.broadcast_to(np.asarray(f.pad_width, np.int64).reshape(-1, 2) if np.ndim(f.pad_width) else
                             np.full((arrays[0].ndim, 2), int(f.pad_width)), (arrays[0].ndim, 2))
    value = float(f.keywords.get("constant_values", 0)) if getattr(f, "keywords", None) else 0.0
    return [b.node("Pad", [ins[0], b.const(np.concatenate([widths[:, 0], widths[:, 1]]).astype(np.int64), "pads"),
                           _c(b, value, "value")])]


def unsupported_setting(f) -> str | None:
    name = type(f).__name__
    if name == "Unpooling2D" and ((f.kh, f.kw) != (f.sy, f.sx) or f.ph or f.pw):
        return "kernel != stride or padding"
    if name == "ResizeImages" and getattr(f, "mode", "bilinear") != "bilinear":
        return f"mode {f.mode}"
    if name in ("Deconvolution2DFunction", "DeconvolutionND") and getattr(f, "groups", 1) != 1:
        return "groups"
    if name == "GetItem" and _basic_index(f.slices, len(f.inputs[0].shape)) is None:
        return "advanced indexing"
    return None


# ---- the walk -----------------------------------------------------------------------------------

def _as_arrays(example_inputs) -> list[np.ndarray]:
    if example_inputs is None:
        raise ConversionError("converting a Chainer link needs example inputs: webdnn.convert(link, example_inputs, out_dir)")
    items = list(example_inputs) if isinstance(example_inputs, (list, tuple)) else [example_inputs]
    out = []
    for i, a in enumerate(items):
        a = getattr(a, "array", a)  # a chainer.Variable
        if not hasattr(a, "__array__"):
            raise ConversionError(f"example input {i} is a {type(a).__name__}; give numpy arrays (or Variables)")
        out.append(np.asarray(a, np.float32) if np.asarray(a).dtype.kind == "f" else np.asarray(a))
    return out


def _input_names(link, n: int) -> list[str]:
    fn = getattr(link, "forward", None) or link.__call__
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)][:n]
    except (TypeError, ValueError):
        params = []
    if len(params) < n or len(set(params)) < n:
        params = ["x"] if n == 1 else [f"x{i}" for i in range(n)]
    return params


def _outputs(result) -> list[tuple[str | None, object]]:
    if isinstance(result, dict):
        return [(str(k), v) for k, v in result.items()]
    if isinstance(result, (list, tuple)):
        return [(None, v) for v in result]
    return [(None, result)]


def import_chainer(link, example_inputs, input_shapes=None):
    """Run `link` on the example inputs and convert what it computed; returns the IR graph."""
    chainer = _chainer()
    if not isinstance(link, chainer.Link):
        raise ConversionError(f"expected a chainer.Link, got {type(link).__name__}")
    arrays = _as_arrays(example_inputs)
    names = _input_names(link, len(arrays))
    for name, shape in (input_shapes or {}).items():
        key = names[0] if name == "" and len(names) == 1 else name
        if key not in names or tuple(shape) != arrays[names.index(key)].shape:
            raise ConversionError(f"input_shapes {dict(input_shapes)} do not match the example inputs "
                                  f"{ {n: list(a.shape) for n, a in zip(names, arrays)} }")

    class Recorder(chainer.FunctionHook):
        name = "webdnn-recorder"

        def __init__(self):
            self.calls = []

        def forward_preprocess(self, function, in_data):
            self.calls.append((function, tuple(np.asarray(a) for a in in_data)))

    variables = [chainer.Variable(a) for a in arrays]
    recorder = Recorder()
    with chainer.using_config("train", False), chainer.using_config("enable_backprop", True), recorder:
        result = link(*variables)
    outputs = _outputs(result)
    for i, (_, v) in enumerate(outputs):
        if not isinstance(v, chainer.Variable):
            raise ConversionError(f"output {i} of {type(link).__name__} is a {type(v).__name__}, not a chainer.Variable")

    # the functions the outputs depend on, in call (topological) order
    needed, stack = set(), [v.creator_node for _, v in outputs if v.creator_node is not None]
    while stack:
        fn = stack.pop()
        if id(fn) in needed:
            continue
        needed.add(id(fn))
        stack.extend(x.creator_node for x in fn.inputs if x.creator_node is not None)
    calls = [(fn, data) for fn, data in recorder.calls if id(fn) in needed]
    unsupported: dict[str, int] = {}
    for fn, _ in calls:
        name = type(fn).__name__
        why = unsupported_setting(fn) if name in HANDLERS else None
        if name not in HANDLERS or why:
            key = f"{name} ({why})" if why else name
            unsupported[key] = unsupported.get(key, 0) + 1
    if unsupported:
        raise UnsupportedFunctionsError(unsupported)

    b = GraphBuilder()
    values: dict[int, str] = {}
    keep = []  # the variable nodes stay alive while their ids are keys
    for name, v in zip(names, variables):
        b.add_input(name, v.shape)
        values[id(v.node)] = name
        keep.append(v.node)
    for index, (fn, data) in enumerate(calls):
        label = getattr(fn, "label", type(fn).__name__)
        b.scope = f"{index}_{type(fn).__name__}"
        ins = []
        for node, arr in zip(fn.inputs, data):
            if id(node) not in values:  # a parameter or a constant made in the forward pass
                values[id(node)] = b.const(arr, "param")
                keep.append(node)
            ins.append(values[id(node)])
        out_nodes = [ref() for ref in fn.outputs]
        shapes = [tuple(n.shape) if n is not None else None for n in out_nodes]
        try:
            outs = HANDLERS[type(fn).__name__](b, fn, ins, list(data), shapes)
        except ConversionError as e:
            raise ConversionError(f"{label} (call {index}): {e}") from None
        for node, out in zip(out_nodes, outs):
            if node is not None:
                values[id(node)] = out
                keep.append(node)
    model_outputs, used = [], set()
    for i, (key, v) in enumerate(outputs):
        name = key or v.name or ("output" if len(outputs) == 1 else f"output{i}")
        while name in used or name in names:
            name += "_"
        used.add(name)
        src = values.get(id(v.node))
        if src is None:  # an output that is an input or a constant
            src = b.node("Identity", [values[id(v.node)]] if id(v.node) in values else [b.const(v.array, "output")])
        model_outputs.append((b.rename(src, name), tuple(v.shape)))
    model = b.model(model_outputs, type(link).__name__)
    from .onnx import import_onnx
    graph = import_onnx(model)
    graph.source = {"format": "chainer", "link": type(link).__name__, "chainer": chainer.__version__}
    return graph


__all__ = ["import_chainer", "is_chainer_link", "UnsupportedFunctionsError"]
