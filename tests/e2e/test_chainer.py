"""Chainer frontend end to end. Chainer 7 needs numpy < 1.24 and the rest of the suite numpy 2, so
the links are built, run and converted in the Chainer environment `.venv-chainer` (made by
`./run test`; CHAINER_PYTHON names another) by tests/chainer_models.py; here the descriptors run
on every backend and are compared with Chainer's own outputs."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from webdnn.testing import compare

REPO = Path(__file__).resolve().parents[2]
RUNS = [("node", "js"), ("node", "wasm"), ("native", "webgpu")]


def chainer_python() -> str:
    exe = os.environ.get("CHAINER_PYTHON") or str(REPO / ".venv-chainer" / "bin" / "python")
    if not Path(exe).is_file():
        pytest.fail(f"no Chainer environment at {exe}: `./run test` makes .venv-chainer (or set CHAINER_PYTHON)")
    return exe


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("chainer")
    p = subprocess.run([chainer_python(), str(REPO / "tests" / "chainer_models.py"), str(out),
                        "functions", "faststylenet", "faststylenet_page", "unsupported"], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout + p.stderr
    return out


@pytest.mark.parametrize("name", ["functions", "faststylenet"])
def test_links_match_chainer_on_every_backend(runners, converted, name):
    io = np.load(converted / name / "io.npz")
    feeds = {k: io[k] for k in io.files if not k.startswith("expected:")}
    expected = {k.split(":", 1)[1]: io[k] for k in io.files if k.startswith("expected:")}
    assert expected
    failures = []
    for host, backend in RUNS:
        got = runners[host].run(converted / name / "descriptor", feeds, backend=backend)
        for out, e in expected.items():
            msg = compare(got[out], e, backend, f"{name}/{out} on {backend} in {host}")
            if msg:
                failures.append(msg)
    assert not failures, "\n".join(failures)


def test_every_unsupported_function_is_listed_at_once(converted):
    text = (converted / "unsupported" / "error.txt").read_text()
    assert text.startswith("UnsupportedFunctionsError: 3 call(s) of 2 unsupported Chainer function(s):"), text
    assert "Im2Col: 2 call(s)" in text and "Cumsum: 1 call(s)" in text, text
    assert not (converted / "unsupported" / "descriptor").exists()


def test_style_transfer_page_draws_what_chainer_computes(runners, converted, tmp_path):
    """examples/style_transfer with a FastStyleNet of seeded weights: the default backend order, a
    picture through the file input, the output canvas compared with Chainer's output pixels."""
    import shutil

    from webdnn.serve import serve

    from ..pages import ExamplePage, copy_example, png
    copy_example("style_transfer", ("index.html", "script.js"), tmp_path)
    shutil.copytree(converted / "faststylenet_page" / "descriptor", tmp_path / "styles" / "seeded")
    (tmp_path / "config.json").write_text('{"styles": [{"name": "seeded", "model": "styles/seeded"}]}')
    io = np.load(converted / "faststylenet_page" / "io.npz")
    x, expected = io["x"], io["expected:output"]
    png(tmp_path / "content.png", x[0].transpose(1, 2, 0).astype(np.uint8))
    server = serve(tmp_path)
    page = ExamplePage(runners, server.url + "/index.html")
    try:
        page.give_file(tmp_path / "content.png")
        pixels = np.array(page.page.evaluate("""() => {
            const c = document.getElementById('output');
            return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
        }"""), np.float32).reshape(48, 64, 4)
        status = page.page.inner_text("#status")
        page.page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert not page.errors, page.errors
    finally:
        page.close()
        server.close()
    assert status.split(":")[0] in ("webgpu", "wasm") and "ms per frame (64×48)" in status, status
    want = np.clip(np.round(expected[0].transpose(1, 2, 0)), 0, 255)
    assert np.abs(pixels[:, :, :3] - want).max() <= 1, np.abs(pixels[:, :, :3] - want).max()  # rounding at .5
    assert (pixels[:, :, 3] == 255).all()
    assert want.std() > 30  # a picture, not a flat field
    assert (tmp_path / "page.png").stat().st_size > 20_000  # the page rendered (two canvases and text)


def test_style_transfer_page_stylizes_camera_frames(runners, converted, tmp_path):
    """The camera path, with Chromium's fake camera (a moving test pattern): frames are stylized one
    after another until the camera is stopped."""
    import shutil

    from webdnn.serve import serve

    from ..pages import copy_example
    copy_example("style_transfer", ("index.html", "script.js"), tmp_path)
    shutil.copytree(converted / "faststylenet_page" / "descriptor", tmp_path / "styles" / "seeded")
    (tmp_path / "config.json").write_text('{"styles": [{"name": "seeded", "model": "styles/seeded"}]}')
    server = serve(tmp_path)
    browser = runners["chromium"].launch_browser(["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
    try:
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/index.html")

        def wait_runs(n):  # polled: the page's CSP forbids the string evaluation of wait_for_function
            for _ in range(1200):
                if page.evaluate("() => Number(document.body.dataset.runs || 0)") >= n:
                    return
                page.wait_for_timeout(100)
            raise AssertionError(f"no run {n}: {page.inner_text('#status')} {errors}")
        wait_runs(1)
        page.click("#camera")
        wait_runs(4)
        outputs = page.evaluate("""() => {
            const c = document.getElementById('output');
            return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data);
        }""")
        assert page.inner_text("#camera") == "Stop the camera"
        page.click("#camera")
        assert page.inner_text("#camera") == "Use the camera" and page.title() == "done", page.inner_text("#status")
        assert not errors, errors
    finally:
        browser.close()
        server.close()
    assert len(outputs) == 48 * 64 * 4 and np.std(outputs) > 10
