"""ONNX signal ops composed from existing IR ops: DFT, STFT; MelWeightMatrix, a constant.

A DFT along one axis is linear in the (real, imaginary) values along that axis, so it is one MatMul
with a constant matrix built here in float64:

    x (..., n, c)  -Transpose->  (B.., n, c)  -Reshape->  (prod B, n*c)  -MatMul M (n*c, k*c')->
    (prod B, k*c')  -Reshape->  (B.., k, c')  -Transpose->  (..., k, c')

STFT gathers its frames with constant indices, weights them by the window and takes the same DFT.
The matrix holds n*c*k*c' values, so this suits the short transforms models use (frames, audio
features), not transforms of many thousand points.
"""
from __future__ import annotations

import numpy as np

from ..ir.ops.elementwise import call, inp
from .onnx_registry import handler, tensor_dtype


def _scalar(c, i, what, kind=int):
    """A constant scalar (or one-element) input, None when the input is absent."""
    v = c.const(i, what)
    if v is None:
        return None
    if np.size(v) != 1:
        c.fail(f"{what} must be a scalar, got shape {list(np.shape(v))}")
    return kind(np.reshape(v, -1)[0])


def _dft_matrix(n: int, channels: int, length: int, inverse: bool, onesided: bool, weights=None) -> np.ndarray:
    """The (n*channels, k*c') float64 matrix taking interleaved input values along the axis to
    interleaved output values: numpy's transform of each basis vector, so padding to or truncating
    at `length`, the one-sided half and the inverse's real output follow numpy (as ONNX does)."""
    basis = np.eye(n * channels).reshape(n * channels, n, channels)
    sig = basis[..., 0] + 1j * basis[..., 1] if channels == 2 else basis[..., 0]
    if weights is not None:  # a constant window scales the input rows
        sig = sig * np.asarray(weights, dtype=np.float64)[:n]
    if inverse and onesided:  # one-sided spectrum in, real signal (..., length, 1) out
        return np.fft.irfft(sig, n=length, axis=1).reshape(n * channels, length)
    out = (np.fft.ifft if inverse else np.fft.fft)(sig, n=length, axis=1)
    if onesided:
        out = out[:, :length // 2 + 1]
    return np.stack([out.real, out.imag], axis=-1).reshape(n * channels, -1)


def _dft(c, x, axis: int, length: int, inverse: bool, onesided: bool, weights=None):
    """DFT of x (..., n, 1|2) along `axis` (not the last) -> (..., k, 2), or (..., length, 1) for a
    one-sided inverse."""
    r = len(x.shape)
    if r < 2 or x.shape[-1] not in (1, 2):
        c.fail(f"input shape {list(x.shape)} must end in 1 (real) or 2 (complex)")
    if not 0 <= axis < r - 1:
        c.fail(f"axis {axis} is out of range for input shape {list(x.shape)} (the last axis holds real/imaginary)")
    if length < 1:
        c.fail(f"dft_length {length} must be positive")
    n, ch = x.shape[axis], x.shape[-1]
    perm = [i for i in range(r - 1) if i != axis] + [axis, r - 1]
    moved = perm != list(range(r))
    if moved:
        x = c.op1("Transpose", [x], {"perm": perm})
    lead = list(x.shape[:-2])
    m = _dft_matrix(n, ch, length, inverse, onesided, weights)
    y = c.op1("Reshape", [x], {"shape": [int(np.prod(lead)), n * ch]})
    y = c.op1("MatMul", [y, c.constant(m.astype(x.dtype))])
    c_out = 1 if inverse and onesided else 2
    y = c.op1("Reshape", [y], {"shape": lead + [m.shape[1] // c_out, c_out]})
    if moved:
        y = c.op1("Transpose", [y], {"perm": [int(i) for i in np.argsort(perm)]})
    return y


@handler("DFT", since=17)
def _dft_op(c):
    x = c.input(0)
    r = len(x.shape)
    if c.opset >= 20:
        axis = _scalar(c, 2, "axis")
        axis = -2 if axis is None else axis
    else:
        axis = c.attr("axis", 1)
    if not -r <= axis < r:
        c.fail(f"axis {axis} is out of range for input shape {list(x.shape)}")
    axis %= r
    inverse, onesided = bool(c.attr("inverse", 0)), bool(c.attr("onesided", 0))
    length = _scalar(c, 1, "dft_length")
    if length is None:
        length = 2 * (x.shape[axis] - 1) if inverse and onesided else x.shape[axis]
    return [_dft(c, x, axis, length, inverse, onesided)]


@handler("STFT", since=17)
def _stft(c):
    x = c.input(0)
    if len(x.shape) != 3 or x.shape[-1] not in (1, 2):
        c.fail(f"signal shape {list(x.shape)} must be [batch, length, 1|2]")
    step = _scalar(c, 1, "frame_step")
    window = c.input(2)
    if window is not None and len(window.shape) != 1:
        c.fail(f"window shape {list(window.shape)} must be 1-D")
    frame_length = _scalar(c, 3, "frame_length")
    if frame_length is None:
        frame_length = window.shape[0] if window is not None else x.shape[1]
    size = window.shape[0] if window is not None else frame_length  # samples per frame
    if step is None or step < 1 or frame_length < 1 or size > x.shape[1]:
        c.fail(f"frame_step {step}, frame_length {frame_length} do not fit signal length {x.shape[1]}")
    frames = 1 + (x.shape[1] - frame_length) // step
    if frames < 1 or (frames - 1) * step + size > x.shape[1]:
        c.fail(f"frame_length {frame_length} with frame_step {step} does not fit signal length {x.shape[1]}")
    idx = np.arange(frames, dtype=np.int64)[:, None] * step + np.arange(size, dtype=np.int64)
    y = c.op1("Gather", [x, c.constant(idx)], {"axis": 1})  # (batch, frames, size, 1|2)
    weights = None
    if window is not None and window.is_constant:
        weights = window.data  # folded into the DFT matrix
    elif window is not None:
        w = c.op1("Reshape", [window], {"shape": [1, 1, size, 1]})
        y = c.ew(call("mul", inp(0), inp(1)), [y, w])
    return [_dft(c, y, 2, frame_length, False, bool(c.attr("onesided", 1)), weights)]


@handler("MelWeightMatrix", since=17)
def _mel_weight_matrix(c):
    """(dft_length/2 + 1, num_mel_bins) triangular filters on the mel scale, computed at conversion
    (its shape is set by its inputs, so they must be constants, as they are in practice)."""
    bins, dft, rate = (_scalar(c, i, w) for i, w in enumerate(("num_mel_bins", "dft_length", "sample_rate")))
    lo, hi = (_scalar(c, i, w, float) for i, w in ((3, "lower_edge_hertz"), (4, "upper_edge_hertz")))
    if bins is None or dft is None or rate is None or lo is None or hi is None or bins < 1 or dft < 1 or rate < 1:
        c.fail("needs num_mel_bins, dft_length and sample_rate >= 1 and both edge frequencies")
    to_mel = lambda f: 2595 * np.log1p(f / 700) / np.log(10)  # noqa: E731
    mels = to_mel(lo) + np.arange(bins + 2) * ((to_mel(hi) - to_mel(lo)) / (bins + 2))  # the spec's step
    edges = ((dft + 1) * (700 * np.expm1(mels / 2595 * np.log(10))) // rate).astype(np.int64)
    m = np.zeros((dft // 2 + 1, bins))
    for i in range(bins):
        left, center, right = (int(e) for e in edges[i:i + 3])
        if center == left:
            m[center, i] = 1
        else:
            m[left:center + 1, i] = (np.arange(left, center + 1) - left) / (center - left)
        if right > center:
            m[center:right, i] = (right - np.arange(center, right)) / (right - center)
    return [c.constant(m, dtype=tensor_dtype(int(c.attr("output_datatype", 1)), "output_datatype"))]
