"""Weight encodings: how one constant is stored in the weight chunks (docs/descriptor.md).

raw and f16 store every value; int8 and int4 quantize float32 weights (tensors of at least
QUANT_MIN_ELEMENTS elements and two dimensions; others stay raw) for a smaller download. Under every
encoding, a float32 weight that is exactly 8-bit values times a scale per channel (exact_int8: what a
quantized model's integer ops and DequantizeLinear of constants import to) is stored int8, losslessly;
one that is exactly 4-bit values times a scale per block along an axis (MatMulNBits) is stored int4 with
that "axis" (values in the order of the tensor with it moved last), where half floats would round
them "scales": "f32", and, where the blocks' values are not -8..7 but 16 consecutive integers of their
own (asymmetric 4-bit weights: (q - zero point) × scale), "zeros": true.

- int8: symmetric, one float32 scale per slice along `axis`: the output channels of a contraction's
  weights (output_axes: what the wasm backend's 8-bit products use), else the first or the last axis,
  whichever quantizes the tensor with the smaller error: [scales f32 × channels][values i8 × n].
- int4: symmetric, one float16 scale per block of INT4_BLOCK consecutive values (of a few candidates,
  the scale with the least squared error): [scales f16 × blocks][two values per byte, the first in the low
  nibble, -8..7 stored as 0..15]. The values in row-major order, except a MatMul's B [K, N] whose K the block
  divides: "axis": 0, blocks along K, column by column (int4_axes: what the 4-bit products read, the layout
  of MatMulNBits). A model's own 4-bit weights (see above) keep their exact form under int4 too.
  With "zeros": [scales][a zero point per block, two per byte, low nibble first][values 0..15, two per
  byte]: value = (nibble - its block's zero point) × scale.

decode() is the inverse (what the runtime computes); the runtime decodes at load."""
from __future__ import annotations

import weakref

import numpy as np

from .errors import ConversionError

ENCODINGS = ("raw", "f16", "int8", "int4")  # what --weights may ask for; "fill" is chosen automatically
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
QUANT_MIN_ELEMENTS = 256  # smaller tensors (biases, norms) stay exact: they cost little and matter much
INT4_BLOCK = 32
INT4_SCALES = (1.0, 0.95, 0.9, 7 / 8, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6)  # × peak / 7: candidate scales of an int4 block


def output_axes(graph) -> dict:
    """{constant name: axis of its output channels} for the weights of contractions (Conv: 0,
    ConvTranspose: 1, MatMul's B: the last, a constant A: its rows); a constant read as weights in
    two different ways is left out."""
    axes = {}
    for op in graph.ops:
        found = []
        if op.type == "Conv" and len(op.inputs) > 1:
            found.append((op.inputs[1], 0))
        elif op.type == "ConvTranspose" and len(op.inputs) > 1:
            found.append((op.inputs[1], 1))
        elif op.type == "MatMul":
            a, b = op.inputs[:2]
            if len(b.shape) >= 2:
                found.append((b, len(b.shape) - 1))
            if len(a.shape) >= 2:
                found.append((a, len(a.shape) - 2))
        for t, axis in found:
            if t.is_constant:
                axes[t.name] = axis if axes.get(t.name, axis) == axis else None
    return {k: v for k, v in axes.items() if v is not None}


def _candidates(peaks, divisors) -> list[np.ndarray]:
    """Scales to try per row: each peak over each divisor, and the float32 neighbours of those (the scale a
    model stored may differ from the quotient in the last bit)."""
    out = []
    for p in peaks:
        for d in divisors:
            s = (p / np.float32(d)).astype(np.float32)
            out += [s, np.nextafter(s, np.float32(np.inf)), np.nextafter(s, np.float32(0))]
    return out


def _fit(rows: np.ndarray, cands, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(a float32 scale per row, int8 values in [lo, hi]) with value × scale == the row exactly, the first
    candidate that works for each row (an all-zero row takes 1), or None where a row has none."""
    peak = np.abs(rows).max(axis=1)
    scale = np.where(peak == 0, np.float32(1), np.float32(0))  # 0: no scale found yet
    q = np.zeros(rows.shape, np.int8)
    for s in cands:
        todo = np.flatnonzero((scale == 0) & (s > 0))
        if not todo.size:
            break
        part, ss = rows[todo], s[todo, None]
        qq = np.rint(part / ss)
        ok = np.all((qq >= lo) & (qq <= hi) & ((qq * ss).astype(np.float32) == part), axis=1)
        scale[todo[ok]] = s[todo[ok]]
        q[todo[ok]] = qq[ok].astype(np.int8)
    return None if np.any(scale == 0) else (scale, q)


def _exact_rows(moved: np.ndarray, tensor_peak: np.float32) -> tuple[np.ndarray, np.ndarray] | None:
    peak = np.abs(moved).max(axis=1).astype(np.float32)
    # 1 (whole numbers), or a scale per channel or one for the whole tensor
    return _fit(moved, [np.ones_like(peak)] + _candidates((peak, np.full_like(peak, tensor_peak)), (127, 128)), -128, 127)


def exact_int8(data: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(float32 scale per slice along `axis`, int8 values) that decode to exactly `data`, or None: the
    weights of a model quantized by its author (an integer op's weights minus their zero point: whole
    numbers; a DequantizeLinear of 8-bit constants: q × scale in float32). Each slice's scale is tried
    as 1 and as the largest magnitude of the slice, and of the tensor, over 127 and over 128 (and their
    float32 neighbours: the scale the model stored may differ from that quotient in the last bit)."""
    if data.dtype != np.float32 or data.ndim == 0 or not 0 <= axis < data.ndim or data.size == 0:
        return None
    tensor_peak = np.float32(np.abs(data).max())
    first = np.take(data, 0, axis=axis).reshape(1, -1)
    if _exact_rows(first, tensor_peak) is None:  # the first slice rejects most float weights
        return None
    found = _exact_rows(np.moveaxis(data, axis, 0).reshape(data.shape[axis], -1), tensor_peak)
    if found is None:
        return None
    return found[0], np.moveaxis(found[1].reshape(np.moveaxis(data, axis, 0).shape), 0, axis)


INT4_EXACT_BLOCKS = (128, 64, 32, 16)  # block sizes a model's own 4-bit weights are looked for in, largest first


def exact_int4(data: np.ndarray, axis: int, block: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(float32 scale per block, values -8..7 in the order of `data` with `axis` moved last) that decode to
    exactly `data`, blocks of `block` consecutive values along `axis` (which `block` divides), or None: the
    4-bit weights of a model quantized by its author (MatMulNBits, symmetric: (q - 8) × its block's scale)."""
    if data.dtype != np.float32 or data.ndim == 0 or not 0 <= axis < data.ndim or data.shape[axis] % block:
        return None
    view = np.moveaxis(data, axis, -1)  # no copy until the first block passes
    found = None
    for rows in (view[(0,) * (data.ndim - 1)][:block].reshape(1, block), None):  # the first block rejects most
        if rows is not None and np.unique(rows).size > 16:  # 4-bit values take 16 at most
            return None
        rows = view.reshape(-1, block) if rows is None else rows
        peak = np.abs(rows).max(axis=1).astype(np.float32)
        # the block's largest value is q × scale for one of these q
        found = _fit(rows, _candidates((peak,), (8, 7, 6, 5, 4, 3, 2, 1)), -8, 7)
        if found is None:
            return None
    return found[0], found[1].reshape(-1)


def exact_int4_zeros(data: np.ndarray, axis: int, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(float32 scale per block, zero point 0..15 per block, values 0..15 in the order of `data` with `axis` moved
    last) with (value - zero point) × scale == `data` exactly, or None: asymmetric 4-bit weights
    (MatMulNBits with zero points: (q - zp) × scale, q and zp 0..15), whose blocks hold integer multiples of
    their scale spanning at most 16 consecutive integers. The scale is tried as the block's largest
    magnitude over 1..15 (and the float32 neighbours of those)."""
    if data.dtype != np.float32 or data.ndim == 0 or not 0 <= axis < data.ndim or data.shape[axis] % block:
        return None
    view = np.moveaxis(data, axis, -1)
    for rows in (view[(0,) * (data.ndim - 1)][:block].reshape(1, block), None):  # the first block rejects most
        if rows is not None and np.unique(rows).size > 16:
            return None
        rows = view.reshape(-1, block) if rows is None else rows
        peak = np.abs(rows).max(axis=1).astype(np.float32)
        scale = np.where(peak == 0, np.float32(1), np.float32(0))
        q = np.zeros(rows.shape, np.int64)
        for s in _candidates((peak,), range(15, 0, -1)):
            todo = np.flatnonzero((scale == 0) & (s > 0))
            if not todo.size:
                break
            part, ss = rows[todo], s[todo, None]
            qq = np.rint(part / ss)
            ok = np.all((np.abs(qq) <= 15) & ((qq * ss).astype(np.float32) == part), axis=1)
            ok &= qq.max(axis=1) - qq.min(axis=1) <= 15
            scale[todo[ok]] = s[todo[ok]]
            q[todo[ok]] = qq[ok].astype(np.int64)
        if np.any(scale == 0):
            return None
    zero = np.clip(-q.min(axis=1), 0, 15)  # the smallest value at nibble 0 (or the block's values from 0 up)
    return scale, zero.astype(np.uint8), (q + zero[:, None]).astype(np.uint8).reshape(-1)


def _nibbles(v: np.ndarray) -> bytes:
    """Two 4-bit values per byte, the first in the low nibble (an odd count padded with 0)."""
    nib = v.astype(np.int64).reshape(-1) & 15
    nib = np.concatenate([nib, np.zeros(len(nib) % 2, np.int64)])
    return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).tobytes()


def _exact_int4_fields(data: np.ndarray, axis: int | None) -> tuple[dict, bytes] | None:
    """int4 with "axis" (blocks along it) and the scales as float16 where that holds them exactly, else
    float32 ("scales": "f32"), for a tensor that is exactly 4-bit values times a scale per block: -8..7
    (symmetric), else 0..15 less a zero point per block ("zeros": true)."""
    axes = [axis] if axis is not None else sorted({0, data.ndim - 1})
    for zeros in (False, True):
        for a in axes:
            for block in INT4_EXACT_BLOCKS:
                found = exact_int4_zeros(data, a, block) if zeros else exact_int4(data, a, block)
                if found is None:
                    continue
                scale, q = found[0], found[-1]
                half = scale.astype(np.float16)
                f16 = bool(np.all(half.astype(np.float32) == scale)) and bool(np.all(np.isfinite(half)))
                fields = {"encoding": "int4", "block": block, "axis": a, **({} if f16 else {"scales": "f32"}),
                          **({"zeros": True} if zeros else {})}
                head = (half.astype("<f2") if f16 else scale.astype("<f4")).tobytes()
                return fields, head + (_nibbles(found[1]) if zeros else b"") + _nibbles(q)
    return None


_OWN_INT4: dict[int, tuple] = {}  # id(array) -> (weak reference to it, its fields or None): own_int4_matmul_fields' memo


def own_int4_matmul_fields(data: np.ndarray) -> dict | None:
    """The int4 fields encode() stores a matrix B [K, N] with (weights raw or f16) when it is a quantized model's
    own 4-bit weights in blocks along K (MatMulNBits: "axis": 0), and no exact 8-bit form comes first; else None.
    The backends whose products read such weights as stored ask this per weight; it is worked out once per array."""
    hit = _OWN_INT4.get(id(data))
    if hit is not None and hit[0]() is data:
        return hit[1]
    fields = None
    if data.ndim == 2 and stores_quantized(data, "float32") and _exact_int8_fields(data, None) is None:
        found = _exact_int4_fields(data, None)
        if found is not None and found[0].get("axis") == 0:
            fields = found[0]
    if len(_OWN_INT4) > 4096:
        _OWN_INT4.clear()
    _OWN_INT4[id(data)] = (weakref.ref(data), fields)
    return fields


def int4_axes(graph) -> dict:
    """{constant name: 0} for the weights --weights int4 stores in blocks along axis 0: MatMul B's [K, N] (output
    channels last, encoding.output_axes) whose K the block divides, each column's K values blocks of their own."""
    shapes = {t.name: t.shape for t in graph.constants()}
    return {n: 0 for n, a in output_axes(graph).items()
            if a == 1 and len(shapes[n]) == 2 and shapes[n][0] % INT4_BLOCK == 0}


_INT4: dict[int, tuple] = {}  # id(array) -> (weak reference to it, axis, fields): int4_fields' memo


def int4_fields(data: np.ndarray, axis: int | None) -> dict:
    """The fields encode(..., "int4", axis) stores a quantizable float32 weight with: a model's own exact 4-bit form
    (_exact_int4_fields), else blocks of INT4_BLOCK, along `axis` where one is given (int4_axes). The backends
    whose kernels read int4 weights as stored ask this per weight; it is worked out once per array and axis."""
    hit = _INT4.get(id(data))
    if hit is not None and hit[0]() is data and hit[1] == axis:
        return hit[2]
    found = _exact_int4_fields(data, None)
    fields = found[0] if found is not None else {"encoding": "int4", "block": INT4_BLOCK,
                                                 **({"axis": axis} if axis is not None else {})}
    if len(_INT4) > 4096:
        _INT4.clear()
    _INT4[id(data)] = (weakref.ref(data), axis, fields)
    return fields


def _exact_int8_fields(data: np.ndarray, axis: int | None) -> tuple[dict, bytes] | None:
    for a in sorted({0, data.ndim - 1}) if axis is None else [axis]:
        exact = exact_int8(data, a)
        if exact is not None:
            return {"encoding": "int8", "axis": a}, exact[0].astype("<f4").tobytes() + exact[1].astype(np.int8).tobytes()
    return None


def _int8(data: np.ndarray, axis: int | None = None) -> tuple[dict, bytes]:
    best = None
    for axis in sorted({0, data.ndim - 1}) if axis is None else [axis]:
        moved = np.moveaxis(data.astype(np.float64), axis, 0).reshape(data.shape[axis], -1)
        peak = np.abs(moved).max(axis=1)
        scale = peak / 127.0
        # a channel of whole numbers within ±127 (weights an integer model already quantized) keeps them
        scale[(peak <= 127) & np.all(moved == np.rint(moved), axis=1)] = 1.0
        scale[scale == 0] = 1.0
        q = np.clip(np.rint(moved / scale[:, None]), -127, 127)
        err = float(np.abs(q * scale[:, None] - moved).max())
        if best is None or err < best[0]:
            best = (err, axis, scale.astype(np.float32), np.moveaxis(q.reshape(np.moveaxis(data, axis, 0).shape), 0, axis))
    _, axis, scale, q = best
    return {"encoding": "int8", "axis": axis}, scale.astype("<f4").tobytes() + q.astype(np.int8).tobytes()


def _int4(data: np.ndarray, axis: int | None = None) -> tuple[dict, bytes]:
    flat = (np.moveaxis(data, axis, -1) if axis is not None else data).reshape(-1).astype(np.float64)
    n = flat.size
    blocks = -(-n // INT4_BLOCK)
    padded = np.zeros(blocks * INT4_BLOCK)
    padded[:n] = flat
    padded = padded.reshape(blocks, INT4_BLOCK)
    peak = np.abs(padded).max(axis=1)
    # each block's scale: the one of INT4_SCALES × peak / 7 with the least squared error (clipping
    # the largest values a little often rounds the rest more finely)
    best_err, best_scale = None, None
    for m in INT4_SCALES:
        scale = (peak * m / 7.0).astype(np.float16).astype(np.float64)  # the scale as stored
        safe = np.where(scale == 0, 1.0, scale)
        err = ((np.clip(np.rint(padded / safe[:, None]), -8, 7) * safe[:, None] - padded) ** 2).sum(axis=1)
        if best_err is None:
            best_err, best_scale = err, scale
        else:
            better = err < best_err
            best_err, best_scale = np.where(better, err, best_err), np.where(better, scale, best_scale)
    safe = np.where(best_scale == 0, 1.0, best_scale)
    q = (np.clip(np.rint(padded / safe[:, None]), -8, 7).astype(np.int64) & 15).reshape(-1)[:n + (n % 2)]
    packed = (q[0::2] | (q[1::2] << 4)).astype(np.uint8)
    return ({"encoding": "int4", "block": INT4_BLOCK, **({"axis": axis} if axis is not None else {})},
            best_scale.astype("<f2").tobytes() + packed.tobytes())


def quantizable(data: np.ndarray, dtype: str) -> bool:
    return dtype == "float32" and data.ndim >= 2 and data.size >= QUANT_MIN_ELEMENTS and bool(np.isfinite(data).all())


def stores_quantized(data: np.ndarray, dtype: str) -> bool:
    """Whether encode(..., "int8" or "int4") stores this constant quantized (not raw, not fill)."""
    flat = data.reshape(-1)
    return quantizable(data, dtype) and not (flat.size and bool(np.all(flat == flat[0])))


def int8_bytes(shape, axis: int) -> int:
    """The bytes int8 stores for a constant: a float32 scale per index of `axis`, an int8 per element."""
    return 4 * int(shape[axis]) + int(np.prod(shape))


def stored_bytes(shape, fields: dict) -> int:
    """The bytes a quantized encoding stores for a constant of `shape` (fields: {"encoding", "axis" | "block"})."""
    if fields["encoding"] == "int8":
        return int8_bytes(shape, fields["axis"])
    n = int(np.prod(shape))
    blocks = -(-n // fields["block"])
    return (4 if fields.get("scales") == "f32" else 2) * blocks + (-(-blocks // 2) if fields.get("zeros") else 0) + -(-n // 2)


def decode(fields: dict, payload: bytes, shape, dtype: str) -> np.ndarray:
    """The values a stored constant decodes to (as the runtime decodes them)."""
    n = int(np.prod(shape))
    enc = fields["encoding"]
    if enc == "fill":
        return np.full(shape, fields["value"], dtype=dtype)
    if enc == "f16":
        return np.frombuffer(payload, "<f2", n).astype(np.float32).reshape(shape)
    if enc == "int8":
        axis = fields["axis"]
        c = shape[axis]
        scale = np.frombuffer(payload, "<f4", c)
        q = np.frombuffer(payload, np.int8, n, offset=4 * c).reshape(shape).astype(np.float32)
        view = [1] * len(shape)
        view[axis] = c
        return (q * scale.reshape(view)).astype(np.float32)
    if enc == "int4":
        blocks = -(-n // fields["block"])
        wide = fields.get("scales") == "f32"
        scale = np.frombuffer(payload, "<f4" if wide else "<f2", blocks).astype(np.float32)
        at = (4 if wide else 2) * blocks
        nibbles = lambda b, count: np.stack([b & 15, b >> 4], axis=1).reshape(-1)[:count].astype(np.int32)
        if fields.get("zeros"):
            zb = -(-blocks // 2)
            zero = nibbles(np.frombuffer(payload, np.uint8, zb, offset=at), blocks)
            q = (nibbles(np.frombuffer(payload, np.uint8, offset=at + zb), n) - np.repeat(zero, fields["block"])[:n])
        else:
            q = nibbles(np.frombuffer(payload, np.uint8, offset=at), n)
            q = np.where(q > 7, q - 16, q)
        values = (q.astype(np.float32) * np.repeat(scale, fields["block"])[:n]).astype(np.float32)
        if "axis" in fields:  # stored with that axis last
            a = fields["axis"]
            return np.moveaxis(values.reshape([d for i, d in enumerate(shape) if i != a] + [shape[a]]), -1, a)
        return values.reshape(shape)
    from .ir.dtype import np_dtype
    return np.frombuffer(payload, np_dtype(dtype) if dtype != "int64" else "<i4", n).reshape(shape)


def encode(name: str, data: np.ndarray, dtype: str, prefer: str = "raw", axis: int | None = None) -> tuple[dict, bytes]:
    """-> (entry fields, bytes). A constant whose elements are all equal costs no bytes. axis: int8's
    channel axis (default: the first or the last, whichever has the smaller error); int4's block axis
    (int4_axes; default: row-major order)."""
    flat = data.reshape(-1)
    if flat.size and np.all(flat == flat[0]) and not (dtype.startswith("float") and np.isnan(flat[0])):
        v = flat[0].item()
        return {"encoding": "fill", "value": bool(v) if dtype == "bool" else v}, b""
    if dtype == "float16":
        return {"encoding": "f16"}, data.astype("<f2").tobytes()
    if dtype == "float32":
        axis = axis if axis is not None and 0 <= axis < data.ndim else None
        if prefer in ("raw", "f16", "int8") and quantizable(data, dtype):
            exact = _exact_int8_fields(data, axis)  # a model's own 8-bit weights: stored as they are, under any encoding
            if exact is None and prefer != "int8":
                exact = _exact_int4_fields(data, None)  # its own 4-bit ones (the kernels read int8 ones as stored)
            if exact is not None:
                return exact
        if prefer == "int8" and quantizable(data, dtype):
            return _int8(data, axis)
        if prefer == "int4" and quantizable(data, dtype):
            exact = _exact_int4_fields(data, None)  # a model's own 4-bit weights stay as they are
            return exact if exact is not None else _int4(data, axis)
        if prefer == "f16":
            return {"encoding": "f16"}, data.astype("<f2").tobytes()
        return {"encoding": "raw"}, data.astype("<f4").tobytes()
    if dtype == "int64":
        if flat.size and (flat.min() < INT32_MIN or flat.max() > INT32_MAX):
            raise ConversionError(f"constant {name!r} holds int64 values outside the 32-bit range the runtime uses "
                                  f"(min {flat.min()}, max {flat.max()})")
        return {"encoding": "raw"}, data.astype("<i4").tobytes()
    storage = {"int32": "<i4", "int8": "i1", "uint8": "u1", "bool": "u1"}[dtype]
    return {"encoding": "raw"}, data.astype(storage).tobytes()
