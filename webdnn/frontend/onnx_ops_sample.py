"""ONNX sampling ops composed from existing IR ops: GridSample.

GridSample in any number of spatial dims D, following onnx/reference/ops/op_grid_sample.py:
X (N, C, S_0..S_{D-1}) is flattened to (N, C, S); per spatial dim the grid coordinate is
denormalized and padded (clamped or reflected), and each of its K neighbours (1 nearest, 2 linear,
4 cubic) gets an index and a 1-D weight on an axis of its own, so that broadcasting forms all K^D
corners as (N, 1, K, .., K, P). One GatherElements reads the corners, and a sum over them of
value × weight gives the output (N, C, P) with P the number of output points.
"""
from __future__ import annotations

import numpy as np

from ..ir.ops.elementwise import call, chain, inp
from .onnx_ops import handler

CUBIC_A = -0.75  # Keys' coefficient, fixed by the ONNX spec
OFFSETS = {"nearest": [0], "linear": [0, 1], "cubic": [-1, 0, 1, 2]}
X = inp(0)


def _where_outside(x, lo, hi, inside, outside):
    return call("where", call("or", call("lt", x, lo), call("gt", x, hi)), outside, inside)


def _reflect(x, lo, hi):
    """x reflected at lo and hi until it lies in [lo, hi] (a triangle wave of period 2·(hi - lo))."""
    span = hi - lo
    if span <= 0:
        return _where_outside(x, lo, hi, x, lo)
    y = call("sub", x, lo)
    m = call("sub", y, call("mul", call("floor", call("div", y, 2 * span)), 2 * span))
    folded = call("add", call("where", call("gt", m, span), call("sub", 2 * span, m), m), lo)
    return _where_outside(x, lo, hi, x, folded)


def _coordinate(size, mode, align):
    """Pixel coordinate along one dim from the normalized grid value inp(0)."""
    if align:
        x = call("mul", call("add", X, 1), 0.5 * (size - 1))
    else:
        x = call("mul", call("sub", call("mul", call("add", X, 1), size), 1), 0.5)
    return call("round", x) if mode == "nearest" else x  # round: half to even, as the reference


def _bounds(size, align):
    return (0.0, size - 1.0) if align else (-0.5, size - 0.5)


def _pad(size, padding, align):
    """A coordinate inp(0) outside the bounds clamped (border) or reflected (reflection), as the
    reference does before interpolating; zeros padding leaves it (its neighbours read 0)."""
    lo, hi = _bounds(size, align)
    if padding == "border":
        return _where_outside(X, lo, hi, X, call("min", call("max", X, 0), size - 1))
    return _reflect(X, lo, hi) if padding == "reflection" else X


def _neighbour(size, padding, align):
    """Index (as a float, clamped into [0, size)) and, for zeros padding, validity of the neighbour
    at floor(x) + offset, with x = inp(0) and offset = inp(1); reflection folds it back inside."""
    j = call("add", call("floor", X), inp(1))
    if padding == "reflection":
        j = call("floor", _reflect(j, *_bounds(size, align)))
    valid = call("and", call("ge", j, 0), call("le", j, size - 1)) if padding == "zeros" else None
    return call("min", call("max", j, 0), size - 1), valid


def _weight(mode):
    """1-D interpolation weight of the neighbour at floor(x) + offset (x = inp(0), offset = inp(1))."""
    s = call("abs", call("sub", call("sub", X, call("floor", X)), inp(1)))
    if mode == "linear":
        return call("sub", 1, s)
    a = CUBIC_A
    near = call("add", call("mul", call("sub", call("mul", a + 2, s), a + 3), call("mul", s, s)), 1)
    far = call("sub", call("mul", call("add", call("mul", call("sub", call("mul", a, s), 5 * a), s), 8 * a), s), 4 * a)
    return call("where", call("le", s, 1), near, far)


def _fold(c, prim, tensors):
    """tensors[0] prim tensors[1] prim ..., broadcast: combines the per-dim indices or weights."""
    return c.ew(chain(prim, len(tensors)), tensors)


@handler("GridSample", since=16)
def _grid_sample(c):
    x, grid = c.input(0), c.input(1)
    n, ch, sizes = x.shape[0], x.shape[1], list(x.shape[2:])
    d, out_spatial = len(sizes), list(grid.shape[1:-1])
    if grid.shape[-1] != d or len(out_spatial) != d or grid.shape[0] != n:
        c.fail(f"grid {list(grid.shape)} does not fit X {list(x.shape)}: expected (N, *out, {d})")
    mode = c.attr("mode", "linear")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(mode, mode)  # the opset-16 names
    padding, align = c.attr("padding_mode", "zeros"), bool(c.attr("align_corners", 0))
    if mode not in OFFSETS or padding not in ("zeros", "border", "reflection"):
        c.fail(f"mode {mode!r} / padding_mode {padding!r} is not supported")
    p, k = int(np.prod(out_spatial)), len(OFFSETS[mode])
    strides = [int(np.prod(sizes[i + 1:])) for i in range(d)]

    indices, weights = [], []
    for i, size in enumerate(sizes):  # grid's last axis lists the spatial dims in reverse order
        g = c.op1("Slice", [grid], {"starts": [d - 1 - i], "ends": [d - i], "axes": [-1]})
        g = c.op1("Reshape", [g], {"shape": [n, 1] + [1] * d + [p]})
        if g.dtype != "float32":  # coordinates in float32 also for a float16 grid
            g = c.ew(call("cast", "float32", X), [g])
        coord = c.ew(_coordinate(size, mode, align), [g])
        if padding != "zeros":
            coord = c.ew(_pad(size, padding, align), [coord])
        off_shape = [1, 1] + [k if a == i else 1 for a in range(d)] + [1]  # this dim's corner axis
        off = c.constant(np.array(OFFSETS[mode], dtype=np.float32).reshape(off_shape))
        j, valid = _neighbour(size, padding, align)
        indices.append(c.ew(call("mul", call("cast", "int64", j), strides[i]), [coord, off]))
        w = None if mode == "nearest" else _weight(mode)
        if valid is not None:
            w = call("cast", "float32", valid) if w is None else call("where", valid, w, 0)
        if w is not None:
            weights.append(c.ew(w, [coord, off]))

    corners = k ** d
    idx = c.op1("Reshape", [_fold(c, "add", indices)], {"shape": [n, 1, corners * p]})
    idx = c.op1("Expand", [idx], {"shape": [n, ch, corners * p]})
    flat = c.op1("Reshape", [x], {"shape": [n, ch, int(np.prod(sizes))]})
    y = c.op1("Reshape", [c.op1("GatherElements", [flat, idx], {"axis": 2})], {"shape": [n, ch, corners, p]})
    if weights:
        w = c.op1("Reshape", [_fold(c, "mul", weights)], {"shape": [n, 1, corners, p]})
        y = c.ew(call("mul", X, inp(1)), [y, w])
    if corners > 1:
        y = c.op1("Reduce", [y], {"kind": "sum", "axes": [2], "keepdims": 0})
    if y.dtype != x.dtype:
        y = c.ew(call("cast", x.dtype, X), [y])
    return [c.op1("Reshape", [y], {"shape": [n, ch] + out_spatial})]
