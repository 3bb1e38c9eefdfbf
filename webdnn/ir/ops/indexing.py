"""Data-dependent index maps: the index tensor says where each element comes from (GatherElements,
GatherND) or goes to (ScatterElements, ScatterND). Negative indices count from the end of their axis;
an index outside the axis is an error. Scatter writes happen in the order of the update elements
(C order), so with duplicate indices and reduction "none" the last update wins."""
from __future__ import annotations

import numpy as np

from . import OpDef, register, check, norm_axis

INDEX_DTYPES = ("int32", "int64")
REDUCTIONS = ("none", "add", "mul", "max", "min")


def _combine(reduction, old, new):
    if reduction == "none":
        return new
    return {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[reduction](old, new)


def _normalize(idx, dim, what):
    idx = np.asarray(idx).astype(np.int64)
    idx = np.where(idx < 0, idx + dim, idx)
    check(bool(np.all((idx >= 0) & (idx < dim))), f"{what}: an index is outside [-{dim}, {dim})")
    return idx


def _check_indices(t):
    check(t.dtype in INDEX_DTYPES, f"indices must be int32/int64, got {t.dtype}")


@register
class GatherElements(OpDef):
    """out[i0, .., ia, ..] = data[i0, .., indices[i0, .., ia, ..], ..] with ia on `axis`."""
    type = "GatherElements"
    attrs = {"axis": 0}

    def infer(self, op):
        data, indices = op.inputs
        _check_indices(indices)
        ax = norm_axis(op.attrs["axis"], len(data.shape))
        check(len(indices.shape) == len(data.shape),
              f"indices rank {len(indices.shape)} != data rank {len(data.shape)}")
        check(all(i <= d for k, (i, d) in enumerate(zip(indices.shape, data.shape)) if k != ax),
              f"indices {list(indices.shape)} exceed data {list(data.shape)} outside axis {ax}")
        return [(indices.shape, data.dtype)]

    def reference(self, op, inputs):
        data, indices = inputs
        ax = norm_axis(op.attrs["axis"], data.ndim)
        idx = _normalize(indices, data.shape[ax], "GatherElements")
        grids = list(np.indices(indices.shape, sparse=True))
        grids[ax] = idx
        return [np.array(data[tuple(grids)])]


@register
class GatherND(OpDef):
    """out[b.., j..] = data[b.., indices[b.., j.., :], ...]: the last indices axis (length m) is a
    position in data's axes b..b+m-1; the first batch_dims axes of both are shared."""
    type = "GatherND"
    attrs = {"batch_dims": 0}

    def infer(self, op):
        data, indices = op.inputs
        _check_indices(indices)
        b = op.attrs["batch_dims"]
        r, q = len(data.shape), len(indices.shape)
        check(q >= 1 and r >= 1, "data and indices need rank >= 1")
        check(0 <= b < min(q, r), f"batch_dims {b} must be in [0, min(rank(data), rank(indices)))")
        check(data.shape[:b] == indices.shape[:b],
              f"batch dims differ: {list(data.shape[:b])} vs {list(indices.shape[:b])}")
        m = indices.shape[-1]
        check(1 <= m <= r - b, f"indices.shape[-1] = {m} must be in [1, {r - b}]")
        return [(indices.shape[:-1] + data.shape[b + m:], data.dtype)]

    def reference(self, op, inputs):
        data, indices = inputs
        b = op.attrs["batch_dims"]
        m = indices.shape[-1]
        nb = int(np.prod(data.shape[:b]))
        d = data.reshape((nb,) + data.shape[b:])
        ix = indices.reshape(nb, -1, m)
        out = []
        for i in range(nb):
            for j in range(ix.shape[1]):
                pos = tuple(int(_normalize(v, data.shape[b + t], "GatherND")) for t, v in enumerate(ix[i, j]))
                out.append(d[(i,) + pos])
        (shape, _), = self.infer(op)
        return [np.array(out, dtype=data.dtype).reshape(shape)]


@register
class ScatterElements(OpDef):
    """out = data; out[i0, .., indices[i0, .., ia, ..], ..] (op)= updates[i0, .., ia, ..]."""
    type = "ScatterElements"
    attrs = {"axis": 0, "reduction": "none"}

    def infer(self, op):
        data, indices, updates = op.inputs
        _check_indices(indices)
        check(op.attrs["reduction"] in REDUCTIONS, f"reduction must be one of {REDUCTIONS}")
        check(indices.shape == updates.shape, f"indices {list(indices.shape)} and updates {list(updates.shape)} differ")
        check(len(indices.shape) == len(data.shape),
              f"indices rank {len(indices.shape)} != data rank {len(data.shape)}")
        check(updates.dtype == data.dtype, f"updates dtype {updates.dtype} != data dtype {data.dtype}")
        ax = norm_axis(op.attrs["axis"], len(data.shape))
        check(all(i <= d for k, (i, d) in enumerate(zip(indices.shape, data.shape)) if k != ax),
              f"indices {list(indices.shape)} exceed data {list(data.shape)} outside axis {ax}")
        return [(data.shape, data.dtype)]

    def reference(self, op, inputs):
        data, indices, updates = inputs
        ax = norm_axis(op.attrs["axis"], data.ndim)
        idx = _normalize(indices, data.shape[ax], "ScatterElements")
        out = data.copy()
        for pos in np.ndindex(*indices.shape):
            tgt = pos[:ax] + (int(idx[pos]),) + pos[ax + 1:]
            out[tgt] = _combine(op.attrs["reduction"], out[tgt], updates[pos])
        return [out]


@register
class ScatterND(OpDef):
    """out = data; out[indices[j.., :], ...] (op)= updates[j.., ...]."""
    type = "ScatterND"
    attrs = {"reduction": "none"}

    def infer(self, op):
        data, indices, updates = op.inputs
        _check_indices(indices)
        check(op.attrs["reduction"] in REDUCTIONS, f"reduction must be one of {REDUCTIONS}")
        r, q = len(data.shape), len(indices.shape)
        check(q >= 1, "indices need rank >= 1")
        m = indices.shape[-1]
        check(1 <= m <= r, f"indices.shape[-1] = {m} must be in [1, {r}]")
        want = indices.shape[:-1] + data.shape[m:]
        check(updates.shape == want, f"updates {list(updates.shape)} must be {list(want)}")
        check(updates.dtype == data.dtype, f"updates dtype {updates.dtype} != data dtype {data.dtype}")
        return [(data.shape, data.dtype)]

    def reference(self, op, inputs):
        data, indices, updates = inputs
        out = data.copy()
        for pos in np.ndindex(*indices.shape[:-1]):
            tgt = tuple(int(_normalize(v, data.shape[t], "ScatterND")) for t, v in enumerate(indices[pos]))
            out[tgt] = _combine(op.attrs["reduction"], out[tgt], updates[pos])
        return [out]
