"""--weights int8 on wasm: matrix products with a constant B run on the 8-bit weights (qgemm.c), A
quantized per row as they run. Against the js backend, which computes in float with the same
decoded weights: odd K, N not a multiple of the 8-column slivers, rows not a multiple of 4, a
batch folded into the rows, a fused epilogue, a weight shared by two products, a large K (fewer
bits for A), a row of zeros, one and two rows; products with K < 64 stay float. In Node and in Chromium
(which takes the relaxed-SIMD build, where convolution patches are quantized to 7 bits per pixel: those
are checked against a numpy model of that arithmetic, and against float to the wasm-int8-7bit row)."""
import json
import zlib

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import webdnn
from webdnn.backend.wasm import emit as wasm_emit
from webdnn.converter import load_graph
from webdnn.encoding import decode, encode, output_axes
from webdnn.runners import RuntimeRunError
from webdnn.testing import compare

RNG = np.random.default_rng(5)
SHAPES = {  # input: (shape, weight)
    "x1": ([2, 5, 300], "w1"),   # batch folded into 10 rows, an epilogue (bias, relu)
    "x2": ([37, 65], "w2"),      # K odd, N = 520 (several column blocks)
    "x3": ([6, 4608], "w3"),     # large K: A gets 11-12 bits
    "x4": ([3, 4, 300], "w1"),   # the same weight again
    "x5": ([2, 300], "w1"),      # 2 rows
    "x6": ([9, 40], "w6"),       # K < 64: the float product
    "x7": ([600, 65], "w2"),     # 600 rows: A quantized 256 rows at a time
    "x8": ([1, 300], "w1"),      # one row (a decoder step): 4 slivers at a time, then the rest
    "x9": ([1, 65], "w2"),       # one row, 520 columns
}
WEIGHTS = {"w1": (300, 45), "w2": (65, 520), "w3": (4608, 37), "w6": (40, 64)}


def _model():
    inits = [numpy_helper.from_array((RNG.standard_normal(s) * 0.1).astype(np.float32), n) for n, s in WEIGHTS.items()]
    inits.append(numpy_helper.from_array(RNG.standard_normal(45).astype(np.float32), "b1"))
    nodes = [helper.make_node("MatMul", ["x1", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Relu", ["a1"], ["y1"])]
    for i in (2, 3, 4, 5, 6, 7, 8, 9):
        nodes.append(helper.make_node("MatMul", [f"x{i}", SHAPES[f"x{i}"][1]], [f"y{i}"]))
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, (s, _) in SHAPES.items()]
    outputs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None) for i in range(1, 10)]
    g = helper.make_graph(nodes, "products", inputs, outputs, inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    d = tmp_path_factory.mktemp("int8")
    path = d / "products.onnx"
    onnx.save(_model(), path)
    webdnn.convert(path, d / "int8", backends=("js", "wasm"), weights="int8")
    webdnn.convert(path, d / "raw", backends=("wasm",))
    feeds = {n: RNG.standard_normal(s).astype(np.float32) for n, (s, _) in SHAPES.items()}
    feeds["x2"][3] = 0.0
    feeds["x3"][:, ::7] *= 20  # a few large values per row: the row's scale follows them
    return d, feeds


def test_wasm_products_run_on_8bit_weights(converted):
    d, _ = converted
    doc = json.loads((d / "int8" / "graph_wasm.json").read_text())
    assert doc["stats"]["int8Products"] == 8
    # w1, w2 and w3 go into memory as stored (8-bit); w6 feeds a float product only: decoded
    assert doc["encoded"] == {w: {"encoding": "int8", "axis": 1} for w in ("w1", "w2", "w3")}
    model = json.loads((d / "int8" / "model.json").read_text())
    assert doc["stats"]["constBytes"] < sum(w["bytes"] for w in model["weights"]) + 4 * 40 * 64 + 4096
    raw = json.loads((d / "raw" / "graph_wasm.json").read_text())
    assert raw["stats"]["int8Products"] == 0 and "encoded" not in raw


@pytest.mark.parametrize("host", ["node", "chromium"])
def test_stored_int8_read_along_another_axis_is_refused(runners, converted, tmp_path, host):
    """A descriptor whose wasm graph reads a constant as int8 along an axis it is not stored along (damaged
    or mixed up) fails to load with the constant named, instead of running on misread weights."""
    d, feeds = converted
    q = tmp_path / "q"
    q.mkdir()
    for f in (d / "int8").iterdir():
        (q / f.name).write_bytes(f.read_bytes())
    doc = json.loads((q / "graph_wasm.json").read_text())
    doc["encoded"]["w3"]["axis"] = 0
    data = json.dumps(doc).encode()
    (q / "graph_wasm.json").write_bytes(data)
    model = json.loads((q / "model.json").read_text())
    for f in model["files"]:
        if f["file"] == "graph_wasm.json":
            f.update(bytes=len(data), crc32=f"{zlib.crc32(data) & 0xffffffff:08x}")
    (q / "model.json").write_text(json.dumps(model))
    with pytest.raises(RuntimeRunError, match="constant 'w3' is read as int8 along axis 0"):
        runners[host].run(q, feeds, backend="wasm")


def _q7_rows(a):
    """Rows of floats to 0..127 as the relaxed-SIMD build quantizes them (csrc/qgemm.c, q7_params), with the
    same float32 steps: (values, scale, zero point) per row; a row's range is [min(x, 0), max(x, 0)]."""
    f32 = np.float32
    lo, hi = np.minimum(a.min(axis=-1), f32(0)), np.maximum(a.max(axis=-1), f32(0))
    rng = (hi - lo).astype(f32)
    ok = rng > 0
    scale = np.where(ok, rng / f32(127), f32(0)).astype(f32)
    inv = np.where(ok, f32(127) / np.where(ok, rng, f32(1)), f32(0)).astype(f32)
    z = np.where(ok, np.rint((-lo * inv).astype(f32)), 0).astype(np.int64)
    q = np.clip(np.rint((a * inv[..., None]).astype(f32)).astype(np.int64) + z[..., None], 0, 127)
    return q, scale, z


def _q7_matmul(a, w):
    """a @ w as the relaxed-SIMD build computes it on int8 weights (stored per column): A's rows to 7 bits,
    exact integer sums, then the row's and the column's scales."""
    f32 = np.float32
    _, payload = encode("w", w, "float32", "int8", 1)
    N = w.shape[1]
    ws = np.frombuffer(payload, "<f4", N)
    wq = np.frombuffer(payload, np.int8, w.size, offset=4 * N).reshape(w.shape).astype(np.int64)
    q, scale, z = _q7_rows(a.reshape(-1, a.shape[-1]))
    sums = q @ wq - z[:, None] * wq.sum(axis=0)[None, :]
    y = sums.astype(f32) * (ws[None, :] * scale[:, None]).astype(f32)
    return y.reshape(a.shape[:-1] + (N,))


@pytest.mark.parametrize("host", ["node", "chromium"])
def test_int8_products_match_float_arithmetic_on_the_same_weights(runners, converted, host):
    d, feeds = converted
    expected = runners["node"].run(d / "int8", feeds, backend="js")
    got = runners[host].run(d / "int8", feeds, backend="wasm")
    relaxed = bool((runners[host].last_backend_info or {}).get("relaxedSimd"))
    assert relaxed == (host == "chromium")
    for name, e in expected.items():
        assert compare(got[name], e, "wasm-int8-7bit" if relaxed else "wasm-int8", f"{host} {name}") is None
    assert np.all(got["y2"][3] == 0)
    if relaxed:  # A's rows to 7 bits: exactly the arithmetic modelled
        m = onnx.load(d / "products.onnx")
        w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        want = {f"y{i}": _q7_matmul(feeds[f"x{i}"], w[SHAPES[f"x{i}"][1]]) for i in (2, 3, 4, 5, 7, 8, 9)}
        want["y1"] = np.maximum(_q7_matmul(feeds["x1"], w["w1"]) + w["b1"], np.float32(0))
        for name, e in want.items():
            assert compare(got[name], e, "wasm", f"{name} (7-bit model)") is None
    # the float product (K = 40) computes what js computes
    assert compare(got["y6"], expected["y6"], "wasm", "y6") is None


def test_int8_products_over_symbolic_rows(runners, tmp_path):
    """Rows known at run time (a sequence length): the same 8-bit product for any count, 1 to 300 (two
    chunks of A), from one descriptor."""
    w = numpy_helper.from_array((RNG.standard_normal((300, 64)) * 0.1).astype(np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])], "sym",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "seq", 300])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "s.onnx")
    webdnn.convert(tmp_path / "s.onnx", tmp_path / "o", backends=("js", "wasm"), weights="int8")
    doc = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    assert doc["symbols"] and doc["stats"]["int8Products"] == 1
    for n in (1, 5, 300):
        x = {"x": RNG.standard_normal((1, n, 300)).astype(np.float32)}
        e = runners["node"].run(tmp_path / "o", x, backend="js")["y"]
        assert compare(runners["node"].run(tmp_path / "o", x, backend="wasm")["y"], e, "wasm-int8", f"seq {n}") is None


def _q7_conv(x, w, attrs, bias=None, relu=False):
    """What the relaxed-SIMD build computes for a Conv over quantized patches (csrc/qgemm.c, quantize8_u7,
    sums7, store_tile7), in numpy with the same float32 steps: the int8 weights as stored (per output
    channel), each output pixel's patch to 0..127 with its scale and zero point, exact integer sums."""
    f32 = np.float32
    _, payload = encode("w", w, "float32", "int8", 0)
    M = w.shape[0]
    ws = np.frombuffer(payload, "<f4", M)
    wq = np.frombuffer(payload, np.int8, w.size, offset=4 * M).reshape(M, -1).astype(np.int64)
    one_d = x.ndim == 3
    if one_d:
        x, w = x[:, :, None, :], w[:, :, None, :]
    kh, kw = w.shape[2:]
    sh, sw = attrs.get("strides", [1, 1]) if not one_d else [1] + attrs.get("strides", [1])
    dh, dw = attrs.get("dilations", [1, 1]) if not one_d else [1] + attrs.get("dilations", [1])
    pads = attrs.get("pads", [0, 0, 0, 0]) if not one_d else [0, attrs["pads"][0], 0, attrs["pads"][1]]
    pt, pl, pb, pr = pads
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    OH, OW = (H + pt + pb - dh * (kh - 1) - 1) // sh + 1, (W + pl + pr - dw * (kw - 1) - 1) // sw + 1
    cols = np.empty((N, C, kh, kw, OH, OW), f32)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh, j * dw:j * dw + sw * (OW - 1) + 1:sw]
    q, scale, z = _q7_rows(cols.reshape(N, C * kh * kw, OH * OW).transpose(0, 2, 1))  # per output pixel
    sums = np.einsum("mk,npk->nmp", wq, q) - z[:, None, :] * wq.sum(axis=1)[None, :, None]
    y = sums.astype(f32) * (scale[:, None, :] * ws[None, :, None]).astype(f32)
    if bias is not None:
        y = (y + bias[None, :, None]).astype(f32)
    if relu:
        y = np.maximum(y, f32(0))
    return y.reshape((N, M, OW) if one_d else (N, M, OH, OW))


def _conv_model():
    """1x1 convolutions run on 8-bit weights: 67 channels in, 34 out, 10x13 pixels, bias, relu fused; and
    one of stride 2 (40 out, 5x7 pixels); a 3x3 and a 2x2 one of fewer than 32 output channels stay float
    (on wasm)."""
    w1 = numpy_helper.from_array((RNG.standard_normal((34, 67, 1, 1)) * 0.2).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(RNG.standard_normal(34).astype(np.float32), "b1")
    w2 = numpy_helper.from_array((RNG.standard_normal((40, 67, 1, 1)) * 0.2).astype(np.float32), "w2")
    w3 = numpy_helper.from_array((RNG.standard_normal((8, 34, 3, 3)) * 0.2).astype(np.float32), "w3")
    w4 = numpy_helper.from_array((RNG.standard_normal((12, 34, 2, 2)) * 0.2).astype(np.float32), "w4")
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"]), helper.make_node("Relu", ["c1"], ["y1"]),
             helper.make_node("Conv", ["x", "w2"], ["y2"], strides=[2, 2]),
             helper.make_node("Conv", ["y1", "w3"], ["y3"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["y1", "w4"], ["y4"])]
    g = helper.make_graph(nodes, "convs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 67, 10, 13])],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y1", "y2", "y3", "y4")],
                          [w1, b1, w2, w3, w4])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("host", ["node", "chromium"])
def test_int8_pointwise_convolution(runners, tmp_path, host):
    onnx.save(_conv_model(), tmp_path / "c.onnx")
    webdnn.convert(tmp_path / "c.onnx", tmp_path / "o", backends=("js", "wasm"), weights="int8")
    doc = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    assert doc["stats"]["int8Products"] == 2
    assert doc["encoded"] == {w: {"encoding": "int8", "axis": 0} for w in ("w1", "w2")}
    x = RNG.standard_normal((2, 67, 10, 13)).astype(np.float32)
    x[1, :, 4, 5] = 0.0  # a pixel of zeros
    x[0, :, 2, :] *= 30  # a row of large pixels: each pixel has its own scale
    expected = runners["node"].run(tmp_path / "o", {"x": x}, backend="js")
    got = runners[host].run(tmp_path / "o", {"x": x}, backend="wasm")
    relaxed = bool((runners[host].last_backend_info or {}).get("relaxedSimd"))
    assert relaxed == (host == "chromium")
    for name, e in expected.items():
        # (y3 and y4 are float convolutions of y1)
        assert compare(got[name], e, "wasm-int8-7bit" if relaxed else "wasm-int8", f"{host} {name}") is None
    if relaxed:  # 7-bit patches: exactly the arithmetic modelled
        m = onnx.load(tmp_path / "c.onnx")
        w = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        assert compare(got["y1"], _q7_conv(x, w["w1"], {}, w["b1"], relu=True), "wasm", "y1 (7-bit model)") is None
        assert compare(got["y2"], _q7_conv(x, w["w2"], {"strides": [2, 2]}), "wasm", "y2 (7-bit model)") is None


def _kernel_conv_model():
    """Convolutions with a kernel run on 8-bit weights too, their patches quantized per output pixel: a 3x3
    stride-2 padded one (17x15 input: rows of outputs that end inside a sliver of 8), a 7x7 stride-2 stem on
    3 channels, a 3x3 stride-1 one on an image too small for Winograd (4 tiles), a dilated 3x3, an
    asymmetrically padded 3x2, a 1x1 with end padding only, and a 1-D one of kernel 5. A 3x3 stride-1 one
    on a large enough image runs Winograd F(4x4, 3x3) with integer products (70 channels: 35 pairs, two
    int32 runs of 16 and one of 3), or in float where it has fewer than 64 input channels (k8)."""
    specs = {  # weight: (shape, conv attributes, input)
        "k1": ((48, 40, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}, "a"),
        "k2": ((32, 3, 7, 7), {"strides": [2, 2], "pads": [3, 3, 3, 3]}, "s"),
        "k3": ((40, 64, 3, 3), {"pads": [1, 1, 1, 1]}, "t"),
        "k4": ((36, 40, 3, 3), {"pads": [2, 2, 2, 2], "dilations": [2, 2]}, "a"),
        "k5": ((33, 40, 3, 2), {"pads": [0, 1, 2, 0]}, "a"),
        "k6": ((32, 72, 1, 1), {"pads": [0, 0, 1, 2]}, "u"),
        "k7": ((40, 24, 5), {"pads": [2, 2]}, "v"),
        "k8": ((32, 40, 3, 3), {"pads": [1, 1, 1, 1]}, "a"),
        "k9": ((40, 70, 3, 3), {"pads": [1, 1, 1, 1]}, "w"),
    }
    inputs = {"a": [2, 40, 17, 15], "s": [1, 3, 30, 34], "t": [1, 64, 7, 6], "u": [1, 72, 9, 11], "v": [2, 24, 29],
              "w": [2, 70, 19, 21]}
    inits, nodes = [], []
    for n, (shape, attrs, x) in specs.items():
        inits.append(numpy_helper.from_array((RNG.standard_normal(shape) * 0.2).astype(np.float32), n))
        nodes.append(helper.make_node("Conv", [x, n], [f"y{n}"], **attrs))
    inits.append(numpy_helper.from_array(RNG.standard_normal(48).astype(np.float32), "bk"))
    nodes[0].input.append("bk")  # a bias, and a relu fused into the product's epilogue
    nodes[0].output[0] = "ck1"
    nodes.append(helper.make_node("Relu", ["ck1"], ["yk1"]))
    g = helper.make_graph(nodes, "kconvs", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
                          [helper.make_tensor_value_info(f"y{n}", TensorProto.FLOAT, None) for n in specs], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), inputs


@pytest.mark.parametrize("host,chunked", [("node", False), ("chromium", False), ("node", True), ("chromium", True)])
def test_int8_convolutions_with_a_kernel(runners, tmp_path, monkeypatch, host, chunked):
    """(chunked: the quantized patches get room for 64 output pixels at a time and Winograd for one row of
    tiles, so each image runs in chunks, the epilogue on each)"""
    if chunked:
        monkeypatch.setattr(wasm_emit, "Q8_CONV_WORK_BYTES", 4096)
        monkeypatch.setattr(wasm_emit, "WINOGRAD_WORK_BYTES", 400_000)
    model, inputs = _kernel_conv_model()
    onnx.save(model, tmp_path / "k.onnx")
    webdnn.convert(tmp_path / "k.onnx", tmp_path / "o", backends=("js", "wasm"), weights="int8")
    doc = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    assert doc["stats"]["int8Products"] == 8
    assert set(doc["encoded"]) == {f"k{i}" for i in (1, 2, 3, 4, 5, 6, 7, 9)}
    rng = np.random.default_rng(7)
    x = {n: rng.standard_normal(s).astype(np.float32) for n, s in inputs.items()}
    x["a"][1, :, 5, 6] = 0.0
    x["a"][0, :, 9, :] *= 30  # large values in one row: the patches over it get their own scales
    expected = runners["node"].run(tmp_path / "o", x, backend="js")
    got = runners[host].run(tmp_path / "o", x, backend="wasm")
    relaxed = bool((runners[host].last_backend_info or {}).get("relaxedSimd"))
    patches = {f"yk{i}" for i in range(1, 8)}  # k8 runs in float, k9 as Winograd (13-bit operands)
    for name, e in expected.items():
        row = "wasm-int8-7bit" if relaxed and name in patches else "wasm-int8"
        assert compare(got[name], e, row, f"{host} {name}") is None
    if relaxed:  # 7-bit patches: exactly the arithmetic modelled
        w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        ins = {n.output[0]: (n.input, {a.name: list(a.ints) for a in n.attribute}) for n in model.graph.node}
        for name in sorted(patches):
            src = "ck1" if name == "yk1" else name
            (xn, wn, *rest), attrs = ins[src]
            want = _q7_conv(x[xn], w[wn], attrs, w[rest[0]] if rest else None, relu=name == "yk1")
            assert compare(got[name], want, "wasm", f"{name} (7-bit model)") is None


def _webgpu_products(d, weights):
    """The products model converted for js and webgpu with these weights (once per module; both hosts
    use it), and its webgpu graph."""
    out = d / f"webgpu-{weights}"
    if not (out / "model.json").exists():
        webdnn.convert(d / "products.onnx", out, backends=("js", "webgpu"), weights=weights)
    return out, json.loads((out / "graph_webgpu.json").read_text())


@pytest.mark.parametrize("host", ["native", "chromium"])
def test_webgpu_unpacks_int8_weights_where_it_loads_them(runners, converted, tmp_path_factory, host):
    """webgpu with --weights int8: each MatMul's B is bound as stored (a quarter of the float bytes) and
    unpacked in the shader: 4 columns per word where N % 4 == 0, one by one otherwise (w3: 37
    columns); the results are js's on the same weights."""
    d, feeds = converted
    out, doc = _webgpu_products(d, "int8")
    assert doc["encoded"] == {w: {"encoding": "int8", "axis": 1} for w in ("w1", "w2", "w3", "w6")}
    placed = doc["memory"]["f32"]["tensors"]
    assert placed["w3"][0][2] == -(-(4 * 37 + 4608 * 37) // 4) * 4  # the stored bytes, not 4 per value
    expected = runners["node"].run(out, feeds, backend="js")
    got = runners[host].run(out, feeds, backend="webgpu")
    for name, e in expected.items():
        assert compare(got[name], e, "webgpu", f"{host} {name}") is None


@pytest.mark.parametrize("host", ["native", "chromium"])
def test_webgpu_unpacks_int4_weights_where_it_loads_them(runners, converted, host):
    """--weights int4 on webgpu: each MatMul's B is bound as stored (half-float scales per block of 32,
    two values per byte: an eighth of the float bytes) and unpacked in the shader; the results are js's
    on the same decoded weights. w2 has 520 columns (4 values from one word), w3 37 (one at a time), and
    an odd number of blocks puts the values at an address that is 2 mod 4; w3's K (4608) is whole blocks:
    its blocks run along K, column by column (the others' K is not: row-major blocks)."""
    d, feeds = converted
    out, doc = _webgpu_products(d, "int4")
    assert doc["encoded"] == {**{w: {"encoding": "int4", "block": 32} for w in ("w1", "w2", "w6")},
                              "w3": {"encoding": "int4", "block": 32, "axis": 0}}
    assert -(-65 * 520 // 32) % 2 == 1  # w2: an odd number of blocks
    placed = doc["memory"]["f32"]["tensors"]
    assert placed["w3"][0][2] == -(-(2 * -(-4608 * 37 // 32) + -(-4608 * 37 // 2)) // 4) * 4
    expected = runners["node"].run(out, feeds, backend="js")
    got = runners[host].run(out, feeds, backend="webgpu")
    for name, e in expected.items():
        assert compare(got[name], e, "webgpu", f"{host} {name}") is None


def test_int4_weights_run_the_8bit_products_on_wasm(runners, converted):
    """--weights int4 on wasm: the same 8-bit products, on the decoded weights quantized again per output
    column at load (256 levels where int4 has 16 per block: the extra rounding is a small part of int4's).
    Weights read only by them stay 4-bit in memory (decoded one at a time at load: w3's blocks along K, the
    others' row-major); w6 is decoded. w1 and w2 have products of one row too, but more of several."""
    d, feeds = converted
    out = d / "wasm-int4"
    webdnn.convert(d / "products.onnx", out, backends=("js", "wasm"), weights="int4")
    doc = json.loads((out / "graph_wasm.json").read_text())
    assert doc["stats"]["int8Products"] == 8 and doc["stats"]["int4Products"] == 0
    assert doc["encoded"] == {"w1": {"encoding": "int4", "block": 32}, "w2": {"encoding": "int4", "block": 32},
                              "w3": {"encoding": "int4", "block": 32, "axis": 0}}
    assert doc["stats"]["constBytes"] < 4 * 40 * 64 + (300 * 45 + 65 * 520 + 4608 * 37) // 2 * 1.2
    expected = runners["node"].run(out, feeds, backend="js")
    got = runners["node"].run(out, feeds, backend="wasm")
    exact = runners["node"].run(d / "raw", feeds, backend="wasm")  # float32 weights
    for name, e in expected.items():
        extra, int4 = np.abs(got[name] - e).max(), np.abs(e - exact[name]).max()
        assert extra <= 0.3 * int4 + 1e-5, (name, extra, int4)


@pytest.mark.parametrize("host", ["node", "chromium"])
def test_int4_weights_of_few_row_products_stay_4bit(runners, tmp_path, host):
    """--weights int4: a B [K, N] whose K is whole blocks is stored in blocks along K, column by column (the
    layout of MatMulNBits); on wasm, where every product by it has fewer than 4 rows or rows known only at
    run time (a decoder's step), it stays 4-bit in memory and wd_matmul_q4 multiplies by it as stored (the
    GEMV for 1 row, the GEMM for 6); webgpu unpacks it in the shader. The results are js's on the same
    decoded weights, within float tolerance (the GEMV takes A as 16-bit integers per block), or in the
    relaxed-SIMD build (Chromium) within the 8-bit products' (its GEMV takes A in 8 bits per block there)."""
    w = numpy_helper.from_array((RNG.standard_normal((256, 96)) * 0.1).astype(np.float32), "w")
    v = numpy_helper.from_array((RNG.standard_normal((128, 45)) * 0.1).astype(np.float32), "v")
    b = numpy_helper.from_array(RNG.standard_normal(96).astype(np.float32), "b")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"]),
                           helper.make_node("MatMul", ["s", "v"], ["z"])], "few",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256]),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, "seq", 128])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [w, v, b])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    webdnn.convert(tmp_path / "m.onnx", tmp_path / "o", backends=("js", "wasm", "webgpu"), weights="int4")
    w_stored = encode("w", numpy_helper.to_array(w), "float32", "int4", 0)
    doc = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    kn = {"encoding": "int4", "block": 32, "axis": 0}
    assert doc["encoded"] == {"w": kn, "v": kn}
    assert doc["stats"]["int4Products"] == doc["stats"]["int4ProductsA8"] == 2 and doc["stats"]["int8Products"] == 0
    assert doc["stats"]["constBytes"] < (256 * 96 + 128 * 45) * 0.6 + 4 * 96 + 64  # 4-bit, not float32
    assert json.loads((tmp_path / "o" / "graph_webgpu.json").read_text())["encoded"] == {"w": kn, "v": kn}
    emulated = False
    for n in (1, 6):
        feeds = {"x": RNG.standard_normal((1, 256)).astype(np.float32),
                 "s": RNG.standard_normal((1, n, 128)).astype(np.float32)}
        expected = runners["node"].run(tmp_path / "o", feeds, backend="js")
        for backend in ("wasm", "webgpu"):
            where = host if backend == "wasm" else ("chromium" if host == "chromium" else "native")
            got = runners[where].run(tmp_path / "o", feeds, backend=backend)
            relaxed = backend == "wasm" and (runners[where].last_backend_info or {}).get("relaxedSimd")
            for name, e in expected.items():
                tol = "wasm-int8-7bit" if relaxed else backend
                assert compare(got[name], e, tol, f"{where} {backend} seq {n} {name}") is None
            if relaxed:  # the one-row product exactly as the GEMV computes it there, to float rounding
                want = _q4_gemv_a8(feeds["x"], w_stored, (256, 96)) + numpy_helper.to_array(b)
                assert compare(got["y"], want, "wasm", f"{where} 8-bit A") is None
                emulated = True
    assert emulated or host != "chromium"  # Chromium runs the relaxed-SIMD build


def _q4_gemv_a8(a, stored, shape):
    """What the relaxed-SIMD build's 4-bit GEMV computes for one row (csrc/gemm.c q4_gemv8): B as int4 stores it
    (blocks of 32 along K), A rounded per block of 32 to 8 bits (its largest magnitude / 127, to nearest even),
    exact integer sums per column and block, scaled by the two scales."""
    fields, payload = stored
    K, N = shape
    blocks = N * K // 32
    scale = np.frombuffer(payload, "<f2", blocks).astype(np.float64).reshape(N, K // 32)
    nib = np.frombuffer(payload, np.uint8, offset=2 * blocks)
    q = np.stack([nib & 15, nib >> 4], axis=1).reshape(N, K).astype(np.int64)
    q = np.where(q > 7, q - 16, q)
    x = a.reshape(K // 32, 32).astype(np.float32)
    peak = np.abs(x).max(axis=1)
    sa = np.where(peak > 0, peak / np.float32(127), np.float32(0)).astype(np.float32)
    inv = np.where(peak > 0, np.float32(127) / peak, np.float32(0)).astype(np.float32)
    qa = np.rint((x * inv[:, None]).astype(np.float32)).astype(np.int64)
    dots = np.einsum("nbk,bk->nb", q.reshape(N, K // 32, 32), qa)
    return (dots * scale * sa[None, :].astype(np.float64)).sum(axis=1).astype(np.float32)[None, :]


def test_int4_pointwise_convolution_on_wasm(runners, tmp_path):
    """--weights int4: the 1x1 convolutions' weights stay 4-bit in wasm memory and run the 8-bit products
    (decoded and quantized again per output channel at load): the added error is a small part of int4's."""
    onnx.save(_conv_model(), tmp_path / "c.onnx")
    webdnn.convert(tmp_path / "c.onnx", tmp_path / "q", backends=("js", "wasm"), weights="int4")
    webdnn.convert(tmp_path / "c.onnx", tmp_path / "f", backends=("wasm",))
    doc = json.loads((tmp_path / "q" / "graph_wasm.json").read_text())
    assert doc["stats"]["int8Products"] == 2
    assert doc["encoded"] == {w: {"encoding": "int4", "block": 32} for w in ("w1", "w2")}
    x = {"x": np.random.default_rng(4).standard_normal((2, 67, 10, 13)).astype(np.float32)}
    expected = runners["node"].run(tmp_path / "q", x, backend="js")
    got = runners["node"].run(tmp_path / "q", x, backend="wasm")
    exact = runners["node"].run(tmp_path / "f", x, backend="wasm")
    for name in ("y1", "y2"):
        extra, int4 = np.abs(got[name] - expected[name]).max(), np.abs(expected[name] - exact[name]).max()
        assert extra <= 0.3 * int4, (name, extra, int4)


@pytest.mark.parametrize("host", ["native", "chromium"])
@pytest.mark.parametrize("weights", ["int8", "int4"])
def test_webgpu_unpacks_convolution_weights(runners, tmp_path, host, weights):
    """webgpu with --weights int8 / int4: every (not depthwise) Conv's weights bound as stored and unpacked
    where the GEMM loads them (K = 67, 306: one at a time; K = 136: 4 from a word)."""
    onnx.save(_conv_model(), tmp_path / "c.onnx")
    webdnn.convert(tmp_path / "c.onnx", tmp_path / "o", backends=("js", "webgpu"), weights=weights)
    doc = json.loads((tmp_path / "o" / "graph_webgpu.json").read_text())
    want = {"encoding": "int8", "axis": 0} if weights == "int8" else {"encoding": "int4", "block": 32}
    assert doc["encoded"] == {w: want for w in ("w1", "w2", "w3", "w4")}
    x = {"x": np.random.default_rng(3).standard_normal((2, 67, 10, 13)).astype(np.float32)}
    expected = runners["node"].run(tmp_path / "o", x, backend="js")
    got = runners[host].run(tmp_path / "o", x, backend="webgpu")
    for name, e in expected.items():
        assert compare(got[name], e, "webgpu", f"{host} {weights} {name}") is None


def test_verify_holds_8bit_products_to_their_own_tolerance(converted):
    """`webdnn verify` on an int8 descriptor (oracle: js in Node, float on the same weights): the wasm rows
    are held to the wasm-int8 row of the table, which the table shows."""
    from webdnn.verify import format_rows, verify
    d, _ = converted
    rows = verify(d / "int8", places=("node",), log=lambda *a: None)
    wasm = next(r for r in rows if r.backend == "wasm")
    assert wasm.result == "pass" and wasm.tolerance == "wasm-int8" and wasm.rel_err > 1e-6, wasm
    assert "2e-03" in format_rows([wasm])


def test_whole_number_weights_stay_exact(runners, tmp_path):
    """Weights that are whole numbers within ±127 (an integer model's, centered) are stored with scale 1, so
    int8 keeps them exactly; the wasm products keep them exactly too, whether they read them as stored (w1)
    or quantize decoded floats at load (w2, which an Add also reads). Channels of -3..3: a scale of
    max/127 would move every weight by up to 0.8 %."""
    rng = np.random.default_rng(9)
    w1 = rng.integers(-3, 4, (96, 40)).astype(np.float32)
    w2 = rng.integers(-100, 101, (96, 40)).astype(np.float32)
    w2[:, 3] = 0.5  # one column of fractions: that column alone gets max / 127
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")]
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w1"], ["y1"]), helper.make_node("MatMul", ["x", "w2"], ["y2"]),
                           helper.make_node("Add", ["z", "w2"], ["y3"])], "whole",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 96]),
                           helper.make_tensor_value_info("z", TensorProto.FLOAT, [96, 40])],
                          [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y1", "y2", "y3")], inits)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "w.onnx")
    for w in (w1, w2):
        fields, payload = encode("w", w, "float32", "int8", 1)
        assert np.array_equal(decode(fields, payload, w.shape, "float32"), w)
    webdnn.convert(tmp_path / "w.onnx", tmp_path / "o", backends=("js", "wasm"), weights="int8")
    doc = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    assert doc["stats"]["int8Products"] == 2 and set(doc["encoded"]) == {"w1"}
    feeds = {"x": rng.standard_normal((5, 96)).astype(np.float32), "z": np.zeros((96, 40), np.float32)}
    got = runners["node"].run(tmp_path / "o", feeds, backend="wasm")
    for name, w in (("y1", w1), ("y2", w2)):
        assert compare(got[name], feeds["x"] @ w, "wasm-int8", name) is None


def test_int8_axis_is_the_output_channels(tmp_path):
    """Contraction weights are stored per output channel (what the wasm products quantize along), even
    where the other axis would have the smaller error; other constants keep the smaller-error choice."""
    path = tmp_path / "m.onnx"
    onnx.save(_model(), path)
    graph = load_graph(path)
    assert output_axes(graph) == {"w1": 1, "w2": 1, "w3": 1, "w6": 1}
    w = np.ones((64, 8), np.float32)
    w[:, 0] = 100.0  # one large column: per-row scales (axis 0) lose the small ones, per-column do not
    assert encode("w", w, "float32", "int8", 1)[0]["axis"] == 1
    fields, payload = encode("w", w, "float32", "int8", 1)
    assert np.array_equal(decode(fields, payload, w.shape, "float32"), w)
    r = np.ones((8, 64), np.float32)
    r[0] = 100.0
    assert encode("r", r, "float32", "int8")[0]["axis"] == 0


def test_qdq_model_keeps_its_8bit_weights(runners, tmp_path):
    """A model quantized by onnxruntime (QDQ, per channel): its DequantizeLinear'd weights are int8 values
    times a scale per output channel, which --weights int8 stores unchanged; the wasm products then run
    on exactly the model's own 8-bit weights."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from webdnn.passes.pipeline import optimize

    class Calibration(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.feeds = iter([{"x": rng.standard_normal((4, 96)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.feeds, None)

    rng = np.random.default_rng(2)
    ws = [numpy_helper.from_array((rng.standard_normal(s) * 0.1).astype(np.float32), n)
          for n, s in (("w1", (96, 128)), ("w2", (128, 64)))]
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
                           helper.make_node("MatMul", ["r", "w2"], ["y"])], "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 96])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 64])], ws)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "f.onnx")
    quantize_static(str(tmp_path / "f.onnx"), str(tmp_path / "q.onnx"), Calibration(), quant_format=QuantFormat.QDQ,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    graph = load_graph(tmp_path / "q.onnx")
    optimize(graph)
    axes = output_axes(graph)
    weights = [t for t in graph.constants() if t.data.ndim == 2 and t.data.size >= 256]
    assert len(weights) == 2
    for t in weights:
        fields, payload = encode(t.name, t.data, t.dtype, "int8", axes[t.name])
        assert np.array_equal(decode(fields, payload, t.data.shape, t.dtype), t.data), t.name
    webdnn.convert(tmp_path / "q.onnx", tmp_path / "o", backends=("js", "wasm"), weights="int8")
    assert json.loads((tmp_path / "o" / "graph_wasm.json").read_text())["stats"]["int8Products"] == 2
    x = {"x": np.random.default_rng(1).standard_normal((4, 96)).astype(np.float32)}
    expected = runners["node"].run(tmp_path / "o", x, backend="js")["y"]
    got = runners["node"].run(tmp_path / "o", x, backend="wasm")["y"]
    # the model rounds its activations to 8 bits (QuantizeLinear) after each product: a 1e-4 difference
    # in a product may move a value to the next level there, so a few elements differ by a step
    err = np.abs(got - expected)
    assert np.mean(err <= 2e-3 * np.abs(expected).max() + 1e-4) >= 0.95, np.sort(err)[-8:]


def _spec_outputs(path, feeds):
    """The outputs of the .onnx at `path` by the ONNX specification's own reference implementation
    (onnx.reference): the oracle for the quantize_dynamic models, whose MatMulInteger of uint8 by int8
    onnxruntime 1.32's CPU kernels do not compute exactly on every CPU (0.9 % of the largest output off
    on an AVX-512 Xeon; uint8 by uint8 they do)."""
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(str(path)).run(None, feeds)


def _dynamic_mlp(path, weight_type="QInt8"):
    """A two-layer MLP (GELU between) quantized by onnxruntime's quantize_dynamic: DynamicQuantizeLinear,
    MatMulInteger with int8 weights (one scale per tensor; QUInt8: uint8 with a zero point), Cast, Mul by
    the scales."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    rng = np.random.default_rng(3)
    ws = [numpy_helper.from_array((rng.standard_normal(s) * 0.1).astype(np.float32), n)
          for n, s in (("w1", (96, 256)), ("w2", (256, 80)))]
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Gelu", ["h"], ["r"]),
                           helper.make_node("MatMul", ["r", "w2"], ["y"])], "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 24, 96])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 24, 80])], ws)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 20)]), path.with_suffix(".float.onnx"))
    quantize_dynamic(str(path.with_suffix(".float.onnx")), str(path), weight_type=getattr(QuantType, weight_type))
    return {"x": rng.standard_normal((2, 24, 96)).astype(np.float32)}


@pytest.mark.parametrize("host,weight_type", [("node", "QInt8"), ("chromium", "QInt8"), ("node", "QUInt8"),
                                              ("chromium", "QUInt8")])
def test_quantized_model_runs_its_own_8bit_weights_by_default(runners, tmp_path, host, weight_type):
    """A model its author quantized (here by quantize_dynamic) keeps its 8-bit weights without --weights:
    stored int8 exactly (a quarter of the float32 bytes), read as stored, multiplied by the wasm 8-bit
    products; the outputs agree with the ONNX reference on the model itself (js exactly, wasm to its int8 row).
    uint8 weights with a zero point (QUInt8) are stored as b - 128, the zero point's share added apart."""
    feeds = _dynamic_mlp(tmp_path / "q.onnx", weight_type)
    webdnn.convert(tmp_path / "q.onnx", tmp_path / "o", backends=("js", "wasm"))
    model = json.loads((tmp_path / "o" / "model.json").read_text())
    assert model["stats"]["weight_encodings"]["int8"] == 96 * 256 + 256 * 80 + 4 * (256 + 80)
    doc = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    assert doc["stats"]["int8Products"] == 2 and len(doc["encoded"]) == 2
    want = _spec_outputs(tmp_path / "q.onnx", feeds)[0]
    if host == "node":
        assert compare(runners["node"].run(tmp_path / "o", feeds, backend="js")["y"], want, "js", "js") is None
    got = runners[host].run(tmp_path / "o", feeds, backend="wasm")["y"]
    relaxed = bool((runners[host].last_backend_info or {}).get("relaxedSimd"))
    assert compare(got, want, "wasm-int8-7bit" if relaxed else "wasm-int8", host) is None


def test_float_model_keeps_float_products(tmp_path):
    """Whole-number weights in a float model (no quantized ops) are stored int8 without loss, but its
    products stay float: only a model quantized by its author runs 8-bit products without --weights."""
    rng = np.random.default_rng(4)
    w = rng.integers(-50, 51, (96, 64)).astype(np.float32)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "whole",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 96])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 64])],
                          [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "f.onnx")
    webdnn.convert(tmp_path / "f.onnx", tmp_path / "o", backends=("wasm",))
    doc = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    assert doc["stats"]["int8Products"] == 0 and "encoded" not in doc
    model = json.loads((tmp_path / "o" / "model.json").read_text())
    assert model["stats"]["weight_encodings"] == {"int8": 96 * 64 + 4 * 64}


@pytest.mark.parametrize("host", ["native", "chromium"])
def test_webgpu_binds_a_quantized_models_weights_as_stored(runners, tmp_path, host):
    """webgpu, no --weights: the MatMulInteger weights of a quantize_dynamic model are bound as stored
    (8-bit) and unpacked in the shader; the results are the ONNX reference's on the model itself."""
    feeds = _dynamic_mlp(tmp_path / "q.onnx")
    webdnn.convert(tmp_path / "q.onnx", tmp_path / "o", backends=("webgpu",))
    doc = json.loads((tmp_path / "o" / "graph_webgpu.json").read_text())
    assert len(doc["encoded"]) == 2 and all(e == {"encoding": "int8", "axis": 1} for e in doc["encoded"].values())
    want = _spec_outputs(tmp_path / "q.onnx", feeds)[0]
    got = runners[host].run(tmp_path / "o", feeds, backend="webgpu")["y"]
    assert compare(got, want, "webgpu", host) is None


def test_verify_compares_a_quantized_model_by_cosine(tmp_path):
    """model.json says a model computes on 8-bit values; `webdnn verify` then holds every backend to the
    cosine of each output with onnxruntime's, and says so in the tolerance column."""
    from webdnn.verify import QUANTIZED, format_rows, verify
    _dynamic_mlp(tmp_path / "q.onnx")
    rows = verify(tmp_path / "q.onnx", out_dir=tmp_path / "o", backends=("js", "wasm"), places=("node",), log=lambda *a: None)
    assert json.loads((tmp_path / "o" / "model.json").read_text())["stats"]["quantized"] is True
    assert [(r.backend, r.tolerance, r.result) for r in rows] == [("js", QUANTIZED, "pass"), ("wasm", QUANTIZED, "pass")]
    assert "cos0.999" in format_rows(rows)
    float_model = tmp_path / "q.float.onnx"  # written by _dynamic_mlp: not quantized, the table's rows
    rows = verify(float_model, backends=("js",), places=("node",), log=lambda *a: None)
    assert rows[0].tolerance == "js" and rows[0].result == "pass"


@pytest.mark.parametrize("host", ["node", "chromium"])
@pytest.mark.parametrize("zeros,rows,k,bs", [(False, 3, 160, 32), (True, 3, 144, 16), (False, 9, 128, 32), (True, 9, 128, 32)])
def test_matmul_nbits_weights_stay_4bit(runners, tmp_path, host, zeros, rows, k, bs):
    """MatMulNBits' 4-bit weights (blocks of 32 along K; symmetric with scales that are half floats, or with
    a zero point per block and float32 scales, which half floats would round) are stored int4 exactly, blocks
    along the weight's axis 0, the zero points packed two per byte: about an eighth of float32. The wasm
    backend keeps them so in memory and multiplies by them as stored (wd_matmul_q4: fewer than 4 rows, and
    the GEMM for more), webgpu binds them as stored and unpacks them in the shader, js decodes them at load.
    Every backend multiplies exactly the model's weights (the GEMV takes A as 16-bit integers per block: 5 and 9
    blocks per column, past its groups of 4; blocks of 16 and 32)."""
    import onnxruntime as ort
    from tests.unit.test_onnx_contrib import _pack
    rng = np.random.default_rng(6)
    n = 45 if rows < 4 else 48  # an odd column count: the GEMV's last column alone
    q = rng.integers(0, 16, (n, k))
    scales = (rng.random((n, k // bs)) * 0.05 + 0.01).astype(np.float32)
    if not zeros:
        scales = scales.astype(np.float16).astype(np.float32)
    inits = [numpy_helper.from_array(_pack(q, 4).reshape(n, k // bs, bs // 2), "B"),
             numpy_helper.from_array(scales, "scales")]
    if zeros:  # packed 4-bit zero points, two blocks per byte
        zp = rng.integers(0, 16, (n, k // bs + (k // bs) % 2))  # an odd block count: the last byte half used
        inits.append(numpy_helper.from_array(_pack(zp, 4), "zp"))
    g = helper.make_graph([helper.make_node("MatMulNBits", ["a", "B", "scales"] + ["zp"] * zeros, ["y"],
                                           domain="com.microsoft", K=k, N=n, bits=4, block_size=bs)], "nbits",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [rows, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    onnx.save(m, tmp_path / "m.onnx")
    webdnn.convert(tmp_path / "m.onnx", tmp_path / "o", backends=("js", "wasm", "webgpu"))
    model = json.loads((tmp_path / "o" / "model.json").read_text())
    blocks = n * k // bs
    stored = (2 if not zeros else 4) * blocks + (-(-blocks // 2) if zeros else 0) + n * k // 2
    assert model["stats"]["weight_encodings"] == {"int4": stored}
    wasm = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    (name, fields), = wasm["encoded"].items()
    assert fields == {"encoding": "int4", "block": bs, "axis": 0, **({"scales": "f32", "zeros": True} if zeros else {})}
    assert wasm["stats"]["constBytes"] < stored + 64  # in memory as stored, not as n * k floats
    webgpu = json.loads((tmp_path / "o" / "graph_webgpu.json").read_text())
    assert webgpu["encoded"] == wasm["encoded"]  # bound as stored, unpacked in the shader
    feeds = {"a": rng.standard_normal((rows, k)).astype(np.float32)}
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    runs = [(host, "js"), (host, "wasm"), ("chromium", "webgpu") if host == "chromium" else ("native", "webgpu")]
    for where, backend in runs:
        got = runners[where].run(tmp_path / "o", feeds, backend=backend)["y"]
        assert compare(got, want, backend, f"{where} {backend}") is None


@pytest.mark.parametrize("rows", [1, 9])
def test_matmul_nbits_weights_under_weights_int4(runners, tmp_path, rows):
    """--weights int4 on a model with its own 4-bit weights (MatMulNBits, asymmetric, float32 scales): they keep
    their exact form (not quantized again), and on wasm wd_matmul_q4 multiplies by them as stored for one row and
    for nine, as without --weights int4 (the 8-bit products would round them again: 0.6 % of the output here),
    with A in 16 bits (8 only for weights --weights int4 rounded itself)."""
    import onnxruntime as ort
    from tests.unit.test_onnx_contrib import _pack
    rng = np.random.default_rng(7)
    k, n, bs = 128, 48, 32
    q = rng.integers(0, 16, (n, k))
    scales = (rng.random((n, k // bs)) * 0.05 + 0.01).astype(np.float32)
    inits = [numpy_helper.from_array(_pack(q, 4).reshape(n, k // bs, bs // 2), "B"), numpy_helper.from_array(scales, "scales"),
             numpy_helper.from_array(_pack(rng.integers(0, 16, (n, k // bs)), 4), "zp")]
    g = helper.make_graph([helper.make_node("MatMulNBits", ["a", "B", "scales", "zp"], ["y"], domain="com.microsoft",
                                           K=k, N=n, bits=4, block_size=bs)], "nbits",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [rows, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    webdnn.convert(m, tmp_path / "o", backends=("js", "wasm"), weights="int4")
    doc = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    (fields,) = doc["encoded"].values()
    assert fields == {"encoding": "int4", "block": bs, "axis": 0, "scales": "f32", "zeros": True}  # its own, exactly
    assert (doc["stats"]["int4Products"], doc["stats"]["int8Products"]) == (1, 0) and "int4ProductsA8" not in doc["stats"]
    feeds = {"a": rng.standard_normal((rows, k)).astype(np.float32)}
    want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert compare(runners["node"].run(tmp_path / "o", feeds, backend="js")["y"], want, "js", "js") is None
    for host in ("node", "chromium"):
        got = runners[host].run(tmp_path / "o", feeds, backend="wasm")["y"]
        assert compare(got, want, "wasm", f"{host} wasm, {rows} rows") is None


def test_matmul_nbits_accuracy_level_4_takes_8bit_activations(runners, tmp_path):
    """MatMulNBits with accuracy_level 4 (int8 compute: what onnxruntime's CPU kernels then do) lets the wasm
    backend's 4-bit GEMV round A to 8 bits per block in the relaxed-SIMD build (Chromium): exactly what
    _q4_gemv_a8 computes; without relaxed SIMD (Node) A stays 16-bit, float-accurate; js computes in float."""
    import onnxruntime as ort
    from tests.unit.test_onnx_contrib import _pack
    rng = np.random.default_rng(8)
    k, n, bs = 256, 40, 32
    q = rng.integers(0, 16, (n, k))
    scales = (rng.random((n, k // bs)) * 0.05 + 0.01).astype(np.float16).astype(np.float32)
    inits = [numpy_helper.from_array(_pack(q, 4).reshape(n, k // bs, bs // 2), "B"), numpy_helper.from_array(scales, "scales")]
    g = helper.make_graph([helper.make_node("MatMulNBits", ["a", "B", "scales"], ["y"], domain="com.microsoft",
                                           K=k, N=n, bits=4, block_size=bs, accuracy_level=4)], "nbits",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    webdnn.convert(m, tmp_path / "o", backends=("js", "wasm"))
    doc = json.loads((tmp_path / "o" / "graph_wasm.json").read_text())
    assert doc["stats"]["int4Products"] == doc["stats"]["int4ProductsA8"] == 1
    w = ((q - 8) * np.repeat(scales, bs, axis=1)).T.astype(np.float32)  # [K, N], the weights exactly
    feeds = {"a": rng.standard_normal((1, k)).astype(np.float32)}
    exact = feeds["a"].astype(np.float64) @ w.astype(np.float64)
    assert compare(runners["node"].run(tmp_path / "o", feeds, backend="js")["y"], exact, "js", "js") is None
    assert compare(runners["node"].run(tmp_path / "o", feeds, backend="wasm")["y"], exact, "wasm", "node wasm") is None
    got = runners["chromium"].run(tmp_path / "o", feeds, backend="wasm")["y"]
    if (runners["chromium"].last_backend_info or {}).get("relaxedSimd"):
        want = _q4_gemv_a8(feeds["a"], encode("B", w, "float32", "raw"), (k, n))
        assert compare(got, want, "wasm", "chromium wasm, 8-bit A") is None
    want_ort = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert compare(got, want_ort, "wasm-int8-7bit", "chromium wasm against onnxruntime") is None
