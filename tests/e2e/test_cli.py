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
    assert "quantized model" not in p.stdout


def test_convert_says_a_quantized_model_keeps_its_8bit_weights(tmp_path):
    w = np.random.default_rng(0).integers(-128, 128, (64, 32)).astype(np.int8)
    g = helper.make_graph([helper.make_node("MatMulInteger", ["x", "w"], ["y"])], "q",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, [4, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [4, 32])],
                          [onnx.numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "q.onnx")
    p = webdnn("convert", tmp_path / "q.onnx", "-o", tmp_path / "out", "--backend", "js")
    assert "weights: int8 2.1 KB" in p.stdout and "quantized model: its 8-bit weights are stored as they are" in p.stdout


def test_convert_says_a_4bit_model_keeps_its_4bit_weights(tmp_path):
    """MatMulNBits with zero points: int4 weights stored exactly, said as such (not as 8-bit ones)."""
    from tests.unit.test_onnx_contrib import _pack
    rng = np.random.default_rng(1)
    k, n, bs = 64, 32, 32
    inits = [onnx.numpy_helper.from_array(_pack(rng.integers(0, 16, (n, k)), 4).reshape(n, k // bs, bs // 2), "B"),
             onnx.numpy_helper.from_array(np.full((n, k // bs), 0.25, np.float32), "scales"),
             onnx.numpy_helper.from_array(_pack(rng.integers(0, 16, (n, k // bs)), 4), "zp")]
    g = helper.make_graph([helper.make_node("MatMulNBits", ["x", "B", "scales", "zp"], ["y"], domain="com.microsoft",
                                           K=k, N=n, bits=4, block_size=bs)], "nbits",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, n])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    onnx.save(m, tmp_path / "nb.onnx")
    p = webdnn("convert", tmp_path / "nb.onnx", "-o", tmp_path / "out", "--backend", "js")
    assert "weights: int4" in p.stdout and "its 4-bit weights are stored as they are" in p.stdout
    assert "keep those of MatMuls 4-bit in memory" in p.stdout
    assert "8-bit weights" not in p.stdout


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


def test_unreadable_input_files_are_one_line_errors(conv_model):
    """An input file numpy cannot read as an array (raw bytes, pickled objects, missing) is a one-line
    error naming the option and the file, for run and for verify; nothing is unpickled."""
    d, _ = conv_model
    webdnn("convert", d / "conv.onnx", "-o", d / "out", "-q")
    (d / "raw.bin").write_bytes(np.zeros(196, np.float32).tobytes())
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for f in ("raw.bin", "obj.npy", "missing.npy"):
        for cmd in (["run", d / "out"], ["verify", d / "conv.onnx", "-o", d / "v"]):
            p = webdnn(*cmd, "--input", f"x={d / f}", ok=False)
            assert p.returncode == 2, p.stderr
            err = p.stderr.strip()
            assert f"--input x={d / f}: cannot read" in err and "internal error" not in err and "\n" not in err, err


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


def test_convert_writes_every_backend_unless_told(conv_model, tmp_path):
    import json
    d, expected = conv_model
    webdnn("convert", d / "conv.onnx", "-o", tmp_path / "all", "-q")
    backends = json.loads((tmp_path / "all" / "model.json").read_text())["backends"]
    assert sorted(b["name"] if isinstance(b, dict) else b for b in backends) == ["js", "wasm", "webgl", "webgpu"]
    p = webdnn("run", tmp_path / "all", "--input", f"x={d / 'x.npy'}", "--output", tmp_path / "y.npy", "--backend", "wasm")
    assert_close(np.load(tmp_path / "y.npy"), expected, "wasm")
    webdnn("convert", d / "conv.onnx", "-o", tmp_path / "one", "-q", "--backend", "wasm")
    backends = json.loads((tmp_path / "one" / "model.json").read_text())["backends"]
    assert [b["name"] if isinstance(b, dict) else b for b in backends] == ["wasm"]


def test_a_backend_that_cannot_take_the_model_is_left_out_only_when_not_asked_for(monkeypatch, tmp_path):
    from webdnn import converter
    from webdnn.errors import ConversionError
    c = next(c for c in CASES if c.name == "conv_basic")

    def refuse(graph, options):
        raise ConversionError("webgpu backend: no kernel for IR op(s) ['Conv']")
    monkeypatch.setitem(converter.LOWERERS, "webgpu", refuse)
    s = converter.convert(c.model, tmp_path / "a", backends=("js", "webgpu"), optional_backends=True)
    assert list(s["left_out"]) == ["webgpu"] and "Conv" in s["left_out"]["webgpu"]
    with pytest.raises(ConversionError, match="Conv"):
        converter.convert(c.model, tmp_path / "b", backends=("js", "webgpu"))
    with pytest.raises(ConversionError, match="no backend can take this model"):
        converter.convert(c.model, tmp_path / "c", backends=("webgpu",), optional_backends=True)


def test_typos_are_errors_with_the_subcommands_usage(conv_model, tmp_path):
    d, _ = conv_model
    p = webdnn("convert", d / "conv.onnx", "-o", tmp_path / "o", "--backnd", "wasm", ok=False)
    assert p.returncode == 2 and "usage: webdnn convert" in p.stderr and "did you mean --backend?" in p.stderr
    p = webdnn("convert", d / "conv.onnx", "-o", tmp_path / "o", "--input-shap", "x=2,4,7,7", ok=False)
    assert p.returncode == 2 and "unrecognized arguments: --input-shap" in p.stderr  # no prefix matching
    p = webdnn("run", tmp_path / "o", "--inpt", "x.npy", ok=False)
    assert p.returncode == 2 and "usage: webdnn run" in p.stderr and "did you mean --input?" in p.stderr
    assert not (tmp_path / "o").exists()


def _scaled_model(batch_dim):
    """y = x * s: x [batch_dim, 1, 8, 8], s a scalar input."""
    g = helper.make_graph([helper.make_node("Mul", ["x", "s"], ["y"])], "scale",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch_dim, 1, 8, 8]),
                           helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_input_shape_sets_open_dims_only(tmp_path):
    onnx.save(_scaled_model("batch"), tmp_path / "m.onnx")
    p = webdnn("convert", tmp_path / "m.onnx", "-o", tmp_path / "bad", "--input-shape", "x=1,1,9,9", "--backend", "js",
               ok=False)
    assert p.returncode == 2 and "changes dim(s) [2, 3]" in p.stderr and "'batch', 1, 8, 8" in p.stderr
    assert not (tmp_path / "bad").exists()
    p = webdnn("convert", tmp_path / "m.onnx", "-o", tmp_path / "ok", "--input-shape", "x=4,1,8,8", "--backend", "js",
               "--constant", "s=2")
    assert "input  x: [4, 1, 8, 8] float32" in p.stdout


@pytest.mark.parametrize("value", ["3", "npy"])
def test_constant_pins_an_input(tmp_path, value):
    import json
    onnx.save(_scaled_model(1), tmp_path / "m.onnx")
    if value == "npy":
        np.save(tmp_path / "s.npy", np.array(3, np.float32))
        value = str(tmp_path / "s.npy")
    webdnn("convert", tmp_path / "m.onnx", "-o", tmp_path / "d", "--constant", f"s={value}", "--backend", "js,wasm", "-q")
    assert [t["name"] for t in json.loads((tmp_path / "d" / "model.json").read_text())["inputs"]] == ["x"]
    x = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    for b in ("js", "wasm"):
        webdnn("run", tmp_path / "d", "--input", f"x={tmp_path / 'x.npy'}", "--output", tmp_path / f"y_{b}.npy", "--backend", b)
        assert_close(np.load(tmp_path / f"y_{b}.npy"), x * 3, b)
    p = webdnn("convert", tmp_path / "m.onnx", "-o", tmp_path / "e", "--constant", "s=three", ok=False)
    assert p.returncode == 2 and "--constant 's=three'" in p.stderr
    p = webdnn("convert", tmp_path / "m.onnx", "-o", tmp_path / "e", "--constant", "t=1", ok=False)
    assert p.returncode == 2 and "'t'" in p.stderr


def test_verify_checks_every_backend_everywhere(conv_model, tmp_path):
    """`webdnn verify`: converted once, run by every backend in Node, Chromium and natively, each row
    compared with onnxruntime; exit status 0 when all pass; the descriptor is kept with -o."""
    d, _ = conv_model
    p = webdnn("verify", d / "conv.onnx", "-o", tmp_path / "kept", "--repeat", "2")
    assert "oracle onnxruntime" in p.stdout
    rows = {tuple(line.split()[:2]): line for line in p.stdout.splitlines()[2:] if line.split()[:1] in (["js"], ["wasm"], ["webgpu"], ["webgl"])}
    assert set(rows) == {("js", "node"), ("wasm", "node"), ("js", "chromium"), ("wasm", "chromium"),
                         ("webgpu", "chromium"), ("webgl", "chromium"), ("webgpu", "native")}, p.stdout
    assert all(" pass " in line for line in rows.values()), p.stdout
    assert "7 of 7 passed" in p.stdout and (tmp_path / "kept" / "model.json").is_file()


def test_verify_fails_on_errors_out_of_tolerance_and_on_damage(conv_model, tmp_path, monkeypatch):
    from webdnn import testing, verify
    d, _ = conv_model
    monkeypatch.setitem(testing.TOLERANCES, "js", (0.0, 0.0))  # float32 rounding alone now fails
    rows = verify.verify(d / "conv.onnx", tmp_path / "v", backends=("js", "wasm"), places=("node",), log=lambda *a: None)
    assert [(r.backend, r.result) for r in rows] == [("js", "FAIL"), ("wasm", "pass")]
    assert "max error" in rows[0].note and rows[0].abs_err > 0
    # a descriptor alone is checked against its js backend in Node; a damaged one is one clear error
    p = webdnn("verify", tmp_path / "v", "--in", "node")
    assert "oracle js backend in Node" in p.stdout and "2 of 2 passed" in p.stdout
    weights = next((tmp_path / "v").glob("weights*.bin"))
    weights.write_bytes(b"\0" + weights.read_bytes()[1:])
    p = webdnn("verify", tmp_path / "v", "--in", "node", ok=False)
    assert p.returncode == 2 and "CRC-32 mismatch" in p.stderr, p.stdout + p.stderr
