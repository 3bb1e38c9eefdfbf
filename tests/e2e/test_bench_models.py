"""Every benchmark model (bench/models.py: CNNs, vision transformers, hybrids, a BERT-style encoder, a
detector, a U-Net, an LSTM, a decoder's one-token step, models quantized by onnxruntime's tools (8-bit,
and the decoder's 4-bit MatMulNBits); random weights) converts for
wasm and matches onnxruntime in Node.

The models are exported at the benchmark's own input sizes; conversions (their C compiles run in
the ziglang subprocess) overlap in a small thread pool while earlier models run in Node. The zoo
models need torch (in the test extras: pip install -e '.[test]').
"""
import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from webdnn import convert
from webdnn.testing import compare, compare_cosine

BENCH = Path(__file__).resolve().parents[2] / "bench"
_spec = importlib.util.spec_from_file_location("webdnn_bench_models", BENCH / "models.py")
models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(models)
NAMES = list(models.MODELS)

# outputs whose parts differ by orders of magnitude are compared part by part (the tolerance is
# relative to the largest expected value): YOLO's boxes are in pixels (~1e2), its scores in [0, 1]
PARTS = {("YOLOv8n", "detections"): {"boxes": np.s_[:, :4], "scores": np.s_[:, 4:]}}
# YOLOv8n's class scores come after ~70 layers of random-weight convolutions: float32 rounding (ours
# and onnxruntime's, whose kernels differ with the CPU's vector width) reaches 1.1-1.2e-4 of their
# [0, 1] scale, just past the table's 1e-4; they are held to twice the table's tolerance
LOOSER = {("YOLOv8n", "detections", "scores"): 2}


@pytest.fixture(scope="module")
def prepared(request, tmp_path_factory):
    """name -> future of (feeds, onnxruntime's outputs, descriptor dir); the selected models only."""
    mine = [i for i in request.session.items if i.path == request.path and hasattr(i, "callspec")]
    selected = [n for n in NAMES if any(i.callspec.params.get("name") == n for i in mine)]
    root = tmp_path_factory.mktemp("bench_models")
    exporting = threading.Lock()  # torch.onnx.export keeps global state: one export at a time

    def prepare(name):
        with exporting:
            m = models.MODELS[name]()
        feeds = models.feeds(m)
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        expected = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        out = root / name
        convert(m, out, backends=["wasm"])
        return feeds, expected, out

    pool = ThreadPoolExecutor(2)
    try:
        yield {n: pool.submit(prepare, n) for n in selected}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_bench_model(name, prepared, runners):
    feeds, expected, out = prepared[name].result()
    got = runners["node"].run(out, feeds, backend="wasm")
    # 8-bit activations: steps compound (testing.QUANTIZED_MODEL_COSINE); 4-bit weights with float
    # arithmetic (MatMulNBits) are held to the tolerance table like the float models
    if name in models.QUANTIZED and not name.endswith("-int4"):
        failures = [m for k, e in expected.items() if (m := compare_cosine(got[k], e, f"{name}/{k}"))]
        assert not failures, "\n".join(failures)
        return
    failures = []
    for k, e in expected.items():
        for part, sl in PARTS.get((name, k), {"": np.s_[...]}).items():
            msg = compare(np.asarray(got[k])[sl], e[sl], "wasm", f"{name}/{k}{'/' + part if part else ''}",
                          looser=LOOSER.get((name, k, part), 1))
            if msg:
                failures.append(msg)
    assert not failures, "\n".join(failures)
