"""The typed expression walk (backend/expr.py) exists once; WGSL and C (scalar and f32x4) supply
tables, literals and casts. Pins the text each dialect renders for representative trees and the
typing rules the walk applies (literals by context, bool operands, casts, where)."""
import numpy as np

from webdnn.backend.expr import ExprRenderer, kind_of
from webdnn.backend.wasm import render as R
from webdnn.backend.wasm.render import CRenderer, VectorRenderer, c_int
from webdnn.backend.webgpu.wgsl import RENDER, WGSLRenderer, store_value
from webdnn.ir.ops import elementwise as E


def wgsl(expr, dtypes, out):
    r = WGSLRenderer([(f"x{i}", d) for i, d in enumerate(dtypes)])
    return store_value(r.render(expr, kind_of(out), out), kind_of(out), out), r


def c(expr, dtypes, out):
    code, kind = R.render(expr, dtypes, lambda i: f"p{i}[j]", out)
    return R.store(code, kind, out)


def test_one_walk_and_tables_cover_every_primitive():
    for cls in (WGSLRenderer, CRenderer, VectorRenderer):
        assert cls.node is ExprRenderer.node and cls.render is ExprRenderer.render, cls
    assert set(WGSLRenderer.TABLE) == set(E.PRIMITIVES) == set(CRenderer.TABLE)
    assert set(VectorRenderer.TABLE) < set(E.PRIMITIVES)


RELU = ["max", ["in", 0], ["const", 0]]
LEAKY = ["where", ["lt", ["in", 0], ["const", 0]], ["mul", ["in", 0], ["const", 0.01]], ["in", 0]]


def test_vector_sigmoid_is_one_function():
    """reciprocal(1 + exp(-x)) (the IR's Sigmoid, SiLU's gate) renders as wd_sigmoid4 in f32x4 C and wd_sigmoidf in
    scalar C, with 1 on either side of the add; other trees with exp keep wd_exp4."""
    x = ["in", 0]
    sig = ["reciprocal", ["add", ["const", 1], ["exp", ["neg", x]]]]
    silu = ["mul", x, ["reciprocal", ["add", ["exp", ["neg", x]], ["const", 1.0]]]]
    assert R.render_vector(sig, lambda i: "v") == "wd_sigmoid4(v)"
    assert R.render_vector(silu, lambda i: "v") == "wasm_f32x4_mul(v, wd_sigmoid4(v))"
    other = ["reciprocal", ["add", ["const", 2], ["exp", ["neg", x]]]]
    assert "wd_exp4(" in R.render_vector(other, lambda i: "v") and "sigmoid" not in R.render_vector(other, lambda i: "v")
    assert c(sig, ["float32"], "float32") == "wd_sigmoidf(p0[j])"  # the scalar tail: lane 0 of the same code


def test_float_trees():
    text, r = wgsl(RELU, ["float32"], "float32")
    assert text == "fmax(x0, 0.0f)" and r.helpers == {"fmax", "isnan_f"}
    assert "fn isnan_f" in r.helper_code().split("\n")[0]  # a helper's dependencies come first
    assert c(RELU, ["float32"], "float32") == "wd_maxf(p0[j], ((float)0.0))"
    assert wgsl(LEAKY, ["float32"], "float32")[0] == "select(x0, (x0 * 0.01f), (x0 < 0.0f))"
    assert c(LEAKY, ["float32"], "float32") == "(((p0[j] < ((float)0.0))) != 0 ? (p0[j] * ((float)0.01)) : p0[j])"


def test_literals_take_the_type_of_their_context():
    e = ["add", ["in", 0], ["const", 2.5]]
    assert wgsl(e, ["int32"], "int32")[0] == "(x0 + 2i)"
    assert c(e, ["int32"], "int32") == "(int32_t)((int32_t)((uint32_t)p0[j] + (uint32_t)(2)))"
    # a literal compared with a float input is a float, whatever the result (bool) is
    assert wgsl(["gt", ["in", 0], ["const", 1]], ["float32"], "bool")[0] == "select(0i, 1i, (x0 > 1.0f))"
    # a cast's operand keeps the context, as the numpy reference evaluates it
    assert wgsl(["cast", "float32", ["const", 3]], ["int32"], "int32")[0] == "i32(f32(3i))"
    assert c(["cast", "float32", ["const", 3]], ["int32"], "int32") == "(int32_t)(wd_f2i((float)((3))))"


def test_casts_narrow_and_stores_convert():
    e = ["cast", "int8", ["add", ["in", 0], ["const", 1]]]
    assert wgsl(e, ["int32"], "int8")[0] == "(((((x0 + 1i) << 24u) >> 24u) << 24u) >> 24u)"
    assert c(e, ["int32"], "int8") == "(int8_t)((int32_t)(int8_t)((int32_t)((uint32_t)p0[j] + (uint32_t)(1))))"
    e = ["cast", "float16", ["in", 0]]
    assert wgsl(e, ["int32"], "float16")[0] == "f32(x0)"  # the shader stores FT, rounding itself
    assert c(e, ["int32"], "float16") == "wd_round_half(wd_round_half((float)(p0[j])))"
    assert c(["cast", "bool", ["in", 0]], ["float32"], "bool") == "(uint8_t)((((p0[j]) != 0)) != 0)"
    assert wgsl(["asint", ["in", 0]], ["float32"], "int32")[0] == "bitcast<i32>(x0)"


def test_bools_are_stored_as_integers():
    e = ["and", ["in", 0], ["isnan", ["in", 1]]]
    assert wgsl(e, ["bool", "float32"], "bool")[0] == "select(0i, 1i, ((x0 != 0i) && isnan_f(x1)))"
    assert c(e, ["bool", "float32"], "bool") == "(uint8_t)((((p0[j] != 0) & ((p1[j] != p1[j]) != 0))) != 0)"
    # arithmetic on bools computes on integers (numpy promotes them)
    assert wgsl(["add", ["in", 0], ["in", 0]], ["bool"], "int32")[0] == "(i32((x0 != 0i)) + i32((x0 != 0i)))"
    assert wgsl(["lt", ["in", 0], ["in", 1]], ["bool", "bool"], "bool")[0] == \
        "select(0i, 1i, (i32((x0 != 0i)) < i32((x1 != 0i))))"
    # a where condition is a bool wherever it comes from
    assert wgsl(["where", ["const", 1], ["in", 0], ["in", 0]], ["float32"], "float32")[0] == "select(x0, x0, true)"


def test_vector_form():
    e = ["max", ["add", ["in", 0], ["cast", "float32", ["const", 0.5]]], ["const", 0]]
    assert R.vectorizable(e, ["float32"])
    # max / min with a literal: pmax / pmin (one instruction), the literal second, so a NaN operand comes through
    assert R.render_vector(e, lambda i: f"v{i}") == \
        "wasm_f32x4_pmax(wasm_f32x4_add(v0, wasm_f32x4_splat(((float)0.5))), wasm_f32x4_splat(((float)0.0)))"
    assert R.render_vector(["min", ["const", 6.0], ["in", 0]], lambda i: f"v{i}") == \
        "wasm_f32x4_pmin(v0, wasm_f32x4_splat(((float)6.0)))"
    assert R.render_vector(["max", ["in", 0], ["in", 1]], lambda i: f"v{i}") == "wasm_f32x4_max(v0, v1)"
    assert R.render_vector(["max", ["in", 0], ["const", float("nan")]], lambda i: f"v{i}").startswith("wasm_f32x4_max(")
    assert not R.vectorizable(e, ["float16"]) and not R.vectorizable(LEAKY, ["float32"])
    assert not R.vectorizable(["cast", "float32", ["in", 0]], ["float16"])
    # a float32 value cast to float32 (the rounding point of the js backend's double arithmetic) is itself in C
    assert R.vectorizable(["cast", "float32", ["mul", ["in", 0], ["in", 0]]], ["float32"])
    assert R.render_vector(["cast", "float32", ["mul", ["in", 0], ["in", 0]]], lambda i: f"v{i}") == "wasm_f32x4_mul(v0, v0)"
    # an integer input read as one element (a zero point) may be cast to float32: its leaf splats it as float
    assert not R.vectorizable(["sub", ["in", 0], ["cast", "float32", ["in", 1]]], ["float32", "uint8"])
    assert R.vectorizable(["sub", ["in", 0], ["cast", "float32", ["in", 1]]], ["float32", "uint8"], {1})


def test_c_int_wraps_like_a_c_conversion():
    assert [c_int(v) for v in (5, -5, 2**31, 3e9, 1e30, "inf")] == \
        ["(5)", "(int32_t)(-5)", "(int32_t)0x80000000u", "(int32_t)(-1294967296)",
         f"({(int(1e30) + 2**31) % 2**32 - 2**31})", "0"]


def test_a_new_primitive_is_one_line_per_dialect(monkeypatch):
    monkeypatch.setitem(E.PRIMITIVES, "hypot", (2, np.hypot, "float"))
    monkeypatch.setattr(WGSLRenderer, "TABLE", {**RENDER, "hypot": {"f": "length(vec2<f32>({0}, {1}))"}})
    monkeypatch.setattr(CRenderer, "TABLE", {**CRenderer.TABLE, "hypot": {"f": "wd_hypotf({0}, {1})"}})
    e = ["hypot", ["in", 0], ["const", 1]]
    assert wgsl(e, ["float32"], "float32")[0] == "length(vec2<f32>(x0, 1.0f))"
    assert c(e, ["float32"], "float32") == "wd_hypotf(p0[j], ((float)1.0))"
