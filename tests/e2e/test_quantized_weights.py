"""--weights int8 / int4: smaller downloads, decoded by the runtime on every backend. The bundled
digits model keeps its held-out accuracy within 0.5 points of float32 on js, wasm and webgpu; the
js backend computes exactly what the stored weights decode to; the converter reports the sizes and
the output change it measured."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import webdnn
from webdnn.encoding import decode, encode, int4_axes
from webdnn.testing import compare

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "examples" / "digits"
RUNS = [("node", "js"), ("node", "wasm"), ("native", "webgpu")]


@pytest.fixture(scope="module")
def digits():
    z = np.load(DIGITS / "digits_test.npz")
    return z["x"], z["y"]


def accuracy(runners, out, host, backend, x, y):
    got = runners[host].run(out, {"image": x}, backend=backend)
    return float((np.argmax(next(iter(got.values())), axis=1) == y).mean())


@pytest.mark.parametrize("weights,ratio", [("int8", 0.27), ("int4", 0.15)])
def test_digits_accuracy_and_size(runners, tmp_path, digits, weights, ratio):
    x, y = digits
    shapes = {"image": list(x.shape)}
    base = webdnn.convert(DIGITS / "digits.onnx", tmp_path / "f32", backends=("js", "wasm", "webgpu"), input_shapes=shapes)
    q = webdnn.convert(DIGITS / "digits.onnx", tmp_path / weights, backends=("js", "wasm", "webgpu"), input_shapes=shapes,
                       weights=weights)
    assert q["weight_bytes"].get(weights, 0) > 0 and q["weight_error"]["max_rel"] > 0
    stored = sum(q["weight_bytes"].values())
    assert stored <= ratio * sum(base["weight_bytes"].values()) * 1.15, (q["weight_bytes"], base["weight_bytes"])
    for host, backend in RUNS:
        a32 = accuracy(runners, tmp_path / "f32", host, backend, x, y)
        aq = accuracy(runners, tmp_path / weights, host, backend, x, y)
        assert a32 > 0.9 and aq >= a32 - 0.005, (backend, a32, aq)


def test_js_runs_exactly_the_decoded_weights(runners, tmp_path):
    """The js backend's constants are the optimized IR's: its output equals the numpy references of
    that graph with every constant replaced by what int4 stores for it."""
    from webdnn.converter import load_graph
    from webdnn.ir.reference import run
    from webdnn.passes.pipeline import optimize
    x = np.load(DIGITS / "digits_test.npz")["x"][:16]
    graph = load_graph(DIGITS / "digits.onnx", {"image": list(x.shape)})
    optimize(graph)
    quantized, blocks = 0, int4_axes(graph)  # a MatMul's B in blocks along K where K is whole blocks
    for t in graph.constants():
        fields, payload = encode(t.name, t.data, t.dtype, "int4", blocks.get(t.name))
        quantized += fields["encoding"] == "int4"
        t.data = decode(fields, payload, t.data.shape, t.dtype)
    assert quantized >= 3
    expected = next(iter(run(graph, {"image": x}).values()))
    webdnn.convert(DIGITS / "digits.onnx", tmp_path / "q", backends=("js",), input_shapes={"image": list(x.shape)},
                   weights="int4")
    got = next(iter(runners["node"].run(tmp_path / "q", {"image": x}, backend="js").values()))
    assert compare(got, expected, "js", "int4 digits") is None


def test_cli_prints_sizes_and_the_measured_change(tmp_path):
    p = subprocess.run([sys.executable, "-m", "webdnn", "convert", str(DIGITS / "digits.onnx"), "-o", str(tmp_path / "o"),
                        "--input-shape", "image=1,1,8,8", "--weights", "int8", "--backend", "js", "-q"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "weights: int8 " in p.stdout and "float32 would be" in p.stdout, p.stdout
    assert "--weights int8: largest output change on a random input" in p.stdout, p.stdout
