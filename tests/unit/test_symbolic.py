"""Symbolic sizes (ir/symbolic.py) and the graphs built on them: canonical arithmetic, bounds,
text round trips, and an ONNX model with open dims imported with them kept."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from webdnn.errors import ShapeError
from webdnn.ir.symbolic import Sym, broadcast_shapes, evaluate, int_array, parse, prod, substitute, symbols

seq, past, b = Sym("seq"), Sym("past"), Sym("batch")


def test_arithmetic_is_canonical():
    assert (seq + 1) * 2 - seq == seq + 2
    assert seq + past == past + seq and hash(seq + past) == hash(past + seq)
    assert (2 * seq + 1) // 2 == seq
    assert (seq * 768) // (seq * 12) == 64
    assert (seq + 1) - seq == 1 and isinstance((seq + 1) - seq, int)  # constant results are ints
    assert (4 * seq + 3) % 4 == 3
    assert prod([b, seq, 64]) == 64 * b * seq
    with pytest.raises(ShapeError):
        (seq + 1) // past  # not an exact division


def test_comparisons_decide_from_bounds_or_refuse():
    assert min(2**62, seq) == seq and max(seq - 1, seq) == seq
    assert seq >= 0 and not (seq < 0)
    assert seq != 1  # structural: broadcasting keeps the symbol
    with pytest.raises(ShapeError, match="depends on the value of seq"):
        seq < 5
    with pytest.raises(ShapeError, match="fixed size"):
        int(seq)
    with pytest.raises(ShapeError, match="fixed size"):
        np.zeros((seq, 2))


def test_text_round_trip_and_evaluation():
    for e in (seq + past, (seq - 1) // 2 + 1, 2 * ((seq - 1) // 2), b * seq * 64, seq % 3, -seq + 5):
        assert parse(str(e)) == e
        env = {"seq": 11, "past": 4, "batch": 3}
        py = eval(str(e), {}, env)  # the text is Python: floor division and modulo
        assert evaluate(e, env) == py
    assert parse("(h - 1) // 2 + 1") == (Sym("h") - 1) // 2 + 1
    assert substitute(seq * past + 1, {"past": 2}) == 2 * seq + 1
    assert symbols([(b, seq * past, 3)]) == {"batch", "seq", "past"}
    with pytest.raises(ShapeError):
        parse("seq +")
    with pytest.raises(ShapeError):
        Sym("1x")


def test_broadcast_and_symbolic_arrays():
    assert broadcast_shapes((b, 1, seq), (1, 4, seq)) == (b, 4, seq)
    assert broadcast_shapes((2, 3), (3,)) == (2, 3)
    with pytest.raises(ShapeError, match="do not broadcast"):
        broadcast_shapes((seq,), (5,))
    a = int_array([b, 3, seq])
    assert a.dtype == object and list(a) == [b, 3, seq]
    assert int_array([1, 2]).dtype == np.int64


def _model_with_open_dims():
    """x [batch, seq, 8] → Shape/Gather/Concat arithmetic → Reshape [batch, seq * 2, 4] → Relu; and
    a Range over seq added as positions."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        helper.make_node("Gather", ["s", "i1"], ["t"], axis=0),
        helper.make_node("Mul", ["t", "two"], ["t2"]),
        helper.make_node("Concat", ["n", "t2", "four"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Relu", ["r"], ["y0"]),
        helper.make_node("Squeeze", ["t2"], ["lim"]),
        helper.make_node("Range", ["zero", "lim", "one"], ["pos"]),
        helper.make_node("Cast", ["pos"], ["posf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["posf", "ax1"], ["posc"]),
        helper.make_node("Add", ["y0", "posc"], ["y"]),
    ]
    inits = [helper.make_tensor("i0", TensorProto.INT64, [1], [0]), helper.make_tensor("i1", TensorProto.INT64, [1], [1]),
             helper.make_tensor("two", TensorProto.INT64, [1], [2]), helper.make_tensor("four", TensorProto.INT64, [1], [4]),
             helper.make_tensor("zero", TensorProto.INT64, [], [0]), helper.make_tensor("one", TensorProto.INT64, [], [1]),
             helper.make_tensor("ax1", TensorProto.INT64, [1], [1])]
    g = helper.make_graph(nodes, "open", [x], [y], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_import_keeps_open_dims_and_folds_shape_arithmetic():
    from webdnn.frontend.onnx import import_onnx
    from webdnn.passes.pipeline import optimize
    g = import_onnx(_model_with_open_dims(), symbolic=True)
    batch, s = Sym("batch"), Sym("seq")
    assert g.inputs[0].shape == (batch, s, 8)
    assert g.outputs[0].shape == (batch, 2 * s, 4)
    optimize(g)
    g.verify()
    reshape = next(op for op in g.ops if op.type == "Reshape")
    assert reshape.attrs["shape"] == [batch, 2 * s, 4]  # Shape → Gather → Mul → Concat folded symbolically
    assert not any(op.type == "Shape" for op in g.ops)
    fixed = import_onnx(_model_with_open_dims())  # without symbolic: 1 for every open dim, as before
    assert fixed.inputs[0].shape == (1, 1, 8)


def test_js_lowering_writes_sizes_and_symbolic_attrs(tmp_path):
    """A size used as data (cast to float and added) stays an op whose input the runtime evaluates
    per binding ("sizes"); tensor shapes are written as expression text."""
    import json
    from webdnn import convert
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
             helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
             helper.make_node("Add", ["x", "nf"], ["xa"]),
             helper.make_node("Reshape", ["xa", "flat"], ["y"])]
    inits = [helper.make_tensor("i0", TensorProto.INT64, [], [0]), helper.make_tensor("flat", TensorProto.INT64, [1], [-1])]
    m = helper.make_model(helper.make_graph(nodes, "sizes", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    summary = convert(m, tmp_path / "d", backends=["js"])
    assert summary["outputs"][0]["dims"] == ["3*n"]
    g = json.loads((tmp_path / "d" / "graph_js.json").read_text())
    assert g["symbols"] == {"n": 1}
    assert [v["values"] for v in g["sizes"].values()] == [["n"]]
    assert g["tensors"]["x"]["shape"] == ["n", 3] and g["tensors"]["y"]["shape"] == ["3*n"]


def test_symbolic_attrs_are_marked():
    from webdnn.backend.js.lower import symbolic_attrs
    assert symbolic_attrs({"shape": [b, 2 * seq, 4], "mode": "constant", "starts": (0,)}) == \
        {"shape": [{"dim": "batch"}, {"dim": "2*seq"}, 4], "mode": "constant", "starts": [0]}


def test_input_shape_parses_named_sizes_and_ranges():
    from webdnn.cli import parse_input_shapes
    from webdnn.errors import WebDNNError
    from webdnn.options import SizeRange
    assert parse_input_shapes(["seq=128", "x=1,3,8,8", "past=0..1024", "img=1,3,32*h,32*w"]) == {
        "seq": [128], "x": [1, 3, 8, 8], "past": SizeRange(0, 1024), "img": [1, 3, 32 * Sym("h"), 32 * Sym("w")]}
    with pytest.raises(WebDNNError, match="LOW..HIGH"):
        parse_input_shapes(["seq=9..2"])


def test_a_range_keeps_the_size_symbolic_and_fixes_the_low_end():
    from webdnn.frontend.onnx import import_onnx
    from webdnn.options import SizeRange
    g = import_onnx(_model_with_open_dims(), {"seq": SizeRange(2, 64)}, symbolic=True)
    assert g.inputs[0].shape == (Sym("batch"), Sym("seq"), 8) and g.symbol_ranges == {"seq": (2, 64)}
    fixed = import_onnx(_model_with_open_dims(), {"seq": SizeRange(2, 64)})
    assert fixed.inputs[0].shape == (1, 2, 8)
