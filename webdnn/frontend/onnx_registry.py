"""The ONNX handler table and what the handler families share.

A handler maps one ONNX node (through the NodeContext of frontend/onnx.py) onto IR ops. The
families (onnx_ops*.py) register their handlers here with @handler; frontend/onnx.py imports every
family once so that the table is complete. This module imports no family and no importer, so no
family imports a module that imports it back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from onnx import TensorProto

from ..errors import ConversionError
from ..ir.ops.elementwise import inp

X = inp(0)  # the first input of an Elementwise expression

ONNX_DTYPES = {
    TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16", TensorProto.DOUBLE: "float32",
    TensorProto.INT8: "int8", TensorProto.UINT8: "uint8", TensorProto.INT32: "int32",
    TensorProto.INT64: "int64", TensorProto.BOOL: "bool",
}


@dataclass
class Handler:
    fn: Callable
    since: int = 1  # the first opset the handler converts


HANDLERS: dict[str, Handler] = {}  # op type (default domain) or "domain::op type" -> handler


def handler_key(op_type: str, domain: str = "") -> str:
    return op_type if domain in ("", "ai.onnx") else f"{domain}::{op_type}"


def handler(*names, since: int = 1, domain: str = ""):
    """Registers fn for the op types `names` of `domain` (the default domain, or e.g. com.microsoft;
    `since` counts in the default domain's opsets)."""
    def deco(fn):
        for n in names:
            HANDLERS[handler_key(n, domain)] = Handler(fn, since)
        return fn
    return deco


def unary(name: str, make: Callable, since: int = 1):
    """Registers an op that is one expression of its single input; make(c) -> the expression over X."""
    def convert(c):
        return [c.ew(make(c), [c.input(0)])]
    HANDLERS[name] = Handler(convert, since)


# ---- helpers of several families ------------------------------------------------------------
def tensor_dtype(elem_type: int, where: str) -> str:
    try:
        return ONNX_DTYPES[elem_type]
    except KeyError:
        name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() else elem_type
        raise ConversionError(f"{where}: element type {name} is not supported "
                              f"(supported: float, float16, double, int8, uint8, int32, int64, bool)") from None


def ints(v) -> list[int]:
    """An attribute or constant input (any shape) as a flat list of ints."""
    return [int(i) for i in np.reshape(v, -1)]


def conv_pads(c, x_shape, k, s, d, transpose=False) -> list[int]:
    """The node's pads [begins..., ends...] for kernel k, strides s, dilations d, auto_pad resolved."""
    nd = len(k)
    auto = c.attr("auto_pad", "NOTSET")
    pads = list(c.attr("pads", [0] * (2 * nd)))
    if auto in ("NOTSET", "VALID"):
        return [0] * (2 * nd) if auto == "VALID" else pads
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        c.fail(f"unknown auto_pad {auto!r}")
    begins, ends = [], []
    for i in range(nd):
        n = x_shape[2 + i]
        if transpose:
            total = s[i] * (n - 1) + (k[i] - 1) * d[i] + 1 - n * s[i]
        else:
            out = -(-n // s[i])
            total = max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - n)
        small, big = total // 2, total - total // 2
        b, e = (small, big) if auto == "SAME_UPPER" else (big, small)
        begins.append(b)
        ends.append(e)
    return begins + ends
