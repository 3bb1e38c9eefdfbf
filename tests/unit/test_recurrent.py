"""The Recurrent op (ir/ops/recurrent.py): the ONNX LSTM/GRU/RNN of the standard cell become one op
per direction, its reference matches onnxruntime, and unrolling it for backends without a kernel
(passes/unroll_recurrent.py) computes the same."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from webdnn.frontend.onnx import import_onnx
from webdnn.ir.reference import run
from webdnn.passes.pipeline import optimize
from webdnn.passes.unroll_recurrent import unroll_recurrent

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _model(kind, direction="forward", U=5, I=3, T=4, N=2, initial=True, **attrs):
    rng = np.random.default_rng(0)
    D = 2 if direction == "bidirectional" else 1
    G = GATES[kind]
    inits = [helper.make_tensor("W", TensorProto.FLOAT, [D, G * U, I], rng.standard_normal(D * G * U * I) * 0.5),
             helper.make_tensor("R", TensorProto.FLOAT, [D, G * U, U], rng.standard_normal(D * G * U * U) * 0.5),
             helper.make_tensor("B", TensorProto.FLOAT, [D, 2 * G * U], rng.standard_normal(D * 2 * G * U) * 0.5)]
    ins = ["x", "W", "R", "B", ""]
    if initial:
        inits.append(helper.make_tensor("h0", TensorProto.FLOAT, [D, N, U], rng.standard_normal(D * N * U)))
        ins.append("h0")
        if kind == "LSTM":
            inits.append(helper.make_tensor("c0", TensorProto.FLOAT, [D, N, U], rng.standard_normal(D * N * U)))
            ins.append("c0")
    outs = ["y", "hT"] + (["cT"] if kind == "LSTM" else [])
    node = helper.make_node(kind, ins, outs, hidden_size=U, direction=direction, **attrs)
    g = helper.make_graph([node], kind, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, N, I])],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


@pytest.mark.parametrize("kind,direction,attrs", [
    ("LSTM", "forward", {}), ("LSTM", "bidirectional", {}), ("LSTM", "reverse", {}),
    ("GRU", "forward", {"linear_before_reset": 1}), ("GRU", "bidirectional", {"linear_before_reset": 1}),
    ("RNN", "forward", {}), ("RNN", "reverse", {})])
def test_standard_cells_become_one_op_and_match_onnxruntime(kind, direction, attrs):
    m = _model(kind, direction, **attrs)
    g = import_onnx(m)
    optimize(g)
    g.verify()
    assert sum(op.type == "Recurrent" for op in g.ops) == (2 if direction == "bidirectional" else 1)
    x = np.random.default_rng(1).standard_normal((4, 2, 3)).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})
    got = run(g, {"x": x})
    unrolled = unroll_recurrent(g)
    unrolled.verify()
    assert not any(op.type == "Recurrent" for op in unrolled.ops) and any(op.type == "Recurrent" for op in g.ops)
    again = run(unrolled, {"x": x})
    for name, w in zip(["y", "hT", "cT"], want):
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(again[name], w, rtol=1e-5, atol=1e-5)


def test_other_variants_stay_unrolled():
    """GRU without linear_before_reset, clip, or other activations: the frontend's step ops."""
    for m in (_model("GRU"), _model("LSTM", clip=2.0), _model("RNN", activations=["Relu"])):
        g = import_onnx(m)
        assert not any(op.type == "Recurrent" for op in g.ops)
