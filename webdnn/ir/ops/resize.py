"""Resize: nearest / linear / cubic resampling, separable per axis.

Every output index o on an axis reads a few input indices ("taps") with weights; an N-D resize is
the 1-D resize applied axis after axis. `axis_taps` computes those taps once from the static
shapes, following the ONNX Resize definition (coordinate transformation, nearest rounding, cubic
coefficients, exclude_outside, antialias); the reference applies them, and the backends receive them
precomputed (backend/kernels.py), so no backend restates the coordinate rules.

The frontend resolves axes, scales/sizes and keep_aspect_ratio_policy: `scales` and `sizes` hold one
entry per input axis, `roi` (tf_crop_and_resize only) holds [starts..., ends...] per input axis.
"""
from __future__ import annotations

import math

import numpy as np

from . import OpDef, register, check, REQUIRED

MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                    "tf_crop_and_resize", "tf_half_pixel_for_nn")
# "simple" is the rounding of Resize-10 and Upsample: floor on an enlarged axis, ceil on a shrunk one
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")


def source_coordinates(ctm: str, out_size: int, in_size: int, scale: float, roi=(0.0, 1.0), dtype=np.float64):
    """x_original of every output index on one axis -> (array, outside mask or None).

    Nearest resizing passes dtype float32: near a rounding tie the index then matches onnxruntime
    and PyTorch, which compute coordinates in float32."""
    f = dtype
    y = np.arange(out_size, dtype=f)
    length = scale * in_size  # the resized length before rounding to an integer size
    if math.isclose(length, out_size, rel_tol=1e-9):
        length = float(out_size)
    s, half, n_in, n_out = f(scale), f(0.5), f(in_size), f(length)
    outside = None
    if ctm == "align_corners":
        x = np.zeros(out_size, f) if length == 1 else y * (n_in - 1) / (n_out - 1)
    elif ctm == "asymmetric":
        x = y / s
    elif ctm == "tf_half_pixel_for_nn":
        x = (y + half) / s
    elif ctm == "pytorch_half_pixel":
        x = np.zeros(out_size, f) if out_size <= 1 else (y + half) / s - half
    elif ctm == "half_pixel":
        x = (y + half) / s - half
    elif ctm == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - f(out_size) / n_out)
        x = offset + (y + half) / s - half
    elif ctm == "tf_crop_and_resize":
        start, end = float(roi[0]), float(roi[1])
        yd = np.arange(out_size, dtype=np.float64)
        if length == 1:
            xd = np.full(out_size, (end - start) * (in_size - 1) / 2)
        else:
            xd = yd * (end - start) * (in_size - 1) / (length - 1)
        x = (xd + start * (in_size - 1)).astype(f)
        outside = (x < 0) | (x > in_size - 1)
    else:
        raise ValueError(f"unknown coordinate_transformation_mode {ctm!r}")
    return x.astype(f), outside


def _nearest_index(x, mode: str, scale: float):
    if mode == "simple":
        mode = "floor" if scale >= 1 else "ceil"
    if mode == "round_prefer_floor":
        return np.ceil(x - 0.5)
    if mode == "round_prefer_ceil":
        return np.floor(x + 0.5)
    return np.floor(x) if mode == "floor" else np.ceil(x)


def _cubic(ratio: float, a: float):
    r = ratio
    return np.array([((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
                     ((a + 2) * r - (a + 3)) * r * r + 1,
                     ((a + 2) * (1 - r) - (a + 3)) * (1 - r) * (1 - r) + 1,
                     ((a * (2 - r) - 5 * a) * (2 - r) + 8 * a) * (2 - r) - 4 * a])


def _cubic_antialias(ratio: float, scale: float, a: float):
    scale = min(scale, 1.0)

    def k(x):
        x = abs(x)
        if x <= 1:
            return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
        return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a if x < 2 else 0.0

    start = int(np.floor(-2 / scale) + 1)
    c = np.array([k(scale * (i - ratio)) for i in range(start, 2 - start)])
    return c / c.sum()


def _linear_antialias(ratio: float, scale: float):
    scale = min(scale, 1.0)
    start = int(np.floor(-1 / scale) + 1)
    c = np.clip(1 - np.abs((np.arange(start, 2 - start) - ratio) * scale), 0, 1)
    return c / c.sum()


def _coefficients(attrs, ratio: float, scale: float):
    if attrs["mode"] == "linear":
        return _linear_antialias(ratio, scale) if attrs["antialias"] else np.array([1 - ratio, ratio])
    a = float(attrs["cubic_coeff_a"])
    return _cubic_antialias(ratio, scale, a) if attrs["antialias"] else _cubic(ratio, a)


def axis_taps(attrs, in_size: int, out_size: int, scale: float, roi=(0.0, 1.0)):
    """The taps of one axis -> (index [out, T] int64, weight [out, T] float64).

    Output o is sum_t weight[o, t] * input[index[o, t]]. Indices are clamped into the input (edge
    padding); an output position outside the crop of tf_crop_and_resize has every index -1 and
    takes extrapolation_value. Equal indices are merged and zero weights dropped, then rows are
    padded to a common T with weight 0."""
    nearest = attrs["mode"] == "nearest"
    x, outside = source_coordinates(attrs["coordinate_transformation_mode"], out_size, in_size, scale, roi,
                                    np.float32 if nearest else np.float64)
    if nearest:
        idx = np.clip(_nearest_index(x, attrs["nearest_mode"], scale), 0, max(in_size - 1, 0)).astype(np.int64)
        rows = [{int(i): 1.0} for i in idx]
    else:
        rows = []
        for xo in x:
            base = math.floor(xo)
            ratio = 1.0 if xo == base else xo - base
            c = _coefficients(attrs, ratio, scale)
            n = len(c)
            # the n input positions nearest to xo, ties to the lower one (ratio lies in (0, 1])
            pad = math.ceil(n / 2)
            xp = xo + pad
            p = math.floor(xp)
            frac = xp - p
            if n % 2 == 0:
                off = -(n // 2) if frac == 0 else -(n // 2) + 1
            else:
                off = -((n - 1) // 2) + (0 if frac <= 0.5 else 1)
            nb = p + off + np.arange(n) - pad
            if attrs["exclude_outside"]:
                c = np.where((nb < 0) | (nb >= in_size), 0.0, c)
                s = c.sum()
                c = c / (s if s != 0 else 1.0)
            row: dict[int, float] = {}
            for i, w in zip(np.clip(nb, 0, in_size - 1), c):
                row[int(i)] = row.get(int(i), 0.0) + float(w)
            rows.append({i: w for i, w in row.items() if w != 0.0} or {int(np.clip(nb[0], 0, in_size - 1)): 0.0})
    taps = max((len(r) for r in rows), default=1)
    index = np.zeros((out_size, taps), dtype=np.int64)
    weight = np.zeros((out_size, taps), dtype=np.float64)
    for o, r in enumerate(rows):
        items = sorted(r.items())
        index[o, :] = items[0][0]
        for t, (i, w) in enumerate(items):
            index[o, t], weight[o, t] = i, w
    if outside is not None:
        index[outside] = -1
        weight[outside] = 0.0
    return index, weight


def is_identity(index, weight, in_size: int) -> bool:
    return (index.shape == (in_size, 1) and bool(np.all(index[:, 0] == np.arange(in_size)))
            and bool(np.all(weight == 1.0)))


def resize_taps(op):
    """Per input axis: None for an untouched axis, else (index, weight) from axis_taps."""
    (shape, _), = op.definition.infer(op)
    x = op.inputs[0]
    a = op.attrs
    r = len(x.shape)
    roi = a["roi"] if a["roi"] is not None else [0.0] * r + [1.0] * r
    res = []
    for ax in range(r):
        idx, w = axis_taps(a, x.shape[ax], shape[ax], float(a["scales"][ax]), (roi[ax], roi[ax + r]))
        res.append(None if is_identity(idx, w, x.shape[ax]) else (idx, w))
    return res


@register
class Resize(OpDef):
    type = "Resize"
    attrs = {"mode": "nearest", "coordinate_transformation_mode": "half_pixel", "nearest_mode": "round_prefer_floor",
             "cubic_coeff_a": -0.75, "exclude_outside": 0, "antialias": 0, "extrapolation_value": 0.0,
             "scales": REQUIRED, "sizes": REQUIRED, "roi": None}

    def infer(self, op):
        (x,) = op.inputs
        a = op.attrs
        r = len(x.shape)
        check(a["mode"] in MODES, f"mode {a['mode']!r} must be one of {MODES}")
        check(a["coordinate_transformation_mode"] in COORDINATE_MODES,
              f"coordinate_transformation_mode {a['coordinate_transformation_mode']!r} must be one of {COORDINATE_MODES}")
        check(a["nearest_mode"] in NEAREST_MODES, f"nearest_mode {a['nearest_mode']!r} must be one of {NEAREST_MODES}")
        check(not (a["antialias"] and a["mode"] == "nearest"), "antialias needs mode linear or cubic")
        sizes, scales = list(a["sizes"]), list(a["scales"])
        check(len(sizes) == r and len(scales) == r, f"sizes {sizes} and scales {scales} need {r} entries")
        check(all(s > 0 for s in scales), f"scales {scales} must be positive")
        check(all(d >= 0 for d in sizes), f"sizes {sizes} must not be negative")
        check(all(d > 0 or s == 0 for d, s in zip(x.shape, sizes)),
              f"cannot resize an empty axis of {list(x.shape)} to {sizes}")
        if a["roi"] is not None:
            check(len(a["roi"]) == 2 * r, f"roi needs {2 * r} entries, got {len(a['roi'])}")
        return [(tuple(int(d) for d in sizes), x.dtype)]

    def reference(self, op, inputs):
        (x,) = inputs
        (shape, _), = self.infer(op)
        y = x.astype(np.float64)
        outside = np.zeros(shape, dtype=bool)
        for ax, taps in enumerate(resize_taps(op)):
            if taps is None:
                continue
            idx, w = taps
            g = np.take(y, np.clip(idx, 0, None), axis=ax)  # [..., out, T, ...]
            y = np.sum(g * w.reshape((1,) * ax + w.shape + (1,) * (x.ndim - ax - 1)), axis=ax + 1)
            out_rows = idx[:, 0] < 0
            if out_rows.any():
                outside |= out_rows.reshape((1,) * ax + (-1,) + (1,) * (x.ndim - ax - 1))
        y[outside] = op.attrs["extrapolation_value"]
        if x.dtype.kind in "iu":
            info = np.iinfo(x.dtype)
            y = np.clip(np.round(y), info.min, info.max)
        elif x.dtype == np.bool_:
            y = y != 0
        return [y.astype(x.dtype)]
