"""The runtime as an npm package inside a web developer's app: a tiny app that imports
`webdnn-runtime` is built with Vite and with esbuild (platform browser), served next to a converted
descriptor with the cross-origin-isolation headers, and run in headless Chromium on wasm (threads)
and js; its outputs equal onnxruntime's. The builds must not externalize any `node:` module."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from tests.cases import CASES
from webdnn import convert
from webdnn.serve import Server
from webdnn.testing import compare

RUNTIME = Path(__file__).resolve().parents[2] / "runtime"
BIN = RUNTIME / "node_modules" / ".bin"

MAIN_JS = """import * as WebDNN from 'webdnn-runtime';
const x = new Float32Array(%(x)s);
for (const backend of ['wasm', 'js']) {
  const runner = await WebDNN.load('./model/', { backendOrder: [backend] });
  const out = await runner.run({ x });
  window.results = { ...(window.results || {}),
                     [backend]: { name: runner.backendName, y: Array.from(Object.values(out)[0]) } };
  runner.dispose();
}
document.title = 'done';
"""
INDEX_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>app</title></head>
<body><script type="module" src="./main.js"></script></body></html>
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """(source folder with node_modules/webdnn-runtime linked to runtime/, the model case, expected y)."""
    case = next(c for c in CASES if c.name == "conv_basic")
    src = tmp_path_factory.mktemp("app")
    (src / "node_modules").mkdir()
    os.symlink(RUNTIME, src / "node_modules" / "webdnn-runtime")
    (src / "package.json").write_text(json.dumps({"name": "app", "private": True, "type": "module"}))
    (src / "main.js").write_text(MAIN_JS % {"x": json.dumps(case.inputs["x"].reshape(-1).tolist())})
    (src / "index.html").write_text(INDEX_HTML)
    expected = ort.InferenceSession(case.model.SerializeToString()).run(None, case.inputs)[0]
    return src, case, expected


def build(tool: str, src: Path, out: Path) -> str:
    if tool == "vite":
        cmd = [str(BIN / "vite"), "build", "--outDir", str(out), "--emptyOutDir", "--logLevel", "info"]
    else:
        out.mkdir()
        (out / "index.html").write_text(INDEX_HTML)
        cmd = [str(BIN / "esbuild"), "main.js", "--bundle", "--platform=browser", "--format=esm", "--target=es2022",
               f"--outfile={out / 'main.js'}"]
    p = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=300)
    log = p.stdout + p.stderr
    assert p.returncode == 0, log
    return log


@pytest.mark.parametrize("tool", ["vite", "esbuild"])
def test_an_app_built_with_a_bundler_runs_in_chromium(app, tool, tmp_path, runners):
    src, case, expected = app
    out = tmp_path / "dist"
    log = build(tool, src, out)
    assert "externalized for browser compatibility" not in log and "node:" not in log, log
    bundled = "".join(p.read_text() for p in out.rglob("*.js"))
    assert "load" in bundled and "WebDNNError" in bundled  # the runtime is in the bundle
    convert(case.model, out / "model", backends=("wasm", "js"))
    # a page of the session's one Chromium (a second sync Playwright cannot start beside it)
    with Server(out).start() as server:
        page = runners["chromium"].new_page()
        try:
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "index.html")
            page.wait_for_function("document.title === 'done' || window.results === null", timeout=60000)
            assert not errors, errors
            assert page.evaluate("crossOriginIsolated") is True
            results = page.evaluate("window.results")
        finally:
            page.close()
    for backend in ("wasm", "js"):
        assert results[backend]["name"] == backend
        y = np.array(results[backend]["y"], np.float32).reshape(expected.shape)
        assert compare(y, expected, backend, f"{tool} app on {backend}") is None
