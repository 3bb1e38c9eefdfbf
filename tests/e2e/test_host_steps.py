"""Ops with data-dependent output shapes run as host steps after the backend's static plan: a
detection-style head (Conv → boxes and scores → NonMaxSuppression → Gather of the kept boxes) with
NonZero (+ Transpose, as torch.nonzero exports), Compress and Unique beside it, compared with
onnxruntime on every backend, in Node, Chromium and natively."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T, helper as h

from webdnn import convert
from webdnn.testing import compare

RUNS = [("node", "js"), ("node", "wasm"), ("native", "webgpu"), ("chromium", "webgpu")]


def detection_head() -> onnx.ModelProto:
    rng = np.random.RandomState(3)
    init = [
        h.make_tensor("w", T.FLOAT, [5, 3, 1, 1], rng.randn(15).tolist()),
        h.make_tensor("shape", T.INT64, [3], [1, 5, 64]),
        h.make_tensor("four", T.FLOAT, [], [4.0]),
        h.make_tensor("two", T.FLOAT, [], [2.0]),
        h.make_tensor("s0", T.INT64, [1], [0]), h.make_tensor("s4", T.INT64, [1], [4]),
        h.make_tensor("s5", T.INT64, [1], [5]), h.make_tensor("ax", T.INT64, [1], [2]),
        h.make_tensor("limit", T.INT64, [1], [20]), h.make_tensor("iou", T.FLOAT, [1], [0.3]),
        h.make_tensor("score_min", T.FLOAT, [1], [0.4]), h.make_tensor("high", T.FLOAT, [], [0.7]),
        h.make_tensor("s1", T.INT64, [1], [1]), h.make_tensor("flat", T.INT64, [1], [64]),
        h.make_tensor("two_i", T.INT64, [], [2]), h.make_tensor("box_rows", T.INT64, [2], [64, 4]),
    ]
    nodes = [
        h.make_node("Conv", ["x", "w"], ["c"]),
        h.make_node("Reshape", ["c", "shape"], ["r"]),
        h.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),                # [1, 64, 5]
        h.make_node("Slice", ["t", "s0", "s4", "ax"], ["raw_boxes"]),
        h.make_node("Sigmoid", ["raw_boxes"], ["unit_boxes"]),
        h.make_node("Mul", ["unit_boxes", "four"], ["boxes"]),                  # [1, 64, 4]
        h.make_node("Sigmoid", ["r"], ["all_scores"]),
        h.make_node("Slice", ["all_scores", "s4", "s5", "s1"], ["scores"]),    # [1, 1, 64]
        h.make_node("NonMaxSuppression", ["boxes", "scores", "limit", "iou", "score_min"], ["selected"]),
        h.make_node("Greater", ["scores", "high"], ["confident"]),
        h.make_node("NonZero", ["confident"], ["where"]),
        h.make_node("Reshape", ["confident", "flat"], ["mask"]),
        h.make_node("Compress", ["t", "mask"], ["kept"], axis=1),
        h.make_node("Mul", ["boxes", "two"], ["b2"]),
        h.make_node("Round", ["b2"], ["rounded"]),
        h.make_node("Unique", ["rounded"], ["uy", "ui", "uv", "uc"], sorted=0),
        # torch.nonzero's export, and the selected boxes picked by their indices
        h.make_node("Transpose", ["where"], ["where_rows"], perm=[1, 0]),
        h.make_node("Gather", ["selected", "two_i"], ["box_ids"], axis=1),
        h.make_node("Reshape", ["boxes", "box_rows"], ["boxes2d"]),
        h.make_node("Gather", ["boxes2d", "box_ids"], ["picked"], axis=0),
    ]
    outs = [h.make_tensor_value_info("scores", T.FLOAT, [1, 1, 64]),
            h.make_tensor_value_info("selected", T.INT64, ["k", 3]), h.make_tensor_value_info("where", T.INT64, [3, "n"]),
            h.make_tensor_value_info("kept", T.FLOAT, [1, "m", 5]), h.make_tensor_value_info("uy", T.FLOAT, ["u"]),
            h.make_tensor_value_info("ui", T.INT64, ["u"]), h.make_tensor_value_info("uv", T.INT64, [256]),
            h.make_tensor_value_info("uc", T.INT64, ["u"]), h.make_tensor_value_info("where_rows", T.INT64, ["n", 3]),
            h.make_tensor_value_info("picked", T.FLOAT, ["k", 4])]
    g = h.make_graph(nodes, "detect", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8])], outs, init)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    onnx.checker.check_model(m, full_check=True)
    return m


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    m = detection_head()
    out = tmp_path_factory.mktemp("host") / "detect"
    convert(m, out, backends=["js", "wasm", "webgpu"])
    return m, out


def _run_both(sess, runner, out, x, backend, label):
    """(onnxruntime's outputs, ours, the mismatches between them by the tolerance table) for input x."""
    expected = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))
    got = runner.run(out, {"x": x}, backend=backend)
    return expected, got, [msg for k, e in expected.items() if (msg := compare(got[k], e, backend, f"{k} {label}"))]


@pytest.mark.parametrize("where,backend", RUNS)
def test_host_steps_match_onnxruntime(where, backend, head, runners):
    m, out = head
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    failures = []
    for seed in (0, 1):
        x = np.random.RandomState(seed).randn(1, 3, 8, 8).astype(np.float32)
        expected, _, bad = _run_both(sess, runners[where], out, x, backend, f"on {backend} in {where} (seed {seed})")
        assert 0 < len(expected["selected"]) < 64 and 0 < expected["where"].shape[1] < 64, "a case that tests something"
        failures += bad
    assert not failures, "\n".join(failures)


def symbolic_head() -> onnx.ModelProto:
    """x [n, t] with both dims open: NonZero (+ Transpose) of a thresholded sigmoid, and Compress of x's own rows
    (a graph input read by a host step) by a condition the backend computes."""
    init = [h.make_tensor("high", T.FLOAT, [], [0.6]), h.make_tensor("very", T.FLOAT, [], [0.9])]
    nodes = [h.make_node("Sigmoid", ["x"], ["s"]),
             h.make_node("Greater", ["s", "high"], ["c"]),
             h.make_node("NonZero", ["c"], ["nz"]),
             h.make_node("Transpose", ["nz"], ["rows"], perm=[1, 0]),
             h.make_node("ReduceMax", ["s"], ["m"], axes=[1], keepdims=0),
             h.make_node("Greater", ["m", "very"], ["keep"]),
             h.make_node("Compress", ["x", "keep"], ["kept"], axis=0)]
    outs = [h.make_tensor_value_info("s", T.FLOAT, ["n", "t"]), h.make_tensor_value_info("rows", T.INT64, ["k", 2]),
            h.make_tensor_value_info("kept", T.FLOAT, ["j", "t"])]
    g = h.make_graph(nodes, "symhost", [h.make_tensor_value_info("x", T.FLOAT, ["n", "t"])], outs, init)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    onnx.checker.check_model(m, full_check=True)
    return m


@pytest.fixture(scope="module")
def symbolic(tmp_path_factory):
    m = symbolic_head()
    out = tmp_path_factory.mktemp("host") / "symbolic"
    convert(m, out, backends=["js", "wasm", "webgpu"])
    return m, out


@pytest.mark.parametrize("where,backend", RUNS)
def test_host_steps_with_symbolic_sizes(where, backend, symbolic, runners):
    """One descriptor (every backend binding the sizes at run time): the host steps read the actual shapes."""
    from webdnn.descriptor import read_model
    m, out = symbolic
    model = read_model(out)
    assert all(b.get("symbolic") for b in model["backends"].values()), model["backends"]
    assert model["host"]["tensors"]["x"]["shape"] == ["n", "t"]
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for n, t in ((2, 5), (3, 17), (1, 1)):
        x = np.random.RandomState(n * t).randn(n, t).astype(np.float32) * 3
        want, got, bad = _run_both(sess, runners[where], out, x, backend, f"at {n}x{t}")
        assert sorted(want) == ["kept", "rows", "s"]
        for name, e in want.items():
            assert got[name].shape == e.shape, (name, n, t, got[name].shape, e.shape)
            if e.dtype == np.int64:
                np.testing.assert_array_equal(got[name], e)
        assert not bad, "\n".join(bad)
