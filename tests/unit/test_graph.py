import numpy as np
import pytest

from webdnn.errors import ShapeError
from webdnn.ir import Graph, Tensor, Op
from webdnn.ir.ops.elementwise import call, inp
from webdnn.ir import reference


def small_graph():
    g = Graph()
    x = g.add_input("x", [2, 3])
    w = g.constant(np.ones((3, 4), np.float32), "w")
    (h,) = g.add_op("MatMul", [x, w])
    (y,) = g.add_op("Elementwise", [h], {"expr": call("max", inp(0), 0)})
    g.outputs = [y]
    return g


def test_verify_accepts_consistent_graph():
    small_graph().verify()


def test_add_op_infers_shapes_and_reports_mismatch_with_shapes():
    g = Graph()
    x = g.add_input("x", [2, 3])
    with pytest.raises(ShapeError, match=r"MatMul.*x\[2, 3\].*inner dims differ: 3 vs 5"):
        g.add_op("MatMul", [x, g.constant(np.ones((5, 4), np.float32))])


def test_verify_catches_wrong_recorded_shape():
    g = small_graph()
    g.ops[0].outputs[0].shape = (2, 5)
    with pytest.raises(ShapeError, match="inference says"):
        g.verify()


def test_verify_catches_use_before_definition_and_toposort_fixes_it():
    g = small_graph()
    g.ops.reverse()
    with pytest.raises(ShapeError, match="before it is produced"):
        g.verify()
    g.toposort()
    g.verify()


def test_verify_catches_duplicate_names():
    g = small_graph()
    g.ops[1].outputs[0].name = g.ops[0].outputs[0].name
    with pytest.raises(ShapeError, match="named"):
        g.verify()


def test_unknown_attribute_is_an_error():
    g = Graph()
    x = g.add_input("x", [2, 3])
    with pytest.raises(ShapeError, match="unknown attribute"):
        g.add_op("Transpose", [x], {"permutation": [1, 0]})


def test_reference_runs_and_checks_input_shape():
    g = small_graph()
    out = reference.run(g, {"x": np.full((2, 3), -1, np.float32)})
    assert out[g.outputs[0].name].shape == (2, 4) and (out[g.outputs[0].name] == 0).all()
    with pytest.raises(ShapeError, match=r"expects shape \[2, 3\]"):
        reference.run(g, {"x": np.zeros((3, 3), np.float32)})


def test_expression_dtypes():
    g = Graph()
    a = g.add_input("a", [3], "int64")
    b = g.add_input("b", [3], "float32")
    (c,) = g.add_op("Elementwise", [a, b], {"expr": call("lt", call("cast", "float32", inp(0)), inp(1))})
    assert c.dtype == "bool"
    (d,) = g.add_op("Elementwise", [a], {"expr": call("idiv", inp(0), 2)})
    assert d.dtype == "int64"
    g.outputs = [c, d]
    out = reference.run(g, {"a": np.array([-3, 1, 5]), "b": np.array([0, 2, 4], np.float32)})
    assert out[c.name].tolist() == [True, True, False]
    assert out[d.name].tolist() == [-1, 0, 2]  # truncation toward zero


def test_tensor_and_op_repr_are_informative():
    t = Tensor("t", [1, 2], "float32")
    assert "[1, 2]" in repr(t)
    assert "Relu" in repr(Op("Relu", "r", [t], [], {}))


def test_compare_handles_nan_and_inf():
    from webdnn.testing import compare
    e = np.array([1.0, np.nan, np.inf, -np.inf], np.float32)
    assert compare(e.copy(), e, "js") is None
    assert "NaN" in compare(np.array([1, 0, np.inf, -np.inf], np.float32), e, "js")
    assert "infinities" in compare(np.array([1, np.nan, np.inf, np.inf], np.float32), e, "js")
    assert "max error" in compare(np.array([1.1, np.nan, np.inf, -np.inf], np.float32), e, "js")
