"""Each pass on a small hand-built graph: same reference result, and the graph changed as said."""
import numpy as np

from webdnn.ir import Graph, reference
from webdnn.ir.ops.elementwise import call, inp
from webdnn.passes import (fold_constants, remove_identity, remove_dead, fold_batchnorm, lower_batchnorm,
                           lower_gemm, fuse_elementwise, fold_pad, split_pool3d,
                           split_conv_transpose3d, simplify_elementwise)
from webdnn.passes.pipeline import optimize
from webdnn.testing import assert_close

rng = np.random.RandomState(0)


def snapshot(g, feeds):
    return {k: v.copy() for k, v in reference.run(g, feeds).items()}


def check_same(g, feeds, before):
    g.verify()
    after = reference.run(g, feeds)
    assert set(after) == set(before)
    for k in before:
        assert_close(after[k], before[k], "reference", k)


def types(g):
    return [op.type for op in g.ops]


def test_fold_constants_folds_shape_chains():
    g = Graph()
    x = g.add_input("x", [2, 3, 4])
    (s,) = g.add_op("Shape", [x])
    (s0,) = g.add_op("Slice", [s], {"starts": [0], "ends": [1]})
    (c,) = g.add_op("Elementwise", [s0], {"expr": call("cast", "float32", inp(0))})
    (y,) = g.add_op("Elementwise", [x, g.constant(np.ones((2, 1, 1), np.float32))], {"expr": call("add", inp(0), inp(1))})
    (z,) = g.add_op("Elementwise", [y, g.add_op("Reshape", [c], {"shape": [1, 1, 1]})[0]],
                    {"expr": call("mul", inp(0), inp(1))})
    g.outputs = [z]
    feeds = {"x": rng.rand(2, 3, 4).astype(np.float32)}
    before = snapshot(g, feeds)
    assert fold_constants.run(g)
    assert types(g) == ["Elementwise", "Elementwise"]
    assert g.ops[1].inputs[1].is_constant and g.ops[1].inputs[1].data.tolist() == [[[2.0]]]
    check_same(g, feeds, before)
    assert not fold_constants.run(g)  # nothing left to do: unchanged


def test_fold_constants_keeps_output_names_when_an_output_folds():
    g = Graph()
    x = g.add_input("x", [2])
    (s,) = g.add_op("Shape", [x], output_names=["shape_out"])
    g.outputs = [s]
    fold_constants.run(g)
    g.verify()
    assert g.outputs[0].name == "shape_out" and types(g) == ["Identity"]
    assert reference.run(g, {"x": np.zeros(2, np.float32)})["shape_out"].tolist() == [2]
    assert not fold_constants.run(g)


def test_remove_identity():
    g = Graph()
    x = g.add_input("x", [3])
    (a,) = g.add_op("Elementwise", [x], {"expr": call("exp", inp(0))})
    (b,) = g.add_op("Identity", [a])
    (c,) = g.add_op("Identity", [b], output_names=["out"])
    g.outputs = [c]
    feeds = {"x": rng.rand(3).astype(np.float32)}
    before = snapshot(g, feeds)
    assert remove_identity.run(g)
    assert types(g) == ["Elementwise"] and g.outputs[0].name == "out"
    check_same(g, feeds, before)


def test_remove_identity_keeps_identity_of_an_input_output():
    g = Graph()
    x = g.add_input("x", [3])
    (y,) = g.add_op("Identity", [x], output_names=["y"])
    g.outputs = [y]
    assert not remove_identity.run(g)
    assert types(g) == ["Identity"]


def test_remove_identity_takes_an_elementwise_pass_through():
    """An Elementwise that is its input unchanged (what simplify_elementwise leaves of a Cast to the type the
    tensor has: LayerNormalization's function body starts with one) goes like an Identity; one that changes
    the dtype, or reads two inputs, stays. optimize() removes it after the simplification."""
    g = Graph()
    x = g.add_input("x", [2, 3])
    (b,) = g.add_op("Elementwise", [x], {"expr": call("cast", "float32", inp(0))})  # float32 to float32
    (m,) = g.add_op("Reduce", [b], {"kind": "mean", "axes": [1], "keepdims": 1})
    (c,) = g.add_op("Elementwise", [b, m], {"expr": call("sub", inp(0), inp(1))})
    (i,) = g.add_op("Elementwise", [c], {"expr": call("cast", "int32", inp(0))})  # a real cast: stays
    g.outputs = [c, i]
    feeds = {"x": rng.rand(2, 3).astype(np.float32)}
    before = snapshot(g, feeds)
    optimize(g, verify=True)
    kept = [op for op in g.ops if op.type == "Elementwise"]
    assert not any(op.attrs["expr"] == ["in", 0] for op in kept)
    assert types(g).count("Reduce") == 1 and any(op.outputs[0].dtype == "int32" for op in kept)
    check_same(g, feeds, before)
    g2 = Graph()
    y = g2.add_input("y", [3])
    (z,) = g2.add_op("Elementwise", [y], {"expr": inp(0)}, output_names=["z"])
    g2.outputs = [z]
    assert not remove_identity.run(g2)  # an output's own name for an input: kept


def test_remove_dead():
    g = Graph()
    x = g.add_input("x", [3])
    (a,) = g.add_op("Elementwise", [x], {"expr": call("exp", inp(0))})
    g.add_op("Elementwise", [x], {"expr": call("log", inp(0))})
    g.outputs = [a]
    assert remove_dead.run(g)
    assert types(g) == ["Elementwise"] and g.ops[0].attrs["expr"][0] == "exp"


def _bn_params(g, c):
    return [g.constant(rng.rand(c).astype(np.float32) + 0.5) for _ in range(2)] + \
           [g.constant(rng.rand(c).astype(np.float32)), g.constant(rng.rand(c).astype(np.float32) + 0.1)]


def test_fold_batchnorm_into_conv():
    g = Graph()
    x = g.add_input("x", [1, 3, 6, 6])
    w = g.constant(rng.randn(4, 3, 3, 3).astype(np.float32))
    (h,) = g.add_op("Conv", [x, w], {"pads": [1, 1, 1, 1]})
    (y,) = g.add_op("BatchNormalization", [h, *_bn_params(g, 4)], {"epsilon": 1e-3})
    g.outputs = [y]
    feeds = {"x": rng.randn(1, 3, 6, 6).astype(np.float32)}
    before = snapshot(g, feeds)
    assert fold_batchnorm.run(g)
    assert types(g) == ["Conv"] and len(g.ops[0].inputs) == 3
    check_same(g, feeds, before)


def test_fold_batchnorm_into_gemm():
    g = Graph()
    x = g.add_input("x", [2, 5])
    (h,) = g.add_op("Gemm", [x, g.constant(rng.randn(4, 5).astype(np.float32)), g.constant(rng.randn(4).astype(np.float32))],
                    {"transB": 1, "beta": 0.5})
    (y,) = g.add_op("BatchNormalization", [h, *_bn_params(g, 4)])
    g.outputs = [y]
    feeds = {"x": rng.randn(2, 5).astype(np.float32)}
    before = snapshot(g, feeds)
    assert fold_batchnorm.run(g)
    assert types(g) == ["Gemm"]
    check_same(g, feeds, before)


def test_batchnorm_not_folded_when_conv_output_is_shared_then_lowered():
    g = Graph()
    x = g.add_input("x", [1, 2, 4, 4])
    (h,) = g.add_op("Conv", [x, g.constant(rng.randn(2, 2, 1, 1).astype(np.float32))])
    (y,) = g.add_op("BatchNormalization", [h, *_bn_params(g, 2)])
    (z,) = g.add_op("Elementwise", [h, y], {"expr": call("add", inp(0), inp(1))})
    g.outputs = [z]
    feeds = {"x": rng.randn(1, 2, 4, 4).astype(np.float32)}
    before = snapshot(g, feeds)
    assert not fold_batchnorm.run(g)
    assert lower_batchnorm.run(g)
    assert types(g) == ["Conv", "Elementwise", "Elementwise"]
    check_same(g, feeds, before)


def test_lower_gemm():
    g = Graph()
    x = g.add_input("x", [5, 3])
    (y,) = g.add_op("Gemm", [x, g.constant(rng.randn(4, 5).astype(np.float32)), g.constant(rng.randn(3, 4).astype(np.float32))],
                    {"transA": 1, "transB": 1, "alpha": 2.0, "beta": 0.5})
    g.outputs = [y]
    feeds = {"x": rng.randn(5, 3).astype(np.float32)}
    before = snapshot(g, feeds)
    assert lower_gemm.run(g)
    assert types(g) == ["Transpose", "MatMul", "Elementwise"]  # the constant B's transpose folded away
    check_same(g, feeds, before)


def test_pipeline_end_to_end_verifies_between_passes():
    g = Graph()
    x = g.add_input("x", [1, 3, 6, 6])
    (h,) = g.add_op("Conv", [x, g.constant(rng.randn(4, 3, 3, 3).astype(np.float32))])
    (h,) = g.add_op("BatchNormalization", [h, *_bn_params(g, 4)])
    (h,) = g.add_op("Identity", [h])
    (h,) = g.add_op("Reshape", [h], {"shape": [1, 64]})
    (y,) = g.add_op("Gemm", [h, g.constant(rng.randn(64, 10).astype(np.float32))])
    g.outputs = [y]
    feeds = {"x": rng.randn(1, 3, 6, 6).astype(np.float32)}
    before = snapshot(g, feeds)
    optimize(g, verify=True)
    assert types(g) == ["Conv", "Reshape", "MatMul"]
    check_same(g, feeds, before)


def test_fuse_elementwise_chain_into_one_expression():
    g = Graph()
    x = g.add_input("x", [2, 3])
    s = g.constant(rng.rand(3).astype(np.float32))
    (a,) = g.add_op("Elementwise", [x, s], {"expr": call("mul", inp(0), inp(1))})
    (b,) = g.add_op("Elementwise", [a, x], {"expr": call("add", inp(0), inp(1))})  # x used twice: shared input
    (c,) = g.add_op("Elementwise", [b], {"expr": call("max", inp(0), 0)})
    g.outputs = [c]
    feeds = {"x": rng.randn(2, 3).astype(np.float32)}
    before = snapshot(g, feeds)
    assert fuse_elementwise.run(g)
    assert types(g) == ["Elementwise"] and len(g.ops[0].inputs) == 2  # x appears once
    check_same(g, feeds, before)


def test_fuse_elementwise_leaves_shared_and_broadcast_producers():
    g = Graph()
    x = g.add_input("x", [2, 3])
    y = g.add_input("y", [4, 2, 3])
    (a,) = g.add_op("Elementwise", [x], {"expr": call("exp", inp(0))})
    (b,) = g.add_op("Elementwise", [a, y], {"expr": call("add", inp(0), inp(1))})  # a is broadcast here
    (c,) = g.add_op("Elementwise", [x], {"expr": call("neg", inp(0))})
    (d,) = g.add_op("Elementwise", [c], {"expr": call("abs", inp(0))})
    (e,) = g.add_op("Elementwise", [c], {"expr": call("sqrt", inp(0))})  # c has two consumers
    g.outputs = [b, d, e]
    assert not fuse_elementwise.run(g)
    assert len(g.ops) == 5


def test_fold_zero_pad_into_conv():
    g = Graph()
    x = g.add_input("x", [1, 2, 5, 5])
    (p,) = g.add_op("Pad", [x], {"pads": [0, 0, 1, 2, 0, 0, 3, 0]})
    (y,) = g.add_op("Conv", [p, g.constant(rng.randn(3, 2, 3, 3).astype(np.float32))], {"pads": [1, 0, 0, 1]})
    g.outputs = [y]
    feeds = {"x": rng.randn(1, 2, 5, 5).astype(np.float32)}
    before = snapshot(g, feeds)
    assert fold_pad.run(g)
    assert types(g) == ["Conv"] and g.ops[0].attrs["pads"] == [2, 2, 3, 1]
    check_same(g, feeds, before)


def test_pad_with_a_value_or_on_channels_stays():
    for pads, value in (([0, 0, 1, 1, 0, 0, 1, 1], 1.0), ([0, 1, 0, 0, 0, 0, 0, 0], 0.0)):
        g = Graph()
        x = g.add_input("x", [1, 2, 5, 5])
        (p,) = g.add_op("Pad", [x], {"pads": pads, "value": value})
        (y,) = g.add_op("Conv", [p, g.constant(np.ones((3, p.shape[1], 3, 3), np.float32))])
        g.outputs = [y]
        assert not fold_pad.run(g)


def test_split_pool3d_into_two_2d_pools():
    """Max and average (with and without the pads in the divisor), strides, dilations, ceil mode."""
    for attrs in ({"kind": "max", "kernel_shape": [2, 3, 2], "strides": [2, 1, 2], "pads": [1, 0, 1, 0, 1, 1],
                   "dilations": [1, 2, 1], "ceil_mode": 1},
                  {"kind": "avg", "kernel_shape": [3, 2, 3], "strides": [1, 2, 2], "pads": [1, 1, 0, 1, 0, 1],
                   "count_include_pad": 0, "ceil_mode": 1},
                  {"kind": "avg", "kernel_shape": [2, 2, 2], "pads": [1, 1, 1, 1, 1, 1], "count_include_pad": 1}):
        g = Graph()
        x = g.add_input("x", [2, 3, 5, 6, 7])
        (y,) = g.add_op("Pool", [x], attrs)
        g.outputs = [y]
        feeds = {"x": rng.randn(2, 3, 5, 6, 7).astype(np.float32)}
        before = snapshot(g, feeds)
        assert split_pool3d.run(g)
        assert types(g) == ["Reshape", "Pool", "Reshape", "Pool", "Reshape"]
        assert all(len(op.inputs[0].shape) == 4 for op in g.ops if op.type == "Pool")
        check_same(g, feeds, before)


def test_split_conv_transpose3d_into_2d_ones():
    """Depth stride, dilation, pads that crop (also past a whole kernel slice), output padding, groups, bias."""
    for attrs, bias in (({"strides": [2, 1, 2], "pads": [1, 0, 0, 1, 1, 0], "dilations": [1, 2, 1],
                          "output_padding": [1, 0, 1], "group": 1}, True),
                        ({"strides": [1, 2, 1], "pads": [2, 1, 1, 2, 0, 1], "dilations": [2, 1, 1], "group": 3}, False),
                        ({"strides": [3, 1, 1], "pads": [0, 0, 0, 0, 0, 0], "group": 1}, True)):
        g = Graph()
        x = g.add_input("x", [2, 3, 4, 5, 3])
        w = g.constant(rng.randn(3, 2, 3, 2, 2).astype(np.float32))
        ins = [x, w] + ([g.constant(rng.randn(2 * attrs["group"]).astype(np.float32))] if bias else [])
        (y,) = g.add_op("ConvTranspose", ins, attrs)
        g.outputs = [y]
        feeds = {"x": rng.randn(2, 3, 4, 5, 3).astype(np.float32)}
        before = snapshot(g, feeds)
        assert split_conv_transpose3d.run(g)
        assert "ConvTranspose" in types(g) and all(len(op.inputs[0].shape) == 4 for op in g.ops
                                                    if op.type == "ConvTranspose")
        check_same(g, feeds, before)


def test_simplify_elementwise_inlines_scalars_and_removes_pow_and_division():
    g = Graph()
    x = g.add_input("x", [2, 5])
    m = g.add_input("m", [2, 1])
    two, root2, half = (g.constant(np.array(v, np.float32)) for v in (2.0, 1.4142135, 0.5))
    (v,) = g.add_op("Elementwise", [x, m, two], {"expr": call("pow", call("sub", inp(0), inp(1)), inp(2))})
    (gelu,) = g.add_op("Elementwise", [v, root2, half],
                       {"expr": call("mul", call("mul", inp(0), call("erf", call("div", inp(0), inp(1)))), inp(2))})
    g.outputs = [gelu]
    feeds = {"x": rng.randn(2, 5).astype(np.float32), "m": rng.randn(2, 1).astype(np.float32)}
    before = snapshot(g, feeds)
    assert simplify_elementwise.run(g)
    (a, b) = g.ops
    assert a.inputs == [x, m] and a.attrs["expr"][0] == "mul" and "pow" not in str(a.attrs["expr"])
    assert b.inputs == [v] and "div" not in str(b.attrs["expr"]) and "'in', 1" not in str(b.attrs["expr"])
    check_same(g, feeds, before)
    assert not simplify_elementwise.run(g)  # a second run changes nothing


def test_simplify_elementwise_keeps_what_sets_the_shape_and_integer_division():
    g = Graph()
    x = g.add_input("x", [3])
    wide = g.constant(np.full((2, 1), 3.0, np.float32))  # one value, but it broadcasts x to [2, 3]
    (y,) = g.add_op("Elementwise", [x, wide], {"expr": call("add", inp(0), inp(1))})
    k = g.add_input("k", [4], "int32")
    three = g.constant(np.array(3, np.int32))
    (q,) = g.add_op("Elementwise", [k, three], {"expr": call("div", inp(0), inp(1))})
    g.outputs = [y, q]
    feeds = {"x": rng.randn(3).astype(np.float32), "k": np.array([7, -7, 9, 2], np.int32)}
    before = snapshot(g, feeds)
    simplify_elementwise.run(g)
    assert len(g.ops[0].inputs) == 2  # kept: it sets the shape
    assert g.ops[1].inputs == [k] and g.ops[1].attrs["expr"][0] == "div"  # inlined, still a division
    check_same(g, feeds, before)


def test_simplify_elementwise_drops_integer_round_trips_the_type_holds():
    """cast(float, cast(int8, clamp(round(x) + zp))) - a quantize-dequantize pair - is the float value
    itself (whole numbers within int8), so the expression stays vectorizable; a round trip the type may
    not hold (round without a clamp to int8's range) and identity casts of cast chains are handled apart."""
    from webdnn.backend.wasm.render import vectorizable
    g = Graph()
    x = g.add_input("x", [64])
    q = call("min", call("max", call("add", call("round", call("div", inp(0), 0.05)), 3.0), -128.0), 127.0)
    (y,) = g.add_op("Elementwise", [x], {"expr": call("mul", call("sub", call("cast", "float32", call("cast", "int8", q)), 3.0), 0.05)})
    (z,) = g.add_op("Elementwise", [x], {"expr": call("cast", "float32", call("cast", "int8", call("round", inp(0))))})
    (u,) = g.add_op("Elementwise", [x], {"expr": call("cast", "float32", call("cast", "uint8", q))})  # -128 is outside uint8
    g.outputs = [y, z, u]
    feeds = {"x": (rng.randn(64) * 8).astype(np.float32)}
    before = snapshot(g, feeds)
    assert simplify_elementwise.run(g)
    a, b, c = (op.attrs["expr"] for op in g.ops)
    assert "int8" not in str(a) and vectorizable(a, ["float32"])
    assert "int8" in str(b) and "uint8" in str(c)
    check_same(g, feeds, before)


def test_widen_quantized_keeps_8bit_activations_as_float_whole_numbers():
    """A requantization to uint8 read by two pointwise consumers (one centering it for a Conv, one
    dequantizing it) keeps its float value minus the zero point; the centering copy goes, the Conv reads
    the producer; through a max Pool too; a uint8 graph output and a value an average Pool reads keep
    their type."""
    from webdnn.passes import widen_quantized
    g = Graph()
    x = g.add_input("x", [1, 4, 6, 6])
    w = g.constant(rng.randn(4, 4, 1, 1).astype(np.float32))
    q = call("cast", "uint8", call("min", call("max", call("add", call("round", call("mul", inp(0), 20.0)), 7.0), 0.0), 255.0))
    (a,) = g.add_op("Elementwise", [x], {"expr": q})
    (centered,) = g.add_op("Elementwise", [a], {"expr": call("sub", call("cast", "float32", inp(0)), 7.0)})
    (y,) = g.add_op("Conv", [centered, w], {})
    (dq,) = g.add_op("Elementwise", [a], {"expr": call("mul", call("sub", call("cast", "float32", inp(0)), 7.0), 0.05)})
    (b,) = g.add_op("Elementwise", [x], {"expr": q})  # through a max Pool to a dequantization: widened
    (p,) = g.add_op("Pool", [b], {"kind": "max", "kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0]})
    (pdq,) = g.add_op("Elementwise", [p], {"expr": call("mul", call("sub", call("cast", "float32", inp(0)), 7.0), 0.05)})
    (v,) = g.add_op("Elementwise", [x], {"expr": q})  # read by an average Pool: stays uint8
    (avg,) = g.add_op("Pool", [v], {"kind": "avg", "kernel_shape": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0]})
    (o,) = g.add_op("Elementwise", [x], {"expr": q})  # a graph output: stays uint8
    g.outputs = [y, dq, pdq, avg, o]
    feeds = {"x": rng.randn(1, 4, 6, 6).astype(np.float32)}
    before = snapshot(g, feeds)
    assert widen_quantized.run(g)
    assert a.dtype == b.dtype == p.dtype == "float32" and v.dtype == "uint8" and o.dtype == "uint8"
    conv = next(op for op in g.ops if op.type == "Conv")
    assert conv.inputs[0] is a and len([op for op in g.ops if op.type == "Elementwise"]) == 6
    assert "cast" not in str(next(op for op in g.ops if op.outputs[0] is dq).attrs["expr"])
    check_same(g, feeds, before)
    assert not widen_quantized.run(g)
