"""onnxruntime's com.microsoft contrib ops, each compared with onnxruntime's CPU implementation (the
IR's numpy references run the converted graph); BiasAdd, which onnxruntime runs only on GPUs, with
numpy. Backends run a BERT-style model made of these ops in tests/e2e/test_contrib_models.py."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn.frontend.onnx import import_onnx
from webdnn.ir.reference import run
from webdnn.testing import assert_close

MS = "com.microsoft"
rng = np.random.default_rng(0)


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def model(nodes, inputs: dict, outputs, inits: dict = None, opset=17):
    def info(name, v):
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
    g = helper.make_graph(nodes, "t", [info(k, v) for k, v in inputs.items()],
                          [helper.make_tensor_value_info(*(n if isinstance(n, tuple) else (n, TensorProto.FLOAT)), None)
                           for n in outputs],
                          initializer=[numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(MS, 1)])


def check(m, inputs: dict, outputs=None, tol="reference"):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    names = outputs or [o.name for o in sess.get_outputs()]
    expected = dict(zip(names, sess.run(names, inputs)))
    got = run(import_onnx(m), inputs)
    for name in names:
        assert_close(got[name], expected[name], tol, name)


def node(op, ins, outs, domain=MS, **attrs):
    return helper.make_node(op, ins, outs, domain=domain, **attrs)


@pytest.mark.parametrize("op,ins", [("Gelu", ["x"]), ("FastGelu", ["x"]), ("FastGelu", ["x", "b"]),
                                    ("BiasGelu", ["x", "b"]), ("QuickGelu", ["x"])])
def test_gelus(op, ins):
    x = f32(2, 3, 8) * 3
    check(model([node(op, ins, ["y"])], {"x": x}, ["y"], {"b": f32(8)}), {"x": x})


def test_bias_add_against_numpy():
    x, b, s = f32(2, 3, 8), f32(8), f32(2, 3, 8)
    m = model([node("BiasAdd", ["x", "b", "s"], ["y"])], {"x": x, "s": s}, ["y"], {"b": b})
    assert_close(run(import_onnx(m), {"x": x, "s": s})["y"], x + b + s, "reference")


@pytest.mark.parametrize("with_beta,with_bias,skip_shape", [(True, True, (2, 5, 16)), (False, False, (5, 16)),
                                                            (True, False, (1, 5, 16))])
def test_skip_layer_normalization_all_outputs(with_beta, with_bias, skip_shape):
    x, skip = f32(2, 5, 16), f32(*skip_shape)
    ins = ["x", "skip", "gamma", "beta" if with_beta else "", "bias" if with_bias else ""]
    m = model([node("SkipLayerNormalization", ins, ["y", "mean", "isd", "sum"], epsilon=1e-5)],
              {"x": x, "skip": skip}, ["y", "mean", "isd", "sum"], {"gamma": f32(16), "beta": f32(16), "bias": f32(16)})
    check(m, {"x": x, "skip": skip})


def test_skip_simplified_and_simplified_layer_normalization():
    x, skip = f32(2, 5, 16), f32(2, 5, 16)
    m = model([node("SkipSimplifiedLayerNormalization", ["x", "skip", "gamma", "bias"], ["y", "", "isd", "sum"]),
               node("SimplifiedLayerNormalization", ["x", "gamma2"], ["z", "isd2"], domain="", axis=1, epsilon=1e-3)],
              {"x": x, "skip": skip}, ["y", "isd", "sum", "z", "isd2"],
              {"gamma": f32(16), "bias": f32(16), "gamma2": f32(5, 16)})
    check(m, {"x": x, "skip": skip})


def test_embed_layer_normalization():
    ids = rng.integers(0, 30, (2, 6)).astype(np.int32)
    seg = rng.integers(0, 2, (2, 6)).astype(np.int32)
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 2, 1, 1, 0]], np.int32)
    inits = {"we": f32(30, 16), "pe": f32(10, 16), "se": f32(2, 16), "g": f32(16), "b": f32(16)}
    m = model([node("EmbedLayerNormalization", ["ids", "seg", "we", "pe", "se", "g", "b", "mask"],
                    ["y", "mask_index", "emb"], epsilon=1e-5)],
              {"ids": ids, "seg": seg, "mask": mask}, ["y", ("mask_index", TensorProto.INT32), "emb"], inits)
    feeds = {"ids": ids, "seg": seg, "mask": mask}
    check(m, feeds, ["y", "emb"])
    got = run(import_onnx(m), feeds)
    assert got["mask_index"].tolist() == [4, 4] and got["mask_index"].dtype == np.int32  # entries equal to 1


def _attention_model(mask=None, unidirectional=0, past=False, bias4=False, **attrs):
    x = f32(2, 4, 16)
    ins = {"x": x}
    names = ["x", "w", "b", "", "", ""]
    if mask is not None:
        ins["mask"], names[3] = mask, "mask"
    if past:
        ins["past"], names[4] = f32(2, 2, 2, 3, 8), "past"
    if bias4:
        ins["ab"], names[5] = f32(2, 1, 4, 4 + (3 if past else 0)), "ab"
    while names[-1] == "":
        names.pop()
    outs = ["y", "present"] if past else ["y"]
    m = model([node("Attention", names, outs, num_heads=2, unidirectional=unidirectional, **attrs)], ins, outs,
              {"w": f32(16, 48, scale=0.3), "b": f32(48, scale=0.1)})
    return m, ins


@pytest.mark.parametrize("case", ["none", "lengths", "left_padding", "raw_2d", "raw_3d", "causal", "past_causal",
                                  "bias", "scale_filter"])
def test_attention(case):
    b, s = 2, 4
    masks = {"lengths": np.array([3, 4], np.int32), "left_padding": np.array([4, 4, 1, 0], np.int32),
             "raw_2d": np.array([[1, 1, 0, 1], [2, 1, -1, 1]], np.int32),
             "raw_3d": rng.integers(0, 2, (b, s, s)).astype(np.int32)}
    kw = {"none": {}, "causal": {"unidirectional": 1}, "past_causal": {"unidirectional": 1, "past": True},
          "bias": {"bias4": True}, "scale_filter": {"mask": masks["lengths"], "scale": 0.5, "mask_filter_value": -50.0}}
    m, ins = _attention_model(**({"mask": masks.get(case)} | kw.get(case, {})))
    check(m, ins)


def test_multi_head_attention_with_bias_padding_and_past():
    q, k, v = f32(2, 3, 16), f32(2, 5, 16), f32(2, 5, 16)
    ins = {"q": q, "k": k, "v": v, "kpm": np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int32)}
    m = model([node("MultiHeadAttention", ["q", "k", "v", "bias", "kpm"], ["y"], num_heads=4)], ins, ["y"],
              {"bias": f32(48)})
    check(m, ins)
    # causal self-attention with a cache: present = past + new
    x, pk, pv = f32(1, 2, 16), f32(1, 4, 3, 4), f32(1, 4, 3, 4)
    ins = {"x": x, "pk": pk, "pv": pv}
    m = model([node("MultiHeadAttention", ["x", "x", "x", "", "", "", "pk", "pv"], ["y", "ck", "cv"], num_heads=4,
                    unidirectional=1)], ins, ["y", "ck", "cv"])
    check(m, ins)


@pytest.mark.parametrize("interleaved,layout,rd", [(0, 3, 0), (1, 3, 0), (0, 4, 0), (1, 4, 0), (0, 3, 4)])
def test_rotary_embedding(interleaved, layout, rd):
    b, s, n, h = 2, 5, 2, 8
    x = f32(b, s, n * h) if layout == 3 else f32(b, n, s, h)
    half = (rd or h) // 2
    ins = {"x": x, "pos": rng.integers(0, 12, (b, s)).astype(np.int64)}
    attrs = {"interleaved": interleaved}
    if rd:
        attrs.update(rotary_embedding_dim=rd, num_heads=n)
    m = model([node("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], **attrs)], ins, ["y"],
              {"cos": f32(16, half), "sin": f32(16, half)})
    check(m, ins)


def _pack(q: np.ndarray, bits: int) -> np.ndarray:
    per = 8 // bits
    q = q.reshape(q.shape[0], -1, per).astype(np.uint8)
    return sum(q[..., i] << (bits * i) for i in range(per)).astype(np.uint8)


@pytest.mark.parametrize("bits,zp,k", [(4, None, 64), (4, "packed", 80), (8, None, 64), (2, "packed", 64),
                                       (4, "float", 64)])
def test_matmul_nbits(bits, zp, k):
    n, bs = 12, 32
    nb = -(-k // bs)
    q = rng.integers(0, 2 ** bits, (n, nb * bs))
    inits = {"B": _pack(q, bits).reshape(n, nb, bs * bits // 8), "scales": f32(n, nb, scale=0.1), "bias": f32(n)}
    names = ["a", "B", "scales", "", "", "bias"]
    if zp == "packed":
        zq = rng.integers(0, 2 ** bits, (n, -(-nb * bits // 8) * 8 // bits))
        inits["zp"], names[3] = _pack(zq, bits), "zp"
    elif zp == "float":
        inits["zp"], names[3] = rng.uniform(0, 2 ** bits, (n, nb)).astype(np.float32), "zp"
    a = f32(3, k)
    m = model([node("MatMulNBits", names, ["y"], K=k, N=n, bits=bits, block_size=bs)], {"a": a}, ["y"], inits)
    check(m, {"a": a})


def test_dynamic_quantize_matmul_and_matmul_integer_to_float():
    a = f32(4, 32)
    b_u8 = rng.integers(0, 256, (32, 6)).astype(np.uint8)
    b_i8 = rng.integers(-64, 65, (32, 6)).astype(np.int8)  # onnxruntime's int16 saturation stays away
    inits = {"bu": b_u8, "bi": b_i8, "bs": np.float32(0.02), "bsn": f32(6, scale=0.01), "bzp": np.uint8(120),
             "bias": f32(6)}
    m = model([node("DynamicQuantizeMatMul", ["a", "bu", "bs", "bzp", "bias"], ["y1"]),
               node("DynamicQuantizeMatMul", ["a", "bi", "bsn"], ["y2"])], {"a": a}, ["y1", "y2"], inits)
    check(m, {"a": a}, tol="js")
    qa = rng.integers(0, 256, (3, 32)).astype(np.uint8)
    m = model([node("MatMulIntegerToFloat", ["qa", "bi", "as", "bsn", "azp", "", "bias"], ["y"])], {"qa": qa}, ["y"],
              {"bi": b_i8, "as": np.float32(0.05), "bsn": f32(6, scale=0.01), "azp": np.uint8(128), "bias": f32(6)})
    check(m, {"qa": qa})


def test_fused_matmul_gemm_conv():
    a, b = f32(3, 2, 6, 4), f32(3, 2, 5, 4)
    a2, b2 = f32(3, 2, 6, 4), f32(2, 6, 4, 5)  # transBatchA: (3, 2, 6, 4) -> (2, 6, 3, 4)
    m = model([node("FusedMatMul", ["a", "b"], ["y"], alpha=0.5, transB=1),
               node("FusedMatMul", ["a2", "b2"], ["z"], transBatchA=1)],
              {"a": a, "b": b, "a2": a2, "b2": b2}, ["y", "z"])
    check(m, {"a": a, "b": b, "a2": a2, "b2": b2})
    x = f32(4, 8)
    m = model([node("FusedGemm", ["x", "w", "c"], ["g1"], transB=1, activation="LeakyRelu", activation_alpha=0.2),
               node("FusedGemm", ["x", "w", "c"], ["g2"], transB=1, alpha=0.5, activation="HardSigmoid",
                    activation_alpha=0.3, activation_beta=0.4)],
              {"x": x}, ["g1", "g2"], {"w": f32(5, 8), "c": f32(5)})
    check(m, {"x": x})
    img = f32(1, 3, 9, 9)
    z = f32(1, 4, 9, 9)
    m = model([node("FusedConv", ["img", "w", "b", "z"], ["c1"], pads=[1, 1, 1, 1], activation="Relu"),
               node("FusedConv", ["img", "w", "b"], ["c2"], pads=[1, 1, 1, 1], activation="Clip",
                    activation_params=[-0.5, 0.5])],
              {"img": img, "z": z}, ["c1", "c2"], {"w": f32(4, 3, 3, 3), "b": f32(4)})
    check(m, {"img": img, "z": z})


def test_unsupported_contrib_ops_are_listed_with_their_domain():
    from webdnn.errors import UnsupportedOpsError
    x = f32(2, 8)
    m = model([node("WordConvEmbedding", ["x"], ["a"]), node("Inverse", ["a"], ["y"]),
               node("Inverse", ["y"], ["z"])], {"x": x}, ["z"])
    with pytest.raises(UnsupportedOpsError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "3 node(s) use 2 unsupported op(s)" in msg and "com.microsoft::WordConvEmbedding" in msg \
        and "com.microsoft::Inverse" in msg, msg


@pytest.mark.parametrize("case", ["decode", "prompt", "packed", "rotary", "window_softcap", "batch2"])
def test_group_query_attention(case):
    # onnxruntime: head size a multiple of 16 for rotary; batch > 1 with a past only one token at a time
    b, s, p = (2, 1, 5) if case == "batch2" else (1, 3, 0 if case == "prompt" else 5)
    n, kvn, h = 4, 2, (16 if case == "rotary" else 8)
    t = p + s
    ins = {}
    names = ["q", "k", "v", "pk", "pv", "seq", "tot"]
    if case == "packed":
        ins["q"] = f32(b, s, (n + 2 * kvn) * h)
        names[1] = names[2] = ""
    else:
        ins.update(q=f32(b, s, n * h), k=f32(b, s, kvn * h), v=f32(b, s, kvn * h))
    ins.update(pk=f32(b, kvn, p, h), pv=f32(b, kvn, p, h), seq=np.full(b, t - 1, np.int32), tot=np.array(t, np.int32))
    attrs = {"num_heads": n, "kv_num_heads": kvn}
    inits = {}
    if case == "rotary":
        names += ["cos", "sin"]
        inits = {"cos": np.cos(np.arange(16)[:, None] * 0.3 / (np.arange(h // 2) + 1)).astype(np.float32),
                 "sin": np.sin(np.arange(16)[:, None] * 0.3 / (np.arange(h // 2) + 1)).astype(np.float32)}
        attrs["do_rotary"] = 1
    if case == "window_softcap":
        attrs.update(local_window_size=3, softcap=2.0, scale=0.4)
    m = model([node("GroupQueryAttention", names, ["y", "ck", "cv"], **attrs)], ins, ["y", "ck", "cv"], inits)
    check(m, ins)


@pytest.mark.parametrize("direction,per_channel", [("forward", False), ("forward", True), ("bidirectional", True)])
def test_dynamic_quantize_lstm(direction, per_channel):
    """Equal to onnxruntime's LSTM on the dequantized weights. onnxruntime's own kernel also
    quantizes the input and the hidden state at every step (one thread here: it quantizes per batch
    slice of its threads): within 2 % of the output range of that. Weights within ±64, where its
    int8 products do not saturate on CPUs without VNNI."""
    t, b, i, h = 5, 2, 6, 4
    d = 2 if direction == "bidirectional" else 1
    x = f32(t, b, i)
    wq = rng.integers(-64, 65, (d, i, 4 * h)).astype(np.int8)
    rq = rng.integers(-64, 65, (d, h, 4 * h)).astype(np.int8)
    shape = (d, 4 * h) if per_channel else (d,)
    ws, rs = rng.uniform(0.002, 0.01, shape).astype(np.float32), rng.uniform(0.002, 0.01, shape).astype(np.float32)
    bias = f32(d, 8 * h, scale=0.1)
    inits = {"W": wq, "R": rq, "B": bias, "ws": ws, "wz": np.zeros(shape, np.int8), "rs": rs, "rz": np.zeros(shape, np.int8)}
    outs = ["Y", "Yh", "Yc"]
    m = model([node("DynamicQuantizeLSTM", ["x", "W", "R", "B", "", "", "", "", "ws", "wz", "rs", "rz"], outs,
                    hidden_size=h, direction=direction)], {"x": x}, outs, inits)
    got = run(import_onnx(m), {"x": x})
    wd = (wq.astype(np.float32) * ws.reshape(d, 1, -1)).transpose(0, 2, 1)
    rd = (rq.astype(np.float32) * rs.reshape(d, 1, -1)).transpose(0, 2, 1)
    ref = model([helper.make_node("LSTM", ["x", "W", "R", "B"], outs, hidden_size=h, direction=direction)], {"x": x},
                outs, {"W": wd, "R": rd, "B": bias})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    exact = ort.InferenceSession(ref.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(outs, {"x": x})
    quantized = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(outs, {"x": x})
    for name, e, q in zip(outs, exact, quantized):
        assert_close(got[name], e, "reference", name)
        assert np.abs(got[name] - q).max() <= 0.02 * np.abs(q).max(), (name, np.abs(got[name] - q).max(), np.abs(q).max())


# ---- QOperator ops: 8-bit in, 8-bit out ---------------------------------------------------------------
def _u8(*shape):
    return rng.integers(0, 256, shape).astype(np.uint8)


def _i8(*shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


def _i7(*shape):
    """int8 weights within ±64 (onnxruntime's reduce_range): uint8 × int8 products that onnxruntime's CPU
    kernels compute exactly on every CPU (1.32 saturates some pairs of full-range ones on an AVX-512 Xeon)."""
    return rng.integers(-64, 64, shape).astype(np.int8)


def _scalar(v, dtype=np.float32):
    return np.array(v, dtype)


def check_quantized(m, inputs: dict, out="y"):
    """8-bit outputs against onnxruntime's: onnxruntime computes some of these ops in fixed point (QLinearAdd's
    scale ratios as integer multipliers, pools' integer sums), so a value within a hair of the middle
    between two levels may round the other way: at most one step, in at most a tenth of the elements."""
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run([out], inputs)[0]
    got = run(import_onnx(m), inputs)[out]
    assert got.dtype == want.dtype and got.shape == want.shape
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    assert diff.max() <= 1 and np.mean(diff > 0) <= 0.1, (diff.max(), np.mean(diff > 0))


U8, I8 = TensorProto.UINT8, TensorProto.INT8


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
def test_qlinear_add_and_mul_with_broadcasting(op):
    a, b = _u8(2, 3, 8), _u8(3, 8)
    inits = {"as": _scalar(0.02), "az": _scalar(120, np.uint8), "bs": _scalar(0.03), "bz": _scalar(130, np.uint8),
             "cs": _scalar(0.04), "cz": _scalar(128, np.uint8)}
    check_quantized(model([node(op, ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["y"])], {"a": a, "b": b},
                          [("y", U8)], inits), {"a": a, "b": b})


@pytest.mark.parametrize("op,channels_last,attrs", [
    ("QLinearGlobalAveragePool", 0, {}), ("QLinearGlobalAveragePool", 1, {}),
    ("QLinearAveragePool", 0, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("QLinearAveragePool", 1, {"kernel_shape": [2, 2], "strides": [2, 2]})])
def test_qlinear_pools(op, channels_last, attrs):
    x = _i8(2, 8, 5, 5) if not channels_last else _i8(2, 5, 5, 8)
    inits = {"xs": _scalar(0.05), "xz": _scalar(3, np.int8), "ys": _scalar(0.01), "yz": _scalar(-5, np.int8)}
    check_quantized(model([node(op, ["x", "xs", "xz", "ys", "yz"], ["y"], channels_last=channels_last, **attrs)],
                          {"x": x}, [("y", I8)], inits), {"x": x})


@pytest.mark.parametrize("op,attrs", [("QLinearSoftmax", {"axis": -1, "opset": 13}), ("QLinearSoftmax", {"axis": 1, "opset": 12}),
                                      ("QLinearLeakyRelu", {"alpha": 0.1}), ("QLinearSigmoid", {})])
def test_qlinear_unary(op, attrs):
    x = _u8(2, 3, 10)
    ys, yz = (1 / 256, 0) if op != "QLinearLeakyRelu" else (0.05, 100)
    inits = {"xs": _scalar(0.1), "xz": _scalar(128, np.uint8), "ys": _scalar(ys), "yz": _scalar(yz, np.uint8)}
    check_quantized(model([node(op, ["x", "xs", "xz", "ys", "yz"], ["y"], **attrs)], {"x": x}, [("y", U8)], inits), {"x": x})


def test_qlinear_concat():
    c1, c2 = _u8(2, 3, 4), _u8(2, 5, 4)
    inits = {"ys": _scalar(0.05), "yz": _scalar(128, np.uint8), "s1": _scalar(0.04), "z1": _scalar(120, np.uint8),
             "s2": _scalar(0.06), "z2": _scalar(130, np.uint8)}
    check_quantized(model([node("QLinearConcat", ["ys", "yz", "c1", "s1", "z1", "c2", "s2", "z2"], ["y"], axis=1)],
                          {"c1": c1, "c2": c2}, [("y", U8)], inits), {"c1": c1, "c2": c2})


@pytest.mark.parametrize("quantized_output", [True, False])
def test_qgemm_per_column_scales_and_bias(quantized_output):
    a = _u8(4, 32)
    inits = {"as": _scalar(0.02), "az": _scalar(120, np.uint8), "B": _i7(16, 32),
             "bs": (rng.random(16) * 0.01 + 0.001).astype(np.float32), "bz": np.zeros(16, np.int8),
             "C": rng.integers(-500, 500, 16).astype(np.int32), "ys": _scalar(0.05), "yz": _scalar(128, np.uint8)}
    ins = ["A", "as", "az", "B", "bs", "bz", "C"] + (["ys", "yz"] if quantized_output else [])
    m = model([node("QGemm", ins, ["y"], transB=1, alpha=0.5)], {"A": a}, [("y", U8 if quantized_output else TensorProto.FLOAT)],
              {k: v for k, v in inits.items() if k in ins})
    if quantized_output:
        check_quantized(m, {"A": a})
    else:
        check(m, {"A": a})


@pytest.mark.parametrize("zp", [np.uint8(120), np.array([0, 128, 200, 64, 120, 255], np.uint8)])
def test_matmul_integer_with_asymmetric_uint8_weights(zp):
    """uint8 weights whose centered values leave int8 (quantize_dynamic's QUInt8) become exactly int8 weights
    (b - 128) plus a row sum times (128 - zero point): the int32 results are onnxruntime's, exactly."""
    from webdnn.encoding import exact_int8
    from webdnn.passes.pipeline import optimize
    qa = rng.integers(0, 256, (5, 96)).astype(np.uint8)
    b = rng.integers(0, 256, (96, 6)).astype(np.uint8)
    m = model([node("MatMulInteger", ["qa", "b", "azp", "bzp"], ["y"], domain="")], {"qa": qa}, [("y", TensorProto.INT32)],
              {"b": b, "azp": np.uint8(131), "bzp": zp}, opset=17)
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"qa": qa})[0]
    g = import_onnx(m)
    assert np.array_equal(run(g, {"qa": qa})["y"], want)
    optimize(g)
    (w,) = [t for op in g.ops if op.type == "MatMul" for t in op.inputs[1:] if t.is_constant]
    assert exact_int8(w.data, 1) is not None and np.array_equal(run(g, {"qa": qa})["y"], want)
