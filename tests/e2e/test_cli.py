"""The command line as a user meets it: convert, run, and the errors for bad input."""
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, TensorProto

from tests.cases import CASES
from webdnn.testing import assert_close


def webdnn(*args, ok=True):
    p = subprocess.run([sys.executable, "-m", "webdnn", *map(str, args)], capture_output=True, text=True)
    if ok:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    c = next(c for c in CASES if c.name == "conv_basic")
    onnx.save(c.model, d / "conv.onnx")
    np.save(d / "x.npy", c.inputs["x"])
    expected = ort.InferenceSession(c.model.SerializeToString()).run(None, c.inputs)[0]
    return d, expected


def test_convert_prints_progress_and_summary(conv_model):
    d, _ = conv_model
    p = webdnn("convert", d / "conv.onnx", "-o", d / "out")
    assert "converted" in p.stdout and "params: 222" in p.stdout and "backend js:" in p.stdout
    assert "input  x: [2, 4, 7, 7] float32" in p.stdout
    assert "optimize" in p.stderr and "write" in p.stderr  # the progress display
    assert (d / "out" / "model.json").is_file()


@pytest.mark.parametrize("where", ["node", "chromium"])
def test_run_matches_onnxruntime(conv_model, where):
    d, expected = conv_model
    webdnn("convert", d / "conv.onnx", "-o", d / "out", "-q")
    p = webdnn("run", d / "out", "--input", f"x={d / 'x.npy'}", "--output", d / f"y_{where}.npy", "--in", where)
    assert "y0: [2, 6, 5, 5] float32" in p.stdout
    assert_close(np.load(d / f"y_{where}.npy"), expected, "js")


def test_wrong_input_shape_at_run_time_names_the_input(conv_model):
    d, _ = conv_model
    webdnn("convert", d / "conv.onnx", "-o", d / "out", "-q")
    np.save(d / "bad.npy", np.zeros((1, 4, 7, 7), np.float32))
    p = webdnn("run", d / "out", "--input", f"x={d / 'bad.npy'}", ok=False)
    assert p.returncode == 2 and "'x'" in p.stderr and "[2,4,7,7]" in p.stderr.replace(" ", "")
    np.save(d / "bad.npy", np.zeros((4, 2, 7, 7), np.float32))  # right size, wrong layout
    p = webdnn("run", d / "out", "--input", f"x={d / 'bad.npy'}", ok=False)
    assert p.returncode == 2 and "expects shape [2, 4, 7, 7], got [4, 2, 7, 7]" in p.stderr


def test_truncated_model_and_unknown_ops_are_clear_errors(tmp_path):
    (tmp_path / "t.onnx").write_bytes(next(c for c in CASES if c.name == "conv_basic").model.SerializeToString()[:100])
    p = webdnn("convert", tmp_path / "t.onnx", "-o", tmp_path / "o", ok=False)
    assert p.returncode == 2 and "not a valid ONNX model" in p.stderr and "Traceback" not in p.stderr
    g = helper.make_graph([helper.make_node("Foo", ["x"], ["y"], name="foo1"), helper.make_node("Bar", ["y"], ["z"], name="bar1")],
                          "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "u.onnx")
    p = webdnn("convert", tmp_path / "u.onnx", "-o", tmp_path / "o", ok=False)
    assert p.returncode == 2 and "Foo" in p.stderr and "Bar" in p.stderr and "'foo1'" in p.stderr


def test_truncated_weights_are_caught_at_load(conv_model, tmp_path):
    d, _ = conv_model
    webdnn("convert", d / "conv.onnx", "-o", tmp_path / "out", "-q")
    w = tmp_path / "out" / "weights_0.bin"
    w.write_bytes(w.read_bytes()[:-10])
    p = webdnn("run", tmp_path / "out", "--input", f"x={d / 'x.npy'}", ok=False)
    assert p.returncode == 2 and "weights_0.bin" in p.stderr
