"""webgpu kernel families on shapes the op cases do not reach, run natively (wgpu on lavapipe):
every GEMM tile configuration on ragged sizes, each conv path (pointwise vec4, im2col, depthwise
with a channel multiplier, grouped, fused broadcast epilogue), cooperative reductions and softmax,
and a grid of more than 65535 workgroups."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn import convert
from webdnn.backend.webgpu import contraction
from webdnn.testing import compare

F = TensorProto.FLOAT


def model(nodes, inputs, consts=(), opset=13):
    g = helper.make_graph(nodes, "k", [helper.make_tensor_value_info(n, F, a.shape) for n, a in inputs.items()],
                          [helper.make_tensor_value_info("y", F, None)],
                          [numpy_helper.from_array(a, n) for n, a in consts])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def check(m, inputs, tmp_path, runners, name="m"):
    expected = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, inputs)[0]
    convert(m, tmp_path / name, backends=["webgpu"])
    got = runners["native"].run(tmp_path / name, inputs, backend="webgpu")["y"]
    msg = compare(got, expected, "webgpu", name)
    assert msg is None, msg


def rnd(*shape, seed=0):
    return np.random.RandomState(seed).uniform(-1, 1, shape).astype(np.float32)


@pytest.mark.parametrize("tile", list(contraction.TILES))
def test_gemm_tiles_on_ragged_sizes(tile, tmp_path, runners, monkeypatch):
    monkeypatch.setattr(contraction, "pick_tile", lambda *a: contraction.TILES[tile])
    a, b = rnd(2, 37, 29), rnd(29, 45, seed=1)           # K % 4 != 0: scalar loads; batch broadcast
    check(model([helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": a, "b": b}), {"a": a, "b": b}, tmp_path, runners, "mm")
    a, b = rnd(3, 20, 36), rnd(3, 36, 132, seed=1)       # aligned: vec4 loads
    check(model([helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": a, "b": b}), {"a": a, "b": b}, tmp_path, runners, "mm4")


@pytest.mark.parametrize("shapes", [((1, 29), (29, 45)), ((2, 3, 1, 200), (3, 200, 130)), ((4, 520), (520, 256))])
def test_gemv_for_few_rows(shapes, tmp_path, runners):
    """Products of at most 4 rows take the gemv kernel (no tiles; K split over the workgroup's threads): K shorter
    than one step and ragged, N ragged (scalar loads), a batch broadcast over A's leading axis, and a constant B
    with a bias and a Relu fused where it stores."""
    import json
    (sa, sb) = shapes
    a, b = rnd(*sa), rnd(*sb, seed=1)
    if len(sb) == 2 and sb[1] % 4 == 0:
        bias = rnd(sb[1], seed=2)
        m = model([helper.make_node("MatMul", ["a", "b"], ["p"]), helper.make_node("Add", ["p", "bias"], ["s"]),
                   helper.make_node("Relu", ["s"], ["y"])], {"a": a}, [("b", b), ("bias", bias)])
        feeds = {"a": a}
    else:
        m = model([helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": a, "b": b})
        feeds = {"a": a, "b": b}
    check(m, feeds, tmp_path, runners, "gemv")
    graph = json.loads((tmp_path / "gemv" / "graph_webgpu.json").read_text())
    assert len(graph["dispatches"]) == 1 and "var<workgroup> part: array<vec4<f32>, 256>" in graph["shaders"][0]


@pytest.mark.parametrize("case", ["pointwise_vec4", "pointwise_ragged", "im2col", "depthwise_mult2", "grouped"])
def test_conv_paths_with_fused_epilogue(case, tmp_path, runners):
    x_shape, w_shape, attrs = {
        "pointwise_vec4": ((2, 12, 6, 6), (20, 12, 1, 1), {}),
        "pointwise_ragged": ((1, 12, 7, 7), (20, 12, 1, 1), {}),
        "im2col": ((2, 5, 9, 11), (7, 5, 3, 3), {"pads": [1, 2, 0, 1], "strides": [2, 1], "dilations": [1, 2]}),
        "depthwise_mult2": ((1, 6, 9, 9), (12, 1, 3, 3), {"group": 6, "pads": [1, 1, 1, 1], "strides": [2, 2]}),
        "grouped": ((1, 8, 6, 6), (12, 4, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),
    }[case]
    x, w, b = rnd(*x_shape), rnd(*w_shape, seed=1), rnd(w_shape[0], seed=2)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], **attrs)]
    y_shape = onnx.shape_inference.infer_shapes(model(nodes + [helper.make_node("Identity", ["c"], ["y"])], {"x": x},
                                                      [("w", w), ("b", b)])).graph.value_info
    c_dims = [d.dim_value for d in next(v for v in y_shape if v.name == "c").type.tensor_type.shape.dim]
    r = rnd(1, c_dims[1], 1, c_dims[3], seed=3)  # a residual that broadcasts over N and H
    nodes += [helper.make_node("Add", ["c", "r"], ["s"]), helper.make_node("Clip", ["s", "lo", "hi"], ["y"])]
    m = model(nodes, {"x": x, "r": r}, [("w", w), ("b", b), ("lo", np.float32(-0.5)), ("hi", np.float32(0.8))])
    check(m, {"x": x, "r": r}, tmp_path, runners, case)


@pytest.mark.parametrize("kind", ["ReduceSum", "ReduceMax", "ReduceLogSumExp", "ReduceL2", "ReduceMean"])
def test_cooperative_reductions(kind, tmp_path, runners):
    x = rnd(3, 300, 2)
    check(model([helper.make_node(kind, ["x"], ["y"], axes=[1], keepdims=0)], {"x": x}, opset=11), {"x": x},
          tmp_path, runners, kind)


@pytest.mark.parametrize("op,axis", [("Softmax", 1), ("LogSoftmax", -1)])
def test_cooperative_softmax(op, axis, tmp_path, runners):
    x = rnd(2, 257, 300) * 5
    check(model([helper.make_node(op, ["x"], ["y"], axis=axis)], {"x": x}), {"x": x}, tmp_path, runners, op)


def test_grid_larger_than_65535_workgroups(tmp_path, runners):
    n = 65536 * 256 + 1000
    x = np.linspace(-1, 1, n, dtype=np.float32).reshape(1, n)
    check(model([helper.make_node("Relu", ["x"], ["y"])], {"x": x}), {"x": x}, tmp_path, runners, "relu")


def test_split_k_adds_partial_sums_before_the_epilogue(tmp_path, runners):
    """Few output tiles and a deep K: the K range is split over workgroups, a second kernel adds
    the parts and applies bias, residual and activation."""
    a, b = rnd(8, 3000), rnd(3000, 10, seed=1)
    assert contraction.pick_split(contraction.pick_tile(8, 10, 1), 8, 10, 3000, 1) > 1
    m = model([helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": a, "b": b})
    check(m, {"a": a, "b": b}, tmp_path, runners, "mm_split")
    x, w, bias, r = rnd(1, 256, 4, 4), rnd(64, 256, 3, 3, seed=1) * 0.1, rnd(64, seed=2), rnd(1, 64, 4, 4, seed=3)
    nodes = [helper.make_node("Conv", ["x", "w", "bias"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "r"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
    check(model(nodes, {"x": x, "r": r}, [("w", w), ("bias", bias)]), {"x": x, "r": r}, tmp_path, runners, "conv_split")
    import json
    graph = json.loads((tmp_path / "conv_split" / "graph_webgpu.json").read_text())
    assert [d["name"].endswith(":sum") for d in graph["dispatches"]] == [False, True]


def _attention_model():
    """x [n, T, 16] with T and n open: a product with a fused epilogue, scores [n, T, T] (a symbolic N),
    a softmax along T, a product over T (a symbolic K), a mean over T, and a Concat along T."""
    x = helper.make_tensor_value_info("x", F, ["n", "T", 16])
    y = helper.make_tensor_value_info("y", F, None)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["xb"]),
             helper.make_node("Relu", ["xb"], ["a"]), helper.make_node("Transpose", ["a"], ["at"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["a", "at"], ["s"]), helper.make_node("Softmax", ["s"], ["p"], axis=-1),
             helper.make_node("MatMul", ["p", "a"], ["o"]),
             helper.make_node("ReduceMean", ["o"], ["m"], axes=[1], keepdims=1),
             helper.make_node("Concat", ["o", "m"], ["y"], axis=1)]
    g = helper.make_graph(nodes, "sym", [x], [y], [numpy_helper.from_array(rnd(16, 16, seed=1), "w"),
                                                     numpy_helper.from_array(rnd(16, seed=2), "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def test_symbolic_sizes_compile_once_and_run_at_any_size(tmp_path, runners):
    """One descriptor: the shaders read n and T from the sizes uniform, flat kernels over a symbolic count
    are dispatched with a run-time count, a product over rows known at run time has a tile for few rows and
    one for many, and the activations are placed again for each binding (larger, then smaller again), each
    result equal to onnxruntime's."""
    import json
    m = _attention_model()
    convert(m, tmp_path / "sym", backends=["webgpu"])
    graph = json.loads((tmp_path / "sym" / "graph_webgpu.json").read_text())
    assert graph["symbols"] == {"T": 1, "n": 1}
    assert any("wd_sz[0]" in code for code in graph["shaders"])
    assert any(isinstance(g, str) for d in graph["dispatches"] for g in d["groups"])
    assert "arena" in graph["memory"]["f32"]
    # x · w over n·T rows known at run time: gemv up to 4 rows, the medium tile past them
    variants = [d["when"] for d in graph["dispatches"] if "when" in d]
    assert {"dim": "T*n", "max": 4} in variants and {"dim": "T*n", "min": 5} in variants, variants
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for n, t in ((1, 1), (2, 5), (1, 70), (2, 2), (3, 2)):
        x = rnd(n, t, 16, seed=t)
        (want,) = sess.run(None, {"x": x})
        got = runners["native"].run(tmp_path / "sym", {"x": x}, backend="webgpu")["y"]
        assert got.shape == want.shape == (n, t + 1, 16)
        msg = compare(got, want, "webgpu", f"n={n}, T={t}")
        assert msg is None, msg


def test_symbolic_sizes_in_half_precision(tmp_path):
    """--precision f16 with symbolic sizes: the arena's groups sized for 2-byte floats, run on a device with
    shader-f16 (lavapipe has it) at several sizes."""
    from webdnn.runners.native import NativeRunner
    m = _attention_model()
    convert(m, tmp_path / "h", backends=["webgpu"], precision="f16")
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    with NativeRunner(precision="f16") as r:
        if r.device is None or "shader-f16" not in r.device.features:
            pytest.skip("this device has no shader-f16")
        for n, t in ((1, 3), (2, 40)):
            x = rnd(n, t, 16, seed=t)
            (want,) = sess.run(None, {"x": x})
            got = r.run(tmp_path / "h", {"x": x}, backend="webgpu")["y"]
            assert r.last_precision == "f16"
            msg = compare(got, want, "webgpu-f16", f"n={n}, T={t}")
            assert msg is None, msg


def test_half_precision_products_accumulate_in_f32(tmp_path):
    """--precision f16 on a device with shader-f16: the GEMM's products are f16 within a K step and added
    to f32 sums between steps. 4096 ones sum to 4096 (f16 sums alone stop at 2048, where adding 1 rounds
    away); 2048 followed by seven 1s inside one step stays 2048 (f16), where f32 products give 2055."""
    from webdnn.runners.native import NativeRunner
    K = 4096
    a = np.zeros((8, K), np.float32)
    a[0] = 1.0
    a[1, 0], a[1, 1:8] = 2048.0, 1.0
    a[2] = rnd(K, seed=2)
    b = np.ones((K, 8), np.float32)
    b[:, 1:] = rnd(K, 7, seed=3)
    m = model([helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": a}, [("b", b)])
    convert(m, tmp_path / "h", backends=["webgpu"], precision="f16")
    with NativeRunner(precision="f16") as r:
        if r.device is None or "shader-f16" not in r.device.features:
            pytest.skip("this device has no shader-f16")
        got = r.run(tmp_path / "h", {"a": a}, backend="webgpu")["y"]
        assert r.last_precision == "f16"
    assert got[0, 0] == 4096.0
    assert got[1, 0] == 2048.0
    want = a.astype(np.float16).astype(np.float64) @ b.astype(np.float16).astype(np.float64)
    msg = compare(got[2:], want[2:], "webgpu-f16", "random rows")
    assert msg is None, msg


def test_symbolic_index_ops(tmp_path, runners):
    """Pad (edge), TopK along an open axis and GatherElements by its indices, over open sizes."""
    x = helper.make_tensor_value_info("x", F, ["n", "t"])
    y = helper.make_tensor_value_info("y", F, None)
    nodes = [helper.make_node("Pad", ["x", "p"], ["xp"], mode="edge"),
             helper.make_node("TopK", ["xp", "k"], ["v", "i"], axis=1),
             helper.make_node("GatherElements", ["xp", "i"], ["g"], axis=1),
             helper.make_node("Add", ["v", "g"], ["y"])]
    g = helper.make_graph(nodes, "ix", [x], [y], [numpy_helper.from_array(np.array([0, 1, 0, 1], np.int64), "p"),
                                                  numpy_helper.from_array(np.array([2], np.int64), "k")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    convert(m, tmp_path / "ix", backends=["webgpu"])
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    for n, t in ((1, 2), (3, 9)):
        xs = rnd(n, t, seed=t)
        (want,) = sess.run(None, {"x": xs})
        got = runners["native"].run(tmp_path / "ix", {"x": xs}, backend="webgpu")["y"]
        msg = compare(got, want, "webgpu", f"{n}x{t}")
        assert msg is None, msg


def test_symbolic_sizes_where_a_kernel_needs_fixed_ones(tmp_path, monkeypatch):
    """An LSTM over an open length whose state does not fit the recurrence kernel (its limit made small
    here): unrolling needs a fixed length, so the webgpu backend is built for the fixed sizes, with a
    note saying why, while js binds the sizes."""
    import json
    import warnings
    from webdnn.backend.webgpu import recurrent
    monkeypatch.setattr(recurrent, "MAX_WORKGROUP_BYTES", 16)
    H = 4
    x = helper.make_tensor_value_info("x", F, ["t", 1, 3])
    y = helper.make_tensor_value_info("y", F, None)
    rng = np.random.RandomState(0)
    g = helper.make_graph([helper.make_node("LSTM", ["x", "w", "r"], ["y"], hidden_size=H)], "c", [x], [y],
                          [numpy_helper.from_array(rng.randn(1, 4 * H, 3).astype(np.float32), "w"),
                           numpy_helper.from_array(rng.randn(1, 4 * H, H).astype(np.float32), "r")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        convert(m, tmp_path / "c", backends=["js", "webgpu"])
    notes = [str(w.message) for w in caught]
    assert any("webgpu backend is built for the fixed sizes" in n and "fixed sequence length" in n for n in notes), notes
    assert "symbols" not in json.loads((tmp_path / "c" / "graph_webgpu.json").read_text())
    assert "symbols" in json.loads((tmp_path / "c" / "graph_js.json").read_text())


def test_run_time_placement_and_binding():
    """plan.place_groups (the runtime's placeGroups in Python): groups live together never overlap, a dead
    group's bytes are reused; the native runner's bind_sizes binds plain and affine dims and names a mismatch."""
    from webdnn.backend.webgpu.plan import place_groups
    from webdnn.runners.native import bind_sizes
    from webdnn.errors import WebDNNError
    groups = [(1000, -1, 2), (300, 0, 1), (300, 2, 3), (5000, 3, 4)]
    offsets, total = place_groups(groups, 256)
    for i, (bi, fi, li) in enumerate(groups):
        for j, (bj, fj, lj) in enumerate(groups):
            if i < j and not (li < fj or lj < fi):
                assert offsets[i] + bi <= offsets[j] or offsets[j] + bj <= offsets[i], (i, j, offsets)
    # the 1000- and the first 300-byte group, dead before the 5000-byte one lives, share its bytes; the second
    # 300-byte group lives with both the 1000-byte and the 5000-byte ones and goes after them
    assert offsets == [0, 1024, 5120, 0] and total == 5120 + 512
    assert bind_sizes({"x": ["b", 3, "32*h"]}, {"x": [2, 3, 64]}, {"b": 1, "h": 1}) == {"b": 2, "h": 2}
    with pytest.raises(WebDNNError, match="whole h"):
        bind_sizes({"x": ["b", 3, "32*h"]}, {"x": [2, 3, 65]}, {"b": 1, "h": 1})
    with pytest.raises(WebDNNError, match="dim 1 must be 3"):
        bind_sizes({"x": ["b", 3]}, {"x": [2, 4]}, {"b": 1})


@pytest.mark.parametrize("units,unrolled", [(20, False), (20, True)])
def test_recurrent_kernel_and_the_unrolled_form(units, unrolled, tmp_path, runners, monkeypatch):
    """An LSTM layer (bidirectional, initial states given) as the one-dispatch kernel, and unrolled into
    steps of IR ops where its state would not fit the workgroup memory (here made small)."""
    import json
    from webdnn.backend.webgpu import recurrent
    if unrolled:
        monkeypatch.setattr(recurrent, "MAX_WORKGROUP_BYTES", 8 * units - 4)
    H, I, T, N = units, 6, 7, 2
    rng = np.random.RandomState(units)
    w, r, b = (rng.uniform(-0.5, 0.5, s).astype(np.float32) for s in ((2, 4 * H, I), (2, 4 * H, H), (2, 8 * H)))
    ins = {"x": rnd(T, N, I), "h0": rnd(2, N, H, seed=1), "c0": rnd(2, N, H, seed=2)}
    node = helper.make_node("LSTM", ["x", "w", "r", "b", "", "h0", "c0"], ["y", "hT", "cT"], hidden_size=H,
                            direction="bidirectional")
    m = model([node, helper.make_node("Add", ["hT", "cT"], ["s"]), helper.make_node("Flatten", ["y"], ["yf"], axis=0),
               helper.make_node("Flatten", ["s"], ["sf"], axis=0), helper.make_node("Concat", ["yf", "sf"], ["y_"], axis=1)],
              ins, [("w", w), ("r", r), ("b", b)])
    m.graph.output[0].name = "y_"  # every step's h of both directions, and the last h + c
    expected = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, ins)[0]
    convert(m, tmp_path / "lstm", backends=["webgpu"])
    graph = json.loads((tmp_path / "lstm" / "graph_webgpu.json").read_text())
    kernel = [code for code in graph["shaders"] if "var<workgroup> hs:" in code]  # one per direction
    assert len(kernel) == (0 if unrolled else 2) and (len(graph["dispatches"]) > 4 * T) == unrolled
    got = runners["native"].run(tmp_path / "lstm", ins, backend="webgpu")["y_"]
    msg = compare(got, expected, "webgpu", "y, hT + cT")
    assert msg is None, msg
