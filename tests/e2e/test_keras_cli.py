"""The Keras command lines: bin/convert_keras.py's arguments (the original's backend names, one
--input_shape per input), `webdnn convert model.h5`, and the one error listing unsupported layers."""
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from webdnn.convert_keras import main as convert_keras  # noqa: E402
from webdnn.testing import assert_close  # noqa: E402

BIN = Path(__file__).resolve().parents[2] / "bin" / "convert_keras.py"


@pytest.fixture(scope="module")
def two_input_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("kcli")
    a, b = keras.Input((None, 4), name="seq"), keras.Input((3,), name="extra")
    h = layers.GlobalAveragePooling1D()(layers.Conv1D(5, 3, padding="same", activation="relu")(a))
    y = layers.Dense(2, name="y")(layers.Concatenate()([h, b]))
    model = keras.Model([a, b], y)
    model.save(d / "two.h5")
    xs = [np.random.RandomState(0).randn(2, 6, 4).astype(np.float32), np.random.RandomState(1).randn(2, 3).astype(np.float32)]
    return d, xs, model.predict(xs, verbose=0)


def test_positional_input_shapes_and_backend_names(two_input_model, runners, capsys):
    d, xs, expected = two_input_model
    rc = convert_keras([str(d / "two.h5"), "--input_shape", "(2,6,4)", "--input_shape", "(2,3)",
                        "--out", str(d / "out"), "--backend", "fallback", "-q"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "input  seq: [2, 6, 4] float32" in out and "input  extra: [2, 3] float32" in out
    assert json.loads((d / "out" / "model.json").read_text())["backends"].keys() == {"js"}
    got = runners["node"].run(d / "out", {"seq": xs[0], "extra": xs[1]}, backend="js")["y"]
    assert_close(got, expected, "js")


def test_named_shapes_and_errors(two_input_model, capsys):
    d, _, _ = two_input_model
    assert convert_keras([str(d / "two.h5"), "--input_shape", "seq=(1,9,4)", "--input_shape", "extra=(1,3)",
                          "--out", str(d / "named"), "--backend", "js", "-q"]) == 0
    assert "input  seq: [1, 9, 4]" in capsys.readouterr().out
    assert convert_keras([str(d / "two.h5"), "--out", str(d / "x"), "--backend", "js"]) == 2
    assert "unknown dims (None, None, 4)" in capsys.readouterr().err  # the sequence length must be given
    assert convert_keras([str(d / "two.h5"), "--input_shape", "(1,6,4)", "--out", str(d / "x"), "--backend", "js"]) == 2
    assert "needs a model with one input" in capsys.readouterr().err
    assert convert_keras([str(d / "two.h5"), "--backend", "webgl2", "--input_shape", "(1,6,4)"]) == 2
    assert "unknown backend(s) ['webgl2']" in capsys.readouterr().err


def test_webdnn_convert_h5_and_unsupported_layers(tmp_path):
    m = keras.Sequential([keras.Input((4, 4, 2), name="pixels"), layers.Conv2D(3, 3), layers.Flatten(), layers.Dense(2)])
    m.save(tmp_path / "m.h5")
    p = subprocess.run([sys.executable, "-m", "webdnn", "convert", tmp_path / "m.h5", "-o", tmp_path / "o",
                        "--input-shape", "3,4,4,2", "-q"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "input  pixels: [3, 4, 4, 2] float32" in p.stdout
    i = keras.Input((5,))
    x = layers.Lambda(lambda t: t * 2, name="twice")(i)
    x = layers.Dense(3, name="ok")(x)
    x = layers.Lambda(lambda t: -t, name="negate")(x)
    r = layers.Reshape((3, 1))(x)
    x = layers.Attention(name="att")([r, r])
    keras.Model(i, x).save(tmp_path / "bad.keras")
    p = subprocess.run([sys.executable, str(BIN), tmp_path / "bad.keras", "--out", tmp_path / "o2"],
                       capture_output=True, text=True)
    assert p.returncode == 2
    assert "3 layer(s) use 2 unsupported Keras layer class(es)" in p.stderr, p.stderr
    assert "Lambda: 2 layer(s): 'twice', 'negate'" in p.stderr and "Attention: 1 layer(s): 'att'" in p.stderr
    assert not (tmp_path / "o2").exists()  # reported before any work


def test_an_internal_error_is_one_line(two_input_model, monkeypatch, capsys):
    """convert_keras.py reports errors as `webdnn` does: a defect is one line, exit 1, no traceback."""
    import webdnn.converter

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")
    monkeypatch.setattr(webdnn.converter, "convert", broken)
    monkeypatch.delenv("WEBDNN_DEBUG", raising=False)
    d, _, _ = two_input_model
    rc = convert_keras([str(d / "two.h5"), "--out", str(d / "out_err"), "-q"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "internal error (RuntimeError: boom)" in err, err


def test_verify_uses_keras_as_the_oracle(two_input_model, tmp_path):
    from webdnn.verify import verify
    lines = []
    rows = verify(two_input_model[0] / "two.h5", tmp_path / "v", backends=("js", "wasm"), places=("node",),
                  input_shapes={"seq": [1, 5, 4], "extra": [1, 3]}, log=lines.append)
    assert any("oracle Keras" in line for line in lines), lines
    assert [(r.backend, r.result) for r in rows] == [("js", "pass"), ("wasm", "pass")], rows
