"""The wasm backend's float32 exp, log, tanh, erf and sigmoid (csrc/vmath.h: the SIMD forms in vectorized
kernels, lane 0 of the same code in scalar tails), and its softmax (e^(x - max) on x <= 0 only), over dense
grids and special values, in Node (the SIMD128 build) and in Chromium (the relaxed-SIMD build: fused
multiply-adds), against float64 references: within 2e-6 relative (+1e-7 absolute), and exact on 0, +-inf,
NaN."""
import math

import numpy as np
import onnx
from onnx import TensorProto, helper

from webdnn import convert

OPS = {"Exp": np.exp, "Log": np.log, "Tanh": np.tanh, "Erf": np.vectorize(math.erf, otypes=[np.float64]),
       "Sigmoid": lambda x: 1 / (1 + np.exp(-x))}
SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-38, 3.4e38, -3.4e38, 1.0, -1.0, 88.7, -104.0, 89.0]


def grid():
    parts = [np.linspace(-10, 10, 40001), np.geomspace(1e-30, 1e4, 20001), -np.geomspace(1e-30, 1e4, 20001),
             np.linspace(-110, 100, 4001), np.array(SPECIAL)]
    x = np.concatenate(parts).astype(np.float32)
    return x[: len(x) - (len(x) % 4) + 3]  # a length that leaves a scalar tail after the vector body


def test_transcendentals_match_float64(tmp_path, runners):
    x = grid()
    outs = [f"y_{op.lower()}" for op in OPS]
    g = helper.make_graph([helper.make_node(op, ["x"], [o]) for op, o in zip(OPS, outs)], "vmath",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [len(x)])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, [len(x)]) for o in outs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    convert(m, tmp_path / "vmath", backends=["wasm"])
    failures = []
    xd = x.astype(np.float64)
    for host in ("node", "chromium"):
        got = runners[host].run(tmp_path / "vmath", {"x": x}, backend="wasm")
        failures += _check(x, xd, got, outs, host)
    assert not failures, "\n".join(failures)


def _check(x, xd, got, outs, host):
    failures = []
    with np.errstate(all="ignore"):
        for (op, ref_fn), o in zip(OPS.items(), outs):
            ref = ref_fn(xd).astype(np.float32).astype(np.float64)  # what float32 can hold
            y = got[o].astype(np.float64)
            same_special = (np.isnan(ref) & np.isnan(y)) | (np.isinf(ref) & (ref == y))
            finite = np.isfinite(ref)
            bad = ~same_special & (~finite | (np.abs(y - ref) > 2e-6 * np.abs(ref) + 1e-7))
            bad |= finite & ~np.isfinite(y)
            if bad.any():
                i = np.flatnonzero(bad)[:5]
                failures.append(f"{op} in {host}: {bad.sum()} values off, e.g. x={x[i].tolist()} got={y[i].tolist()} "
                                f"want={ref[i].tolist()}")
    return failures


def test_softmax_rows_match_float64(tmp_path, runners):
    """Softmax over rows of 197 (vectors and a scalar tail) and over a strided axis: wide ranges, masked
    scores (-1e4, the lowest float, -inf), a row with NaN (all NaN), with +inf (NaN where x is inf, as
    float64 has it: inf - inf), and rows whose probabilities fall below the smallest normal float (0)."""
    rng = np.random.default_rng(3)
    rows = [rng.standard_normal(197) * s for s in (0.1, 1, 10, 100)]
    masked = rng.standard_normal(197)
    masked[::3], masked[1::7], masked[2::11] = -1e4, np.finfo(np.float32).min, -np.inf
    nan_row, inf_row = rng.standard_normal(197), rng.standard_normal(197)
    nan_row[50], inf_row[100] = np.nan, np.inf
    tiny = np.concatenate([[0.0], np.linspace(-80, -100, 196)])
    x = np.stack(rows + [masked, nan_row, inf_row, tiny]).astype(np.float32)
    g = helper.make_graph([helper.make_node("Softmax", ["x"], ["y"], axis=1), helper.make_node("Softmax", ["x"], ["z"], axis=0)],
                          "softmax", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(x.shape)) for n in ("y", "z")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    convert(m, tmp_path / "softmax", backends=["wasm"])
    xd = x.astype(np.float64)
    failures = []
    with np.errstate(all="ignore"):
        for name, axis in (("y", 1), ("z", 0)):
            e = np.exp(xd - np.max(xd, axis=axis, keepdims=True))
            ref = e / e.sum(axis=axis, keepdims=True)
            ref[np.isnan(xd).any(axis=axis)[:, None].repeat(x.shape[1], 1) if axis == 1 else
                np.isnan(xd).any(axis=0)[None, :].repeat(x.shape[0], 0)] = np.nan
            ref = np.where(ref < np.finfo(np.float32).tiny, 0.0, ref)  # below the smallest normal: 0
            for host in ("node", "chromium"):
                y = runners[host].run(tmp_path / "softmax", {"x": x}, backend="wasm")[name].astype(np.float64)
                same_nan = np.isnan(ref) == np.isnan(y)
                bad = ~same_nan | (~np.isnan(ref) & (np.abs(y - ref) > 2e-6 * np.abs(ref) + 1e-7))
                bad |= (ref == 0) & (y != 0)  # no subnormal (nor clamped) probabilities
                if bad.any():
                    i = np.argwhere(bad)[:5]
                    failures.append(f"softmax axis {axis} in {host}: {bad.sum()} values off, e.g. at {i.tolist()} "
                                    f"got={y[bad][:5].tolist()} want={ref[bad][:5].tolist()}")
    assert not failures, "\n".join(failures)
