"""bench/gpu/run.py stays ready for a lent GPU: --quick runs its model-set part on this machine's CPU adapter
(lavapipe through wgpu) with the peer's code on onnxruntime's CPU EP (Dawn, behind the WebGPU EP, takes no CPU
adapter), and its results say that they measure nothing."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_bench_script_quick(tmp_path):
    run = subprocess.run([sys.executable, str(REPO / "bench" / "gpu" / "run.py"), "--quick", "--gemm", "0", "--models", "",
                          "--set", "SqueezeNet1.1", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    (row,) = results["set"]
    assert row["model"] == "SqueezeNet1.1" and row["dispatches"] > 10 and row["bound_mb"] > 1
    assert row["webgpu_e2e_ms"] > 0 and row["ort_e2e_ms"] > 0 and row["ort_rel_err"] < 1e-4
    md = (tmp_path / "results.md").read_text()
    if not results["environment"]["gpu"]:
        assert "they measure nothing" in md
    if results["peer"]:  # no WebGPU EP device: said, with what stood in
        assert "CPU EP in its place" in md
