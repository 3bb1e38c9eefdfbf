"""The WGSL dialect: the renderer table covers every expression primitive and each one computes
what the numpy reference computes (run natively through wgpu on lavapipe), and the index
helper's generated arithmetic is right."""
import re

import numpy as np
import pytest

from webdnn import descriptor
from webdnn.backend.webgpu import lower
from webdnn.backend.webgpu.indices import broadcast_offset, decompose, flat_groups, global_index, offset, strides
from webdnn.backend.webgpu.wgsl import HELPERS, RENDER, f32_lit, header
from webdnn.ir import Graph
from webdnn.ir.ops.elementwise import PRIMITIVES
from webdnn.ir.reference import run as reference_run
from webdnn.testing import compare


def test_renderer_table_covers_every_primitive():
    assert set(RENDER) == set(PRIMITIVES), "docs/descriptor.md primitives and the WGSL table differ"


# per primitive: a domain where numpy and WGSL agree (WGSL leaves e.g. log(-1) unspecified)
POS = np.array([0.1, 0.5, 1.0, 2.0, 3.5, 7.0, 0.25, 10.0], np.float32)
ANY = np.array([-3.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5, 4.0], np.float32)
UNIT = np.array([-0.9, -0.5, -0.1, 0.0, 0.2, 0.5, 0.7, 0.95], np.float32)
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -1.5, 2.0, np.nan, 1.0], np.float32)
FLOAT_DOMAIN = {"log": POS, "sqrt": POS, "reciprocal": POS, "acosh": POS + 1, "asin": UNIT, "acos": UNIT,
                "atanh": UNIT, "isnan": SPECIAL, "isinf": SPECIAL, "pow": POS}
INT_PRIMS = {"neg", "abs", "sign", "add", "sub", "mul", "div", "max", "min", "idiv", "imod", "lt", "le", "gt",
             "ge", "eq", "bnot", "shl", "shr", "band", "bor", "bxor", "pow", "floor", "ceil", "round"}
BOOL_PRIMS = {"not", "and", "or", "xor", "where", "eq"}
BIT_PRIMS = {"bnot", "shl", "shr", "band", "bor", "bxor"}  # integers only


def _graph_of_all_primitives():
    """One graph: every primitive over float inputs, the integer ones over int32 and uint8 inputs,
    the logical ones over bools, plus NaN-propagating max/min. Each result is a graph output."""
    g = Graph("primitives")
    feeds = {}

    def inp(name, data, dtype):
        feeds[name] = data
        return g.add_input(name, data.shape, dtype)

    outs = []
    rng = np.random.RandomState(0)
    bits = {"asint": ("float32", ANY), "asfloat": ("int32", np.array(  # +-0, 1, inf, pi, a NaN, big, -2
        [0, -2**31, 0x3f800000, 0x7f800000, 0x40490fdb, -1, 123456789, -1073741824], dtype=np.int32))}
    for prim, (dt, vals) in bits.items():
        (y,) = g.add_op("Elementwise", [inp(f"{prim}_x", vals.astype(dt), dt)], {"expr": [prim, ["in", 0]]},
                        name=prim, output_names=[prim])
        outs.append(y)
    for prim, (arity, _, kind) in PRIMITIVES.items():
        if prim == "where" or prim in bits:
            continue
        dom = FLOAT_DOMAIN.get(prim, ANY)
        if prim not in BIT_PRIMS:
            args = [inp(f"{prim}_f{i}", np.roll(dom, i), "float32") for i in range(arity)]
            (y,) = g.add_op("Elementwise", args, {"expr": [prim, *(["in", i] for i in range(arity))]},
                            name=f"{prim}_f", output_names=[f"{prim}_f"])
            outs.append(y)
        if prim in INT_PRIMS:
            for dt, lo, hi in (("int32", -7, 8), ("uint8", 0, 256)):
                vals = [rng.randint(lo, hi, 8).astype(dt) for _ in range(arity)]
                if prim in ("div", "idiv", "imod"):
                    vals[1] = np.where(vals[1] == 0, 3, vals[1]).astype(dt)
                if prim in ("shl", "shr", "pow"):
                    vals[1] = rng.randint(0, 6, 8).astype(dt)
                args = [inp(f"{prim}_{dt}{i}", v, dt) for i, v in enumerate(vals)]
                (y,) = g.add_op("Elementwise", args, {"expr": [prim, *(["in", i] for i in range(arity))]},
                                name=f"{prim}_{dt}", output_names=[f"{prim}_{dt}"])
                outs.append(y)
        if prim in BOOL_PRIMS:
            args = [inp(f"{prim}_b{i}", rng.rand(8) > 0.5, "bool") for i in range(arity)]
            (y,) = g.add_op("Elementwise", args, {"expr": [prim, *(["in", i] for i in range(arity))]},
                            name=f"{prim}_b", output_names=[f"{prim}_b"])
            outs.append(y)
    for prim in ("max", "min"):  # NaN and infinities propagate as numpy says
        args = [inp(f"{prim}_s{i}", np.roll(SPECIAL, 3 * i), "float32") for i in range(2)]
        (y,) = g.add_op("Elementwise", args, {"expr": [prim, ["in", 0], ["in", 1]]}, name=f"{prim}_special",
                        output_names=[f"{prim}_special"])
        outs.append(y)
    c = inp("where_c", rng.rand(8) > 0.5, "bool")
    a = inp("where_a", ANY, "float32")
    i = inp("where_i", np.arange(8, dtype=np.int32), "int32")
    expr = ["where", ["in", 0], ["in", 1], ["cast", "float32", ["in", 2]]]
    (y,) = g.add_op("Elementwise", [c, a, i], {"expr": expr}, name="where_mixed", output_names=["where_mixed"])
    outs.append(y)
    for dt in ("int32", "uint8", "int8", "bool", "float32"):
        (y,) = g.add_op("Elementwise", [a], {"expr": ["cast", dt, ["mul", ["in", 0], ["const", 37.5]]]},
                        name=f"cast_{dt}", output_names=[f"cast_{dt}"])
        outs.append(y)
    (y,) = g.add_op("Elementwise", [a], {"expr": ["add", ["in", 0], ["const", "inf"]]}, name="plus_inf",
                    output_names=["plus_inf"])
    outs.append(y)
    g.outputs = outs
    return g, feeds


def test_every_primitive_matches_the_reference(tmp_path, runners):
    g, feeds = _graph_of_all_primitives()
    descriptor.write(g, tmp_path, {"webgpu": lower(g)})
    got = runners["native"].run(tmp_path, feeds, backend="webgpu")
    expected = reference_run(g, feeds)
    failures = []
    for name, e in expected.items():
        a = got[name]
        if e.dtype == np.bool_:
            a = a.astype(np.bool_)
        msg = compare(a, e, "webgpu", name)
        if msg:
            failures.append(msg)
    assert not failures, "\n".join(failures)


def test_non_finite_literals_compile(runners):
    """Literals never put NaN/inf into a constant expression (compilers reject that)."""
    wgpu = runners["native"].wgpu
    device = runners["native"].device
    vals = [float("nan"), float("inf"), -float("inf"), 1e-40, -0.0, 3.0, 1e-5, 1e30, -2.5e-7, 3.4e38]
    from webdnn.backend.webgpu.indices import PRELUDE
    body = "\n".join(f"  v = v + {f32_lit(x)};" for x in vals)
    helpers = "\n".join(HELPERS.values())
    code = (f"{header('f32')}{PRELUDE}\n{helpers}\n@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n"
            f"@compute @workgroup_size(1) fn main() {{\n  var v = 0.0;\n{body}\n  o[0] = v;\n}}\n")
    device.create_compute_pipeline(layout="auto", compute={"module": device.create_shader_module(code=code),
                                                           "entry_point": "main"})
    assert wgpu is not None


def _py(expr: str) -> str:
    """A generated WGSL u32 expression as Python (literals drop their suffix, / floors)."""
    return re.sub(r"\b(\d+)u\b", r"\1", expr).replace("/", "//")


@pytest.mark.parametrize("shape", [(3,), (2, 1, 4), (1, 1, 1), (5, 3, 1, 2), (2, 3, 4, 5), ()])
def test_decompose_and_offsets(shape):
    lines, idx = decompose("flat", shape, "i")
    code = "\n".join(_py(ln.removeprefix("let ").rstrip(";")) for ln in lines)
    tr = strides(shape[::-1] if shape else ())  # a second layout: the reversed axes
    n = int(np.prod(shape)) if shape else 1
    for flat in range(n):
        env = {"flat": flat}
        exec(code, env)
        got = tuple(eval(_py(i), env) for i in idx)
        assert got == (np.unravel_index(flat, shape) if shape else ())
        assert eval(_py(offset(idx, strides(shape))), env) == flat
        assert eval(_py(offset(idx, tr[::-1] if shape else [])), env) == sum(a * b for a, b in zip(got, tr[::-1]))


def test_broadcast_offset():
    out_shape = (2, 3, 4)
    lines, idx = decompose("flat", out_shape, "i")
    code = "\n".join(_py(ln.removeprefix("let ").rstrip(";")) for ln in lines)
    for in_shape in [(3, 1), (4,), (2, 1, 4), (1,), (2, 3, 4)]:
        src = np.arange(int(np.prod(in_shape))).reshape(in_shape)
        want = np.broadcast_to(src, out_shape).reshape(-1)
        for flat in range(int(np.prod(out_shape))):
            env = {"flat": flat}
            exec(code, env)
            assert eval(_py(broadcast_offset(in_shape, idx)), env) == want[flat]


def test_large_grids_use_two_dimensions():
    assert flat_groups(1000) == (4, 1, 1)
    gx, gy, _ = flat_groups(70000 * 256)
    assert gx == 65535 and gx * gy * 256 >= 70000 * 256
    assert "wid.y" in global_index(65535) and "wid.y" not in global_index(4)


def test_no_helper_bitcasts_a_literal():
    """Browsers' WGSL compilers evaluate bitcast<f32>(literal) at compile time and reject NaN or an
    infinity; helpers get them from f_nan() / f_inf() (private variables) instead."""
    import re
    bad = [name for name, code in HELPERS.items() if re.search(r"bitcast<f32>\(\s*0x", code)]
    assert not bad, bad
