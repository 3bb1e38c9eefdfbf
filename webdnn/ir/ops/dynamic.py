"""Ops whose output shape depends on the input values (NonZero, Compress, Unique,
NonMaxSuppression). Their data-dependent dims are strings ("<op name>:count"); the runtime runs
them as host steps after the backend's static plan (ir/host.py, docs/descriptor.md), so their
outputs may only be graph outputs or inputs of other host steps. With constant inputs they fold
like any other op."""
from __future__ import annotations

import numpy as np

from . import OpDef, register, check, norm_axis


class DynamicOpDef(OpDef):
    dynamic = True

    @staticmethod
    def count(op) -> str:
        return f"{op.name}:count"


def _static(t, what):
    check(not t.is_dynamic, f"{what} {t.name!r} has a data-dependent shape {list(t.shape)}; it must be static")


@register
class NonZero(DynamicOpDef):
    """Indices of the non-zero elements, [rank, count] int64, in C order (numpy's nonzero)."""
    type = "NonZero"

    def infer(self, op):
        (x,) = op.inputs
        _static(x, "input")
        check(len(x.shape) >= 1, "NonZero needs an input of rank >= 1")
        return [((len(x.shape), self.count(op)), "int64")]

    def reference(self, op, inputs):
        (x,) = inputs
        return [np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)]


@register
class Compress(DynamicOpDef):
    """The slices along `axis` (or the elements of the flattened input, axis None) whose entry of
    the bool `condition` is true; `condition` may be shorter than the axis (the rest is false)."""
    type = "Compress"
    attrs = {"axis": None}

    def infer(self, op):
        x, cond = op.inputs
        _static(x, "input")
        check(len(cond.shape) == 1, f"condition must be 1-D, got {list(cond.shape)}")
        if op.attrs["axis"] is None:
            check(cond.shape[0] <= x.size, f"condition has {cond.shape[0]} entries for {x.size} elements")
            return [((self.count(op),), x.dtype)]
        ax = norm_axis(op.attrs["axis"], len(x.shape))
        check(cond.shape[0] <= x.shape[ax], f"condition has {cond.shape[0]} entries for axis {ax} of {list(x.shape)}")
        return [(x.shape[:ax] + (self.count(op),) + x.shape[ax + 1:], x.dtype)]

    def reference(self, op, inputs):
        x, cond = inputs
        ax = op.attrs["axis"]
        if ax is None:
            x, ax = x.reshape(-1), 0
        return [np.compress(np.asarray(cond) != 0, x, axis=norm_axis(ax, x.ndim))]


@register
class Unique(DynamicOpDef):
    """Unique elements (axis None, flattened) or slices along `axis`: Y, the index of each one's first
    occurrence, for every input element/slice the index of its value in Y, and the counts. `sorted`
    1: ascending (slices lexicographically); 0: in order of first occurrence."""
    type = "Unique"
    attrs = {"axis": None, "sorted": 1}

    def infer(self, op):
        (x,) = op.inputs
        _static(x, "input")
        k = self.count(op)
        if op.attrs["axis"] is None:
            y, n = (k,), x.size
        else:
            ax = norm_axis(op.attrs["axis"], len(x.shape))
            y, n = x.shape[:ax] + (k,) + x.shape[ax + 1:], x.shape[ax]
        return [(y, x.dtype), ((k,), "int64"), ((n,), "int64"), ((k,), "int64")]

    def reference(self, op, inputs):
        (x,) = inputs
        ax = op.attrs["axis"]
        if ax is None:
            x, ax = x.reshape(-1), 0
        ax = norm_axis(ax, x.ndim)
        _, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True, axis=ax)
        inverse = inverse.reshape(-1)
        if not op.attrs["sorted"]:
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            first, counts, inverse = first[order], counts[order], rank[inverse]
        y = np.take(x, first, axis=ax)
        return [y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)]


def _corners(b, center_point_box):
    """[N, 4] boxes -> (y1, x1, y2, x2) with y1 <= y2, x1 <= x2."""
    b = b.astype(np.float64)
    if center_point_box:
        x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
        return y - h / 2, x - w / 2, y + h / 2, x + w / 2
    return (np.minimum(b[:, 0], b[:, 2]), np.minimum(b[:, 1], b[:, 3]),
            np.maximum(b[:, 0], b[:, 2]), np.maximum(b[:, 1], b[:, 3]))


@register
class NonMaxSuppression(DynamicOpDef):
    """Per batch and class: boxes by descending score (ties: lower index first), those above
    `score_threshold` (when given), greedily kept unless their IoU with a kept box exceeds
    `iou_threshold`, at most `max_output_boxes_per_class` (absent: 0). -> [count, 3] int64 rows
    (batch, class, box). Boxes are [y1, x1, y2, x2] (any corner order) or, with
    center_point_box 1, [x_center, y_center, width, height]."""
    type = "NonMaxSuppression"
    attrs = {"center_point_box": 0}

    def infer(self, op):
        boxes, scores = op.inputs[:2]
        for t in op.inputs:
            if t is not None:
                _static(t, "input")
        check(len(boxes.shape) == 3 and boxes.shape[2] == 4, f"boxes must be [batches, boxes, 4], got {list(boxes.shape)}")
        check(len(scores.shape) == 3 and scores.shape[0] == boxes.shape[0] and scores.shape[2] == boxes.shape[1],
              f"scores must be [batches, classes, boxes] for boxes {list(boxes.shape)}, got {list(scores.shape)}")
        for t, what in zip(op.inputs[2:], ("max_output_boxes_per_class", "iou_threshold", "score_threshold")):
            check(t is None or t.size <= 1, f"{what} must be a scalar or one element, got {list(t.shape)}")
        return [((self.count(op), 3), "int64")]

    def reference(self, op, inputs):
        boxes, scores = inputs[:2]
        rest = list(inputs[2:]) + [None] * (5 - len(inputs))

        def scalar(a, default):
            return default if a is None or np.size(a) == 0 else np.asarray(a).reshape(-1)[0]

        limit = max(int(scalar(rest[0], 0)), 0)
        iou_t = float(scalar(rest[1], 0.0))
        score_t = None if rest[2] is None or np.size(rest[2]) == 0 else float(np.asarray(rest[2]).reshape(-1)[0])
        out = []
        for b in range(boxes.shape[0]):
            y1, x1, y2, x2 = _corners(boxes[b], op.attrs["center_point_box"])
            area = (y2 - y1) * (x2 - x1)
            for c in range(scores.shape[1]):
                s = scores[b, c].astype(np.float64)
                order = sorted(range(len(s)), key=lambda i: (-s[i], i))
                if score_t is not None:
                    order = [i for i in order if s[i] > score_t]
                kept: list[int] = []
                for i in order:
                    if len(kept) >= limit:
                        break
                    if all(not _suppresses(i, j, y1, x1, y2, x2, area, iou_t) for j in kept):
                        kept.append(i)
                        out.append((b, c, i))
        return [np.array(out, dtype=np.int64).reshape(-1, 3)]


def _suppresses(i, j, y1, x1, y2, x2, area, iou_t) -> bool:
    ih = min(y2[i], y2[j]) - max(y1[i], y1[j])
    iw = min(x2[i], x2[j]) - max(x1[i], x1[j])
    if ih <= 0 or iw <= 0:
        return False
    inter = ih * iw
    union = area[i] + area[j] - inter
    if area[i] <= 0 or area[j] <= 0 or union <= 0:
        return False
    return inter / union > iou_t
