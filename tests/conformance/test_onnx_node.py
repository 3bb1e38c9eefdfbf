"""The official ONNX node tests on every backend. Every applicable case must pass unless it is
in expected_failures.json, which says why for each entry (regenerate it with the command in
docs/conformance.md). A listed case that now passes fails this test too, so the list stays true."""
import json
from pathlib import Path

import pytest

from webdnn import conformance

EXPECTED = json.loads((Path(__file__).parent / "expected_failures.json").read_text())


@pytest.fixture(scope="module")
def cases():
    return conformance.collect()


@pytest.mark.parametrize("backend", ["reference", "js", "wasm", "webgpu", "webgpu@chromium", "webgl@chromium"])
def test_onnx_node_conformance(backend, cases, runners):
    """Where each backend runs: conformance.HOSTS (webgpu natively, through wgpu on lavapipe), and
    webgpu@chromium / webgl@chromium: the runtime's webgpu / webgl backend in headless Chromium on SwiftShader."""
    host = conformance.host_of(backend)
    results = conformance.run(cases, backend, runners[host] if host else None)
    expected = EXPECTED[backend]
    new_failures = [f"{n}: {r.status}: {r.detail}" for n, r in results.items()
                    if r.status not in ("pass", "excluded") and n not in expected]
    now_passing = [n for n, r in results.items() if r.status == "pass" and n in expected]
    summary = conformance.summarize(cases, {backend: results})[backend]
    msg = f"{backend}: {summary['passed']}/{summary['applicable']} applicable cases pass"
    assert not new_failures, msg + "; new failures:\n" + "\n".join(new_failures)
    assert not now_passing, msg + "; these now pass, remove them from expected_failures.json:\n" + "\n".join(now_passing)
    if backend != "reference":  # a case that passes on js passes on every backend
        behind = sorted(set(expected) - set(EXPECTED["js"]))
        assert not behind, f"{backend} fails cases that pass on js:\n" + "\n".join(f"{n}: {expected[n]}" for n in behind)
