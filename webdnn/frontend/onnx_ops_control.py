"""Control flow with static trip counts, unrolled at import: Scan (every iteration imports the body
once, slices in, states carried), Loop whose trip count and condition fold to constants, If whose
condition folds to a constant (only the branch taken is imported), Optional ops on plain tensors.
What remains is plain dataflow
for the passes and backends; a count or condition known only at run time is a DynamicValueError."""
from __future__ import annotations

import numpy as np

from ..errors import DynamicValueError
from ..ir.ops import norm_axis
from .onnx_registry import handler


def _stack(c, items, axis: int):
    """Concatenate tensors of one shape along a new axis `axis`."""
    shape = list(items[0].shape)
    axis = norm_axis(axis, len(shape) + 1)
    new = shape[:axis] + [1] + shape[axis:]
    parts = [c.op1("Reshape", [t], {"shape": new}) for t in items]
    return parts[0] if len(parts) == 1 else c.op1("Concat", parts, {"axis": axis})


def _at(c, x, index: int, axis: int):
    """x[..., index, ...] along axis, the axis removed."""
    return c.op1("Gather", [x, c.constant(np.asarray(index, np.int64))], {"axis": axis})


@handler("Scan", since=8)
def _scan(c):
    body = c.attr("body")
    m = int(c.attr("num_scan_inputs"))
    first = 1 if c.opset < 9 else 0  # Scan-8: sequence_lens, then a batch axis 0 on every input and output
    ins = [c.input(i) for i in range(first, c.num_inputs())]
    n = len(ins) - m
    if n < 0 or m < 1:
        c.fail(f"num_scan_inputs {m} does not fit {len(ins)} inputs")
    states, xs = ins[:n], ins[n:]
    k = len(body.output) - n
    if first:
        lens = c.const(0, "sequence_lens")
        steps = xs[0].shape[1]
        if lens is not None and np.any(np.reshape(lens, -1) != steps):
            c.fail(f"sequence_lens {np.reshape(lens, -1).tolist()} shorter than the {steps} steps are not supported")
        dirs = list(c.attr("directions") or [0] * m)
        per_batch = [_scan_steps(c, body, [_at(c, t, b, 0) for t in states], [_at(c, x, b, 0) for x in xs],
                                 [0] * m, dirs, [0] * k, [0] * k) for b in range(xs[0].shape[0])]
        return [_stack(c, list(outs), 0) for outs in zip(*per_batch)]
    in_axes = [norm_axis(int(a), len(x.shape)) for a, x in zip(c.attr("scan_input_axes") or [0] * m, xs)]
    in_dirs = list(c.attr("scan_input_directions") or [0] * m)
    out_axes = list(c.attr("scan_output_axes") or [0] * k)
    out_dirs = list(c.attr("scan_output_directions") or [0] * k)
    return _scan_steps(c, body, states, xs, in_axes, in_dirs, out_axes, out_dirs)


def _scan_steps(c, body, states, xs, in_axes, in_dirs, out_axes, out_dirs):
    """The body unrolled over the scan inputs' steps -> final states + stacked scan outputs."""
    n, k = len(states), len(out_axes)
    lengths = {x.shape[a] for x, a in zip(xs, in_axes)}
    if len(lengths) != 1:
        c.fail(f"scan inputs of different lengths {sorted(lengths)}")
    (steps,) = lengths
    if steps == 0:
        c.fail("a scan over zero steps has no output shape to infer")
    ys = [[] for _ in range(k)]
    for t in range(steps):
        sl = [_at(c, x, steps - 1 - t if d else t, a) for x, a, d in zip(xs, in_axes, in_dirs)]
        res = c.conv.run_body(body, states + sl, f"Scan node {c.name!r}, step {t}")
        states = res[:n]
        for j, y in enumerate(res[n:]):
            ys[j].append(y)
    outs = list(states)
    for j in range(k):
        seq = ys[j][::-1] if out_dirs[j] else ys[j]
        outs.append(_stack(c, seq, int(out_axes[j])))
    return outs


def _const_scalar(c, t, what):
    if t is None:
        return None
    if not t.is_constant:
        raise DynamicValueError(f"{c.node.op_type} node {c.name!r}: {what} must be known at conversion time (it is "
                                f"computed from the model input at run time; only static control flow is unrolled)",
                                tensor=t.name)
    return np.asarray(t.data).reshape(-1)[0]


@handler("Loop", since=1)
def _loop(c):
    body = c.attr("body")
    trip = _const_scalar(c, c.input(0), "the trip count M")
    cond = _const_scalar(c, c.input(1), "the condition")
    carried = [c.input(i) for i in range(2, c.num_inputs())]
    if trip is None and cond is None:
        c.fail("a loop with neither a trip count nor a condition never ends")
    n = len(carried)
    k = len(body.output) - 1 - n
    ys = [[] for _ in range(k)]
    i, go = 0, True if cond is None else bool(cond)
    limit = int(trip) if trip is not None else 10000
    while go and i < limit:
        res = c.conv.run_body(body, [c.constant(np.asarray(i, np.int64)), c.constant(np.asarray(go))] + carried,
                              f"Loop node {c.name!r}, iteration {i}")
        go = bool(_const_scalar(c, res[0], "the condition a loop iteration computes"))
        carried = res[1:1 + n]
        for j, y in enumerate(res[1 + n:]):
            ys[j].append(y)
        i += 1
    if go and trip is None:
        c.fail(f"the loop did not end within {limit} iterations")
    if k and not i:
        c.fail("a loop of zero iterations has no scan output shape to infer")
    return carried + [_stack(c, y, 0) for y in ys]


@handler("If", since=1)
def _if(c):
    cond = _const_scalar(c, c.input(0), "the condition")
    branch = c.attr("then_branch" if bool(cond) else "else_branch")
    return c.conv.run_body(branch, [], f"If node {c.name!r}")


@handler("CastLike", since=15)
def _cast_like(c):
    return [c.ew(["cast", c.input(1).dtype, ["in", 0]], [c.input(0)])]


@handler("OptionalHasElement", since=15)
def _optional_has_element(c):
    """Optional values reach the IR only as plain tensors, so an input is present or absent at conversion."""
    return [c.constant(np.array(c.has_input(0)))]


@handler("OptionalGetElement", since=15)
def _optional_get_element(c):
    if not c.has_input(0):
        c.fail("the optional input is empty")
    return [c.op1("Identity", [c.input(0)])]
