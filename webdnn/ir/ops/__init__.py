"""The op registry. Each op family lives in one file; an op is defined exactly once there:
its attributes (with defaults), shape/dtype inference, and a plain numpy reference."""
from __future__ import annotations

import numpy as np

from ...errors import ShapeError
from ..symbolic import Expr

REQUIRED = object()
OPS: dict[str, "OpDef"] = {}


class OpDef:
    type: str = ""
    attrs: dict = {}
    # Shape of an op can be folded to a constant even when its input holds no data.
    folds_without_data = False
    # Some output dims depend on the input values (strings in the shape): a host step (ir/host.py).
    dynamic = False
    # It also runs as a host step when it reads the output of one (shape inference takes string dims).
    host_capable = False

    def with_defaults(self, attrs: dict) -> dict:
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            raise ShapeError(f"{self.type}: unknown attribute(s) {sorted(unknown)}; known: {sorted(self.attrs)}")
        out = {}
        for k, default in self.attrs.items():
            if k in attrs:
                out[k] = attrs[k]
            elif default is REQUIRED:
                raise ShapeError(f"{self.type}: attribute {k!r} is required")
            else:
                out[k] = default
        return out

    def infer(self, op) -> list[tuple[tuple, str]]:
        raise NotImplementedError(self.type)

    def reference(self, op, inputs: list) -> list[np.ndarray]:
        raise NotImplementedError(self.type)

    def checked_infer(self, op):
        """infer(), with any failure turned into a ShapeError that prints the shapes and attrs."""
        try:
            specs = self.infer(op)
        except ShapeError as e:
            raise ShapeError(f"{_describe(op)}: {e}") from None
        except (ValueError, IndexError, TypeError, KeyError, ZeroDivisionError) as e:
            raise ShapeError(f"{_describe(op)}: {type(e).__name__}: {e}") from None
        return [(tuple(d if isinstance(d, (str, Expr)) else int(d) for d in s), dt) for s, dt in specs]


def _describe(op) -> str:
    ins = ", ".join(f"{t.name}{list(t.shape)}:{t.dtype}" if t is not None else "-" for t in op.inputs)
    attrs = {k: (f"<array {list(np.shape(v))}>" if isinstance(v, np.ndarray) else v) for k, v in op.attrs.items()}
    return f"{op.type} {op.name!r} (inputs {ins}; attrs {attrs})"


def register(cls):
    OPS[cls.type] = cls()
    return cls


def get_op_def(type: str) -> OpDef:
    try:
        return OPS[type]
    except KeyError:
        raise ShapeError(f"unknown IR op {type!r}; known: {', '.join(sorted(OPS))}") from None


def norm_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def check(cond: bool, msg: str):
    if not cond:
        raise ShapeError(msg)


# import the families so they register themselves
from . import elementwise, conv, matmul, pool, normalization, reduce, indexmap, constant  # noqa: E402,F401
from . import indexing, scan, resize, dynamic, recurrent  # noqa: E402,F401
