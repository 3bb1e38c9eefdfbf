"""WebDNN.load(url, {cache}) in a real browser: the second load of a page asks the server for
model.json only (every other file comes from Cache Storage, or from IndexedDB where Cache Storage
is missing), outputs stay right, and WebDNN.clearCache() makes the next load download again."""
import secrets

import numpy as np
import pytest

from tests.cases import CASES
from webdnn import convert
from webdnn.testing import compare

LOAD_TWICE = """async ([url, name, noCacheStorage]) => {
  if (noCacheStorage) Object.defineProperty(window, 'caches', { value: undefined, configurable: true });
  try {
    const out = [];
    for (let i = 0; i < 2; i++) {
      const events = [];
      const r = await WebDNN.load(url, { backendOrder: ['wasm'], cache: name, fileCallback: (e) => events.push(e) });
      const y = await r.run({ x: window.cacheTestInput });
      out.push({ y: Array.from(Object.values(y)[0]), events });
      r.dispose();
      await new Promise((res) => setTimeout(res, 50));  // the page's requests are counted between loads
      window.cacheTestMark && window.cacheTestMark(i);
    }
    await WebDNN.clearCache(name);
    return out;
  } finally {
    if (noCacheStorage) delete window.caches;
  }
}"""


@pytest.fixture(scope="module")
def descriptor(tmp_path_factory):
    case = next(c for c in CASES if c.name == "conv_basic")
    out = tmp_path_factory.mktemp("cache") / "conv"
    convert(case.model, out, backends=("wasm", "js"))
    import onnxruntime as ort
    expected = ort.InferenceSession(case.model.SerializeToString()).run(None, case.inputs)[0]
    return out, case.inputs["x"], expected


@pytest.mark.parametrize("store", ["cache-storage", "indexeddb"])
def test_second_load_downloads_only_model_json(runners, descriptor, store):
    out, x, expected = descriptor
    chromium = runners["chromium"]
    url = chromium.mount(out)
    page = chromium.page
    requests = []
    listener = lambda req: requests.append(req.url) if req.url.startswith(url) else None
    page.on("request", listener)
    try:
        page.evaluate("(x) => { window.cacheTestInput = new Float32Array(x); }", x.reshape(-1).tolist())
        runs = page.evaluate(LOAD_TWICE, [url, f"test-{secrets.token_hex(4)}", store == "indexeddb"])
    finally:
        page.remove_listener("request", listener)
    names = [u[len(url):].lstrip("/").split("?")[0] for u in requests]
    files = {"model.json", "graph_wasm.json", "graph_wasm.wasm", "graph_wasm.relaxed.wasm", "weights_0.bin"}
    first = [n for n in names[:len(names) - 1]]
    assert names.count("model.json") == 2, names
    # the first load fetched model.json, the graph, one wasm module and the weights; the second model.json alone
    assert names[-1] == "model.json" and set(first) <= files and "weights_0.bin" in first, names
    assert [e["fromCache"] for e in runs[0]["events"]] == [False] * len(runs[0]["events"])
    assert runs[1]["events"] and all(e["fromCache"] for e in runs[1]["events"])
    for r in runs:
        y = np.array(r["y"], np.float32).reshape(expected.shape)
        assert compare(y, expected, "wasm", store) is None
