"""ONNX ops composed from existing IR ops (no kernel of their own): Range, EyeLike, Trilu, OneHot,
Tile, LpNormalization, InstanceNormalization, LpPool, IsInf, trigonometric/hyperbolic and
bitwise functions."""
from __future__ import annotations

import numpy as np

from ..ir.ops.elementwise import call, inp
from ..ir.dtype import INT_RANGE, np_dtype
from ..ir.symbolic import Expr, int_array, is_symbolic_array
from .onnx_ops import conv
from .onnx_registry import X, conv_pads, handler, ints, tensor_dtype, unary

for _op, _prim in {"Tan": "tan", "Asin": "asin", "Acos": "acos", "Atan": "atan", "Sinh": "sinh", "Cosh": "cosh",
                   "Asinh": "asinh", "Acosh": "acosh", "Atanh": "atanh", "BitwiseNot": "bnot"}.items():
    unary(_op, lambda c, p=_prim: call(p, X))


@handler("BitwiseAnd", "BitwiseOr", "BitwiseXor", since=18)
def _bitwise(c):
    prim = {"BitwiseAnd": "band", "BitwiseOr": "bor", "BitwiseXor": "bxor"}[c.node.op_type]
    return [c.ew(call(prim, inp(0), inp(1)), [c.input(0), c.input(1)])]


@handler("BitShift", since=11)
def _bitshift(c):
    prim = "shl" if c.attr("direction") == "LEFT" else "shr"
    return [c.ew(call(prim, inp(0), inp(1)), [c.input(0), c.input(1)])]


@handler("BitCast", since=26)
def _bitcast(c):
    """Same-width reinterpretation: float32 <-> int32 read the bits; between 8-bit integer types (and
    bool) the bits are the value modulo 256, which a cast gives."""
    x = c.input(0)
    to = tensor_dtype(c.attr("to"), f"BitCast {c.name!r}")
    frm = x.dtype
    if frm == to:
        return [c.op1("Identity", [x])]
    if (frm, to) in (("float32", "int32"), ("int32", "float32")):
        return [c.ew(call("asint" if to == "int32" else "asfloat", X), [x])]
    if frm in ("int8", "uint8", "bool") and to in ("int8", "uint8", "bool"):
        return [c.ew(call("cast", to, X), [x])]
    c.fail(f"from {frm} to {to} is not supported (float32 <-> int32 and between 8-bit types are; 64-bit floats "
           f"are computed as float32 here, so their bits are not kept)")


@handler("IsInf", since=10)
def _isinf(c):
    pos, neg = c.attr("detect_positive", 1), c.attr("detect_negative", 1)
    expr = call("isinf", X)
    if not pos:
        expr = call("and", expr, call("lt", X, 0))
    if not neg:
        expr = call("and", expr, call("gt", X, 0))
    return [c.ew(expr, [c.input(0)])]


@handler("Range", since=11)
def _range(c):
    start, limit, delta = (c.const(i, n) for i, n in enumerate(("start", "limit", "delta")))
    if any(np.size(v) != 1 for v in (start, limit, delta)):
        c.fail("start, limit and delta must be scalars")
    dtype = np.asarray(start).dtype
    # scalars; a one-element tensor (as some function bodies pass) is read as its element
    start, limit, delta = (np.asarray(v).reshape(()) for v in (start, limit, delta))
    if any(is_symbolic_array(v) for v in (start, limit, delta)):
        return [_symbolic_range(c, start[()], limit[()], delta[()], np.dtype(np_dtype(c.input(0).dtype)))]
    n = max(int(np.ceil((limit - start) / delta)), 0)
    return [c.constant((start + np.arange(n) * delta).astype(dtype))]


def _symbolic_range(c, start, limit, delta, dtype):
    """Range whose length is a symbolic size (arange(seq)): start + delta · (exclusive running sum of
    ones), built at run time; only an integer delta with a size that is provably not negative."""
    whole = lambda v: isinstance(v, (Expr, int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer())  # noqa: E731
    if not (whole(start) and whole(limit) and whole(delta)) or isinstance(delta, Expr) or delta == 0 \
            or dtype.kind not in "iuf":
        c.fail(f"a Range over symbolic sizes needs whole-number start/limit and a fixed non-zero whole delta; "
               f"got start {start}, limit {limit}, delta {delta}")
    if dtype.kind == "f":  # a float arange of whole numbers: the integer one, cast
        start, limit = (v if isinstance(v, Expr) else int(v) for v in (start, limit))
        ramp = _symbolic_range(c, start, limit, int(delta), np.dtype(np.int64))
        return c.ew(call("cast", "float32", inp(0)), [ramp])
    d = int(delta)
    n = (limit - start + d - 1) // d if d > 0 else (start - limit - d - 1) // (-d)
    if not (n >= 0):
        c.fail(f"the length {n} of a Range over symbolic sizes could be negative")
    steps = c.op1("Expand", [c.constant(np.asarray([d], dtype=dtype))], {"shape": [n]})
    ramp = c.op1("CumSum", [steps], {"axis": 0, "exclusive": 1})
    if isinstance(start, (int, np.integer)) and start == 0:
        return ramp
    return c.ew(call("add", inp(0), inp(1)), [ramp, c.constant(int_array([start]).reshape(()), dtype="int64")])


@handler("EyeLike", since=9)
def _eyelike(c):
    x = c.input(0)
    dtype = tensor_dtype(c.attr("dtype"), f"EyeLike {c.name!r}") if c.attr("dtype") is not None else x.dtype
    return [c.constant(np.eye(x.shape[0], x.shape[1], k=c.attr("k", 0)), dtype=dtype)]


@handler("Trilu", since=14)
def _trilu(c):
    x = c.input(0)
    k = int(np.reshape(c.const(1, "k"), -1)[0]) if c.has_input(1) else 0
    rows, cols = x.shape[-2:]
    if isinstance(rows, Expr) or isinstance(cols, Expr):  # sized at run time: compare column and row indices
        r = c.op1("Reshape", [_symbolic_range(c, 0, rows, 1, np.dtype(np.int64))], {"shape": [rows, 1]})
        col = _symbolic_range(c, 0, cols, 1, np.dtype(np.int64))
        keep = call("ge" if c.attr("upper", 1) else "le", call("sub", inp(2), inp(1)), k)
        return [c.ew(call("where", keep, inp(0), 0), [x, r, col])]
    ones = np.ones((rows, cols), dtype=bool)
    mask = np.triu(ones, k) if c.attr("upper", 1) else np.tril(ones, k)
    return [c.ew(call("where", inp(1), inp(0), 0), [x, c.constant(mask)])]


@handler("OneHot", since=9)
def _onehot(c):
    indices = c.input(0)
    depth = int(np.reshape(c.const(1, "depth"), -1)[0])
    values = np.reshape(c.const(2, "values"), -1)
    rank = len(indices.shape) + 1
    axis = c.attr("axis", -1)
    axis = axis + rank if axis < 0 else axis
    shape = list(indices.shape)
    shape.insert(axis, 1)
    idx = c.op1("Reshape", [indices], {"shape": shape})
    classes = c.constant(np.arange(depth, dtype=np.int64).reshape([depth] + [1] * (rank - 1 - axis)))
    vdt = {"f": "float32", "i": "int64", "u": "uint8", "b": "bool"}[values.dtype.kind]
    vdt = "int32" if values.dtype == np.int32 else vdt
    i = call("cast", "int64", inp(0))
    i = call("where", call("lt", i, 0), call("add", i, depth), i)
    expr = call("where", call("eq", i, inp(1)), call("cast", vdt, float(values[1])), call("cast", vdt, float(values[0])))
    return [c.ew(expr, [idx, classes])]


@handler("Tile", since=6)
def _tile(c):
    x = c.input(0)
    reps = [int(r) for r in np.reshape(c.const(1, "repeats"), -1)]
    interleaved = [d for s in x.shape for d in (1, s)]
    y = c.op1("Reshape", [x], {"shape": interleaved})
    y = c.op1("Expand", [y], {"shape": [d for r, s in zip(reps, x.shape) for d in (r, s)]})
    return [c.op1("Reshape", [y], {"shape": [r * s for r, s in zip(reps, x.shape)]})]


@handler("LpNormalization")
def _lpnorm(c):
    x = c.input(0)
    p = c.attr("p", 2)
    if p not in (1, 2):
        c.fail(f"p={p} (only 1 and 2 are defined)")
    norm = c.op1("Reduce", [x], {"kind": "l1" if p == 1 else "l2", "axes": [c.attr("axis", -1)], "keepdims": 1})
    return [c.ew(call("where", call("eq", inp(1), 0), 0, call("div", inp(0), inp(1))), [x, norm])]  # 0 for a zero norm


@handler("InstanceNormalization", since=6)
def _instancenorm(c):
    x, scale, bias = c.input(0), c.input(1), c.input(2)
    eps = float(c.attr("epsilon", 1e-5))
    axes = list(range(2, len(x.shape)))
    mean = c.op1("Reduce", [x], {"kind": "mean", "axes": axes, "keepdims": 1})
    centered = c.ew(call("sub", inp(0), inp(1)), [x, mean])
    var = c.op1("Reduce", [c.ew(call("mul", inp(0), inp(0)), [centered])], {"kind": "mean", "axes": axes, "keepdims": 1})
    per_c = [scale.shape[0]] + [1] * (len(x.shape) - 2)
    s = c.op1("Reshape", [scale], {"shape": per_c})
    b = c.op1("Reshape", [bias], {"shape": per_c})
    expr = call("add", call("mul", call("div", inp(0), call("sqrt", call("add", inp(1), eps))), inp(2)), inp(3))
    return [c.ew(expr, [centered, var, s, b])]


@handler("LpPool", since=2)
def _lppool(c):
    x = c.input(0)
    p = float(c.attr("p", 2))
    k = list(c.attr("kernel_shape"))
    nd = len(k)
    if c.attr("ceil_mode", 0):
        c.fail("ceil_mode=1 is not supported")
    auto = c.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = conv_pads(c, x.shape, k, list(c.attr("strides", [1] * nd)), list(c.attr("dilations", [1] * nd)))
    else:
        pads = [0] * (2 * nd) if auto == "VALID" else list(c.attr("pads", [0] * (2 * nd)))
    powered = c.ew(call("pow", call("abs", X), p), [x])
    # every window lies inside the padded input (no ceil_mode), so sum = mean-with-pads × window size
    avg = c.op1("Pool", [powered], {"kind": "avg", "kernel_shape": k, "strides": list(c.attr("strides", [1] * nd)),
                                    "pads": pads, "dilations": list(c.attr("dilations", [1] * nd)),
                                    "count_include_pad": 1})
    return [c.ew(call("pow", call("mul", X, float(np.prod(k))), 1.0 / p), [avg])]


def _per_axis(c, t, x_shape, axis):
    """A per-axis scale/zero-point [C] reshaped to broadcast along `axis` of x; a blocked one (x's rank,
    one entry per block_size elements along `axis`) repeated to x's length there."""
    x_rank = len(x_shape)
    if t is None or len(t.shape) == 0 or t.size == 1:
        return t
    axis = axis + x_rank if axis < 0 else axis
    block = int(c.attr("block_size", 0) or 0)
    if block:
        want = [-(-x_shape[i] // block) if i == axis else x_shape[i] for i in range(x_rank)]
        if list(t.shape) != want:
            c.fail(f"a blocked scale or zero point for x {list(x_shape)} with block_size {block} must be {want}, "
                   f"got {list(t.shape)}")
        return c.op1("Gather", [t, c.constant(np.arange(x_shape[axis], dtype=np.int64) // block)], {"axis": axis})
    return c.op1("Reshape", [t], {"shape": [t.shape[0] if i == axis else 1 for i in range(x_rank)]})


QUANT_RANGE = {t: INT_RANGE[t] for t in ("uint8", "int8", "int32")}  # QuantizeLinear's output types


@handler("QuantizeLinear", since=10)
def _quantize(c):
    x = c.input(0)
    axis = c.attr("axis", 1)
    scale = _per_axis(c, c.input(1), x.shape, axis)
    zp = _per_axis(c, c.input(2), x.shape, axis)
    out = zp.dtype if zp is not None else (tensor_dtype(c.attr("output_dtype"), c.name) if c.attr("output_dtype") else "uint8")
    if out not in QUANT_RANGE:
        c.fail(f"output type {out} is not supported (uint8, int8, int32)")
    lo, hi = QUANT_RANGE[out]
    # the quotient rounded to float32 before round(): a runtime computing in doubles (js) then agrees
    q = call("round", call("cast", "float32", call("div", call("cast", "float32", inp(0)), call("cast", "float32", inp(1)))))
    ins = [x, scale]
    if zp is not None:
        q = call("add", q, call("cast", "float32", inp(2)))
        ins.append(zp)
    return [c.ew(call("cast", out, call("min", call("max", q, lo), hi)), ins)]


@handler("DequantizeLinear", since=10)
def _dequantize(c):
    x = c.input(0)
    axis = c.attr("axis", 1)
    scale = _per_axis(c, c.input(1), x.shape, axis)
    zp = _per_axis(c, c.input(2), x.shape, axis)
    v = call("cast", "float32", inp(0))
    ins = [x, scale]
    if zp is not None:
        v = call("sub", v, call("cast", "float32", inp(2)))
        ins.append(zp)
    return [c.ew(call("cast", scale.dtype, call("mul", v, call("cast", "float32", inp(1)))), ins)]


@handler("Col2Im", since=18)
def _col2im(c):
    """Blocks summed back into an image: a grouped ConvTranspose whose kernel puts each of a channel's
    prod(block) columns at its own block position (one-hot weights)."""
    x = c.input(0)
    image, block = ints(c.const(1, "image_shape")), ints(c.const(2, "block_shape"))
    nd = len(image)
    s = list(c.attr("strides", [1] * nd))
    d = list(c.attr("dilations", [1] * nd))
    p = list(c.attr("pads", [0] * (2 * nd)))
    kk = int(np.prod(block))
    n, ckk, blocks = x.shape
    if len(block) != nd or ckk % kk:
        c.fail(f"input {list(x.shape)} does not fit block_shape {block} and image_shape {image}")
    per_axis = [(image[i] + p[i] + p[i + nd] - d[i] * (block[i] - 1) - 1) // s[i] + 1 for i in range(nd)]
    if int(np.prod(per_axis)) != blocks:
        c.fail(f"{blocks} blocks given, the image and block shapes make {per_axis}")
    ch = ckk // kk
    y = c.op1("Reshape", [x], {"shape": [n, ckk] + per_axis})
    w = np.tile(np.eye(kk, dtype=np.float32).reshape([kk, 1] + block), [ch, 1] + [1] * nd)
    opad = [image[i] - (s[i] * (per_axis[i] - 1) + d[i] * (block[i] - 1) + 1 - p[i] - p[i + nd]) for i in range(nd)]
    return [c.op1("ConvTranspose", [y, c.constant(w, dtype=x.dtype)],
                  {"strides": s, "pads": p, "dilations": d, "group": ch, "output_padding": opad})]


DET_MAX = 6  # the Leibniz sum has n! terms of n factors


@handler("Det", since=11)
def _det(c):
    """det of the trailing n x n matrices as the Leibniz sum over permutations: one Gather of every
    permutation's n entries, a product, a signed sum (small n only)."""
    import itertools
    x = c.input(0)
    n = x.shape[-1]
    if len(x.shape) < 2 or x.shape[-2] != n:
        c.fail(f"input {list(x.shape)} is not a stack of square matrices")
    if n > DET_MAX:
        c.fail(f"{n}x{n} matrices: only up to {DET_MAX}x{DET_MAX} are supported")
    batch = list(x.shape[:-2])
    perms = list(itertools.permutations(range(n)))
    idx = np.array([[i * n + p[i] for i in range(n)] for p in perms], dtype=np.int64)
    sign = np.array([np.linalg.det(np.eye(n)[list(p)]) for p in perms]).round()
    flat = c.op1("Reshape", [x], {"shape": batch + [n * n]})
    terms = c.op1("Reduce", [c.op1("Gather", [flat, c.constant(idx)], {"axis": len(batch)})],
                  {"kind": "prod", "axes": [len(batch) + 1], "keepdims": 0})
    signed = c.ew(call("mul", inp(0), inp(1)), [terms, c.constant(sign, dtype=x.dtype)])
    return [c.op1("Reduce", [signed], {"kind": "sum", "axes": [len(batch)], "keepdims": 0})]


# ---- integer and quantized linear algebra ---------------------------------------------------
# Integer operands minus their zero points are exact in float32; the products are summed in float32,
# which is exact while every partial sum stays below 2**24 (e.g. 8-bit operands with K <= 258 terms
# at worst, far more for typical data).
def _centered(c, t, zp, shape=None):
    """t - zero point as float32; a 1-D zero point is reshaped to `shape` (its length at -1) first, per
    row or channel."""
    expr, ins = call("cast", "float32", inp(0)), [t]
    if zp is not None:
        if shape is not None and len(zp.shape) == 1 and zp.shape[0] > 1:
            zp = c.op1("Reshape", [zp], {"shape": [zp.shape[0] if d == -1 else d for d in shape]})
        expr, ins = call("sub", expr, call("cast", "float32", inp(1))), ins + [zp]
    return c.ew(expr, ins)


def _per_channel(c, t, rank):
    """A per-output-channel vector [M] reshaped to broadcast over [N, M, spatial...]."""
    if t is None or len(t.shape) == 0 or t.size == 1:
        return t
    return c.op1("Reshape", [t], {"shape": [1, t.shape[0]] + [1] * (rank - 2)})


def _requantize(c, acc, scales, y_scale, y_zp, out):
    """round(acc × prod(scales) / y_scale + y_zp) clipped to the output type: the multiplier is
    computed in the scales' type first, as the ONNX definition does."""
    if out not in QUANT_RANGE:
        c.fail(f"output type {out} is not supported (uint8, int8)")
    mult = c.ew(call("div", call("mul", inp(0), inp(1)), inp(2)), [*scales, y_scale])
    expr, ins = call("mul", inp(0), call("cast", "float32", inp(1))), [acc, mult]
    if y_zp is not None:
        expr, ins = call("add", expr, call("cast", "float32", inp(2))), ins + [y_zp]
    lo, hi = QUANT_RANGE[out]
    return c.ew(call("cast", out, call("min", call("max", call("round", expr), lo), hi)), ins)


def _int32_sums(c, acc):
    """The float32 sums of integer products as int32: rounded (they are whole numbers, unless a backend's
    8-bit products approximated them) and clamped to what a float32 holds of the int32 range, so that a
    consumer's cast back to float (the usual next op) cancels against it (simplify_elementwise)."""
    return c.ew(call("cast", "int32", call("min", call("max", call("round", inp(0)), -2147483648.0), 2147483520.0)), [acc])


def integer_matmul(c, a, b, b_zp):
    """a (float32 whole numbers, centered) @ (b - b_zp). Where b is a constant uint8 matrix whose centered
    values leave int8's range (asymmetric 8-bit weights, quantize_dynamic's QUInt8: zero points near but
    not at 128), as a @ (b - 128) + rowsum(a) × (128 - b_zp): the weights then are exactly int8 (stored so,
    multiplied by the 8-bit products: encoding.exact_int8) and the zero point's share is one reduction."""
    if (b.is_constant and b.dtype == "uint8" and len(b.shape) == 2 and (b_zp is None or b_zp.is_constant)
            and not is_symbolic_array(b.data)):
        zp = np.zeros(1, np.float32) if b_zp is None else np.asarray(b_zp.data, np.float32).reshape(-1)
        centered = b.data.astype(np.float32) - zp
        if centered.min() < -128 or centered.max() > 127:
            y = c.op1("MatMul", [a, c.constant(b.data.astype(np.float32) - np.float32(128))])
            rows = c.op1("Reduce", [a], {"kind": "sum", "axes": [len(a.shape) - 1], "keepdims": 1})
            return c.ew(call("add", inp(0), call("mul", inp(1), inp(2))), [y, rows, c.constant(np.float32(128) - zp)])
    return c.op1("MatMul", [a, _centered(c, b, b_zp)])


@handler("MatMulInteger", since=10)
def _matmul_integer(c):
    a, b = c.input(0), c.input(1)
    return [_int32_sums(c, integer_matmul(c, _centered(c, a, c.input(2), [-1, 1]), b, c.input(3)))]


@handler("ConvInteger", since=10)
def _conv_integer(c):
    x, w = c.input(0), c.input(1)
    return [_int32_sums(c, conv(c, _centered(c, x, c.input(2)), _centered(c, w, c.input(3), [-1] + [1] * (len(w.shape) - 1))))]


@handler("QLinearMatMul", since=10)
def _qlinear_matmul(c):
    a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp = (c.input(i) for i in range(8))
    acc = integer_matmul(c, _centered(c, a, a_zp), b, b_zp)
    return [_requantize(c, acc, [a_s, b_s], y_s, y_zp, y_zp.dtype if y_zp is not None else a.dtype)]


@handler("QLinearConv", since=10)
def _qlinear_conv(c):
    x, x_s, x_zp, w, w_s, w_zp, y_s, y_zp, bias = (c.input(i) for i in range(9))
    r = len(x.shape)
    bias = None if bias is None else c.ew(call("cast", "float32", inp(0)), [bias])
    acc = conv(c, _centered(c, x, x_zp), _centered(c, w, w_zp, [-1] + [1] * (r - 1)), bias)
    return [_requantize(c, acc, [x_s, _per_channel(c, w_s, r)], y_s, y_zp, y_zp.dtype if y_zp is not None else x.dtype)]


@handler("Einsum", since=12)
def _einsum(c):
    """Einsum of one or two operands as Transpose / Reduce / Reshape / MatMul; an index repeated within
    one operand first takes that diagonal (a Gather on the two axes flattened)."""
    eq = c.attr("equation").replace(" ", "")
    lhs, _, out = eq.partition("->")
    terms = lhs.split(",")
    xs = c.inputs()
    if len(terms) != len(xs) or len(xs) > 2:
        c.fail(f"equation {eq!r}: only one or two operands are supported")
    # expand '...' into letters not used elsewhere
    spare = [ch for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if ch not in eq]
    ell = 0
    for t, x in zip(terms, xs):
        if "..." in t:
            ell = max(ell, len(x.shape) - (len(t) - 3))
    dots = "".join(spare[:ell])
    terms = [t.replace("...", dots[len(dots) - (len(x.shape) - (len(t) - 3)):] if "..." in t else "") for t, x in zip(terms, xs)]
    if not _:
        counts = {ch: sum(t.count(ch) for t in terms) for ch in set("".join(terms))}
        out = dots + "".join(sorted(ch for ch, n in counts.items() if n == 1 and ch not in dots))
    else:
        out = out.replace("...", dots)
    xs = list(xs)
    for j, (t, x) in enumerate(zip(terms, xs)):  # a repeated index takes a diagonal
        while len(set(t)) != len(t):
            ch = next(ch for ch in t if t.count(ch) > 1)
            p, q = t.index(ch), t.index(ch, t.index(ch) + 1)
            n = x.shape[p]
            if x.shape[q] != n:
                c.fail(f"equation {eq!r}: index {ch} has sizes {n} and {x.shape[q]} within one operand")
            rest = [i for i in range(len(t)) if i not in (p, q)]
            x = c.op1("Transpose", [x], {"perm": rest + [p, q]})
            x = c.op1("Reshape", [x], {"shape": [x.shape[i] for i in range(len(rest))] + [n * n]})
            x = c.op1("Gather", [x, c.constant(np.arange(n, dtype=np.int64) * (n + 1))], {"axis": len(rest)})
            t = "".join(t[i] for i in rest) + ch
        terms[j], xs[j] = t, x
    sizes = {}
    for t, x in zip(terms, xs):
        for ch, d in zip(t, x.shape):
            if sizes.get(ch, d) != d and 1 not in (d, sizes[ch]):
                c.fail(f"equation {eq!r}: index {ch} has sizes {sizes[ch]} and {d}")
            sizes[ch] = max(sizes.get(ch, 1), d)

    def reduce_only(x, t, keep):
        """Sum away indices of x that appear nowhere in `keep`."""
        gone = [i for i, ch in enumerate(t) if ch not in keep]
        if gone:
            x = c.op1("Reduce", [x], {"kind": "sum", "axes": gone, "keepdims": 0})
            t = "".join(ch for ch in t if ch in keep)
        return x, t

    def permute(x, t, order):
        if t == order:
            return x
        return c.op1("Transpose", [x], {"perm": [t.index(ch) for ch in order]})

    if len(xs) == 1:
        x, t = reduce_only(xs[0], terms[0], out)
        return [permute(x, t, out)]
    (a, ta), (b, tb) = reduce_only(xs[0], terms[0], terms[1] + out), reduce_only(xs[1], terms[1], terms[0] + out)
    batch = [ch for ch in ta if ch in tb and ch in out]
    contract = [ch for ch in ta if ch in tb and ch not in out]
    left = [ch for ch in ta if ch not in tb]
    right = [ch for ch in tb if ch not in ta]
    n = lambda chs: int(np.prod([sizes[ch] for ch in chs])) if chs else 1  # noqa: E731
    a = c.op1("Expand", [permute(a, ta, "".join(batch + left + contract))],
              {"shape": [sizes[ch] for ch in batch + left + contract]})
    b = c.op1("Expand", [permute(b, tb, "".join(batch + contract + right))],
              {"shape": [sizes[ch] for ch in batch + contract + right]})
    a = c.op1("Reshape", [a], {"shape": [n(batch), n(left), n(contract)]})
    b = c.op1("Reshape", [b], {"shape": [n(batch), n(contract), n(right)]})
    y = c.op1("MatMul", [a, b])
    y = c.op1("Reshape", [y], {"shape": [sizes[ch] for ch in batch + left + right] or [1]})
    produced = "".join(batch + left + right)
    if not produced:
        return [c.op1("Reshape", [y], {"shape": []})]
    return [permute(y, produced, out)]
