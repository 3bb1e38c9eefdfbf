"""Data-dependent ops (ir/ops/dynamic.py) and their split into host steps (ir/host.py)."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto as T, helper as h
import onnxruntime as ort

from webdnn.converter import load_graph
from webdnn.errors import ConversionError, ShapeError
from webdnn.ir import Graph, reference
from webdnn.ir.host import run_host, split_host
from webdnn.ir.ops.elementwise import call, inp
from webdnn.passes.pipeline import optimize


def onnx_model(nodes, inputs, outputs, inits=()):
    g = h.make_graph(nodes, "g", inputs, outputs, list(inits))
    return h.make_model(g, opset_imports=[h.make_opsetid("", 17)])


def vi(name, elem, shape):
    return h.make_tensor_value_info(name, elem, shape)


def detection_graph():
    """x → Tanh → s;  NonZero(s > 0);  Unique(x, axis 1);  y = Relu(x)."""
    g = Graph()
    x = g.add_input("x", [3, 4])
    (s,) = g.add_op("Elementwise", [x], {"expr": call("tanh", inp(0))}, output_names=["s"])
    (m,) = g.add_op("Elementwise", [s], {"expr": call("gt", inp(0), 0.0)}, output_names=["m"])
    (idx,) = g.add_op("NonZero", [m], name="nz", output_names=["idx"])
    uy, ui, uv, uc = g.add_op("Unique", [x], {"axis": 1, "sorted": 0}, name="u")
    (y,) = g.add_op("Elementwise", [x], {"expr": call("max", inp(0), 0)}, output_names=["y"])
    g.outputs = [idx, y, uy, uv, uc]
    return g


def test_dynamic_dims_are_strings_and_verify_accepts_them():
    g = detection_graph()
    g.verify()
    assert g.outputs[0].shape == (2, "nz:count")
    assert g.outputs[2].shape == (3, "u:count") and g.outputs[3].shape == (4,)
    assert g.outputs[0].is_dynamic and not g.outputs[1].is_dynamic


def test_split_host_moves_dynamic_ops_and_exports_what_they_read():
    g = detection_graph()
    static, host = split_host(g)
    assert [op.type for op in static.ops] == ["Elementwise", "Elementwise", "Elementwise"]
    assert [t.name for t in static.outputs] == ["y", "m"]  # y, then what NonZero reads (x is an input)
    assert [s["op"] for s in host["steps"]] == ["NonZero", "Unique"]
    assert host["steps"][1]["attrs"] == {"axis": 1, "sorted": 0}
    assert host["tensors"]["idx"] == {"shape": [2, "nz:count"], "dtype": "int64"}
    assert host["tensors"]["m"]["shape"] == [3, 4]
    static.verify()
    # the host steps on top of the static part give what the reference gives for the whole graph
    x = np.random.RandomState(0).randn(3, 4).astype(np.float32)
    x[:, 2] = x[:, 0]
    full = reference.run(g, {"x": x})
    part = reference.run(static, {"x": x})
    got = run_host(host, {"x": x.reshape(-1), **{k: v.reshape(-1) for k, v in part.items()}})
    for t in g.outputs:
        np.testing.assert_array_equal(np.reshape(got[t.name], full[t.name].shape), full[t.name])
    assert full["idx"].shape == (2, int((np.tanh(x) > 0).sum()))
    assert full[g.outputs[2].name].shape == (3, 3)


def test_without_dynamic_ops_split_host_changes_nothing():
    g = detection_graph()
    g.ops = [op for op in g.ops if not op.definition.dynamic]
    g.outputs = [g.outputs[1]]
    static, host = split_host(g)
    assert static is g and host is None


def test_a_static_op_reading_a_data_dependent_tensor_is_refused_with_the_node():
    m = onnx_model([h.make_node("NonZero", ["x"], ["nz"]), h.make_node("Neg", ["nz"], ["t"], name="neg")],
                   [vi("x", T.FLOAT, [2, 3])], [vi("t", T.INT64, [2, "n"])])
    with pytest.raises((ConversionError, ShapeError), match=r"Neg node 'neg': .* reads 'nz'.*depends on the input values"
                                                             r".*\(Compress, Gather, .*Transpose, Unique\)"):
        load_graph(m)


def test_transpose_and_gather_run_as_host_steps_when_they_read_one():
    """torch.nonzero is NonZero + Transpose; picking detections is a Gather by NMS indices."""
    nodes = [h.make_node("NonZero", ["x"], ["nz"]), h.make_node("Transpose", ["nz"], ["rows"], perm=[1, 0]),
             h.make_node("Gather", ["rows", "one"], ["col"], axis=1), h.make_node("Gather", ["x", "col"], ["picked"]),
             h.make_node("Transpose", ["x"], ["xt"])]
    m = onnx_model(nodes, [vi("x", T.FLOAT, [4, 3])],
                   [vi("rows", T.INT64, ["n", 2]), vi("picked", T.FLOAT, ["n", 3]), vi("xt", T.FLOAT, [3, 4])],
                   [h.make_tensor("one", T.INT64, [], [1])])
    g = load_graph(m)
    optimize(g)
    g.verify()
    static, host = split_host(g)
    assert [s["op"] for s in host["steps"]] == ["NonZero", "Transpose", "Gather", "Gather"]
    assert [op.type for op in static.ops] == ["Transpose"]  # xt reads no host value: static
    x = np.array([[0, 1, 0], [2, 0, 0], [0, 0, 0], [0, 3, 1]], np.float32)
    out = run_host(host, {"x": x.reshape(-1), **{k: v.reshape(-1) for k, v in reference.run(static, {"x": x}).items()}})
    rows = np.transpose(np.nonzero(x))
    np.testing.assert_array_equal(out["rows"], rows)
    np.testing.assert_array_equal(out["picked"], x[rows[:, 1]])


def test_a_static_op_reading_a_static_output_of_a_host_step_is_refused():
    g = Graph()
    x = g.add_input("x", [5])
    _, _, inverse, _ = g.add_op("Unique", [x], name="u")
    (y,) = g.add_op("Elementwise", [inverse], {"expr": call("add", inp(0), 1)}, name="plus")
    g.outputs = [y]
    g.verify()  # the shapes are static ...
    with pytest.raises(ConversionError, match=r"Elementwise node 'plus' reads"):
        split_host(g)  # ... but the value exists only after the backend has run


def test_constant_inputs_fold_and_a_constant_condition_is_a_gather():
    nodes = [h.make_node("NonZero", ["c"], ["nz"]), h.make_node("Compress", ["x", "keep"], ["k"], axis=1)]
    inits = [h.make_tensor("c", T.FLOAT, [2, 2], [0, 1, 2, 0]), h.make_tensor("keep", T.BOOL, [2], [0, 1])]
    m = onnx_model(nodes, [vi("x", T.FLOAT, [3, 3])], [vi("nz", T.INT64, [2, 2]), vi("k", T.FLOAT, [3, 1])], inits)
    g = load_graph(m)
    optimize(g)
    assert not any(op.definition.dynamic for op in g.ops)
    assert split_host(g)[1] is None
    x = np.arange(9, dtype=np.float32).reshape(3, 3)
    out = reference.run(g, {"x": x})
    np.testing.assert_array_equal(out["nz"], [[0, 1], [1, 0]])
    np.testing.assert_array_equal(out["k"], x[:, 1:2])


@pytest.mark.parametrize("case", ["nms_center", "nms_corners", "unique_axis", "compress_flat"])
def test_references_match_onnx(case):
    rng = np.random.RandomState(1)
    if case.startswith("nms"):
        center = int(case == "nms_center")
        boxes = rng.rand(2, 12, 4).astype(np.float32) * 4
        if center:
            boxes[..., 2:] = boxes[..., 2:] / 2 + 0.5
        scores = rng.rand(2, 3, 12).astype(np.float32)
        node = h.make_node("NonMaxSuppression", ["b", "s", "n", "i", "t"], ["y"], center_point_box=center)
        feeds = {"b": boxes, "s": scores, "n": np.array([4], np.int64), "i": np.array([0.2], np.float32),
                 "t": np.array([0.3], np.float32)}
        ins = [vi("b", T.FLOAT, boxes.shape), vi("s", T.FLOAT, scores.shape), vi("n", T.INT64, [1]),
               vi("i", T.FLOAT, [1]), vi("t", T.FLOAT, [1])]
        outs = [vi("y", T.INT64, ["k", 3])]
    elif case == "unique_axis":
        x = rng.randint(0, 2, (2, 5, 2)).astype(np.float32)
        node = h.make_node("Unique", ["x"], ["y", "i", "v", "c"], axis=1, sorted=0)
        feeds, ins = {"x": x}, [vi("x", T.FLOAT, x.shape)]
        outs = [vi("y", T.FLOAT, [2, "k", 2]), vi("i", T.INT64, ["k"]), vi("v", T.INT64, [5]), vi("c", T.INT64, ["k"])]
    else:
        x = rng.randn(3, 4).astype(np.float32)
        node = h.make_node("Compress", ["x", "c"], ["y"])
        feeds = {"x": x, "c": rng.rand(10) > 0.5}
        ins, outs = [vi("x", T.FLOAT, x.shape), vi("c", T.BOOL, [10])], [vi("y", T.FLOAT, ["k"])]
    m = onnx_model([node], ins, outs)
    expected = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    g = load_graph(m)
    got = reference.run(g, feeds)
    assert len(expected[0]) > 1, "a case that selects something"
    for t, e in zip(g.outputs, expected):
        np.testing.assert_array_equal(got[t.name], e)
