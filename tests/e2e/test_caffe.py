"""Caffe frontend end to end: networks written by the tests (tests/caffe_nets.py, seeded random
weights), converted for every backend and compared with OpenCV's dnn module (cv2.dnn.readNetFromCaffe),
which reads the same prototxt and caffemodel: js and wasm in Node, webgpu natively (wgpu)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import webdnn
from webdnn.errors import ConversionError, ModelFileError
from webdnn.frontend.caffe import UnsupportedLayersError
from webdnn.testing import compare

from ..caffe_nets import Net, opencv_forward, resnet50

REPO = Path(__file__).resolve().parents[2]
RUNS = [("node", "js"), ("node", "wasm"), ("native", "webgpu")]


def check_all_backends(runners, model, proto, out, feeds, expected: dict, **kw):
    webdnn.convert(model, out, prototxt=proto, backends=("js", "wasm", "webgpu"), **kw)
    failures = []
    for host, backend in RUNS:
        got = runners[host].run(out, feeds, backend=backend)
        for name, e in expected.items():
            msg = compare(got[name], e, backend, f"{out.name}/{name} on {backend} in {host}")
            if msg:
                failures.append(msg)
    assert not failures, "\n".join(failures)


def vision_net():
    """Convolutions (strided, grouped, dilated, transposed), BatchNorm + Scale, pooling in Caffe's
    ceil mode with and without padding, LRN, PReLU/ELU/Sigmoid, Concat/Slice/Eltwise, InnerProduct."""
    n = Net("vision", {"data": (1, 3, 19, 19)}, seed=1)
    x = n.layer("Convolution", "conv1", "data", blobs=[n.randn(8, 3, 3, 3, scale=0.3), n.randn(8, scale=0.1)],
                convolution_param={"num_output": 8, "kernel_size": [3], "stride": [2], "pad": [1]})
    n.layer("BatchNorm", "bn1", x, top=x, blobs=[n.randn(8, scale=0.1), np.abs(n.randn(8)) + 0.5, np.array([1.0])])
    n.layer("Scale", "scale1", x, top=x, blobs=[n.randn(8), n.randn(8)], scale_param={"bias_term": True})
    n.layer("PReLU", "prelu1", x, top=x, blobs=[n.randn(8, scale=0.2)])
    p = n.layer("Pooling", "pool1", x, pooling_param={"pool": "MAX", "kernel_size": 3, "stride": 2})  # 10 -> 5 (ceil)
    g = n.layer("Convolution", "conv2", p, blobs=[n.randn(8, 4, 3, 3, scale=0.3)],
                convolution_param={"num_output": 8, "kernel_h": 3, "kernel_w": 3, "pad_h": 2, "pad_w": 2,
                                   "dilation": [2], "group": 2, "bias_term": False})
    n.layer("ELU", "elu2", g, top=g, elu_param={"alpha": 0.7})
    a = n.layer("Pooling", "pool2", g, pooling_param={"pool": "AVE", "kernel_size": 3, "stride": 2, "pad": 1})  # 5 -> 3
    lrn = n.layer("LRN", "norm2", a, lrn_param={"local_size": 3, "alpha": 0.5, "beta": 0.75})  # OpenCV ignores k
    d = n.layer("Deconvolution", "up3", lrn, blobs=[n.randn(8, 6, 4, 4, scale=0.3), n.randn(6, scale=0.1)],
                convolution_param={"num_output": 6, "kernel_size": [4], "stride": [2], "pad": [1]})  # 3 -> 6
    s = n.layer("Sigmoid", "sig3", d)
    halves = n.layer("Slice", "slice3", s, top=["h1", "h2"], slice_param={"axis": 1, "slice_point": [2]})
    t = n.layer("Convolution", "conv4", "h2", blobs=[n.randn(2, 4, 1, 1)],
                convolution_param={"num_output": 2, "kernel_size": [1], "bias_term": False})
    e1 = n.layer("Eltwise", "sum4", ["h1", t], eltwise_param={"operation": "SUM", "coeff": [0.5, -2.0]})
    e2 = n.layer("Eltwise", "prod4", ["h1", t], eltwise_param={"operation": "PROD"})
    e3 = n.layer("Eltwise", "max4", [e1, e2], eltwise_param={"operation": "MAX"})
    c = n.layer("Concat", "cat5", [e3, halves[1], e1], concat_param={"axis": 1})
    f = n.layer("InnerProduct", "fc6", c, blobs=[n.randn(10, 8 * 6 * 6, scale=0.1), n.randn(10)],
                inner_product_param={"num_output": 10})
    n.layer("Softmax", "prob", f)
    return n, ["prob"]


def ssd_head_net():
    """SSD-style heads without PriorBox: Normalize, Permute, Flatten, Concat, Reshape, Softmax on an axis."""
    n = Net("ssd_head", {"data": (1, 4, 6, 6)}, seed=2)
    f = n.layer("Normalize", "conv4_3_norm", "data", blobs=[n.randn(4) + 10], norm_param={"across_spatial": False,
                                                                                     "channel_shared": False})
    heads = []
    for i, (k, name) in enumerate([(12, "loc"), (9, "conf")]):
        c = n.layer("Convolution", f"mbox_{name}", f, blobs=[n.randn(k, 4, 3, 3, scale=0.3), n.randn(k)],
                    convolution_param={"num_output": k, "kernel_size": [3], "pad": [1]})
        pm = n.layer("Permute", f"mbox_{name}_perm", c, permute_param={"order": [0, 2, 3, 1]})
        heads.append(n.layer("Flatten", f"mbox_{name}_flat", pm, flatten_param={"axis": 1}))
    n.layer("Reshape", "loc_boxes", heads[0], reshape_param={"shape": {"dim": [0, -1, 4]}})
    r = n.layer("Reshape", "conf_reshape", heads[1], reshape_param={"shape": {"dim": [0, -1, 3]}})
    n.layer("Softmax", "conf_softmax", r, softmax_param={"axis": 2})
    g = n.layer("Normalize", "global_norm", "data", blobs=[np.array([3.0])],
                norm_param={"across_spatial": True, "channel_shared": True})
    n.layer("Flatten", "global_flat", g)
    return n, ["loc_boxes", "conf_softmax", "global_flat"]


def activations_net():
    """Unary layers with their parameters, Crop, Split, Dropout, LRN within a channel."""
    n = Net("acts", {"data": (1, 3, 8, 8), "ref": (1, 3, 5, 6)}, seed=3)
    outs = []  # the network's outputs are the blobs no layer reads
    n.layer("AbsVal", "abs", "data")
    n.layer("TanH", "tanh", "data")
    n.layer("BNLL", "bnll", "data")
    outs.append(n.layer("ReLU", "leaky", "data", relu_param={"negative_slope": 0.1}))
    n.layer("Power", "power", "abs", power_param={"power": 2.0, "scale": 0.5, "shift": 1.0})
    outs.append(n.layer("Exp", "exp", "data", exp_param={"base": 2.0, "scale": 0.5, "shift": 0.1}))
    outs.append(n.layer("Log", "log", "power", log_param={"base": 10.0, "scale": 2.0, "shift": 0.5}))
    outs.append(n.layer("Crop", "crop", ["data", "ref"], crop_param={"axis": 2, "offset": [1, 2]}))
    n.layer("Split", "split", "tanh", top=["t1", "t2"])
    outs.append(n.layer("Dropout", "drop", "t1", dropout_param={"dropout_ratio": 0.3}))
    outs.append(n.layer("LRN", "lrn_within", "t2", lrn_param={"local_size": 3, "alpha": 2.0, "beta": 0.6,
                                                              "norm_region": "WITHIN_CHANNEL"}))
    outs.append(n.layer("MVN", "mvn", "bnll", top="mvn"))
    return n, outs


NETS = {"vision": vision_net, "ssd_head": ssd_head_net, "activations": activations_net}


def feeds_for(net: Net, seed=0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for lp in net.net.layer:
        if lp.type == "Input":
            feeds[lp.top[0]] = rng.standard_normal(list(lp.input_param.shape[0].dim)).astype(np.float32)
    return feeds


@pytest.mark.parametrize("name", sorted(NETS))
def test_layers_match_opencv_on_every_backend(runners, tmp_path, name):
    net, outputs = NETS[name]()
    model, proto = net.write(tmp_path)
    feeds = feeds_for(net)
    expected = dict(zip(outputs, opencv_forward(model, proto, feeds, outputs)))
    if name == "activations":  # OpenCV's Log layer ignores log_param (it computes ln x): Caffe's formula here
        x = feeds["data"].astype(np.float64)
        expected["log"] = np.log10(0.5 + 2.0 * (1.0 + 0.5 * np.abs(x)) ** 2).astype(np.float32)
    check_all_backends(runners, model, proto, tmp_path / "out", feeds, expected)


@pytest.mark.slow
def test_resnet50_matches_opencv_on_every_backend(runners, tmp_path):
    net = resnet50(224)
    model, proto = net.write(tmp_path)
    x = np.random.default_rng(5).standard_normal((1, 3, 224, 224)).astype(np.float32)
    prob, = opencv_forward(model, proto, {"data": x}, ["prob"])
    assert np.sort(prob[0])[-1] - np.sort(prob[0])[-2] > 0.01  # a clear top class
    check_all_backends(runners, model, proto, tmp_path / "out", {"data": x}, {"prob": prob})


def legacy_net_files(folder: Path):
    """The V1 form (before 2015): `layers { type: CONVOLUTION }`, `input:` + `input_dim:`, 4-D blobs
    without a shape (num, channels, height, width)."""
    from webdnn.frontend.caffe_proto import classes
    rng = np.random.default_rng(7)
    net = classes()["NetParameter"](name="legacy", input=["data"], input_dim=[1, 2, 9, 9])
    spec = [("conv1", "CONVOLUTION", "data", {"convolution_param": {"num_output": 4, "kernel_size": [3], "stride": [2]}},
             [(4, 2, 3, 3), (1, 1, 1, 4)]),
            ("relu1", "RELU", "conv1", {}, []),
            ("pool1", "POOLING", "conv1", {"pooling_param": {"pool": "AVE", "kernel_size": 2, "stride": 2}}, []),
            ("ip1", "INNER_PRODUCT", "pool1", {"inner_product_param": {"num_output": 5}}, [(1, 1, 5, 16), (1, 1, 1, 5)]),
            ("prob", "SOFTMAX", "ip1", {}, [])]
    from google.protobuf import json_format
    weights = classes()["NetParameter"]()
    for name, type_, bottom, params, blobs in spec:
        top = bottom if type_ == "RELU" else name
        v1 = net.layers.add(name=name, bottom=[bottom], top=[top])
        v1.type = v1.DESCRIPTOR.fields_by_name["type"].enum_type.values_by_name[type_].number
        for field, value in params.items():
            json_format.ParseDict(value, getattr(v1, field))
        w = weights.layers.add()
        w.CopyFrom(v1)
        for shape in blobs:
            bp = w.blobs.add(num=shape[0], channels=shape[1], height=shape[2], width=shape[3])
            bp.data.extend((rng.standard_normal(int(np.prod(shape))) * 0.5).tolist())
    from google.protobuf import text_format
    proto, model = folder / "legacy.prototxt", folder / "legacy.caffemodel"
    proto.write_text(text_format.MessageToString(net))
    model.write_bytes(weights.SerializeToString())
    return model, proto


def test_v1_layers_input_dim_and_4d_blobs(runners, tmp_path):
    model, proto = legacy_net_files(tmp_path)
    assert "layers {" in proto.read_text() and "type: CONVOLUTION" in proto.read_text()
    x = np.random.default_rng(0).standard_normal((1, 2, 9, 9)).astype(np.float32)
    prob, = opencv_forward(model, proto, {"data": x}, ["prob"])
    webdnn.convert(model, tmp_path / "out", prototxt=proto, backends=("js",))
    got = runners["node"].run(tmp_path / "out", {"data": x}, backend="js")
    assert compare(got["prob"], prob, "js", "legacy net") is None


def test_the_caffemodel_alone_and_an_input_shape_override(runners, tmp_path):
    """A .caffemodel holds its own definition; a prototxt input shape may be changed (Caffe reshapes)."""
    net, _ = ssd_head_net()
    model, proto = net.write(tmp_path)
    x = np.random.default_rng(0).standard_normal((1, 4, 6, 6)).astype(np.float32)
    expected = opencv_forward(model, proto, {"data": x}, ["loc_boxes"])[0]
    webdnn.convert(model, tmp_path / "alone", backends=("js",))
    got = runners["node"].run(tmp_path / "alone", {"data": x}, backend="js")
    assert compare(got["loc_boxes"], expected, "js", "caffemodel alone") is None
    summary = webdnn.convert(model, tmp_path / "big", prototxt=proto, input_shapes={"data": (1, 4, 10, 8)}, backends=("js",))
    assert {t["name"]: t["shape"] for t in summary["outputs"]}["loc_boxes"] == [1, 240, 4]


def test_a_train_val_definition_drops_data_labels_and_losses(runners, tmp_path):
    """Data layers (their source is never opened), labels, Accuracy, SoftmaxWithLoss and TRAIN-only
    layers are not part of the deployed network; the data layer's top needs its shape."""
    train = Net("train_val", {}, seed=4)
    train.layer("Data", "data", [], top=["data", "label"], data_param={"source": str(tmp_path / "no_such_lmdb"),
                                                                       "batch_size": 64})
    deploy = Net("deploy", {"data": (1, 3, 8, 8)}, seed=4)
    w = [train.randn(6, 3, 3, 3, scale=0.3), train.randn(6)]
    fc = [train.randn(4, 6 * 6 * 6, scale=0.1), train.randn(4)]
    for n in (train, deploy):
        n.layer("Convolution", "conv1", "data", blobs=w, convolution_param={"num_output": 6, "kernel_size": [3]})
        n.layer("ReLU", "relu1", "conv1", top="conv1")
    train.layer("Dropout", "drop_train", "conv1", top="conv1", include=[{"phase": "TRAIN"}])
    for n in (train, deploy):
        n.layer("InnerProduct", "ip", "conv1", blobs=fc, inner_product_param={"num_output": 4})
    train.layer("Accuracy", "accuracy", ["ip", "label"], include=[{"phase": "TEST"}])
    train.layer("SoftmaxWithLoss", "loss", ["ip", "label"])
    model, proto = train.write(tmp_path)
    with pytest.raises(ConversionError, match=r"--input-shape data=N,C,H,W"):
        webdnn.convert(model, tmp_path / "o1", prototxt=proto)
    summary = webdnn.convert(model, tmp_path / "out", prototxt=proto, input_shapes={"data": (1, 3, 8, 8)})
    assert [t["name"] for t in summary["inputs"]] == ["data"] and [t["name"] for t in summary["outputs"]] == ["ip"]
    dmodel, dproto = deploy.write(tmp_path / "deploy")
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    expected, = opencv_forward(dmodel, dproto, {"data": x}, ["ip"])
    got = runners["node"].run(tmp_path / "out", {"data": x}, backend="js")
    assert compare(got["ip"], expected, "js", "train_val") is None


def test_every_unsupported_layer_is_listed_at_once(tmp_path):
    net, _ = ssd_head_net()
    model, proto = net.write(tmp_path)
    text = proto.read_text() + """
layer { name: "prior1" type: "PriorBox" bottom: "conv4_3_norm" bottom: "data" top: "prior1"
        prior_box_param { min_size: 30.0 aspect_ratio: 2.0 flip: true } }
layer { name: "prior2" type: "PriorBox" bottom: "conv4_3_norm" bottom: "data" top: "prior2"
        prior_box_param { min_size: 60.0 } }
layer { name: "py" type: "Python" bottom: "data" top: "py" python_param { module: "m" layer: "L" } }
layer { name: "spp" type: "SPP" bottom: "data" top: "spp" spp_param { pyramid_height: 2 } }
layer { name: "stoch" type: "Pooling" bottom: "data" top: "stoch" pooling_param { pool: STOCHASTIC kernel_size: 2 } }
"""
    proto.write_text(text)
    with pytest.raises(UnsupportedLayersError) as e:
        webdnn.convert(model, tmp_path / "out", prototxt=proto)
    msg = str(e.value)
    assert "5 layer(s) use 4 unsupported Caffe layer type(s)" in msg, msg
    for part in ("PriorBox: 2 layer(s): 'prior1', 'prior2'", "Python: 1 layer(s): 'py'", "SPP: 1", "STOCHASTIC"):
        assert part in msg, msg
    assert not (tmp_path / "out").exists()


def test_bad_files_give_one_line_and_leave_the_files_alone(tmp_path):
    net, _ = ssd_head_net()
    model, proto = net.write(tmp_path)
    before = {p.name: p.read_bytes() for p in (model, proto)}
    # a field no Caffe this schema knows has, in a supported layer: not silently ignored
    bad = tmp_path / "fork.prototxt"
    bad.write_text(proto.read_text().replace('type: "Permute"', 'type: "Permute"\n  engine_hint: 3', 1))
    with pytest.raises(ModelFileError, match=r"fork.prototxt:\d+:\d+: .*engine_hint") as e:
        webdnn.convert(model, tmp_path / "o1", prototxt=bad)
    assert "\n" not in str(e.value)
    junk = tmp_path / "junk.caffemodel"
    junk.write_bytes(b"\xff\xfe not a protobuf \x00" * 50)
    with pytest.raises(ModelFileError) as e:
        webdnn.convert(junk, tmp_path / "o2", prototxt=proto)
    assert "\n" not in str(e.value) and "junk.caffemodel" in str(e.value)
    cut = tmp_path / "cut.caffemodel"
    cut.write_bytes(model.read_bytes()[:len(model.read_bytes()) // 2])
    with pytest.raises(ModelFileError):
        webdnn.convert(cut, tmp_path / "o3", prototxt=proto)
    other = Net("other", {"data": (1, 4, 6, 6)})
    other.layer("Convolution", "renamed_conv", "data", convolution_param={"num_output": 2, "kernel_size": [1]})
    omodel, oproto = other.write(tmp_path / "other")
    with pytest.raises(ConversionError, match=r"layer 'renamed_conv' \(Convolution\): expected a weight and a bias in "
                                              r"the caffemodel, found 0"):
        webdnn.convert(model, tmp_path / "o4", prototxt=oproto)
    with pytest.raises(ConversionError, match="without weights"):
        webdnn.convert(proto, tmp_path / "o5")
    assert {p.name: p.read_bytes() for p in (model, proto)} == before


def test_command_lines(runners, tmp_path):
    """`webdnn convert X.caffemodel --prototxt ...` and the original's bin/convert_caffe.py."""
    net, outputs = vision_net()
    model, proto = net.write(tmp_path)
    x = feeds_for(net)["data"]
    expected, = opencv_forward(model, proto, {"data": x}, ["prob"])
    runs = {
        "cli": [sys.executable, "-m", "webdnn", "convert", str(model), "--prototxt", str(proto), "-o",
                str(tmp_path / "cli"), "--backend", "js,wasm", "-q"],
        "seed": [sys.executable, str(REPO / "bin" / "convert_caffe.py"), str(model), "--prototxt", str(proto),
                 "--input_shape", "(1,3,19,19)", "--out", str(tmp_path / "seed"), "--backend", "fallback", "-q"],
    }
    for name, cmd in runs.items():
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "output prob: [1, 10] float32" in p.stdout, p.stdout
        got = runners["node"].run(tmp_path / name, {"data": x}, backend="js")
        assert compare(got["prob"], expected, "js", name) is None
    p = subprocess.run([sys.executable, "-m", "webdnn", "verify", str(model), "--prototxt", str(proto), "--in", "node",
                        "--repeat", "1"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and "passed" in p.stdout, p.stdout + p.stderr
    p = subprocess.run([sys.executable, "-m", "webdnn", "convert", str(model), "-o", str(tmp_path / "x"),
                        "--prototxt", str(tmp_path / "missing.prototxt"), "-q"], capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and "missing.prototxt' does not exist" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


@pytest.mark.slow
def test_resnet50_page_classifies_a_dropped_picture_like_opencv(runners, tmp_path):
    """examples/resnet50 with the Caffe flow of its README: the authors' file names, the one
    command, ?preprocess=caffe and synset_words.txt labels; the default backend order; a picture
    given through the file input; the probabilities compared with OpenCV on the page's own input."""
    from webdnn.serve import serve

    from ..pages import ExamplePage, copy_example, png
    net = resnet50(224, fc_scale=0.02)  # probabilities spread enough for the top 5 to be decided
    model, proto = net.write(tmp_path)
    model = model.rename(tmp_path / "ResNet-50-model.caffemodel")
    proto = proto.rename(tmp_path / "ResNet-50-deploy.prototxt")
    p = subprocess.run([sys.executable, "-m", "webdnn", "convert", model.name, "--prototxt", proto.name, "-o", "output",
                        "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    copy_example("resnet50", ("index.html", "script.js", "config.json"), tmp_path)
    (tmp_path / "synset_words.txt").write_text("".join(f"n{k:08d} thing {k}, other name\n" for k in range(1000)))
    rng = np.random.default_rng(3)
    rgb = np.clip(rng.normal(128, 60, (224, 224, 3)), 0, 255).astype(np.uint8)
    rgb[60:160, 40:180] = (250, 40, 20)
    png(tmp_path / "picture.png", rgb)
    server = serve(tmp_path)
    page = ExamplePage(runners, server.url + "/index.html?preprocess=caffe&labels=synset_words.txt")
    try:
        page.give_file(tmp_path / "picture.png")
        x = np.array(page.page.evaluate("() => Array.from(loadImageData())"), np.float32).reshape(1, 3, 224, 224)
        probs = np.array(page.page.evaluate("() => Array.from(runner.getOutputViews()[0].toActual())"), np.float32)
        backend = page.page.evaluate("() => runner.backendName")
        rows = page.page.evaluate("() => [...document.querySelectorAll('#top5 tr')].map(r => r.cells[0].textContent)")
        status = page.page.inner_text("#status")
        page.page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert not page.errors, page.errors
    finally:
        page.close()
        server.close()
    bgr = rgb[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) - np.array([104, 117, 123], np.float32)[:, None, None]
    assert np.abs(x[0] - bgr).max() <= 1.0  # the picture as Caffe's preprocessing gives it
    expected, = opencv_forward(model, proto, {"data": x}, ["prob"])
    # the default order: webgpu where the adapter is a GPU; on a software adapter (SwiftShader here) wasm
    assert backend in ("webgpu", "wasm") and status.startswith(f"{backend}: ") and status.endswith(" ms"), status
    assert compare(probs.reshape(expected.shape), expected, backend, "resnet50 page") is None
    top = np.argsort(-expected[0])[:5]
    assert rows == [f"thing {k}, other name" for k in top], rows
    assert (tmp_path / "page.png").stat().st_size > 20_000  # the page rendered (picture, table, bars)
