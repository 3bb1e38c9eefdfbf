"""The scripts for a lent GPU stay ready: bench/gpu/device.sh --quick runs bench/gpu/run.py's model-set part
(lavapipe through wgpu; the peer's code on onnxruntime's CPU EP, since Dawn, behind the WebGPU EP, takes no CPU
adapter) and bench/dynamic.py on webgpu, each under its limit, and their results say that they measure nothing."""
import json
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_device_script_quick(tmp_path):
    run = subprocess.run(["bash", str(REPO / "bench" / "gpu" / "device.sh"), str(tmp_path), "--quick"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = (tmp_path / "summary.txt").read_text()
    assert "run.py: done" in summary and "dynamic.py: done" in summary, summary + (tmp_path / "run.log").read_text()[-2000:]
    results = json.loads((tmp_path / "gpu" / "results.json").read_text())
    (row,) = results["set"]
    assert row["model"] == "SqueezeNet1.1" and row["dispatches"] > 10 and row["bound_mb"] > 1
    assert row["webgpu_e2e_ms"] > 0 and row["ort_e2e_ms"] > 0 and row["ort_rel_err"] < 1e-4
    # --precision f16 against f32 (lavapipe has shader-f16: half storage and f16 GEMM products ran)
    assert row["f16_precision_run"] == "f16" and row["f16_latency_ms"] > 0 and row["f16_rel_err"] < 2e-2
    md = (tmp_path / "gpu" / "results.md").read_text()
    if not results["environment"]["gpu"]:
        assert "they measure nothing" in md
    if results["peer"]:  # no WebGPU EP device: said, with what stood in
        assert "CPU EP in its place" in md
    rows = [ln for ln in (tmp_path / "dynamic.md").read_text().splitlines() if ln.startswith("| MobileNetV3-Small | webgpu")]
    assert len(rows) == 1 and float(rows[0].split("|")[-2]) > 0
