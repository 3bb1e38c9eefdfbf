"""Index-mapping ops: each output element is one input element (Reshape, Transpose, Concat, Split,
Slice, Gather, Pad, Expand, Identity). Parameters that ONNX passes as tensors are attributes here;
the frontend folds them to constants first."""
from __future__ import annotations

import numpy as np

from ..symbolic import as_dim, broadcast_shapes, prod
from . import OpDef, register, check, norm_axis


@register
class Identity(OpDef):
    type = "Identity"
    attrs = {}

    def infer(self, op):
        (x,) = op.inputs
        return [(x.shape, x.dtype)]

    def reference(self, op, inputs):
        return [inputs[0].copy()]


@register
class Reshape(OpDef):
    type = "Reshape"
    attrs = {"shape": None}  # the exact output shape (0 / -1 resolved by the frontend)

    def infer(self, op):
        (x,) = op.inputs
        shape = tuple(op.attrs["shape"])
        check(all(d >= 0 for d in shape), f"shape {list(shape)} must be explicit")
        check(prod(shape) == prod(x.shape), f"cannot reshape {list(x.shape)} to {list(shape)}")
        return [(shape, x.dtype)]

    def reference(self, op, inputs):
        return [inputs[0].reshape(op.attrs["shape"])]


@register
class Transpose(OpDef):
    type = "Transpose"
    attrs = {"perm": None}
    host_capable = True

    def perm(self, op, rank):
        perm = op.attrs["perm"]
        return list(range(rank))[::-1] if perm is None else [norm_axis(p, rank) for p in perm]

    def infer(self, op):
        (x,) = op.inputs
        perm = self.perm(op, len(x.shape))
        check(sorted(perm) == list(range(len(x.shape))), f"perm {perm} is not a permutation of rank {len(x.shape)}")
        return [(tuple(x.shape[p] for p in perm), x.dtype)]

    def reference(self, op, inputs):
        return [np.array(np.transpose(inputs[0], self.perm(op, inputs[0].ndim)))]


@register
class Concat(OpDef):
    type = "Concat"
    attrs = {"axis": 0}

    def infer(self, op):
        xs = op.inputs
        check(len(xs) >= 1, "needs at least one input")
        rank = len(xs[0].shape)
        ax = norm_axis(op.attrs["axis"], rank)
        for t in xs:
            check(len(t.shape) == rank and all(a == b for i, (a, b) in enumerate(zip(t.shape, xs[0].shape)) if i != ax),
                  f"shapes {[list(t.shape) for t in xs]} differ outside axis {ax}")
            check(t.dtype == xs[0].dtype, "all inputs need one dtype")
        shape = list(xs[0].shape)
        shape[ax] = sum(t.shape[ax] for t in xs)
        return [(tuple(shape), xs[0].dtype)]

    def reference(self, op, inputs):
        return [np.concatenate(inputs, axis=norm_axis(op.attrs["axis"], inputs[0].ndim))]


@register
class Split(OpDef):
    type = "Split"
    attrs = {"axis": 0, "split": None}  # split: the size of each output along axis

    def infer(self, op):
        (x,) = op.inputs
        ax = norm_axis(op.attrs["axis"], len(x.shape))
        split = list(op.attrs["split"])
        check(sum(split) == x.shape[ax] and all(s >= 0 for s in split),
              f"split {split} does not add up to dim {x.shape[ax]} of axis {ax}")
        outs = []
        for s in split:
            shape = list(x.shape)
            shape[ax] = s
            outs.append((tuple(shape), x.dtype))
        return outs

    def reference(self, op, inputs):
        (x,) = inputs
        ax = norm_axis(op.attrs["axis"], x.ndim)
        idx = np.cumsum(op.attrs["split"])[:-1]
        return [np.array(a) for a in np.split(x, idx, axis=ax)]


def slice_params(shape, attrs):
    """ONNX Slice semantics → per-axis (start, step, count), clamped like the spec says."""
    rank = len(shape)
    starts, ends = list(attrs["starts"]), list(attrs["ends"])
    axes = list(attrs["axes"]) if attrs["axes"] is not None else list(range(len(starts)))
    steps = list(attrs["steps"]) if attrs["steps"] is not None else [1] * len(starts)
    check(len(starts) == len(ends) == len(axes) == len(steps), "starts/ends/axes/steps lengths differ")
    res = [(0, 1, d) for d in shape]
    seen = set()
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = norm_axis(int(ax), rank)
        check(ax not in seen, f"axis {ax} repeated")
        seen.add(ax)
        check(sp != 0, "step must not be 0")
        d = shape[ax]
        st, en, sp = as_dim(st), as_dim(en), int(sp)
        if st < 0:
            st += d
        if en < 0:
            en += d
        if sp > 0:
            st, en = min(max(st, 0), d), min(max(en, 0), d)
            count = max(0, -(-(en - st) // sp))
        else:
            st, en = min(max(st, 0), d - 1), min(max(en, -1), d - 1)
            count = max(0, -(-(st - en) // -sp))
        res[ax] = (st if count else 0, sp, count)
    return res


@register
class Slice(OpDef):
    type = "Slice"
    attrs = {"starts": None, "ends": None, "axes": None, "steps": None}

    def infer(self, op):
        (x,) = op.inputs
        return [(tuple(c for _, _, c in slice_params(x.shape, op.attrs)), x.dtype)]

    def reference(self, op, inputs):
        (x,) = inputs
        idx = tuple(np.arange(c) * sp + st for st, sp, c in slice_params(x.shape, op.attrs))
        return [np.array(x[np.ix_(*idx)]) if x.ndim else x.copy()]


@register
class Gather(OpDef):
    type = "Gather"
    attrs = {"axis": 0}
    host_capable = True

    def infer(self, op):
        data, indices = op.inputs
        check(indices.dtype in ("int32", "int64"), f"indices must be int32/int64, got {indices.dtype}")
        ax = norm_axis(op.attrs["axis"], len(data.shape))
        return [(data.shape[:ax] + indices.shape + data.shape[ax + 1:], data.dtype)]

    def reference(self, op, inputs):
        data, indices = inputs
        ax = norm_axis(op.attrs["axis"], data.ndim)
        idx = np.where(indices < 0, indices + data.shape[ax], indices)
        check(bool(np.all((idx >= 0) & (idx < data.shape[ax]))), f"Gather index out of range for dim {data.shape[ax]}")
        return [np.take(data, idx, axis=ax)]


@register
class Pad(OpDef):
    type = "Pad"
    attrs = {"pads": None, "mode": "constant", "value": 0.0}

    def infer(self, op):
        (x,) = op.inputs
        rank = len(x.shape)
        p = list(op.attrs["pads"])
        check(len(p) == 2 * rank, f"pads needs {2 * rank} entries, got {len(p)}")
        check(op.attrs["mode"] in ("constant", "reflect", "edge"), f"mode {op.attrs['mode']!r} unknown")
        shape = tuple(x.shape[i] + p[i] + p[i + rank] for i in range(rank))
        check(all(d >= 0 for d in shape), f"pads {p} crop {list(x.shape)} below zero")
        if op.attrs["mode"] == "reflect":
            check(all(max(p[i], p[i + rank]) < x.shape[i] or p[i] == p[i + rank] == 0 for i in range(rank)),
                  "reflect pads must be smaller than the dim")
        return [(shape, x.dtype)]

    def reference(self, op, inputs):
        (x,) = inputs
        rank = x.ndim
        p = list(op.attrs["pads"])
        crop = tuple(slice(max(0, -p[i]), x.shape[i] - max(0, -p[i + rank])) for i in range(rank))
        x = x[crop]
        widths = [(max(0, p[i]), max(0, p[i + rank])) for i in range(rank)]
        mode = op.attrs["mode"]
        if mode == "constant":
            y = np.pad(x, widths, mode="constant", constant_values=np.asarray(op.attrs["value"]).astype(x.dtype))
        else:
            y = np.pad(x, widths, mode=mode)
        return [np.array(y)]


@register
class Expand(OpDef):
    type = "Expand"
    attrs = {"shape": None}  # the ONNX target shape; the output is broadcast(input, shape)

    def infer(self, op):
        (x,) = op.inputs
        return [(tuple(broadcast_shapes(x.shape, tuple(op.attrs["shape"]))), x.dtype)]

    def reference(self, op, inputs):
        (shape, _), = self.infer(op)
        return [np.array(np.broadcast_to(inputs[0], shape))]
