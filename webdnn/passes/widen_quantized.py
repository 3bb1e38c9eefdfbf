"""8-bit activations between pointwise ops become float32 whole numbers: an Elementwise whose result is
cast to int8/uint8 from a float value that is provably a whole number within the type
(simplify_elementwise.whole_range), and whose every consumer is an Elementwise reading it only as float32,
keeps the float value instead (through Reshape, Transpose and max Pool, which only move or select values);
the zero point its consumers subtract moves into it, and a consumer left copying it goes away. A quantized model's requantization then fuses into the contraction before
it (a float epilogue) and the next contraction reads its input as it is, instead of a pass that
widens and centers 8-bit values (QLinearConv, QLinearAdd, QuantizeLinear -> DequantizeLinear):

    before:  Conv -> Elementwise(cast(uint8, min(max(round(in0 * r) + 7, 0), 255)))       -> q: uint8
             q -> Elementwise(sub(cast(float32, in0), 7)) -> Conv
             q -> Elementwise(mul(sub(cast(float32, in0), 7), 0.05)) -> ...
    after:   Conv -> Elementwise(sub(min(max(round(in0 * r) + 7, 0), 255), 7))            -> q: float32
             q -> Conv
             q -> Elementwise(mul(in0, 0.05)) -> ...

The values are the same (8-bit whole numbers are exact in float32); only their storage widens, as a
float model's activations are stored. Graph outputs, and values any other op reads, keep their type.
"""
from __future__ import annotations

from ..ir import Graph
from ..ir.ops.elementwise import expr_dtype
from ..ir.dtype import INT_RANGE
from .simplify_elementwise import literal_value, whole_range

NARROW = ("int8", "uint8")


def _is_read(node, k: int) -> bool:
    return node[0] == "cast" and node[1] == "float32" and node[2] == ["in", k]


def _reads(expr, k: int) -> tuple[bool, list]:
    """(every reference to input k is cast(float32, in_k), the literals subtracted from those reads)."""
    if expr[0] == "in":
        return expr[1] != k, []
    if expr[0] == "const" or _is_read(expr, k):
        return True, []
    ok, subtracted = True, []
    if expr[0] == "sub" and _is_read(expr[1], k) and literal_value(expr[2]) is not None:
        subtracted.append(literal_value(expr[2]))
    for a in expr[1:]:
        if isinstance(a, list):
            good, sub = _reads(a, k)
            ok, subtracted = ok and good, subtracted + sub
    return ok, subtracted


def _rewrite(expr, k: int, offset: float):
    """Input k now holds (value - offset) as float32: a read minus the offset is the input itself."""
    if expr[0] == "sub" and _is_read(expr[1], k) and literal_value(expr[2]) == offset:
        return ["in", k]
    if _is_read(expr, k):
        return ["add", ["in", k], ["cast", "float32", ["const", offset]]] if offset else ["in", k]
    if expr[0] in ("in", "const"):
        return expr
    return [expr[0], *(_rewrite(a, k, offset) if isinstance(a, list) else a for a in expr[1:])]


def _moves_values(op, t) -> bool:
    """op only moves or selects t's values (so it commutes with subtracting a constant from them)."""
    if op.inputs[0] is not t or any(u is t for u in op.inputs[1:]):
        return False
    return op.type in ("Reshape", "Transpose") or (op.type == "Pool" and op.attrs.get("kind") == "max")


def _closure(out, consumers, outputs):
    """(the tensors that carry out's values: out and what Reshape / Transpose / max Pool make of it, the
    pointwise ops that read them, as (op, tensor)), or None where a graph output or another op reads one."""
    tensors, finals, stack = [], [], [out]
    while stack:
        t = stack.pop()
        if id(t) in outputs:
            return None
        tensors.append(t)
        users = consumers.get(id(t), [])
        if not users:
            return None
        for u in users:
            if u.type == "Elementwise":
                finals.append((u, t))
            elif _moves_values(u, t) and u.outputs[0].dtype == t.dtype:
                stack.append(u.outputs[0])
            else:
                return None
    return tensors, finals


def run(graph: Graph) -> bool:
    changed = False
    consumers = graph.consumers()
    outputs = {id(t) for t in graph.outputs}
    for op in list(graph.ops):
        if op.type != "Elementwise" or op not in graph.ops:
            continue
        out = op.outputs[0]
        expr, dts = op.attrs["expr"], [t.dtype for t in op.inputs]
        if (out.dtype not in NARROW or expr[0] != "cast" or expr[1] != out.dtype
                or expr_dtype(expr[2], dts) not in ("float32", None)):
            continue
        r = whole_range(expr[2], dts)
        lo, hi = INT_RANGE[out.dtype]
        found = _closure(out, consumers, outputs) if r is not None and lo <= r[0] and r[1] <= hi else None
        if found is None:
            continue
        tensors, finals = found
        reads = [_reads(u.attrs["expr"], k) for u, t in finals for k, v in enumerate(u.inputs) if v is t]
        if not all(ok for ok, _ in reads):
            continue
        subtracted = [v for _, sub in reads for v in sub]
        offset = subtracted[0] if subtracted else 0.0
        value = expr[2] if expr_dtype(expr[2], dts) == "float32" else ["cast", "float32", expr[2]]
        op.attrs["expr"] = ["sub", value, ["cast", "float32", ["const", offset]]] if offset else value
        for t in tensors:
            t.dtype = "float32"
        for u in dict.fromkeys(u for u, _ in finals):
            e = u.attrs["expr"]
            for k, t in enumerate(u.inputs):
                if any(t is v for v in tensors):
                    e = _rewrite(e, k, offset)
            u.attrs["expr"] = e
            copy, src = u.outputs[0], u.inputs[0]
            if (e == ["in", 0] and len(u.inputs) == 1 and copy.shape == src.shape and copy.dtype == "float32"
                    and id(copy) not in outputs):
                graph.replace_uses(copy, src)
                graph.remove_op(u)
        consumers = graph.consumers()
        changed = True
    return changed
