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
    """Two tensors alive at the same time never share bytes, except a tensor and the one whose bytes
    it lives in (a Reshape's output, a view); each of those lies where the plan says."""
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
    for inner, (outer, at) in p.inside.items():
        assert p.offsets[inner] == p.offsets[outer] + at
        alias_of[inner] = outer

    def group(n):
        while n in alias_of:
            n = alias_of[n]
        return n

    for t in g.outputs:
        life[t.name][1] = len(g.ops)
    sizes = {t.name: storage_bytes(t) for t in list(g.inputs) + [o for op in g.ops for o in op.outputs]}
    names = list(life)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if group(a) == group(b):
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


def _views_graph():
    """x -> e -> Slice [1, 8:16] (a view) and Slice every 2nd (not contiguous); e -> Split in 3 along
    axis 1 (views); two Elementwise results and e again -> Concat axis 1 (all three placed, e with its
    views); the same tensor twice in one Concat (placed once), a view of e in a Concat (copied)."""
    g = Graph()
    x = g.add_input("x", [1, 24])
    (e,) = g.add_op("Elementwise", [x], {"expr": call("exp", inp(0))})
    (v,) = g.add_op("Slice", [e], {"starts": [8], "ends": [16], "axes": [1]})
    (s2,) = g.add_op("Slice", [e], {"starts": [0], "ends": [24], "axes": [1], "steps": [2]})
    parts = g.add_op("Split", [e], {"axis": 1, "split": [4, 12, 8]})
    (a,) = g.add_op("Elementwise", [v], {"expr": call("neg", inp(0))})
    (b,) = g.add_op("Elementwise", [parts[1], s2], {"expr": call("add", inp(0), inp(1))})
    (c,) = g.add_op("Concat", [a, b, e], {"axis": 1})
    (d,) = g.add_op("Elementwise", [parts[2]], {"expr": call("neg", inp(0))})
    (c2,) = g.add_op("Concat", [d, d, parts[0]], {"axis": 1})
    g.outputs = [c, c2]
    return g, dict(e=e, v=v, s2=s2, parts=parts, a=a, b=b, c=c, d=d, c2=c2)


def test_contiguous_pieces_share_their_wholes_bytes():
    g, t = _views_graph()
    p = plan(g, contiguous_views=True)
    off = p.offsets
    assert off[t["v"].name] == off[t["e"].name] + 8 * 4            # Slice [8:16]: a view
    assert t["s2"].name not in p.inside                             # every 2nd element: copied
    assert [off[q.name] - off[t["e"].name] for q in t["parts"]] == [0, 16, 64]  # Split: views
    assert off[t["a"].name] == off[t["c"].name]                     # Concat inputs placed...
    assert off[t["b"].name] == off[t["c"].name] + 8 * 4
    assert off[t["e"].name] == off[t["c"].name] + 20 * 4            # ...its views move with it
    assert off[t["d"].name] == off[t["c2"].name] and list(p.inside).count(t["d"].name) == 1
    assert p.inside[t["parts"][0].name] == (t["e"].name, 0)        # already a view: copied into c2
    check_no_overlap(g, p)
    # without the option nothing but Reshape shares bytes
    assert not plan(g).inside


def test_no_views_across_batch_or_into_graph_inputs():
    g = Graph()
    x = g.add_input("x", [2, 6])
    (v,) = g.add_op("Slice", [x], {"starts": [2], "ends": [4], "axes": [1]})   # rows of 2 floats, 6 apart
    (w,) = g.add_op("Slice", [x], {"starts": [1], "ends": [2], "axes": [0]})   # the second row: a view
    (c,) = g.add_op("Concat", [x, x], {"axis": 1})                              # a graph input is never moved
    (e,) = g.add_op("Elementwise", [v], {"expr": call("neg", inp(0))})
    (f,) = g.add_op("Elementwise", [w], {"expr": call("neg", inp(0))})
    (c2,) = g.add_op("Concat", [e, e], {"axis": 1})                             # N = 2: pieces are strided
    g.outputs = [c, c2, f]
    p = plan(g, contiguous_views=True)
    assert set(p.inside) == {w.name} and p.offsets[w.name] == p.offsets[x.name] + 6 * 4
    check_no_overlap(g, p)
