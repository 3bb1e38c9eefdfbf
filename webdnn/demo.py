"""`webdnn demo`: convert the bundled digits classifier, then run it on every backend in Node and
in headless Chromium, printing held-out accuracy (which must equal the reference's) and latency."""
from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import numpy as np

from .errors import WebDNNError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits"
RUNS = 5


def _accuracy(probs, labels) -> float:
    return float((np.argmax(probs, axis=1) == labels).mean())


def main(out: Path, where=("node", "chromium")) -> int:
    from .converter import convert
    from .backend import BACKENDS
    from .descriptor import copy_runtime
    from .ir import reference
    from .runners import RuntimeRunError, get_runner, runtime_dist

    model_path = EXAMPLE / "digits.onnx"
    if not model_path.is_file():
        raise WebDNNError(f"{model_path} is missing (run python examples/digits/train.py)")
    with np.load(EXAMPLE / "digits_test.npz") as z:
        x, y = z["x"].astype(np.float32), z["y"]
    n = len(y)
    print(f"webdnn demo: digits classifier ({model_path.name}, {model_path.stat().st_size / 1024:.0f} KB), "
          f"{n} held-out 8x8 images")

    summary = convert(model_path, out, backends=BACKENDS, input_shapes={"image": [n, 1, 8, 8]})
    print(f"converted in {summary['seconds']:.2f}s: {summary['ops_before']} ONNX ops -> {summary['ops']} kernels, "
          f"{summary['params']:,} params, " + ", ".join(f"{b} {v / 1024:.0f} KB" for b, v in summary["bytes"].items()))

    from .converter import load_graph
    from .passes.pipeline import optimize
    graph = optimize(load_graph(model_path, {"image": [n, 1, 8, 8]}))
    ref = reference.run(graph, {"image": x})["probabilities"]
    ref_acc = _accuracy(ref, y)
    print(f"\n  {'where':<10}{'backend':<9}{'accuracy':>9}{'median ms':>11}{'per image':>11}   agrees with reference")
    print(f"  {'numpy':<10}{'(ref)':<9}{ref_acc:>9.4f}{'':>11}{'':>11}")

    ok = True
    for host in where:
        try:
            runner = get_runner(host)
        except WebDNNError as e:
            print(f"  {host:<10}unavailable: {e}")
            ok = False
            continue
        with runner:
            for backend in BACKENDS:
                times = []
                try:
                    for _ in range(RUNS):
                        probs = runner.run(out, {"image": x}, backend=backend)["probabilities"]
                        times.append(runner.last_ms)
                except RuntimeRunError as e:
                    if "not available in this environment" not in str(e):
                        raise
                    print(f"  {host:<10}{backend:<9}{'n/a':>9}   (not available in {host})")
                    continue
                acc = _accuracy(probs, y)
                same = bool((np.argmax(probs, 1) == np.argmax(ref, 1)).all()) and acc == ref_acc
                ok &= same
                med = statistics.median(times)
                print(f"  {host:<10}{backend:<9}{acc:>9.4f}{med:>11.2f}{med / n:>11.4f}   {'yes' if same else 'NO'}")

    # a self-contained page next to the descriptor: runtime script + a sample of the test images
    copy_runtime(out, runtime_dist())
    for page in ("index.html", "digits.js"):
        shutil.copy2(EXAMPLE / page, Path(out) / page)
    (Path(out) / "samples.json").write_text(json.dumps({"x": np.round(x.reshape(n, -1), 4).tolist(), "y": y.tolist()}))
    print(f"\ndescriptor: {Path(out).resolve()}")
    print(f"page:       webdnn serve {out}   then open http://127.0.0.1:8000/")
    if not ok:
        print("FAILED: a backend disagreed with the reference", file=sys.stderr)
        return 1
    return 0
