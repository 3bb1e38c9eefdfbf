"""Keras models end to end: built by Keras 3 (torch backend, random weights, no model hub), saved,
converted by each entry point a user has (the seed's bin/convert_keras.py command verbatim,
`python -m webdnn.convert_keras`, `webdnn convert`, webdnn.convert()), run by the JavaScript runtime
and compared with Keras' own predict().

Random weights give a near-uniform softmax, so each classifier's last Dense is rescaled on the test
input to give logits with a standard deviation of 4: the top class then wins by a clear margin
(checked) and every probability is compared within the backend's tolerance."""
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

import webdnn  # noqa: E402
from webdnn.runners import read_model, runtime_dist  # noqa: E402
from webdnn.serve import serve  # noqa: E402
from webdnn.testing import compare  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "resnet50"
SEED_COMMAND = "python ./bin/convert_keras.py resnet50.h5 --input_shape '(1,224,224,3)' --out output"


def spread_logits(model, x, dense="predictions", std=4.0, seed=0):
    """Give the classifier head random weights whose logits on `x` have standard deviation `std`;
    returns Keras' prediction for `x` (its trunk's features through its head: one forward pass)."""
    head = model.get_layer(dense)
    feats = keras.Model(model.inputs, head.input).predict(x, verbose=0)
    w = np.random.RandomState(seed).randn(*head.kernel.shape).astype(np.float32)
    logits = feats.reshape(len(feats), -1) @ w
    head.kernel.assign(w * (std / logits.std()))
    head.bias.assign(np.zeros(head.bias.shape, np.float32))
    return keras.ops.convert_to_numpy(head(feats))


def assert_clear_winner(probs):
    top2 = np.sort(probs.reshape(len(probs), -1), axis=1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0] > 0.01).all(), top2  # argmax is not decided by rounding


def run_everywhere(runners, out, feeds, expected: dict, what: str, hosts=("node", "chromium")):
    failures = []
    for host in hosts:
        got = runners[host].run(out, feeds, backend="js")
        for name, e in expected.items():
            msg = compare(got[name], e, "js", f"{what}/{name} in {host}")
            if msg:
                failures.append(msg)
            if e.ndim == 2 and e.shape[1] > 1 and not (np.argmax(got[name], 1) == np.argmax(e, 1)).all():
                failures.append(f"{what}/{name} in {host}: class {np.argmax(got[name], 1)} != Keras' {np.argmax(e, 1)}")
    assert not failures, "\n".join(failures)


def input_name(out):
    (spec,) = read_model(out)["inputs"]
    return spec["name"]


def image(shape, seed=0, scale=60.0):
    return (np.random.RandomState(seed).randn(*shape) * scale).astype(np.float32)


@pytest.mark.slow
def test_seed_flow_resnet50_in_a_page(tmp_path, runners):
    """The seeds' 30 seconds: save resnet50.h5, the exact command, the page's JavaScript in Chromium."""
    from keras.applications import resnet50
    keras.utils.set_random_seed(0)
    model = resnet50.ResNet50(include_top=True, weights=None)
    x = image((1, 224, 224, 3))
    expected = spread_logits(model, x)
    model.save(tmp_path / "resnet50.h5")
    assert_clear_winner(expected)
    del model

    (tmp_path / "bin").symlink_to(REPO / "bin")
    cmd = SEED_COMMAND.replace("python", shlex.quote(sys.executable), 1)  # this interpreter, the seed's arguments
    p = subprocess.run(cmd, shell=True, cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "output predictions: [1, 1000] float32" in p.stdout, p.stdout

    for f in ("index.html", "script.js", "config.json"):
        shutil.copy(EXAMPLE / f, tmp_path / f)
    shutil.copy(runtime_dist(("webdnn.js",)) / "webdnn.js", tmp_path / "webdnn.js")
    x.tofile(tmp_path / "input.bin")
    server = serve(tmp_path)
    page = runners["chromium"].new_page()
    console, errors = [], []
    page.on("console", lambda m: console.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url + "/index.html?input=input.bin")
        deadline = time.monotonic() + 180
        while not page.title().startswith(("done", "error")) and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        title, status = page.title(), page.inner_text("#status")
        probs = np.array(page.evaluate("() => Array.from(runner.getOutputViews()[0].toActual())"), np.float32)
        backend = page.evaluate("() => runner.backendName")
    finally:
        page.close()
        server.close()
    want = int(np.argmax(expected))
    assert title == f"done {want}", (title, status, errors, console)
    assert any(line.startswith("Output") and str(want) in line for line in console), console
    assert not errors, errors
    msg = compare(probs.reshape(expected.shape), expected, backend, f"resnet50 in the page ({backend})")
    assert msg is None, msg


@pytest.mark.slow
def test_mobilenet_v2_keras_file(tmp_path, runners):
    """.keras (Keras 3 zip) through `python -m webdnn.convert_keras`."""
    keras.utils.set_random_seed(1)
    model = keras.applications.MobileNetV2(weights=None)
    x = image((1, 224, 224, 3), 1, 1.0)
    expected = spread_logits(model, x)
    model.save(tmp_path / "mobilenet_v2.keras")
    assert_clear_winner(expected)
    p = subprocess.run([sys.executable, "-m", "webdnn.convert_keras", tmp_path / "mobilenet_v2.keras", "--input_shape",
                        "(1,224,224,3)", "--out", tmp_path / "out", "--backend", "fallback", "-q"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    run_everywhere(runners, tmp_path / "out", {input_name(tmp_path / "out"): x}, {"predictions": expected}, "mobilenet_v2")


@pytest.mark.slow
def test_inception_v3_299(tmp_path, runners):
    """.h5 through `webdnn convert`, at InceptionV3's own 299×299."""
    keras.utils.set_random_seed(2)
    model = keras.applications.InceptionV3(weights=None)
    x = image((1, 299, 299, 3), 2, 1.0)
    expected = spread_logits(model, x)
    model.save(tmp_path / "inception_v3.h5")
    assert_clear_winner(expected)
    p = subprocess.run([sys.executable, "-m", "webdnn", "convert", tmp_path / "inception_v3.h5", "-o", tmp_path / "out",
                        "-q"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert ": [1, 299, 299, 3] float32" in p.stdout, p.stdout
    run_everywhere(runners, tmp_path / "out", {input_name(tmp_path / "out"): x}, {"predictions": expected}, "inception_v3")


def randomize(model, seed):
    rng = np.random.RandomState(seed)
    for w in model.weights:
        if w.path.endswith("variance"):
            w.assign(rng.rand(*w.shape).astype(np.float32) + 0.5)
        else:
            w.assign((rng.randn(*w.shape) * 0.4).astype(np.float32))


def test_sequential_lstm_text_model(tmp_path, runners):
    """Embedding with a padding mask → LSTM → Dense softmax, as .h5 through webdnn.convert()."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((20,), dtype="int32", name="tokens"),
                              layers.Embedding(100, 16, mask_zero=True), layers.LSTM(24, return_sequences=True),
                              layers.LSTM(16), layers.Dense(5, activation="softmax", name="sentiment")], name="text")
    randomize(model, 3)
    model.save(tmp_path / "text.h5")
    rng = np.random.RandomState(3)
    tokens = rng.randint(1, 100, size=(3, 20)).astype(np.int32)
    tokens[0, 12:] = 0  # padded sentences
    tokens[1, 5:] = 0
    expected = model.predict(tokens, verbose=0)
    webdnn.convert(tmp_path / "text.h5", tmp_path / "out", input_shapes={"tokens": [3, 20]})
    run_everywhere(runners, tmp_path / "out", {"tokens": tokens}, {"sentiment": expected}, "lstm_text")


def test_functional_two_inputs_two_outputs(tmp_path, runners):
    """Several inputs and outputs, a shared layer and a nested model, as .keras through webdnn.convert()."""
    keras.utils.set_random_seed(4)
    img, meta = keras.Input((32, 32, 3), name="image"), keras.Input((8,), name="meta")
    trunk = keras.Sequential([layers.Conv2D(8, 3, strides=2, padding="same"), layers.BatchNormalization(),
                              layers.ReLU(6.0), layers.SeparableConv2D(16, 3, padding="same", activation="swish"),
                              layers.GlobalAveragePooling2D()], name="trunk")
    shared = layers.Dense(16, activation="tanh", name="shared")
    f = shared(layers.Dense(16)(layers.Concatenate()([trunk(img), layers.Dense(8)(meta)])))
    g = shared(layers.Dense(16)(meta))
    label = layers.Dense(4, activation="softmax", name="label")(layers.Add()([f, g]))
    box = layers.Dense(4, name="box")(layers.Multiply()([f, g]))
    model = keras.Model([img, meta], [label, box], name="two_by_two")
    randomize(model, 4)
    model.save(tmp_path / "m.keras")
    x = [image((2, 32, 32, 3), 4, 1.0), image((2, 8), 5, 1.0)]
    expected = model.predict(x, verbose=0)
    webdnn.convert(tmp_path / "m.keras", tmp_path / "out", input_shapes=[[2, 32, 32, 3], [2, 8]])
    run_everywhere(runners, tmp_path / "out", {"image": x[0], "meta": x[1]},
                   {"label": expected[0], "box": expected[1]}, "two_by_two")


@pytest.mark.slow
def test_application_layer_sets(tmp_path, runners):
    """What MobileNet, DenseNet121, Xception and VGG16 add to the models above (Reshape after
    global pooling with keepdims, DepthwiseConv2D + ReLU(6), pre-activation BatchNormalization and
    Concatenate, SeparableConv2D, Flatten + Dense), at small inputs without the classifier, in Node."""
    failures = []
    for name, size in [("MobileNet", 96), ("DenseNet121", 64), ("Xception", 71), ("VGG16", 48)]:
        keras.utils.set_random_seed(5)
        model = getattr(keras.applications, name)(weights=None, include_top=False, input_shape=(size, size, 3))
        head = layers.Dense(10, activation="softmax", name="predictions")
        model = keras.Model(model.inputs, head(layers.Flatten()(model.outputs[0])))
        x = image((2, size, size, 3), 5, 1.0)
        expected = spread_logits(model, x)
        model.save(tmp_path / f"{name}.keras")
        webdnn.convert(tmp_path / f"{name}.keras", tmp_path / name, input_shapes={"": [2, size, size, 3]})
        got = runners["node"].run(tmp_path / name, {input_name(tmp_path / name): x}, backend="js")["predictions"]
        msg = compare(got, expected, "js", name)
        if msg or not (np.argmax(got, 1) == np.argmax(expected, 1)).all():
            failures.append(msg or f"{name}: classes {np.argmax(got, 1)} != {np.argmax(expected, 1)}")
    assert not failures, "\n".join(failures)
