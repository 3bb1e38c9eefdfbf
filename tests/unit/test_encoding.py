"""encoding.exact_int8: the weights of a model quantized by its author are stored int8 under every
encoding, exactly; float weights are not mistaken for them."""
import numpy as np
import pytest

from webdnn.encoding import decode, encode, exact_int8, stored_bytes

rng = np.random.default_rng(0)


def _q(shape, peaks=True):
    q = rng.integers(-128, 128, shape).astype(np.float32)
    if peaks:  # a quantizer's scale comes from each channel's peak: every row reaches 127 or -128
        q[:, 0] = np.where(rng.random(shape[0]) < 0.5, 127, -128)
    return q


@pytest.mark.parametrize("prefer", ["raw", "f16", "int8"])
def test_quantized_weights_are_stored_exactly_in_8_bits(prefer):
    cases = {
        "per channel": _q((64, 48)) * (rng.random((64, 1)) * 0.01).astype(np.float32),
        "per tensor": _q((64, 48), peaks=False) * np.float32(0.0123),       # channels below the tensor's peak
        "whole numbers": _q((64, 48), peaks=False),                          # an integer op's weights minus their zero point
        "scale of absmax/127.5": None,
    }
    w = rng.standard_normal((64, 48)).astype(np.float32)  # onnxruntime's symmetric scale: the peak is not 127 * s exactly
    s = (np.abs(w).max(axis=1, keepdims=True) / np.float32(127.5)).astype(np.float32)
    cases["scale of absmax/127.5"] = (np.clip(np.rint(w / s), -128, 127) * s).astype(np.float32)
    for name, data in cases.items():
        data = data.astype(np.float32)
        fields, payload = encode("w", data, "float32", prefer, 0)
        assert fields == {"encoding": "int8", "axis": 0}, name
        assert len(payload) == data.size + 4 * 64
        assert np.array_equal(decode(fields, payload, data.shape, "float32"), data), name
    # along the other axis too, and chosen there when no axis is given
    t = cases["per channel"].astype(np.float32).T.copy()
    assert encode("w", t, "float32", "raw")[0] == {"encoding": "int8", "axis": 1}


def test_float_weights_are_not_taken_for_8_bit_ones():
    w = rng.standard_normal((64, 48)).astype(np.float32)
    assert exact_int8(w, 0) is None and encode("w", w, "float32", "raw")[0] == {"encoding": "raw"}
    q = _q((64, 48)) * np.float32(0.01)
    q[5, 7] += np.float32(1e-4)  # one value off the grid: not 8-bit
    assert exact_int8(q, 0) is None
    big = _q((64, 48)) * 3  # whole numbers beyond int8
    assert exact_int8(big, 0) is None or np.array_equal(decode({"encoding": "int8", "axis": 0},
                                                               exact_int8(big, 0)[0].tobytes() + exact_int8(big, 0)[1].tobytes(),
                                                               big.shape, "float32"), big)
    nan = _q((64, 48))
    nan[3, 3] = np.nan
    assert exact_int8(nan, 0) is None
    small = _q((4, 8))  # fewer than QUANT_MIN_ELEMENTS: stays raw
    assert encode("w", small, "float32", "raw")[0] == {"encoding": "raw"}


def test_asymmetric_4bit_weights_are_stored_exactly_with_zero_points():
    """(q - zero point) × scale, q and the zero points 0..15 (MatMulNBits with zero points), blocks of 32 along
    K: int4 with "axis": 0 and "zeros": true, a zero point per block packed two per byte; bit for bit, an odd
    block count included; off the grid, or a block spanning more than 16 integers, stays raw."""
    for n in (24, 23):
        k = 96
        q = rng.integers(0, 16, (n, k))
        zp = rng.integers(0, 16, (n, k // 32))
        s = (rng.random((n, k // 32)) * 0.05 + 0.01).astype(np.float32)
        w = ((q - np.repeat(zp, 32, axis=1)).astype(np.float32) * np.repeat(s, 32, axis=1)).astype(np.float32).T.copy()
        fields, payload = encode("w", w, "float32", "raw")
        assert fields == {"encoding": "int4", "block": 32, "axis": 0, "scales": "f32", "zeros": True}
        blocks = n * k // 32
        assert len(payload) == stored_bytes(w.shape, fields) == 4 * blocks + -(-blocks // 2) + n * k // 2
        assert np.array_equal(decode(fields, payload, w.shape, "float32"), w)
    wide = w.copy()
    wide[0, 0], wide[1, 0] = 15 * s[0, 0], -15 * s[0, 0]  # 31 integers in one block: not 4-bit
    assert encode("w", wide, "float32", "raw")[0] == {"encoding": "raw"}
    w[5, 3] += np.float32(1e-3)
    assert encode("w", w, "float32", "raw")[0] == {"encoding": "raw"}


def test_4bit_weights_are_stored_exactly_with_their_block_axis():
    """Blocks of 32 4-bit values along axis 0 (MatMulNBits' K), each block's largest value ±7 or -8 times its
    scale (or less: any q of 1..8 is tried): int4 with "axis": 0, half-float scales where they hold them."""
    k, n = 128, 24
    q = rng.integers(-8, 8, (n, k // 32, 32)).astype(np.float32)
    q[:, :, 0] = np.where(rng.random((n, k // 32)) < 0.5, 7, -8)
    q[0, 0] = rng.integers(-5, 6, 32)  # one block that stays within ±5
    for scales, dtype in ((rng.random((n, k // 32, 1)) * 0.01 + 1e-3, np.float32), (rng.random((n, k // 32, 1)), np.float16)):
        s = scales.astype(dtype).astype(np.float32)
        w = (q * s).astype(np.float32).reshape(n, k).T.copy()  # [K, N]
        fields, payload = encode("w", w, "float32", "raw")
        assert fields == {"encoding": "int4", "block": 32, "axis": 0, **({"scales": "f32"} if dtype == np.float32 else {})}
        assert len(payload) == (4 if dtype == np.float32 else 2) * n * k // 32 + n * k // 2
        assert np.array_equal(decode(fields, payload, w.shape, "float32"), w)
    w[5, 3] += np.float32(1e-3)  # off the grid: stays raw
    assert encode("w", w, "float32", "raw")[0] == {"encoding": "raw"}


def test_int4_runs_a_products_blocks_along_k():
    """--weights int4: a MatMul's B [K, N] whose K is whole blocks (int4_axes) is stored with "axis": 0, each
    column's K values in blocks of 32 of their own (nibble n·K + k; the layout the 4-bit products read), scales
    per column and block; other weights in row-major blocks. A model's own 4-bit weights keep their exact form
    (int4_fields says what encode stores: the backends ask it)."""
    from webdnn.encoding import INT4_BLOCK, int4_axes, int4_fields
    from webdnn.ir import Graph
    g = Graph()
    w = g.constant(rng.standard_normal((64, 48)).astype(np.float32), "w")
    v = g.constant(rng.standard_normal((40, 48)).astype(np.float32), "v")  # K = 40: not whole blocks
    g.outputs = [g.add_op("MatMul", [g.add_input("x", [1, 64]), w], {})[0],
                 g.add_op("MatMul", [g.add_input("s", [1, 40]), v], {})[0]]
    assert int4_axes(g) == {"w": 0}
    fields, payload = encode("w", w.data, "float32", "int4", 0)
    assert fields == int4_fields(w.data, 0) == {"encoding": "int4", "block": INT4_BLOCK, "axis": 0}
    got = decode(fields, payload, w.shape, "float32")
    column = w.data[:32, 5]  # column 5's first block: its own scale, its values in order
    scale = float(np.frombuffer(payload, "<f2", 1, offset=2 * 5 * 2)[0])
    assert abs(scale - np.abs(column).max() / 7) <= 0.41 * np.abs(column).max() / 7
    assert np.abs(got[:32, 5] - column).max() <= np.abs(column).max() * 0.3
    assert np.abs(got - w.data).max() <= 0.6 * np.abs(w.data).max() / 7
    nib = np.frombuffer(payload, np.uint8, offset=2 * 2 * 48)[(5 * 64) // 2:(5 * 64) // 2 + 16]
    q = np.stack([nib & 15, nib >> 4], axis=1).reshape(-1).astype(np.int64)
    assert np.array_equal(np.where(q > 7, q - 16, q) * np.float32(scale), got[:32, 5])
    assert encode("v", v.data, "float32", "int4")[0] == {"encoding": "int4", "block": INT4_BLOCK}
    own = (rng.integers(-8, 8, (64, 48)) * np.float32(0.125)).astype(np.float32)  # 4-bit values × one scale
    assert encode("o", own, "float32", "int4", 0)[0] == int4_fields(own, 0) != fields
    assert np.array_equal(decode(*encode("o", own, "float32", "int4", 0), own.shape, "float32"), own)
