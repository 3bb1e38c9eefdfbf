"""ONNX sampling ops composed from existing IR ops: GridSample, DeformConv.

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
from .onnx_registry import X, handler, ints

CUBIC_A = -0.75  # Keys' coefficient, fixed by the ONNX spec
OFFSETS = {"nearest": [0], "linear": [0, 1], "cubic": [-1, 0, 1, 2]}


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


@handler("DeformConv", since=19)
def _deform_conv(c):
    """2-D deformable convolution: each kernel tap of each output position reads X bilinearly (zeros
    outside) at its regular position plus a learned offset (one set per offset group), optionally
    times a mask; the samples, arranged as im2col columns, are multiplied with the weights.

    corners (N, og, 2, 2, T, P): T = kh·kw taps, P = oh·ow positions; one GatherElements reads them
    for every channel of the group, a sum over the corners interpolates, one MatMul per conv group."""
    x, w, offset, bias, mask = (c.input(i) for i in range(5))
    if len(x.shape) != 4:
        c.fail(f"only 2-D DeformConv is supported (X is {list(x.shape)})")
    n, ch, hgt, wid = x.shape
    m = w.shape[0]
    kh, kw = ints(c.attr("kernel_shape") or w.shape[2:])
    sh, sw = ints(c.attr("strides") or [1, 1])
    dh, dw = ints(c.attr("dilations") or [1, 1])
    pt, pl = ints(c.attr("pads") or [0, 0, 0, 0])[:2]
    group, og = int(c.attr("group", 1)), int(c.attr("offset_group", 1))
    oh, ow = offset.shape[2:]
    t, p = kh * kw, oh * ow
    if offset.shape[1] != og * t * 2 or ch % og or ch != w.shape[1] * group or m % group:
        c.fail(f"X {list(x.shape)}, W {list(w.shape)}, offset {list(offset.shape)} do not fit group {group}, "
               f"offset_group {og}, kernel {[kh, kw]}")
    off = c.op1("Reshape", [offset], {"shape": [n, og, t, 2, p]})
    indices, weights = [], []
    for axis, (size, stride, dil, pad, k_inner, stride_flat) in enumerate(
            [(hgt, sh, dh, pt, kw, wid), (wid, sw, dw, pl, 1, 1)]):
        taps = (np.arange(t) // k_inner if axis == 0 else np.arange(t) % kw) * dil
        pos = (np.arange(p) // ow if axis == 0 else np.arange(p) % ow) * stride - pad
        base = c.constant((taps[:, None] + pos[None, :]).astype(np.float32).reshape(1, 1, 1, 1, t, p))
        o = c.op1("Slice", [off], {"starts": [axis], "ends": [axis + 1], "axes": [3]})
        coord = c.ew(call("add", call("cast", "float32", X), inp(1)), [c.op1("Reshape", [o], {"shape": [n, og, 1, 1, t, p]}), base])
        corner = c.constant(np.array([0, 1], np.float32).reshape([1, 1, 2, 1, 1, 1] if axis == 0 else [1, 1, 1, 2, 1, 1]))
        j, valid = _neighbour(size, "zeros", True)
        indices.append(c.ew(call("mul", call("cast", "int64", j), stride_flat), [coord, corner]))
        weights.append(c.ew(call("where", valid, _weight("linear"), 0), [coord, corner]))
    cg = ch // og
    idx = c.op1("Reshape", [_fold(c, "add", indices)], {"shape": [n, og, 1, 4 * t * p]})
    idx = c.op1("Reshape", [c.op1("Expand", [idx], {"shape": [n, og, cg, 4 * t * p]})], {"shape": [n, ch, 4 * t * p]})
    flat = c.op1("Reshape", [x], {"shape": [n, ch, hgt * wid]})
    v = c.op1("Reshape", [c.op1("GatherElements", [flat, idx], {"axis": 2})], {"shape": [n, og, cg, 4, t, p]})
    wt = c.op1("Reshape", [_fold(c, "mul", weights)], {"shape": [n, og, 1, 4, t, p]})
    v = c.op1("Reduce", [c.ew(call("mul", X, inp(1)), [v, wt])], {"kind": "sum", "axes": [3], "keepdims": 0})
    if mask is not None:  # (N, og, T, P): one factor per tap and position
        v = c.ew(call("mul", X, inp(1)), [v, c.op1("Reshape", [mask], {"shape": [n, og, 1, t, p]})])
    cols = c.op1("Reshape", [v], {"shape": [n, group, ch // group * t, p]})
    wm = c.op1("Reshape", [w], {"shape": [group, m // group, ch // group * t]})
    y = c.op1("Reshape", [c.op1("MatMul", [wm, cols])], {"shape": [n, m, oh, ow]})
    if bias is not None:
        y = c.ew(call("add", X, inp(1)), [y, c.op1("Reshape", [bias], {"shape": [1, m, 1, 1]})])
    return [y]


@handler("RoiAlign", since=10)
def _roi_align(c):
    """Per region of interest, a PH × PW grid of bins, each averaged (or maxed) over sr_h × sr_w
    bilinear samples, following the ONNX reference's interpolation (clamped at the far border, zero
    beyond one pixel outside; `max` takes the largest weighted corner). One Gather over the
    flattened X reads every corner: index (batch · C + channel) · H·W + y · W + x, laid out as
    (R, C, PH, PW, sr_h, sr_w, 2, 2). A sampling_ratio of 0 (adaptive: from each region's size)
    needs the regions at conversion time, which it does not have: refused."""
    x, rois, batch = c.input(0), c.input(1), c.input(2)
    if len(x.shape) != 4:
        c.fail(f"X must be (N, C, H, W), got {list(x.shape)}")
    n, ch, hgt, wid = x.shape
    r = rois.shape[0]
    ph, pw = int(c.attr("output_height", 1)), int(c.attr("output_width", 1))
    sr = int(c.attr("sampling_ratio", 0))
    if sr <= 0:
        c.fail("sampling_ratio 0 (as many samples as each region's size asks) makes the shape depend on the "
               "regions; export with a fixed sampling_ratio")
    mode, scale = c.attr("mode", "avg"), float(c.attr("spatial_scale", 1.0))
    half = c.attr("coordinate_transformation_mode", "half_pixel" if c.opset >= 16 else "output_half_pixel") == "half_pixel"
    shift = 0.5 if half else 0.0

    def along(axis, size, bins, start_col):
        """Corner indices and weights along one spatial axis, shaped for the (..., 2, 2) layout."""
        lay = [r, 1, 1, 1, 1, 1, 1, 1]
        lo = c.op1("Reshape", [c.op1("Slice", [rois], {"starts": [start_col], "ends": [start_col + 1], "axes": [1]})], {"shape": lay})
        hi = c.op1("Reshape", [c.op1("Slice", [rois], {"starts": [start_col + 2], "ends": [start_col + 3], "axes": [1]})], {"shape": lay})
        grid = [1] * 8
        grid[2 + axis] = bins
        steps = np.arange(bins, dtype=np.float32).reshape(grid)
        grid = [1] * 8
        grid[4 + axis] = sr
        sub = ((np.arange(sr, dtype=np.float32) + 0.5) / sr).reshape(grid)
        grid = [1] * 8
        grid[6 + axis] = 2
        corner = np.array([0, 1], np.float32).reshape(grid)
        start = call("sub", call("mul", call("cast", "float32", inp(0)), scale), shift)
        extent = call("sub", call("sub", call("mul", call("cast", "float32", inp(1)), scale), shift), start)
        if not half:
            extent = call("max", extent, 1.0)
        size_of_bin = call("div", extent, float(bins))
        pos = call("add", start, call("mul", call("add", inp(2), inp(3)), size_of_bin))
        p = c.ew(pos, [lo, hi, c.constant(steps), c.constant(sub)])
        clamped = call("max", X, 0.0)
        low = call("floor", clamped)
        at_edge = call("ge", low, size - 1.0)
        frac = call("where", at_edge, 0.0, call("sub", clamped, low))
        weight = call("add", call("mul", call("sub", 1.0, inp(1)), call("sub", 1.0, frac)), call("mul", inp(1), frac))
        inside = call("and", call("ge", X, -1.0), call("le", X, float(size)))
        index = call("min", call("add", call("min", low, size - 1.0), inp(1)), size - 1.0)
        k = c.constant(corner)
        return c.ew(call("cast", "int64", index), [p, k]), c.ew(call("where", inside, weight, 0.0), [p, k])

    iy, wy = along(0, hgt, ph, 1)
    ix, wx = along(1, wid, pw, 0)
    b = c.op1("Reshape", [batch], {"shape": [r, 1, 1, 1, 1, 1, 1, 1]})
    chan = c.constant(np.arange(ch, dtype=np.int64).reshape(1, ch, 1, 1, 1, 1, 1, 1))
    where = call("add", call("mul", call("add", call("mul", call("cast", "int64", inp(0)), ch), inp(1)), hgt * wid),
                 call("add", call("mul", inp(2), wid), inp(3)))
    idx = c.ew(where, [b, chan, iy, ix])
    v = c.op1("Gather", [c.op1("Reshape", [x], {"shape": [n * ch * hgt * wid]}), idx], {"axis": 0})
    v = c.ew(call("mul", call("mul", X, inp(1)), inp(2)), [v, wy, wx])
    if mode == "max":
        y = c.op1("Reduce", [v], {"kind": "max", "axes": [4, 5, 6, 7], "keepdims": 0})
    elif mode == "avg":
        y = c.ew(call("div", X, float(sr * sr)), [c.op1("Reduce", [v], {"kind": "sum", "axes": [4, 5, 6, 7], "keepdims": 0})])
    else:
        c.fail(f"mode {mode!r} is not supported (avg, max)")
    return [y]
