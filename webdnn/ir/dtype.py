"""IR dtypes and their numpy equivalents."""
import numpy as np

DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "int8": np.int8,
    "uint8": np.uint8,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}
FLOAT_DTYPES = ("float32", "float16")
INT_DTYPES = ("int8", "uint8", "int32", "int64")
INT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}


def np_dtype(dtype: str):
    try:
        return DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}") from None


def dtype_of(array) -> str:
    """The IR dtype name of a numpy array (or numpy dtype)."""
    dt = np.dtype(getattr(array, "dtype", array))
    if dt == object and isinstance(array, np.ndarray):
        return "int64"  # a symbolic constant: ints and size expressions (ir/symbolic.py)
    for name, t in DTYPES.items():
        if np.dtype(t) == dt:
            return name
    if dt == np.float64:
        return "float32"  # python floats enter as float64; the IR computes in float32
    raise ValueError(f"numpy dtype {dt} has no IR dtype; supported: {', '.join(DTYPES)}")
