"""Weight encodings: how one constant is stored in the weight chunks (docs/descriptor.md)."""
from __future__ import annotations

import numpy as np

from .errors import ConversionError

ENCODINGS = ("raw", "f16")  # what --weights may ask for; "fill" is chosen automatically
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def encode(name: str, data: np.ndarray, dtype: str, prefer: str = "raw") -> tuple[dict, bytes]:
    """-> (entry fields, bytes). A constant whose elements are all equal costs no bytes."""
    flat = data.reshape(-1)
    if flat.size and np.all(flat == flat[0]) and not (dtype.startswith("float") and np.isnan(flat[0])):
        v = flat[0].item()
        return {"encoding": "fill", "value": bool(v) if dtype == "bool" else v}, b""
    if dtype == "float16":
        return {"encoding": "f16"}, data.astype("<f2").tobytes()
    if dtype == "float32":
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
