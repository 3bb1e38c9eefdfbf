"""The Python runners (node, chromium) and the local server, on hand-written descriptors.

Nothing here uses the converter: each descriptor is written by hand following
docs/descriptor.md, so these tests pin the runtime/runner contract on their own. They need the
built runtime (runtime/dist), `node` and /usr/bin/chromium; a missing one fails the test.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import zlib
from pathlib import Path

import numpy as np
import pytest

from webdnn.runners import RuntimeRunError, get_runner, runtime_dist
from webdnn.serve import serve

WHERE = ("node", "chromium")


# ---- hand-written descriptors -----------------------------------------------------------------

def write_descriptor(d: Path, inputs, outputs, tensors, kernels, constants=None, chunks=()):
    """Write model.json + graph_js.json (+ weight chunks) into ``d``; returns ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    weights = []
    for i, data in enumerate(chunks):
        name = f"weights_{i}.bin"
        (d / name).write_bytes(data)
        weights.append({"file": name, "bytes": len(data), "crc32": f"{zlib.crc32(data):08x}"})
    graph = {
        "format": "webdnn-graph", "version": 1, "backend": "js",
        "inputs": list(inputs), "outputs": list(outputs),
        "tensors": {n: {"shape": list(t["shape"]), "dtype": t["dtype"]} for n, t in tensors.items()},
        "constants": constants or {},
        "kernels": kernels,
    }
    graph_bytes = json.dumps(graph, indent=1).encode()
    model = {
        "format": "webdnn-descriptor", "version": 2, "converter": "hand-written",
        "inputs": [{"name": n, "shape": list(t["shape"]), "dtype": t["dtype"]}
                   for n, t in inputs.items()],
        "outputs": [{"name": n, "shape": list(t["shape"]), "dtype": t["dtype"]}
                    for n, t in outputs.items()],
        "backends": {"js": {"graph": "graph_js.json", "weights": list(range(len(chunks)))}},
        "weights": weights,
        "files": [{"file": "graph_js.json", "bytes": len(graph_bytes), "crc32": f"{zlib.crc32(graph_bytes):08x}"}],
    }
    (d / "model.json").write_text(json.dumps(model, indent=1))
    (d / "graph_js.json").write_bytes(graph_bytes)
    return d


def elementwise_descriptor(d: Path, expr, shape=(2, 3), in_dtype="float32", out_dtype="float32"):
    x = {"shape": shape, "dtype": in_dtype}
    y = {"shape": shape, "dtype": out_dtype}
    kernel = {"op": "Elementwise", "name": "ew", "inputs": ["x"], "outputs": ["y"],
              "attrs": {"expr": expr, "dtype": out_dtype}, "free": ["x"]}
    return write_descriptor(d, {"x": x}, {"y": y}, {"x": x, "y": y}, [kernel])


AFFINE = ["add", ["mul", ["in", 0], ["const", 2]], ["const", 1]]


def conv_descriptor(d: Path, seed=0):
    """x[1,2,5,5] * w[3,2,3,3] + b[3], pad 1, stride 1 -> y[1,3,5,5]; w, b raw in one chunk."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    w_off, b_off = 0, (w.nbytes + 7) // 8 * 8
    chunk = bytearray(b_off + b.nbytes)
    chunk[w_off:w_off + w.nbytes] = w.tobytes()
    chunk[b_off:b_off + b.nbytes] = b.tobytes()
    x = {"shape": (1, 2, 5, 5), "dtype": "float32"}
    y = {"shape": (1, 3, 5, 5), "dtype": "float32"}
    constants = {
        "w": {"shape": [3, 2, 3, 3], "dtype": "float32", "encoding": "raw",
              "offset": w_off, "bytes": w.nbytes},
        "b": {"shape": [3], "dtype": "float32", "encoding": "raw",
              "offset": b_off, "bytes": b.nbytes},
    }
    kernel = {"op": "Conv", "name": "conv1", "inputs": ["x", "w", "b"], "outputs": ["y"],
              "attrs": {"strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1},
              "free": ["x"]}
    write_descriptor(d, {"x": x}, {"y": y}, {"x": x, "y": y}, [kernel], constants, [bytes(chunk)])
    return w, b


def conv_reference(x, w, b, pad=1):
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((n, m, h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + y.shape[2], j:j + y.shape[3]]
            y += np.einsum("nchw,mc->nmhw", patch, w[:, :, i, j].astype(np.float64))
    return (y + b[None, :, None, None]).astype(np.float32)


# ---- fixtures ---------------------------------------------------------------------------------

# `runners` is the session fixture of tests/conftest.py: one Node process and one Chromium for
# the whole test session (two Playwright instances cannot share one pytest process).


@pytest.fixture(params=WHERE)
def runner(request, runners):
    return runners[request.param]


# ---- runner tests -----------------------------------------------------------------------------

def test_get_runner_rejects_unknown_name():
    with pytest.raises(ValueError, match="node.*chromium"):
        get_runner("firefox")


def test_elementwise(runner, tmp_path):
    d = elementwise_descriptor(tmp_path / "ew", AFFINE)
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    out = runner.run(d, {"x": x})
    assert list(out) == ["y"]
    assert out["y"].shape == (2, 3) and out["y"].dtype == np.float32
    np.testing.assert_allclose(out["y"], x * 2 + 1, rtol=1e-6)
    assert runner.last_backend == "js"
    assert runner.last_ms is not None and runner.last_ms >= 0
    assert runner.last_roundtrip_ms >= runner.last_ms


def test_elementwise_large_input(runner, tmp_path):
    # MB-sized tensors go through files (node) / base64 (chromium), not JSON number lists
    shape = (1, 3, 256, 256)
    d = elementwise_descriptor(tmp_path / "big", AFFINE, shape=shape)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    y = runner.run(d, {"x": x})["y"]
    np.testing.assert_allclose(y, x * 2 + 1, rtol=1e-6)


def test_chromium_input_transfer_modes(runners, tmp_path):
    # large inputs are fetched from the server's memory, small ones sent as base64: same result
    r = runners["chromium"]
    d = elementwise_descriptor(tmp_path / "ew", AFFINE, shape=(4, 256))
    x = np.random.default_rng(4).standard_normal((4, 256)).astype(np.float32)
    saved = r.http_threshold
    try:
        for threshold in (None, 1, x.nbytes + 1):
            r.http_threshold = threshold
            np.testing.assert_allclose(r.run(d, {"x": x})["y"], x * 2 + 1, rtol=1e-6)
    finally:
        r.http_threshold = saved


def test_output_dtypes_follow_model_json(runner, tmp_path):
    x = np.array([[-1.5, 0.0, 2.0], [3.0, -0.1, 7.9]], dtype=np.float32)
    d = elementwise_descriptor(tmp_path / "gt", ["gt", ["in", 0], ["const", 0]], out_dtype="bool")
    y = runner.run(d, {"x": x})["y"]
    assert y.dtype == np.bool_
    np.testing.assert_array_equal(y, x > 0)

    d = elementwise_descriptor(tmp_path / "i64", ["cast", "int64", ["mul", ["in", 0], ["const", 3]]],
                               out_dtype="int64")
    y = runner.run(d, {"x": x})["y"]
    assert y.dtype == np.int64  # stored in an Int32Array by the runtime, widened here
    np.testing.assert_array_equal(y, np.trunc(x.astype(np.float64) * 3).astype(np.int64))


def test_conv_with_raw_weights(runner, tmp_path):
    d = tmp_path / "conv"
    w, b = conv_descriptor(d)
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 5)).astype(np.float32)
    y = runner.run(d, {"x": x})["y"]
    assert y.shape == (1, 3, 5, 5)
    np.testing.assert_allclose(y, conv_reference(x, w, b), rtol=1e-4, atol=1e-5)


def test_truncated_weights_name_the_file(runner, tmp_path):
    d = tmp_path / "truncated"
    conv_descriptor(d)
    f = d / "weights_0.bin"
    f.write_bytes(f.read_bytes()[:100])  # a truncated upload
    with pytest.raises(RuntimeRunError, match="weights_0.bin"):
        runner.run(d, {"x": np.zeros((1, 2, 5, 5), np.float32)})
    # the host survives the error and keeps working
    d2 = elementwise_descriptor(tmp_path / "after", AFFINE)
    np.testing.assert_allclose(runner.run(d2, {"x": np.ones((2, 3), np.float32)})["y"], 3.0)


def test_wrong_input_size_is_a_runtime_error(runner, tmp_path):
    d = elementwise_descriptor(tmp_path / "ew", AFFINE)
    with pytest.raises(RuntimeRunError) as info:
        runner.run(d, {"x": np.zeros(5, np.float32)})
    assert "x" in info.value.js_message


def test_missing_descriptor_is_a_load_error(runner, tmp_path):
    d = elementwise_descriptor(tmp_path / "nograph", AFFINE)
    (d / "graph_js.json").unlink()
    with pytest.raises(RuntimeRunError, match="graph_js.json"):
        runner.run(d, {"x": np.zeros((2, 3), np.float32)})


def test_input_names_are_checked(runner, tmp_path):
    d = elementwise_descriptor(tmp_path / "ew", AFFINE)
    with pytest.raises(ValueError, match=r"x \[2, 3\] float32"):
        runner.run(d, {"z": np.zeros((2, 3), np.float32)})


def test_one_runner_many_descriptors(runner, tmp_path):
    pid = getattr(runner, "pid", None)
    page = getattr(runner, "page", None)
    rng = np.random.default_rng(3)
    dirs = []
    for k in range(4):
        expr = ["add", ["mul", ["in", 0], ["const", k + 2]], ["const", -k]]
        dirs.append((k, elementwise_descriptor(tmp_path / f"d{k}", expr)))
    conv_dir = tmp_path / "conv"
    w, b = conv_descriptor(conv_dir, seed=5)
    for round_ in range(2):  # the second round hits the host's cache of loaded descriptors
        for k, d in dirs:
            x = rng.standard_normal((2, 3)).astype(np.float32)
            np.testing.assert_allclose(runner.run(d, {"x": x})["y"], x * (k + 2) - k, rtol=1e-6)
            assert (runner.last_load_ms == 0.0) == (round_ == 1)
        x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
        np.testing.assert_allclose(runner.run(conv_dir, {"x": x})["y"], conv_reference(x, w, b),
                                   rtol=1e-4, atol=1e-5)
    # still the same host process / page
    assert getattr(runner, "pid", None) == pid
    assert getattr(runner, "page", None) is page


def test_rewritten_descriptor_is_reloaded(runner, tmp_path):
    d = tmp_path / "rw"
    elementwise_descriptor(d, AFFINE)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(runner.run(d, {"x": x})["y"], 3.0)
    elementwise_descriptor(d, ["mul", ["in", 0], ["const", 10]])
    os.utime(d / "graph_js.json", ns=(1, 1))  # make sure the stamp differs even on coarse clocks
    np.testing.assert_allclose(runner.run(d, {"x": x})["y"], 10.0)


def test_load_reports_backend_and_names(runner, tmp_path):
    d = elementwise_descriptor(tmp_path / "ew", AFFINE)
    info = runner.load(d)
    assert info["backendName"] == "js"
    assert list(info["inputNames"]) == ["x"] and list(info["outputNames"]) == ["y"]


def test_bench_returns_per_run_times(runner, tmp_path):
    d = elementwise_descriptor(tmp_path / "ew", AFFINE)
    ms = runner.bench(d, {"x": np.ones((2, 3), np.float32)}, repeat=3, warmup=1)
    assert len(ms) == 3 and all(m >= 0 for m in ms)


def test_chromium_page_is_cross_origin_isolated(runners):
    r = runners["chromium"]
    assert r.cross_origin_isolated is True
    assert r.launch_s > 0


def test_node_runner_replaces_a_dead_process(tmp_path):
    with get_runner("node") as r:
        first = r.pid
        os.kill(first, 9)
        r._proc.wait(timeout=10)
        d = elementwise_descriptor(tmp_path / "ew", AFFINE)
        np.testing.assert_allclose(r.run(d, {"x": np.ones((2, 3), np.float32)})["y"], 3.0)
        assert r.pid != first


FAKE_RUNTIME = """
export async function load(dir, options) {
  console.log('log line '.repeat(100000));        // the driver sends this to stderr
  process.stdout.write('stray stdout text');      // no newline, not a reply: ignored
  process.stderr.write('e'.repeat(4 << 20) + '\\n');  // more than a pipe buffer holds
  if (String(dir).endsWith('bad')) throw new RangeError('fake load failure for ' + dir);
  return {
    backendName: 'fake', inputNames: ['x'], outputNames: ['y'],
    async run(inputs) { return { y: inputs.x.map((v) => v + 1) }; },
  };
}
"""


def test_node_driver_protocol_is_robust(tmp_path):
    # a runtime that floods stdout and stderr: the pipes must neither deadlock nor mix replies
    rt = tmp_path / "rt"
    rt.mkdir()
    (rt / "webdnn.mjs").write_text(FAKE_RUNTIME)
    d = elementwise_descriptor(tmp_path / "ok", AFFINE)
    bad = elementwise_descriptor(tmp_path / "bad", AFFINE)
    with get_runner("node", runtime=rt, timeout=60) as r:
        for _ in range(3):
            y = r.run(d, {"x": np.arange(6, dtype=np.float32).reshape(2, 3)})["y"]
            np.testing.assert_array_equal(y, np.arange(6).reshape(2, 3) + 1)
            assert r.last_backend == "fake"
            r.forget()
        assert "stray stdout text" in r.stdout_noise
        with pytest.raises(RuntimeRunError, match="fake load failure") as info:
            r.run(bad, {"x": np.zeros((2, 3), np.float32)})
        assert "RangeError" in (info.value.js_stack or "")


def test_node_runner_reports_a_broken_runtime(tmp_path):
    (tmp_path / "webdnn.mjs").write_text("export const load = ;\n")
    with pytest.raises(RuntimeRunError, match="cannot import the runtime"):
        get_runner("node", runtime=tmp_path, timeout=60)


def test_node_runner_closes_its_process(tmp_path):
    r = get_runner("node")
    proc = r._proc
    r.close()
    assert proc.poll() is not None
    with pytest.raises(RuntimeError, match="closed"):
        r.run(tmp_path, {})


def test_chromium_launch_fails_without_browser():
    with pytest.raises(FileNotFoundError, match="chromium"):
        get_runner("chromium", executable="/nonexistent/chromium")


# ---- serve.py ---------------------------------------------------------------------------------

def _get(port, path, host_header=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host_header} if host_header else {}
    conn.request(method, path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp, body


def _raw_get(port, raw_path):
    """Send the request line byte-for-byte (http.client would not let '..' through unchanged)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {raw_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "model.json").write_text('{"a": 1}')
    (root / "m.wasm").write_bytes(b"\0asm\1\0\0\0")
    (root / "app.mjs").write_text("export const a = 1;")
    (root / "app.js").write_text("var a = 1;")
    (root / "sub").mkdir()
    (root / "sub" / "index.html").write_text("<p>hi</p>")
    (tmp_path / "secret.txt").write_text("SECRET")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    (root / "escape_dir").symlink_to(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "w.bin").write_bytes(b"\1\2\3")
    srv = serve(root)
    try:
        yield srv, root, other
    finally:
        srv.close()


def test_serve_headers_and_types(site):
    srv, _, _ = site
    assert srv.url == f"http://127.0.0.1:{srv.port}/"
    resp, body = _get(srv.port, "/model.json")
    assert resp.status == 200 and body == b'{"a": 1}'
    assert resp.getheader("Cross-Origin-Opener-Policy") == "same-origin"
    assert resp.getheader("Cross-Origin-Embedder-Policy") == "require-corp"
    assert resp.getheader("Cross-Origin-Resource-Policy") == "same-origin"
    assert resp.getheader("Content-Type").startswith("application/json")
    assert _get(srv.port, "/m.wasm")[0].getheader("Content-Type") == "application/wasm"
    assert _get(srv.port, "/app.mjs")[0].getheader("Content-Type").startswith("text/javascript")
    assert _get(srv.port, "/app.js")[0].getheader("Content-Type").startswith("text/javascript")
    resp, body = _get(srv.port, "/sub/")
    assert resp.status == 200 and body == b"<p>hi</p>"
    resp, body = _get(srv.port, "/model.json", method="HEAD")
    assert resp.status == 200 and body == b"" and resp.getheader("Content-Length") == "8"
    assert _get(srv.port, "/nope.json")[0].status == 404


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/sub/%2E%2E/%2e%2e/secret.txt",
    "/..%2fsecret.txt", "/..%5csecret.txt", "//etc/passwd", "/%2fetc/passwd", "/escape",
    "/escape_dir/secret.txt", "/C:/Windows/win.ini",
])
def test_serve_refuses_paths_outside_the_root(site, path):
    srv, _, _ = site
    status, data = _raw_get(srv.port, path)
    assert status == 404, path
    assert b"SECRET" not in data and b"root:" not in data


def test_serve_refuses_foreign_host_header(site):
    srv, _, _ = site
    assert _get(srv.port, "/model.json", host_header="evil.example:80")[0].status == 403
    assert _get(srv.port, "/model.json", host_header=f"localhost:{srv.port}")[0].status == 200


def test_serve_binds_loopback_only(tmp_path):
    from webdnn.serve import Server
    with pytest.raises(ValueError, match="127.0.0.1"):
        Server(tmp_path, host="0.0.0.0")
    with serve(tmp_path) as srv:
        assert srv._httpd.server_address[0] == "127.0.0.1"


def test_serve_mounts(site):
    srv, _, other = site
    url = srv.mount("/extra/", other)
    assert url == srv.url + "extra/"
    resp, body = _get(srv.port, "/extra/w.bin")
    assert resp.status == 200 and body == b"\1\2\3"
    assert resp.getheader("Cross-Origin-Embedder-Policy") == "require-corp"
    assert _raw_get(srv.port, "/extra/../secret.txt")[0] == 404
    srv.unmount("/extra/")
    assert _get(srv.port, "/extra/w.bin")[0].status == 404


def test_serve_blobs(site):
    srv, _, _ = site
    url = srv.put_blob("/io/abc/in.bin", b"\0" * 1000)
    assert url == srv.url + "io/abc/in.bin"
    resp, body = _get(srv.port, "/io/abc/in.bin")
    assert resp.status == 200 and body == b"\0" * 1000
    assert resp.getheader("Cross-Origin-Resource-Policy") == "same-origin"
    srv.drop_blob("/io/abc/in.bin")
    assert _get(srv.port, "/io/abc/in.bin")[0].status == 404
    assert _get(srv.port, "/model.json", method="PUT")[0].status == 405


def test_serve_constructor_mounts_runtime(tmp_path):
    dist = runtime_dist()
    with serve(tmp_path, mounts={"/webdnn/": dist}) as srv:
        resp, body = _get(srv.port, "/webdnn/webdnn.js")
        assert resp.status == 200 and len(body) > 0
        assert resp.getheader("Content-Type").startswith("text/javascript")
