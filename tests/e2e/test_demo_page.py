"""The demo page as a person opens it: served by `webdnn serve`'s server, under a strict CSP
(no inline script, no eval), it loads the descriptor with the seed's API and classifies the
held-out digits exactly as the numpy reference does, on the default backend order and on each
backend picked from the page."""
import re
import time

import numpy as np

from webdnn import demo
from webdnn.serve import serve


def test_demo_page_under_strict_csp(tmp_path, runners, capsys):
    out = tmp_path / "digits"
    assert demo.main(out, where=()) == 0  # convert + write the page; no host runs here
    ref_line = next(l for l in capsys.readouterr().out.splitlines() if l.strip().startswith("numpy"))
    ref_acc = float(ref_line.split()[2])
    with np.load(demo.EXAMPLE / "digits_test.npz") as z:
        n = len(z["y"])
    server = serve(out)
    page = runners["chromium"].new_page()
    messages = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    def finished(run):
        # polled from Python: Playwright's wait_for_function would eval a string, which this CSP forbids;
        # the title counts runs, so a click's run is never mistaken for the one before
        deadline = time.monotonic() + 90
        pattern = re.compile(rf"done (\d+)/(\d+) \(run {run}\)$")
        while not pattern.match(page.title()) and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        title = page.title()
        m = pattern.match(title)
        assert m, f"run {run} did not finish: title {title!r}, status {page.inner_text('#status')!r}, {messages}"
        return int(m[1]), int(m[2]), page.inner_text("#status"), page.locator("canvas").count()

    results = {}
    try:
        page.goto(server.url + "/index.html")
        results["default"] = finished(1)  # the default order: webgpu and webgl are skipped on SwiftShader, so wasm
        for run, order in enumerate(("js", "webgpu,js", "webgl,js"), start=2):
            page.select_option("#order", order)
            page.click("#run")
            results[order] = finished(run)
    finally:
        page.close()
        server.close()
    for order, (correct, total, status, shots) in results.items():
        assert total == n and abs(correct / n - ref_acc) < 1e-4, (order, correct, n, ref_acc, status)
        assert shots == 96, (order, shots)
    assert results["default"][2].startswith("wasm:"), results["default"]
    assert results["js"][2].startswith("js:") and results["webgpu,js"][2].startswith("webgpu:"), results
    assert results["webgl,js"][2].startswith("webgl:"), results
    assert not missing, missing
    errors = [m for m in messages if "Content Security Policy" in m or m.startswith("pageerror")
              or (m.startswith("error") and "404" not in m)]  # the browser's own favicon request 404s
    assert not errors, errors
