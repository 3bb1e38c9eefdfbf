"""Constant, Shape and ConstantOfShape: they always fold to constants (shapes are static)."""
from __future__ import annotations

import numpy as np

from . import OpDef, register, check
from ..dtype import dtype_of
from ..symbolic import int_array


@register
class Constant(OpDef):
    type = "Constant"
    attrs = {"value": None}

    def infer(self, op):
        check(not op.inputs, "takes no inputs")
        v = np.asarray(op.attrs["value"])
        return [(v.shape, dtype_of(v))]

    def reference(self, op, inputs):
        return [np.array(op.attrs["value"])]


@register
class Shape(OpDef):
    type = "Shape"
    attrs = {"start": 0, "end": None}
    folds_without_data = True

    def _dims(self, op):
        shape = op.inputs[0].shape
        return list(shape)[slice(op.attrs["start"], op.attrs["end"])]

    def infer(self, op):
        return [((len(self._dims(op)),), "int64")]

    def reference(self, op, inputs):
        return [int_array(self._dims(op), (len(self._dims(op)),))]


@register
class ConstantOfShape(OpDef):
    type = "ConstantOfShape"
    attrs = {"value": None}

    def infer(self, op):
        (s,) = op.inputs
        check(s.is_constant, f"its shape input {s.name!r} must be a constant (shapes are static)")
        v = np.zeros(1, np.float32) if op.attrs["value"] is None else np.asarray(op.attrs["value"])
        return [(tuple(s.data.reshape(-1)), dtype_of(v))]

    def reference(self, op, inputs):
        v = np.zeros(1, np.float32) if op.attrs["value"] is None else np.asarray(op.attrs["value"])
        return [np.full(tuple(int(d) for d in inputs[0].reshape(-1)), v.reshape(-1)[0], dtype=v.dtype)]
