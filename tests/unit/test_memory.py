import numpy as np

from webdnn.backend.memory import plan, storage_bytes
from webdnn.converter import load_graph
from webdnn.ir import Graph
from webdnn.ir.ops.elementwise import call, inp
from webdnn.passes.pipeline import optimize
from tests.models import mini_resnet


def chain(n, size=256):
    g = Graph()
    t = g.add_input("x", [size])
    for _ in range(n):
        (t,) = g.add_op("Elementwise", [t], {"expr": call("exp", inp(0))})
    g.outputs = [t]
    return g


def check_no_overlap(g, p):
    """Two tensors alive at the same time never share bytes (aliases excepted)."""
    life, alias_of = {}, {}
    for t in g.inputs:
        life[t.name] = [-1, -1]
    for i, op in enumerate(g.ops):
        for t in op.inputs:
            if t is not None and not t.is_constant:
                life[t.name][1] = i
        for t in op.outputs:
            life[t.name] = [i, i]
            if op.type == "Reshape":
                alias_of[t.name] = op.inputs[0].name
    for t in g.outputs:
        life[t.name][1] = len(g.ops)
    sizes = {t.name: storage_bytes(t) for t in list(g.inputs) + [o for op in g.ops for o in op.outputs]}
    names = list(life)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if alias_of.get(a) == b or alias_of.get(b) == a:
                continue
            (fa, la), (fb, lb) = life[a], life[b]
            if la < fb or lb < fa:
                continue
            oa, ob = p.offsets[a], p.offsets[b]
            assert oa + sizes[a] <= ob or ob + sizes[b] <= oa, f"{a} and {b} overlap while both alive"


def test_chain_reuses_two_buffers():
    g = chain(10)
    p = plan(g)
    assert p.arena_bytes == 2 * 1024 and p.total_bytes == 11 * 1024
    assert len({p.offsets[t.name] for op in g.ops for t in op.outputs}) == 2
    check_no_overlap(g, p)


def test_alignment_and_reshape_alias():
    g = Graph()
    x = g.add_input("x", [3])
    (a,) = g.add_op("Elementwise", [x], {"expr": call("exp", inp(0))})
    (b,) = g.add_op("Reshape", [a], {"shape": [1, 3]})
    (c,) = g.add_op("Elementwise", [b], {"expr": call("neg", inp(0))})
    g.outputs = [c]
    p = plan(g, alignment=256)
    assert all(o % 256 == 0 for o in p.offsets.values())
    assert p.offsets[a.name] == p.offsets[b.name]
    check_no_overlap(g, p)


def test_real_model_plan_is_valid_and_smaller():
    g = optimize(load_graph(mini_resnet()))
    p = plan(g)
    check_no_overlap(g, p)
    assert p.arena_bytes < p.total_bytes / 2
