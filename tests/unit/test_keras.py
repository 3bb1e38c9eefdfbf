"""Keras frontend: small models built with Keras 3 (torch backend), saved as .h5 and .keras,
converted without Keras and run with the numpy references; outputs must match Keras' predict().
A Keras-2-style .h5 written by hand checks the older config and weight naming."""
import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from webdnn.errors import UnsupportedOpsError, ConversionError  # noqa: E402
from webdnn.frontend.keras import import_keras, UnsupportedLayersError  # noqa: E402
from webdnn.ir import reference  # noqa: E402
from webdnn.passes.pipeline import optimize  # noqa: E402
from webdnn.testing import assert_close  # noqa: E402


def randomize(model, seed=0):
    """Weights away from their initializers (BN statistics included), so every path matters."""
    rng = np.random.RandomState(seed)
    for w in model.weights:
        if w.path.endswith("variance"):
            w.assign(rng.rand(*w.shape).astype(np.float32) + 0.5)
        elif "count" in w.path or w.dtype not in ("float32", "float64"):
            continue
        else:
            w.assign((rng.randn(*w.shape) * 0.3).astype(np.float32))
    return model


def inputs_for(model, seed=1):
    rng = np.random.RandomState(seed)
    xs = []
    for t in model.inputs:
        shape = (2,) + tuple(t.shape[1:])
        if "int" in str(t.dtype):
            xs.append(rng.randint(0, 10, size=shape).astype(np.int32))
        else:
            xs.append(rng.randn(*shape).astype(np.float32))
    return xs


def roundtrip(model, tmp_path, xs=None, formats=("h5", "keras"), backend="reference"):
    xs = inputs_for(model) if xs is None else xs
    expected = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    for fmt in formats:
        path = tmp_path / f"{model.name}.{fmt}"
        model.save(path)
        g = import_keras(path, [list(x.shape) for x in xs])
        g.verify()
        optimize(g, verify=True)
        got = reference.run(g, {t.name: x for t, x in zip(g.inputs, xs)})
        assert len(g.outputs) == len(expected)
        for o, e in zip(g.outputs, expected):
            assert_close(got[o.name], np.asarray(e), backend, f"{model.name}.{fmt}/{o.name}")
    return g


def seq(input_shape, *ls, name="m", dtype="float32"):
    return keras.Sequential([keras.Input(input_shape, dtype=dtype), *ls], name=name)


# ---- convolutions -------------------------------------------------------------------------------
@pytest.mark.parametrize("padding,strides,kernel,dilation", [
    ("valid", 1, 3, 1), ("same", 1, 3, 1), ("same", 2, 3, 1), ("same", 2, 4, 1), ("same", 2, 2, 1),
    ("valid", 2, 3, 1), ("same", 1, 3, 2), ("valid", 3, 5, 1)])
def test_conv2d(tmp_path, padding, strides, kernel, dilation):
    m = seq((11, 10, 3), layers.Conv2D(4, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                                       activation="relu"), name="conv")
    roundtrip(randomize(m), tmp_path)


def test_conv_variants(tmp_path):
    i = keras.Input((12, 12, 4))
    a = layers.Conv2D(4, 3, groups=2, padding="same", use_bias=False)(i)
    b = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)(a)
    c = layers.SeparableConv2D(6, 3, padding="same", depth_multiplier=2, activation="tanh")(b)
    d = layers.SeparableConv2D(3, 3, padding="valid", use_bias=False)(c)
    e = layers.Conv2D(5, 1, data_format="channels_first")(layers.Permute((3, 1, 2))(d))
    m = keras.Model(i, [c, e], name="convs")
    roundtrip(randomize(m), tmp_path)


@pytest.mark.parametrize("padding,strides,kernel,opad", [
    ("valid", 2, 3, None), ("same", 2, 3, None), ("same", 2, 4, None), ("valid", 3, 2, None),
    ("valid", 2, 3, 1), ("same", 2, 3, 1), ("same", 1, 3, None)])
def test_conv2d_transpose(tmp_path, padding, strides, kernel, opad):
    m = seq((5, 6, 3), layers.Conv2DTranspose(4, kernel, strides=strides, padding=padding, output_padding=opad),
            name="deconv")
    roundtrip(randomize(m), tmp_path)


def test_conv1d_and_pool1d(tmp_path):
    m = seq((20, 3), layers.Conv1D(4, 3, padding="causal", dilation_rate=2), layers.Conv1D(5, 4, strides=2, padding="same"),
            layers.DepthwiseConv1D(3, padding="same"), layers.SeparableConv1D(4, 3), layers.MaxPooling1D(2),
            layers.AveragePooling1D(3, strides=1, padding="same"), layers.ZeroPadding1D((1, 2)), layers.Cropping1D((2, 0)),
            layers.UpSampling1D(3), layers.Conv1DTranspose(2, 3, strides=2), layers.GlobalAveragePooling1D(),
            name="c1d")
    roundtrip(randomize(m), tmp_path)


# ---- normalization, pooling, activations -----------------------------------------------------------
def test_batchnorm_variants(tmp_path):
    i = keras.Input((6, 6, 3))
    x = layers.Conv2D(4, 3, use_bias=False)(i)
    x = layers.BatchNormalization(scale=False)(x)
    x = layers.Activation("relu")(x)
    y = layers.BatchNormalization(center=False, epsilon=0.1)(x)        # not after a conv
    z = layers.BatchNormalization(axis=1)(y)                            # over rows
    f = layers.Flatten()(z)
    d = layers.BatchNormalization()(layers.Dense(5)(f))
    s = layers.BatchNormalization()(layers.Reshape((8, 9))(layers.Dense(72)(f)))
    m = keras.Model(i, [d, s], name="bn")
    roundtrip(randomize(m), tmp_path)


@pytest.mark.parametrize("pool", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("padding,size,strides", [("valid", 2, None), ("same", 3, 2), ("same", 2, 2), ("valid", 3, 1)])
def test_pooling(tmp_path, pool, padding, size, strides):
    m = seq((7, 9, 2), getattr(layers, pool)(size, strides=strides, padding=padding), name="pool")
    roundtrip(m, tmp_path)


def test_global_pooling_keepdims(tmp_path):
    i = keras.Input((5, 6, 3))
    outs = [layers.GlobalAveragePooling2D(keepdims=True)(i), layers.GlobalMaxPooling2D()(i),
            layers.GlobalMaxPooling1D()(layers.Reshape((30, 3))(i))]
    roundtrip(keras.Model(i, outs, name="gpool"), tmp_path)


ACTS = ["relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "softplus", "softsign", "selu", "elu", "celu",
        "exponential", "leaky_relu", "silu", "swish", "hard_silu", "gelu", "mish", "log_sigmoid", "hard_tanh",
        "tanh_shrink", "soft_shrink", "hard_shrink", "squareplus", "sparse_plus", "softmax", "log_softmax", "linear"]


def test_every_activation(tmp_path):
    i = keras.Input((4, 5, 6))
    x = layers.Conv2D(6, 1)(i)  # channels-first inside: activations must not care
    outs = [layers.Activation(a, name=f"act_{a}")(x) for a in ACTS]
    outs.append(layers.Dense(3, activation="softsign")(i))
    xs = [np.random.RandomState(3).randn(2, 4, 5, 6).astype(np.float32) * 3]
    roundtrip(randomize(keras.Model(i, outs, name="acts")), tmp_path, xs, formats=("keras",))


def test_activation_layers(tmp_path):
    i = keras.Input((4, 5, 6))
    x = layers.Conv2D(6, 1)(i)
    outs = [layers.ReLU()(x), layers.ReLU(max_value=1.0)(x), layers.ReLU(negative_slope=0.1, threshold=0.3)(x),
            layers.ReLU(6.0, 0.2, 0.5)(x), layers.LeakyReLU(negative_slope=0.2)(x), layers.ELU(alpha=0.7)(x),
            layers.PReLU()(x), layers.PReLU(shared_axes=[1, 2])(x), layers.Softmax()(x), layers.Softmax(axis=1)(x)]
    roundtrip(randomize(keras.Model(i, outs, name="act_layers")), tmp_path)


def test_merge_layers(tmp_path):
    a, b = keras.Input((4, 4, 3)), keras.Input((4, 4, 3))
    ca = layers.Conv2D(3, 1)(a)  # one channels-first, one channels-last operand
    outs = [layers.Add()([ca, b, b]), layers.Subtract()([ca, b]), layers.Multiply()([ca, b]), layers.Average()([ca, b]),
            layers.Maximum()([ca, b]), layers.Minimum()([ca, b]), layers.Concatenate()([ca, b]),
            layers.Concatenate(axis=1)([ca, b]), layers.Concatenate(axis=2)([b, ca])]
    fa, fb = layers.Flatten()(a), layers.Flatten()(b)
    outs += [layers.Dot(axes=1)([fa, fb]), layers.Dot(axes=1, normalize=True)([fa, fb]),
             layers.Dot(axes=(2, 2))([layers.Reshape((16, 3))(a), layers.Reshape((16, 3))(b)])]
    roundtrip(randomize(keras.Model([a, b], outs, name="merge")), tmp_path)


def test_shape_layers(tmp_path):
    i = keras.Input((6, 4, 3))
    c = layers.Conv2D(4, 1)(i)
    outs = [layers.Flatten()(c), layers.Reshape((-1, 8))(c), layers.Permute((2, 3, 1))(c),
            layers.Dense(2)(layers.Permute((3, 1, 2))(c)), layers.ZeroPadding2D(2)(c), layers.Cropping2D(((1, 2), (0, 1)))(c),
            layers.UpSampling2D(2)(c), layers.UpSampling2D((1, 3), data_format="channels_first")(c),
            layers.RepeatVector(3)(layers.GlobalAveragePooling2D()(c)), layers.Flatten(data_format="channels_first")(i),
            layers.Dropout(0.5)(layers.SpatialDropout2D(0.3)(c))]
    roundtrip(randomize(keras.Model(i, outs, name="shapes")), tmp_path)


def test_resizing_layers(tmp_path):
    """UpSampling2D with an interpolation and Resizing (crop/pad to aspect ratio, antialias) become Resize."""
    i = keras.Input((6, 8, 3))
    c = layers.Conv2D(4, 1)(i)
    cf = layers.Permute((3, 1, 2))(c)
    outs = [layers.UpSampling2D(2, interpolation="bilinear")(c),
            layers.UpSampling2D((2, 1), interpolation="bilinear", data_format="channels_first")(cf),
            layers.Resizing(9, 5)(c), layers.Resizing(4, 12, interpolation="nearest")(c),
            layers.Resizing(3, 3, antialias=True)(c), layers.Resizing(4, 5, interpolation="bicubic", antialias=True)(c),
            layers.Resizing(5, 5, crop_to_aspect_ratio=True)(c), layers.Resizing(4, 6, crop_to_aspect_ratio=True)(c),
            layers.Resizing(5, 5, pad_to_aspect_ratio=True, fill_value=0.5)(c),
            layers.Resizing(7, 3, pad_to_aspect_ratio=True, interpolation="nearest")(c),
            layers.Resizing(6, 4, data_format="channels_first")(cf), layers.Resizing(6, 8)(c)]
    roundtrip(randomize(keras.Model(i, outs, name="resizing")), tmp_path)
    # bicubic depends on the backend (Keys -0.75 in torch, -0.5 in TensorFlow): only .h5 records which
    cubic = [layers.UpSampling2D((3, 2), interpolation="bicubic")(c), layers.Resizing(3, 4, interpolation="bicubic")(c)]
    roundtrip(randomize(keras.Model(i, cubic, name="bicubic")), tmp_path, formats=("h5",))


def test_group_normalization(tmp_path):
    i = keras.Input((5, 6, 8))
    c = layers.Conv2D(8, 1)(i)  # channels-first inside, channels-last outside
    outs = [layers.GroupNormalization(4)(c), layers.GroupNormalization(2, center=False, epsilon=0.1)(i),
            layers.GroupNormalization(3, axis=1, scale=False)(layers.Reshape((6, 40))(i)),
            layers.GroupNormalization(8)(layers.Dense(8)(layers.Flatten()(i)))]
    roundtrip(randomize(keras.Model(i, outs, name="groupnorm")), tmp_path)


def test_preprocessing_layers(tmp_path):
    norm = layers.Normalization()
    norm.adapt(np.random.RandomState(0).rand(20, 5, 3).astype(np.float32) * 4 + 1)
    m = seq((5, 3), layers.Rescaling(1 / 127.5, offset=-1), norm, layers.Normalization(mean=[1, 2, 3], variance=[1, 4, 9]),
            layers.Normalization(mean=[1, 2, 3], variance=[1, 4, 9], invert=True), layers.LayerNormalization(),
            layers.Dense(4), layers.LayerNormalization(center=False, epsilon=0.1), layers.UnitNormalization(),
            name="prep")
    xs = [np.random.RandomState(1).rand(2, 5, 3).astype(np.float32) * 255]
    roundtrip(m, tmp_path, xs)


# ---- text and sequences ----------------------------------------------------------------------------
@pytest.mark.parametrize("rnn", ["SimpleRNN", "LSTM", "GRU"])
def test_rnn(tmp_path, rnn):
    cls = getattr(layers, rnn)
    i = keras.Input((7,), dtype="int32")
    e = layers.Embedding(10, 5)(i)
    a = cls(4, return_sequences=True)(e)
    b = cls(3, go_backwards=True, activation="relu")(a)
    c = layers.Bidirectional(cls(2, return_sequences=True))(e)
    d = layers.Bidirectional(cls(3), merge_mode="sum")(c)
    back = cls(3, go_backwards=True, return_sequences=True)(a)  # one Recurrent op, its sequence reversed
    outs = [a, b, c, d, back]
    if rnn == "GRU":
        outs.append(cls(3, reset_after=False, recurrent_activation="hard_sigmoid")(e))
    st = cls(3, return_state=True)(e)
    outs += list(st)
    outs.append(cls(3)(e, initial_state=list(st[1:])))
    roundtrip(randomize(keras.Model(i, outs, name=f"rnn_{rnn.lower()}")), tmp_path)


def test_masked_lstm_text_model(tmp_path):
    m = seq((9,), layers.Embedding(12, 6, mask_zero=True), layers.LSTM(5, return_sequences=True), layers.GRU(4),
            layers.Dense(3, activation="softmax"), name="masked", dtype="int32")
    xs = [np.array([[3, 4, 5, 0, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8, 9]], np.int32)]
    roundtrip(randomize(m), tmp_path, xs)
    m2 = seq((9,), layers.Embedding(12, 6, mask_zero=True), layers.GlobalAveragePooling1D(), name="masked_mean",
             dtype="int32")
    roundtrip(randomize(m2), tmp_path, xs)


def test_time_distributed(tmp_path):
    i = keras.Input((3, 6, 6, 2))
    x = layers.TimeDistributed(layers.Conv2D(3, 3, padding="same"))(i)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
    y = layers.TimeDistributed(layers.Dense(4, activation="relu"))(x)
    roundtrip(randomize(keras.Model(i, [x, y], name="td")), tmp_path)


# ---- model structure -------------------------------------------------------------------------------
def test_functional_two_inputs_two_outputs_shared_and_nested(tmp_path):
    img, vec = keras.Input((8, 8, 3), name="image"), keras.Input((6,), name="features")
    shared = layers.Dense(6, activation="tanh", name="shared")
    block = keras.Sequential([layers.Conv2D(4, 3, padding="same", activation="relu"), layers.MaxPooling2D()],
                             name="block")
    inner_in = keras.Input((6,))
    inner = keras.Model(inner_in, layers.Dense(6)(shared(inner_in)), name="inner")
    f = layers.GlobalAveragePooling2D()(block(img))
    h = shared(layers.Concatenate()([f, layers.Dense(2)(vec)]))
    h2 = inner(shared(vec))
    out1 = layers.Dense(3, activation="softmax", name="class")(layers.Add()([h, h2]))
    out2 = layers.Dense(1, name="score")(h2)
    m = keras.Model([img, vec], [out1, out2], name="two_by_two")
    g = roundtrip(randomize(m), tmp_path)
    assert [t.name for t in g.inputs] == ["image", "features"]
    assert [t.name for t in g.outputs] == ["class", "score"]


def test_sequential_without_input_layer(tmp_path):
    m = keras.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)], name="noinput")
    m.build((None, 3))
    roundtrip(randomize(m), tmp_path)


def test_resnet_block_has_one_transpose(tmp_path):
    """Channels-last stays logical only: a conv net gets one Transpose, at its input."""
    i = keras.Input((16, 16, 3))
    x = layers.ZeroPadding2D(3)(i)
    x = layers.Conv2D(8, 7, strides=2)(x)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    y = layers.Conv2D(8, 3, padding="same")(x)
    x = layers.Activation("relu")(layers.Add()([x, layers.BatchNormalization()(y)]))
    x = layers.Dense(5, activation="softmax")(layers.GlobalAveragePooling2D()(x))
    g = roundtrip(randomize(keras.Model(i, x, name="block")), tmp_path, formats=("h5",))
    types = [op.type for op in g.ops]
    assert types.count("Transpose") == 1 and "BatchNormalization" not in types, types


# ---- errors and file handling ----------------------------------------------------------------------
def test_unsupported_layers_listed_at_once(tmp_path):
    i = keras.Input((4, 6))
    x = layers.Lambda(lambda t: t * 2, name="double")(i)
    x = layers.MultiHeadAttention(2, 3, name="mha")(x, x)
    x = layers.Lambda(lambda t: t + 1, name="inc")(x)
    x = layers.Activation("sparsemax", name="sm")(x) if hasattr(keras.activations, "sparsemax") else x
    m = keras.Model(i, x, name="bad")
    m.save(tmp_path / "bad.keras")
    with pytest.raises(UnsupportedOpsError) as ei:
        import_keras(tmp_path / "bad.keras")
    msg = str(ei.value)
    assert isinstance(ei.value, UnsupportedLayersError)
    for s in ("Lambda: 2 layer(s): 'double', 'inc'", "MultiHeadAttention: 1 layer(s): 'mha'"):
        assert s in msg, msg
    if hasattr(keras.activations, "sparsemax"):
        assert "activation 'sparsemax'" in msg and "'sm'" in msg


def test_missing_input_shape_and_weights_only(tmp_path):
    m = seq((None,), layers.Embedding(5, 2), layers.LSTM(2), name="var_len", dtype="int32")
    m.save(tmp_path / "v.h5")
    with pytest.raises(ConversionError, match=r"unknown dims \(None, None\).*--input_shape '\(1,N\)'"):
        import_keras(tmp_path / "v.h5")
    g = import_keras(tmp_path / "v.h5", {"": [3, 4]})
    assert g.inputs[0].shape == (3, 4)
    m.save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ConversionError, match="weights only"):
        import_keras(tmp_path / "w.weights.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(ConversionError, match="not an HDF5"):
        import_keras(tmp_path / "junk.h5")


def test_keras2_style_h5(tmp_path):
    """The Keras 2 layout: batch_input_shape, list-form inbound_nodes, 'name:0' weights."""
    rng = np.random.RandomState(0)
    k = rng.randn(3, 3, 2, 4).astype(np.float32)
    bk = rng.randn(4).astype(np.float32)
    dk, db = rng.randn(4, 3).astype(np.float32), rng.randn(3).astype(np.float32)
    cfg = {"class_name": "Functional", "config": {"name": "model", "layers": [
        {"class_name": "InputLayer", "name": "input_1",
         "config": {"batch_input_shape": [None, 5, 5, 2], "dtype": "float32", "name": "input_1"}, "inbound_nodes": []},
        {"class_name": "Conv2D", "name": "conv", "config": {
            "name": "conv", "filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
            "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "hard_sigmoid", "use_bias": True},
         "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {"class_name": "GlobalAveragePooling2D", "name": "gap", "config": {"name": "gap", "data_format": "channels_last"},
         "inbound_nodes": [[["conv", 0, 0, {}]]]},
        {"class_name": "Dense", "name": "fc", "config": {"name": "fc", "units": 3, "activation": "linear", "use_bias": True},
         "inbound_nodes": [[["gap", 0, 0, {}]]]}],
        "input_layers": [["input_1", 0, 0]], "output_layers": [["fc", 0, 0]]}}
    path = tmp_path / "k2.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.11.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(cfg).encode()
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [b"input_1", b"conv", b"gap", b"fc"]
        for lname, ws in (("input_1", {}), ("conv", {"kernel:0": k, "bias:0": bk}), ("gap", {}),
                          ("fc", {"kernel:0": dk, "bias:0": db})):
            g = mw.create_group(lname)
            g.attrs["weight_names"] = [f"{lname}/{n}".encode() for n in ws]
            for n, a in ws.items():
                g.create_dataset(f"{lname}/{n}", data=a)
    x = rng.randn(1, 5, 5, 2).astype(np.float32)
    # numpy: same-padded conv, Keras 2 hard_sigmoid (0.2x + 0.5), mean over space, dense
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.zeros((1, 5, 5, 4))
    for dy in range(3):
        for dx in range(3):
            conv += np.einsum("nhwc,cm->nhwm", xp[:, dy:dy + 5, dx:dx + 5], k[dy, dx])
    h = np.clip(0.2 * (conv + bk) + 0.5, 0, 1).mean(axis=(1, 2))
    expected = h @ dk + db
    g = import_keras(path)
    assert g.inputs[0].name == "input_1" and g.inputs[0].shape == (1, 5, 5, 2)
    got = reference.run(optimize(g), {"input_1": x})["fc"]
    assert_close(got, expected, "reference")


def as_keras2(path):
    """Rewrite a Keras 3 legacy .h5 in place into Keras 2's layout: list-form inbound_nodes,
    batch_input_shape, plain dtype strings, weight datasets named 'kernel:0'."""
    def layer(lc):
        conf = lc["config"]
        if isinstance(conf.get("dtype"), dict):
            conf["dtype"] = conf["dtype"]["config"]["name"]
        if "batch_shape" in conf:
            conf["batch_input_shape"] = conf.pop("batch_shape")
        nodes = []
        for n in lc.get("inbound_nodes", []):
            refs = []

            def collect(o):
                if isinstance(o, dict) and o.get("class_name") == "__keras_tensor__":
                    refs.append(o["config"]["keras_history"])
                elif isinstance(o, (list, tuple)):
                    for e in o:
                        collect(e)
            collect(n["args"])
            nodes.append([[r[0], r[1], r[2], {}] for r in refs])
        lc["inbound_nodes"] = nodes
        lc.pop("module", None)
        lc.pop("registered_name", None)
        if lc["class_name"] in ("Functional", "Sequential"):
            for sub in conf["layers"]:
                layer(sub)
        for key in ("layer", "backward_layer"):
            if isinstance(conf.get(key), dict):
                layer(conf[key])

    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        layer(cfg)
        f.attrs["model_config"] = json.dumps(cfg).encode()
        f.attrs["keras_version"] = b"2.15.0"
        mw = f["model_weights"]
        for name in mw:
            g = mw[name]
            names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs.get("weight_names", [])]
            for n in names:
                data = g[n][()]
                del g[n]
                g.create_dataset(n + ":0", data=data)
            if names:
                g.attrs["weight_names"] = [(n + ":0").encode() for n in names]


def test_keras2_layout_of_a_keras3_model(tmp_path):
    i = keras.Input((10,), dtype="int32")
    e = layers.Embedding(20, 6)(i)
    s = layers.LSTM(5, return_sequences=True)(e)
    s = layers.Bidirectional(layers.GRU(3))(s)
    img = keras.Input((6, 6, 2))
    c = layers.BatchNormalization()(layers.Conv2D(4, 3, activation="relu")(img))
    c = layers.LeakyReLU(negative_slope=0.2)(layers.GlobalMaxPooling2D()(c))
    sub = keras.Sequential([layers.Dense(4, activation="elu")], name="sub")
    out = layers.Dense(2, activation="softmax", name="out")(layers.Concatenate()([s, sub(c)]))
    m = randomize(keras.Model([i, img], out, name="k2"))
    xs = inputs_for(m)
    expected = m.predict(xs, verbose=0)
    m.save(tmp_path / "k2.h5")
    as_keras2(tmp_path / "k2.h5")
    g = import_keras(tmp_path / "k2.h5", [list(x.shape) for x in xs])
    assert g.source["keras_version"] == "2.15.0"
    got = reference.run(optimize(g), {t.name: x for t, x in zip(g.inputs, xs)})["out"]
    assert_close(got, expected, "reference")
