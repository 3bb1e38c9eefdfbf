import numpy as np
import onnx
import pytest
from onnx import helper, TensorProto

from webdnn.errors import ConversionError, UnsupportedOpsError
from webdnn.frontend.onnx import import_onnx


def model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "m", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def test_unsupported_ops_are_listed_all_at_once():
    m = model([helper.make_node("Relu", ["x"], ["a"], name="r"),
               helper.make_node("FancyOp", ["a"], ["b"], name="f1"),
               helper.make_node("FancyOp", ["b"], ["c"], name="f2"),
               helper.make_node("Hardmax2", ["c"], ["d"], name="h"),
               helper.make_node("Relu", ["d"], ["y"], name="r2", domain="com.example")],
              [vi("x", [1, 4])], [vi("y", [1, 4])])
    with pytest.raises(UnsupportedOpsError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "4 node(s) use 3 unsupported op(s)" in msg
    assert "FancyOp (opset 13): 2 node(s): 'f1', 'f2'" in msg and "Hardmax2" in msg and "com.example::Relu" in msg


def test_truncated_and_garbage_files(tmp_path):
    m = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [1, 4])], [vi("y", [1, 4])],
              inits=[onnx.numpy_helper.from_array(np.ones(1000, np.float32), "unused")])
    data = m.SerializeToString()
    p = tmp_path / "trunc.onnx"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="not a valid ONNX model"):
        import_onnx(p)
    p.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ConversionError, match="ONNX"):
        import_onnx(p)
    with pytest.raises(ConversionError, match="does not exist"):
        import_onnx(tmp_path / "missing.onnx")


def test_input_shape_override_and_symbolic_dims():
    m = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["N", 3])], [vi("y", ["N", 3])])
    with pytest.warns(UserWarning, match="symbolic dims"):
        g = import_onnx(m)
    assert g.inputs[0].shape == (1, 3)
    g = import_onnx(m, {"x": [8, 3]})
    assert g.inputs[0].shape == (8, 3) and g.outputs[0].shape == (8, 3)
    with pytest.raises(ConversionError, match="the model's inputs are"):
        import_onnx(m, {"image": [8, 3]})
    with pytest.raises(ConversionError, match="rank"):
        import_onnx(m, {"x": [8, 3, 1]})


def test_shape_chain_is_folded_on_import():
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zero"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    inits = [onnx.numpy_helper.from_array(np.array(0, np.int64), "zero"),
             onnx.numpy_helper.from_array(np.array([-1], np.int64), "minus1")]
    m = model(nodes, [vi("x", [2, 3, 4])], [vi("y", None)], inits)
    g = import_onnx(m)
    assert [op.type for op in g.ops] == ["Reshape"]
    assert g.ops[0].attrs["shape"] == [2, 12] and g.outputs[0].name == "y"


def test_data_dependent_shape_is_a_clear_error():
    m = model([helper.make_node("Cast", ["s"], ["si"], to=TensorProto.INT64),
               helper.make_node("Reshape", ["x", "si"], ["y"])],
              [vi("x", [2, 3]), vi("s", [2])], [vi("y", None)])
    with pytest.raises(ConversionError, match="must be known at conversion time"):
        import_onnx(m)


def test_output_names_follow_onnx():
    m = model([helper.make_node("Relu", ["x"], ["hidden"]), helper.make_node("Exp", ["hidden"], ["prob"])],
              [vi("x", [2])], [vi("prob", [2])])
    g = import_onnx(m)
    assert [t.name for t in g.outputs] == ["prob"] and g.ops[0].outputs[0].name == "hidden"


def test_external_data_is_loaded_and_its_absence_reported(tmp_path):
    w = np.random.RandomState(0).randn(64, 32).astype(np.float32)
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", [2, 64])], [vi("y", [2, 32])],
              inits=[onnx.numpy_helper.from_array(w, "w")])
    path = tmp_path / "ext.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, location="ext.data", size_threshold=0)
    assert (tmp_path / "ext.data").stat().st_size == w.nbytes
    g = import_onnx(path)
    assert np.array_equal(g.ops[0].inputs[1].data, w)
    (tmp_path / "ext.data").unlink()
    with pytest.raises(ConversionError, match="external weight data"):
        import_onnx(path)


def test_constant_inputs_pin_parameter_inputs():
    m = model([helper.make_node("Reshape", ["x", "shape"], ["y"])],
              [vi("x", [2, 6]), vi("shape", [2], TensorProto.INT64)], [vi("y", None)])
    from webdnn.errors import DynamicValueError
    with pytest.raises(DynamicValueError) as e:
        import_onnx(m)
    assert e.value.tensor == "shape"
    g = import_onnx(m, constant_inputs={"shape": np.array([3, 4])})
    assert [t.name for t in g.inputs] == ["x"] and g.outputs[0].shape == (3, 4)


# ---- control flow, unrolled at import ---------------------------------------------------------------
def _ort(m, feeds):
    import onnxruntime as ort
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))


def _ours(m, feeds):
    from webdnn.ir import reference
    from webdnn.passes.pipeline import optimize
    g = optimize(import_onnx(m))
    g.verify()
    return reference.run(g, feeds), g


def test_scan_is_unrolled_with_directions_axes_and_outer_names():
    # state s (2,) += x_t * w (w from the enclosing graph); outputs per step: s and x_t * 2
    body = helper.make_graph(
        [helper.make_node("Mul", ["xt", "w"], ["xw"]), helper.make_node("Add", ["s", "xw"], ["s2"]),
         helper.make_node("Add", ["xt", "xt"], ["x2"]), helper.make_node("Identity", ["s2"], ["sy"])],
        "body", [vi("s", [2]), vi("xt", [2])], [vi("s2", [2]), vi("sy", [2]), vi("x2", [2])])
    w = onnx.numpy_helper.from_array(np.array([1.5, -2.0], np.float32), "w")
    scan = helper.make_node("Scan", ["s0", "x"], ["s_end", "ys", "x2s"], body=body, num_scan_inputs=1,
                            scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[0, 1],
                            scan_output_directions=[0, 1])
    m = model([scan], [vi("s0", [2]), vi("x", [2, 4])], [vi("s_end", [2]), vi("ys", [4, 2]), vi("x2s", [2, 4])],
              inits=[w], opset=16)
    feeds = {"s0": np.array([1, 2], np.float32), "x": np.arange(8, dtype=np.float32).reshape(2, 4)}
    got, g = _ours(m, feeds)
    for k, v in _ort(m, feeds).items():
        np.testing.assert_allclose(got[k], v, rtol=1e-6)
    assert not any(op.type == "Scan" for op in g.ops)


def test_loop_and_if_with_static_counts_and_conditions():
    # Loop: 3 iterations of v = v * 2 + i, scan output v each time; If picks a branch by a constant
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=TensorProto.FLOAT), helper.make_node("Add", ["v", "v"], ["v2"]),
         helper.make_node("Add", ["v2", "fi"], ["v3"]), helper.make_node("Identity", ["c"], ["c2"]),
         helper.make_node("Identity", ["v3"], ["out"])],
        "body", [vi("i", [], TensorProto.INT64), vi("c", [], TensorProto.BOOL), vi("v", [3])],
        [vi("c2", [], TensorProto.BOOL), vi("v3", [3]), vi("out", [3])])
    then_g = helper.make_graph([helper.make_node("Neg", ["vend"], ["t"])], "then", [], [vi("t", [3])])
    else_g = helper.make_graph([helper.make_node("Abs", ["vend"], ["e"])], "else", [], [vi("e", [3])])
    consts = [onnx.numpy_helper.from_array(np.array(3, np.int64), "M"),
              onnx.numpy_helper.from_array(np.array(True), "go"), onnx.numpy_helper.from_array(np.array(False), "no")]
    m = model([helper.make_node("Loop", ["M", "go", "v0"], ["vend", "vs"], body=body),
               helper.make_node("If", ["no"], ["y"], then_branch=then_g, else_branch=else_g)],
              [vi("v0", [3])], [vi("vend", [3]), vi("vs", [3, 3]), vi("y", [3])], inits=consts, opset=16)
    feeds = {"v0": np.array([1, -2, 0.5], np.float32)}
    got, g = _ours(m, feeds)
    for k, v in _ort(m, feeds).items():
        np.testing.assert_allclose(got[k], v, rtol=1e-6)
    assert not any(op.type in ("Loop", "If") for op in g.ops)


def test_control_flow_needs_static_values_and_supported_bodies():
    then_g = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [], [vi("t", [2])])
    else_g = helper.make_graph([helper.make_node("FancyOp", ["x"], ["e"], name="fancy")], "else", [], [vi("e", [2])])
    m = model([helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
               helper.make_node("Greater", ["s", "zero"], ["c"]),
               helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
              [vi("x", [2])], [vi("y", [2])], inits=[onnx.numpy_helper.from_array(np.float32(0), "zero")])
    with pytest.raises(UnsupportedOpsError, match="FancyOp"):  # found inside a branch, before any work
        import_onnx(m)
    else_ok = helper.make_graph([helper.make_node("Abs", ["x"], ["e"])], "else", [], [vi("e", [2])])
    next(a for a in m.graph.node[2].attribute if a.name == "else_branch").g.CopyFrom(else_ok)
    with pytest.raises(ConversionError, match="the condition must be known at conversion time"):
        import_onnx(m)


@pytest.mark.parametrize("kind,attrs", [
    ("LSTM", {"direction": "bidirectional", "clip": 2.5}),
    ("LSTM", {"direction": "reverse", "layout": 1, "activations": ["HardSigmoid", "Elu", "Softsign"],
              "activation_alpha": [0.3, 0.9], "activation_beta": [0.4]}),
    ("GRU", {"direction": "bidirectional", "linear_before_reset": 1}),
    ("GRU", {"layout": 1}),
    ("RNN", {"direction": "bidirectional", "activations": ["Relu", "LeakyRelu"], "activation_alpha": [0.2]}),
])
def test_onnx_recurrent_ops_match_onnxruntime(kind, attrs):
    """Unrolled ONNX RNN/GRU/LSTM (states, biases, peepholes, sequence_lens) against onnxruntime
    (which runs the time-major layout only: a batch-major case is checked through its time-major twin)."""
    rng = np.random.RandomState(3)
    G = {"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
    T, N, I, H = 4, 3, 5, 6
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    f = lambda *s: (rng.randn(*s) * 0.5).astype(np.float32)  # noqa: E731
    inits = [onnx.numpy_helper.from_array(f(dirs, G * H, I), "W"), onnx.numpy_helper.from_array(f(dirs, G * H, H), "R"),
             onnx.numpy_helper.from_array(f(dirs, 2 * G * H), "B"),
             onnx.numpy_helper.from_array(np.array([4, 2, 3], np.int32), "lens")]
    if kind == "LSTM":
        inits.append(onnx.numpy_helper.from_array(f(dirs, 3 * H), "P"))
    states = ["h0"] + (["c0"] if kind == "LSTM" else [])

    def build(layout):
        xs, ss = ((T, N, I), (dirs, N, H)) if layout == 0 else ((N, T, I), (N, dirs, H))
        ys = (T, dirs, N, H) if layout == 0 else (N, T, dirs, H)
        ins = ["X", "W", "R", "B", "lens", "h0"] + (["c0", "P"] if kind == "LSTM" else [])
        outs = ["Y", "Yh"] + (["Yc"] if kind == "LSTM" else [])
        node = helper.make_node(kind, ins, outs, hidden_size=H, **{**attrs, "layout": layout})
        return model([node], [vi("X", list(xs))] + [vi(s_, list(ss)) for s_ in states],
                     [vi("Y", list(ys))] + [vi(o, list(ss)) for o in outs[1:]], inits=inits, opset=14)

    layout = attrs.get("layout", 0)
    feeds0 = {"X": f(T, N, I), **{s_: f(dirs, N, H) for s_ in states}}
    want = _ort(build(0), feeds0)
    if layout == 1:
        feeds = {k: np.ascontiguousarray(np.swapaxes(v, 0, 1)) for k, v in feeds0.items()}
        want = {"Y": want["Y"].transpose(2, 0, 1, 3), **{k: np.swapaxes(v, 0, 1) for k, v in want.items() if k != "Y"}}
    else:
        feeds = feeds0
    got, g = _ours(build(layout), feeds)
    for k, v in want.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-5, err_msg=k)
    assert not any(op.type in ("LSTM", "GRU", "RNN") for op in g.ops)


@pytest.mark.parametrize("attrs", [dict(group=2, offset_group=2, strides=[2, 1], dilations=[1, 2], pads=[1, 0, 2, 1]),
                                   dict(offset_group=4, pads=[1, 1, 1, 1])])
def test_deform_conv_matches_the_onnx_reference(attrs):
    """Conv groups, offset groups, strides, dilations, asymmetric pads, a mask and a bias (the
    official node tests cover only group 1)."""
    from onnx.reference import ReferenceEvaluator
    rng = np.random.RandomState(0)
    n, c, h, w, m, k = 2, 4, 6, 5, 6, (3, 2)
    g, og = attrs.get("group", 1), attrs["offset_group"]
    st, dl, pd = attrs.get("strides", [1, 1]), attrs.get("dilations", [1, 1]), attrs["pads"]
    oh = (h + pd[0] + pd[2] - dl[0] * (k[0] - 1) - 1) // st[0] + 1
    ow = (w + pd[1] + pd[3] - dl[1] * (k[1] - 1) - 1) // st[1] + 1
    feeds = {"x": rng.randn(n, c, h, w).astype(np.float32), "w": rng.randn(m, c // g, *k).astype(np.float32),
             "off": (rng.randn(n, og * k[0] * k[1] * 2, oh, ow) * 1.5).astype(np.float32),
             "b": rng.randn(m).astype(np.float32), "mask": rng.rand(n, og * k[0] * k[1], oh, ow).astype(np.float32)}
    node = helper.make_node("DeformConv", ["x", "w", "off", "b", "mask"], ["y"], kernel_shape=list(k), **attrs)
    mdl = model([node], [vi(name, list(a.shape)) for name, a in feeds.items()], [vi("y", [n, m, oh, ow])], opset=19)
    (expected,) = ReferenceEvaluator(mdl).run(None, feeds)
    got, _ = _ours(mdl, feeds)
    np.testing.assert_allclose(got["y"], expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("attrs", [dict(mode="avg", sampling_ratio=2, spatial_scale=0.5, coordinate_transformation_mode="half_pixel"),
                                   dict(mode="max", sampling_ratio=3, spatial_scale=1.0,
                                        coordinate_transformation_mode="output_half_pixel")])
def test_roi_align_matches_the_onnx_reference(attrs):
    """Regions reaching past the border (clamping, zeros beyond one pixel), several batches."""
    from onnx.reference import ReferenceEvaluator
    rng = np.random.RandomState(0)
    feeds = {"x": rng.randn(2, 3, 7, 9).astype(np.float32),
             "rois": np.array([[0, 0, 8, 6], [2.5, 1, 11, 9], [-3, -2, 4, 3], [6, 5, 7, 5.5]], np.float32) / attrs["spatial_scale"],
             "b": np.array([1, 0, 1, 0], np.int64)}
    node = helper.make_node("RoiAlign", ["x", "rois", "b"], ["y"], output_height=3, output_width=4, **attrs)
    mdl = model([node], [vi("x", [2, 3, 7, 9]), vi("rois", [4, 4]), vi("b", [4], TensorProto.INT64)],
                [vi("y", [4, 3, 3, 4])], opset=16)
    (expected,) = ReferenceEvaluator(mdl).run(None, feeds)
    got, _ = _ours(mdl, feeds)
    np.testing.assert_allclose(got["y"], expected, rtol=1e-5, atol=1e-5)


def test_roi_align_with_an_adaptive_sampling_ratio_is_refused():
    node = helper.make_node("RoiAlign", ["x", "rois", "b"], ["y"], sampling_ratio=0)
    mdl = model([node], [vi("x", [1, 1, 4, 4]), vi("rois", [1, 4]), vi("b", [1], TensorProto.INT64)],
                [vi("y", [1, 1, 1, 1])], opset=16)
    with pytest.raises(ConversionError, match="sampling_ratio 0"):
        import_onnx(mdl)
