"""Caffe frontend, layer by layer, against numpy written from Caffe's own layer definitions: the layers
and settings OpenCV (the e2e oracle) lacks or reads differently (LRN's k, Scale with two inputs, Bias,
Threshold, Clip, Swish, axis/num_axes forms, FLOOR rounding, the schema itself)."""
import numpy as np
import pytest

from webdnn.errors import ConversionError
from webdnn.frontend.caffe import import_caffe
from webdnn.frontend.caffe_proto import classes
from webdnn.ir.reference import run
from webdnn.testing import assert_close

from ..caffe_nets import Net

X = np.random.default_rng(0).standard_normal((2, 4, 5, 6)).astype(np.float32)


def convert_and_run(tmp_path, build, inputs=None, shapes=None):
    inputs = inputs or {"data": X}
    net = Net("t", {k: v.shape for k, v in inputs.items()}, seed=1)
    build(net)
    model, proto = net.write(tmp_path)
    graph = import_caffe(model, proto, shapes)
    return run(graph, inputs), graph


def test_schema_reads_text_and_binary_with_defaults():
    from google.protobuf import text_format
    net = text_format.Parse('layer { name: "p" type: "Pooling" pooling_param { pool: AVE kernel_size: 3 } '
                            'include { phase: TEST } }', classes()["NetParameter"]())
    p = net.layer[0].pooling_param
    assert (p.pool, p.stride, p.round_mode, net.layer[0].convolution_param.bias_term) == (1, 1, 0, True)
    again = classes()["NetParameter"].FromString(net.SerializeToString())
    assert again == net
    blob = classes()["BlobProto"](data=[1.0, 2.0])
    assert blob.SerializeToString()[:2] == b"\x2a\x08"  # field 5, packed (length-delimited), 8 bytes


def test_lrn_across_channels_uses_k(tmp_path):
    r, _ = convert_and_run(tmp_path, lambda n: n.layer("LRN", "lrn", "data", lrn_param={"local_size": 3, "alpha": 0.6,
                                                                                        "beta": 0.7, "k": 2.5}))
    sq, want = X.astype(np.float64) ** 2, np.zeros(X.shape)
    for c in range(4):
        want[:, c] = X[:, c] / (2.5 + 0.6 / 3 * sq[:, max(0, c - 1):c + 2].sum(1)) ** 0.7
    assert_close(r["lrn"], want.astype(np.float32), "reference")


def test_scale_with_a_second_input_and_bias_layer(tmp_path):
    s = np.random.default_rng(1).standard_normal((4, 5)).astype(np.float32)
    bias = np.random.default_rng(2).standard_normal(4).astype(np.float32)

    def build(n):
        n.layer("Scale", "scaled", ["data", "s"], scale_param={"axis": 1})
        n.layer("Bias", "biased", "scaled", blobs=[bias])
    r, _ = convert_and_run(tmp_path, build, {"data": X, "s": s})
    assert_close(r["biased"], X * s[None, :, :, None] + bias[None, :, None, None], "reference")


def test_scale_axis_num_axes_with_bias(tmp_path):
    g = np.random.default_rng(3).standard_normal((5, 6)).astype(np.float32)
    b = np.random.default_rng(4).standard_normal((5, 6)).astype(np.float32)
    r, _ = convert_and_run(tmp_path, lambda n: n.layer("Scale", "sc", "data", blobs=[g, b],
                                                       scale_param={"axis": 2, "num_axes": 2, "bias_term": True}))
    assert_close(r["sc"], X * g + b, "reference")


def test_threshold_clip_swish_exp_power(tmp_path):
    def build(n):
        n.layer("Threshold", "th", "data", threshold_param={"threshold": 0.3})
        n.layer("Clip", "clip", "data", clip_param={"min": -0.5, "max": 0.7})
        n.layer("Swish", "swish", "data", swish_param={"beta": 1.5})
        n.layer("Exp", "exp", "data")
        n.layer("Power", "same", "data")
    r, _ = convert_and_run(tmp_path, build)
    assert_close(r["th"], (X > 0.3).astype(np.float32), "reference")
    assert_close(r["clip"], np.clip(X, -0.5, 0.7), "reference")
    assert_close(r["swish"], X / (1 + np.exp(-1.5 * X)), "reference")
    assert_close(r["exp"], np.exp(X), "reference")
    assert_close(r["same"], X, "reference")


def test_reshape_flatten_and_inner_product_forms(tmp_path):
    w = np.random.default_rng(5).standard_normal((30, 7)).astype(np.float32)

    def build(n):
        n.layer("Reshape", "r1", "data", reshape_param={"shape": {"dim": [-1]}, "axis": 1, "num_axes": 2})
        n.layer("Reshape", "r2", "data", reshape_param={"shape": {"dim": [1, 1]}, "axis": -1})
        n.layer("Flatten", "f", "data", flatten_param={"axis": 1, "end_axis": 2})
        n.layer("InnerProduct", "ip", "data", blobs=[w], inner_product_param={"num_output": 7, "axis": 2,
                                                                              "transpose": True, "bias_term": False})
    r, _ = convert_and_run(tmp_path, build)
    assert r["r1"].shape == (2, 20, 6) and r["r2"].shape == (2, 4, 5, 6, 1, 1) and r["f"].shape == (2, 20, 6)
    assert_close(r["ip"], (X.reshape(2, 4, 30) @ w), "reference")


def test_even_slices_eltwise_sum_and_legacy_concat_dim(tmp_path):
    def build(n):
        n.layer("Slice", "sl", "data", top=["a", "b"], slice_param={"slice_dim": 1})
        n.layer("Eltwise", "sum3", ["a", "b", "a"])
        n.layer("Concat", "cat", ["a", "b"], concat_param={"concat_dim": 3})
        n.layer("Concat", "cat_neg", ["a", "b"], concat_param={"axis": -2})
    r, _ = convert_and_run(tmp_path, build)
    a, b = X[:, :2], X[:, 2:]
    assert_close(r["sum3"], 2 * a + b, "reference")
    assert_close(r["cat"], np.concatenate([a, b], 3), "reference")
    assert_close(r["cat_neg"], np.concatenate([a, b], 2), "reference")


def test_pooling_floor_rounding_and_global(tmp_path):
    def build(n):
        n.layer("Pooling", "floor", "data", pooling_param={"pool": "MAX", "kernel_size": 2, "stride": 2,
                                                          "round_mode": "FLOOR"})
        n.layer("Pooling", "ceil", "data", pooling_param={"pool": "MAX", "kernel_size": 2, "stride": 2})
        n.layer("Pooling", "gap", "data", pooling_param={"pool": "AVE", "global_pooling": True})
    r, _ = convert_and_run(tmp_path, build)
    assert r["floor"].shape == (2, 4, 2, 3) and r["ceil"].shape == (2, 4, 3, 3)
    assert_close(r["floor"], X[:, :, :4].reshape(2, 4, 2, 2, 3, 2).max((3, 5)), "reference")
    assert_close(r["ceil"][:, :, 2], X[:, :, 4].reshape(2, 4, 3, 2).max(3), "reference")  # the half window
    assert_close(r["gap"], X.mean((2, 3), keepdims=True), "reference")


def test_batch_norm_scale_factor_and_in_place_versions(tmp_path):
    mean, var = np.arange(4, dtype=np.float32), np.arange(1, 5, dtype=np.float32)

    def build(n):
        n.layer("BatchNorm", "bn", "data", top="data2", blobs=[mean * 4, var * 4, np.array([4.0])])
        n.layer("ReLU", "relu", "data2", top="data2")
        n.layer("TanH", "tanh", "data2", top="data2")
    r, graph = convert_and_run(tmp_path, build)
    want = np.tanh(np.maximum((X - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5), 0))
    assert [t.name for t in graph.outputs] == ["data2"]  # the last version carries the Caffe name
    assert_close(r["data2"], want, "reference")


def test_input_shapes_in_order_and_errors(tmp_path):
    net = Net("two", {"a": (1, 2), "b": (1, 2)}, input_layer=False)
    net.layer("Eltwise", "s", ["a", "b"])
    model, proto = net.write(tmp_path)
    graph = import_caffe(model, proto, [(3, 2), (3, 2)])
    assert [t.shape for t in graph.inputs] == [(3, 2), (3, 2)]
    with pytest.raises(ConversionError, match=r"not inputs; the inputs are \['a', 'b'\]"):
        import_caffe(model, proto, {"c": (1, 2)})
    with pytest.raises(ConversionError, match=r"1 input shape\(s\) for the 2 input\(s\)"):
        import_caffe(model, proto, [(1, 2)])


def test_zero_strides_and_groups_are_refused(tmp_path):
    for params in ({"stride": [0]}, {"group": 0}, {"dilation": [0]}, {"num_output": 0}):
        conv = {"num_output": 4, "kernel_size": [1], **params}
        with pytest.raises(ConversionError, match="must be at least 1"):
            convert_and_run(tmp_path / str(len(list(tmp_path.iterdir()))),
                            lambda n: n.layer("Convolution", "c", "data", blobs=[n.randn(4, 4, 1, 1), n.randn(4)],
                                              convolution_param=conv))
    with pytest.raises(ConversionError, match="stride must be at least 1"):
        convert_and_run(tmp_path / "pool", lambda n: n.layer("Pooling", "p", "data",
                                                             pooling_param={"kernel_size": 2, "stride": 0}))


def test_mvn_reduction_tile_argmax(tmp_path):
    def build(n):
        n.layer("MVN", "mvn", "data")
        n.layer("MVN", "mvn_all", "data", mvn_param={"across_channels": True, "normalize_variance": False})
        n.layer("Reduction", "rsum", "data", reduction_param={"operation": "SUMSQ", "axis": 2, "coeff": 0.5})
        n.layer("Reduction", "rabs", "data", reduction_param={"operation": "ASUM", "axis": 1})
        n.layer("Tile", "tile", "data", tile_param={"axis": 1, "tiles": 3})
        n.layer("ArgMax", "am", "data", argmax_param={"axis": 1, "top_k": 2})
        n.layer("ArgMax", "amv", "data", argmax_param={"out_max_val": True})
    r, _ = convert_and_run(tmp_path, build)
    x = X.astype(np.float64)
    m = x.mean((2, 3), keepdims=True)
    assert_close(r["mvn"], ((x - m) / (np.sqrt(((x - m) ** 2).mean((2, 3), keepdims=True)) + 1e-9)).astype(np.float32),
                 "reference")
    assert_close(r["mvn_all"], (x - x.mean((1, 2, 3), keepdims=True)).astype(np.float32), "reference")
    assert_close(r["rsum"], (0.5 * (x ** 2).sum((2, 3))).astype(np.float32), "reference")
    assert_close(r["rabs"], np.abs(x).sum((1, 2, 3)).astype(np.float32), "reference")
    assert_close(r["tile"], np.tile(X, (1, 3, 1, 1)), "reference")
    assert_close(r["am"], np.argsort(-X, axis=1)[:, :2].astype(np.float32), "reference")
    flat = X.reshape(2, -1)
    want = np.stack([flat.argmax(1).astype(np.float32), flat.max(1)], 1).reshape(2, 2, 1)
    assert_close(r["amv"], want, "reference")
