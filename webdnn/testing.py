"""The one tolerance table every numeric comparison uses, and the comparison itself."""
from __future__ import annotations

import numpy as np

# backend -> (rtol, atol). Errors are measured relative to the largest magnitude of the expected
# tensor, so a model whose activations reach 1e12 is held to the same relative standard.
TOLERANCES = {
    "reference": (1e-5, 1e-6),  # numpy references vs onnxruntime: both float32, different orders
    "js": (1e-4, 1e-5),          # float64 temporaries, float32 storage, own summation order
    "wasm": (1e-4, 1e-5),        # float32 arithmetic in blocked sums, float64 for transcendental functions
    "wasm-int8": (2e-3, 1e-4),   # --weights int8 on wasm against float on the same weights: A rounded per row to 11-16 bits
    "wasm-int8-7bit": (3e-2, 1e-3),  # the same in the relaxed-SIMD build: A's rows and conv patches rounded to 7 bits
    # (and --weights int4's 4-bit GEMV there: A rounded to 8 bits per block of 32)
    "webgpu": (1e-3, 1e-4),      # float32 on the GPU: fma, tiled summation order, approximate exp/log
    "webgpu-f16": (1e-2, 1e-3),  # --precision f16: half-precision storage (11-bit mantissa), GEMM products in f16, f32 elsewhere
    "webgl": (1e-3, 1e-4),       # float32 textures and highp arithmetic in fragment programs, approximate exp/log
    "webgl-f16": (1e-2, 1e-3),   # half-float render targets (no EXT_color_buffer_float): each kernel's result
    # rounded to 11 significant bits
}
# float16 results: one rounding step of a half is 2^-11 ≈ 4.9e-4 relative, and orders differ
FLOAT16 = (2e-3, 1e-3)
# a whole model that rounds its activations to 8 bits as it runs (QDQ, DynamicQuantizeLinear) against
# onnxruntime: a last-bit difference before a rounding moves a value by a whole quantization step, and
# the steps compound through the layers (element errors of several percent, on js too); such models are
# held to the cosine similarity of each output with onnxruntime's (compare_cosine)
QUANTIZED_MODEL_COSINE = 0.999


def compare(actual, expected, backend: str, what: str = "", looser: float = 1) -> str | None:
    """None if within tolerance, else a message with the worst element. `looser` multiplies the
    table's tolerance (a caller that needs it says why in a comment)."""
    rtol, atol = (v * looser for v in TOLERANCES[backend])
    a, e = np.asarray(actual), np.asarray(expected)
    if e.dtype == np.float16:
        rtol, atol = max(rtol, FLOAT16[0]), max(atol, FLOAT16[1])
    if a.shape != e.shape:
        return f"{what}: shape {list(a.shape)} != expected {list(e.shape)}"
    if e.dtype.kind in "biu" or e.dtype == np.bool_:
        bad = np.flatnonzero(a.reshape(-1) != e.reshape(-1))
        return None if not bad.size else f"{what}: {bad.size} integer elements differ, first at {bad[0]}"
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    if not np.array_equal(np.isnan(a64), np.isnan(e64)):
        return f"{what}: NaN positions differ"
    inf = np.isinf(e64)
    if not np.array_equal(np.isinf(a64), inf) or not np.array_equal(a64[inf], e64[inf]):
        return f"{what}: infinities differ"
    finite = np.isfinite(e64)
    if not finite.any():
        return None
    scale = np.abs(e64[finite]).max()
    err = np.abs(a64[finite] - e64[finite])
    limit = atol + rtol * scale
    if err.max() <= limit:
        return None
    i = int(np.argmax(err))
    return (f"{what}: max error {err.max():.3g} > {limit:.3g} (rtol {rtol} × max|expected| {scale:.3g} + atol {atol}); "
            f"worst: got {a64[finite][i]:.7g}, expected {e64[finite][i]:.7g}")


def assert_close(actual, expected, backend: str, what: str = "") -> None:
    msg = compare(actual, expected, backend, what)
    assert msg is None, msg


def compare_cosine(actual, expected, what: str = "", minimum: float = QUANTIZED_MODEL_COSINE) -> str | None:
    """None if the cosine similarity of the two (flattened, float64) is at least `minimum`."""
    a = np.asarray(actual, np.float64).reshape(-1)
    e = np.asarray(expected, np.float64).reshape(-1)
    if a.shape != e.shape:
        return f"{what}: {a.size} elements != expected {e.size}"
    if not (np.isfinite(a).all() and np.isfinite(e).all()):
        return f"{what}: non-finite values"
    na, ne = np.linalg.norm(a), np.linalg.norm(e)
    cos = 1.0 if na == ne == 0 else float(a @ e / (na * ne)) if na and ne else 0.0
    return None if cos >= minimum else f"{what}: cosine similarity {cos:.6f} < {minimum}"
