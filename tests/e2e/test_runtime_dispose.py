"""runner.dispose() on every backend, in Chromium and in Node: every later run() and profile()
rejects with "runner disposed" (a run queued before it too), and a second dispose() is harmless."""
import pytest

from tests.cases import CASES
from webdnn import convert

DISPOSE = """async ([url, backend, x]) => {
  const r = await WebDNN.load(url, { backendOrder: [backend] });
  const input = { x: new Float32Array(x) };
  await r.run(input);
  const queued = r.run(input).then(() => 'ran', (e) => String(e.message));
  r.dispose();
  const later = await r.run(input).then(() => 'ran', (e) => String(e.message));
  const prof = await r.profile(input).then(() => 'ran', (e) => String(e.message));
  r.dispose();
  return { name: r.backendName, disposed: r.disposed, queued: await queued, later, prof };
}"""


@pytest.fixture(scope="module")
def descriptor(tmp_path_factory):
    case = next(c for c in CASES if c.name == "conv_basic")
    out = tmp_path_factory.mktemp("dispose") / "conv"
    convert(case.model, out, backends=("js", "wasm", "webgpu", "webgl"))
    return out, case.inputs["x"].reshape(-1).tolist()


@pytest.mark.parametrize("where,backend", [("chromium", "js"), ("chromium", "wasm"), ("chromium", "webgpu"), ("chromium", "webgl"),
                                           ("node", "wasm")])
def test_every_call_after_dispose_is_refused(runners, descriptor, where, backend):
    out, x = descriptor
    if where == "chromium":
        chromium = runners["chromium"]
        got = chromium.page.evaluate(DISPOSE, [chromium.mount(out), backend, x])
    else:
        import json
        import subprocess
        from webdnn.runners import runtime_dist
        script = (f"import * as WebDNN from {json.dumps((runtime_dist() / 'webdnn.mjs').as_uri())};\n"
                  f"const f = {DISPOSE};\nconsole.log(JSON.stringify(await f({json.dumps([str(out), backend, x])})));"
                  "\nprocess.exit(0);")
        p = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["name"] == backend and got["disposed"] is True
    for k in ("later", "prof"):
        assert "runner disposed" in got[k], got
    assert got["queued"] == "ran" or "runner disposed" in got["queued"], got
