"""`webdnn bench`'s report: ratios at equal thread counts, the alternating-run ratio preferred for the
targets, failures shown as such (synthetic results; the measurement itself needs a browser)."""
from webdnn import bench


def _row(fw, threads, median, model="M", backend="wasm", **kw):
    return {"model": model, "framework": fw, "backend": backend, "threads": threads, "loadMs": 100.0, "firstMs": 50.0,
            "median": median, "min": median * 0.9, "code": 1000, "code_gz": 400, "weights": 10, **kw}


def test_report_prefers_alternating_ratio(tmp_path):
    results = [_row("webdnn", 1, 60.0), _row("webdnn", 2, 40.0), _row("onnxruntime-web", 1, 100.0),
               _row("onnxruntime-web", 2, 50.0),
               {"model": "M", "framework": "webdnn", "backend": "webgpu", "threads": 1, "error": "timed out"}]
    paired = [{"model": "M", "threads": 1, "webdnnMedian": 55.0, "ortMedian": 100.0, "ratioMedian": 0.55,
               "webdnnMin": 50.0, "ortMin": 90.0}]
    rs = bench.ratios(results, paired)
    assert [(r["threads"], round(r["median"], 2), r["paired"]) for r in rs] == [(1, 0.6, 0.55), (2, 0.8, None)]
    data = {"meta": {"command": "webdnn bench", "date": "d", "cpu": "c", "cores": 2, "chromium": "1", "webdnn": "0",
                     "ort": "1", "repeat": 20, "warmup": 3, "load": [None, None]}, "results": results, "paired": paired}
    out = tmp_path / "b.md"
    bench.write_markdown(data, out, None)
    md = out.read_text()
    assert "| M | 1 | 55.0 | 100.0 | 50.0 | 90.0 | 0.55 |" in md
    assert "| M ×1: latency ≤ 0.8× onnxruntime-web | 0.55× | yes |" in md
    assert "| M ×2: latency ≤ 0.8× onnxruntime-web | 0.80× | yes |" in md  # no pair: the separate medians
    assert "| geometric mean over 1 models ×1: ≤ 0.6× | 0.55× | yes |" in md
    assert "| webdnn webgpu | failed: timed out |" in md


def test_report_command_leaves_out_where_files_went():
    """The report names what was measured; --out, --png and --work only say where the files went."""
    argv = ["--models", "LSTM,UNet", "--out", "/tmp/x.md", "--png=", "--work", "/tmp/w", "--threads", "1,2"]
    assert bench.measured_command(argv) == "webdnn bench --models LSTM,UNet --threads 1,2"
    assert bench.measured_command([]) == "webdnn bench"


def test_report_shows_each_weight_encoding_against_float32(tmp_path):
    """--weights raw,int8: one row per model and thread count, the speed-up the reciprocal of the median
    per-pair ratio (int8 / float32), the download of each, the output change the converter measured."""
    weights = [{"model": "M", "threads": 1, "weights": "int8", "medians": [100.0, 60.0], "mins": [95.0, 55.0],
                "ratioMedian": 0.625, "cosine": 0.99987, "rawBytes": 40 << 20, "bytes": 10 << 20, "error": {"max_abs": 0.1, "max_rel": 0.0123}}]
    data = {"meta": {"command": "webdnn bench --weights raw,int8", "date": "d", "cpu": "c", "cores": 2, "chromium": "1",
                     "webdnn": "0", "ort": "1", "repeat": 20, "warmup": 3, "load": [None, None]},
            "results": [], "paired": [], "weights": weights}
    out = tmp_path / "b.md"
    bench.write_markdown(data, out, None)
    md = out.read_text()
    assert "## --weights int8 on wasm" in md
    assert "| M | 1 | 100.0 | 60.0 | 1.60× | 40.0 MB | 10.0 MB | 0.99987 | 1.23 % |" in md
