"""The webgl backend end to end in headless Chromium (WebGL2 on ANGLE/SwiftShader): every op case and
the models the other backends pass, tensors split over several textures, and the paths around it:
no WebGL2 in Node, the default order skipping a software renderer, context loss, dispose.

Needs /usr/bin/chromium and the built runtime (the README's `./run test` installs both)."""
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from tests.cases import CASES
from tests.e2e.test_models import prepare, OWN_MODELS
from tests.e2e.test_webgpu import _split_model, check, expected_outputs
from tests.e2e.test_whole_models import DATA as WHOLE_DATA, MODELS as WHOLE_MODELS, inputs_for as whole_inputs
from webdnn import convert
from webdnn.runners import RuntimeRunError

# light_* models except light_vgg19 (20 GMAC: minutes in SwiftShader's emulation of fragment programs)
LIGHT = ("light_squeezenet", "light_shufflenet", "light_inception_v1", "light_resnet50", "light_densenet121")


@pytest.fixture(scope="module")
def converted_cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("webgl_ops")
    out = {}
    for c in CASES:
        convert(c.model, root / c.name, backends=["webgl"])
        out[c.name] = (root / c.name, expected_outputs(c.model, c.inputs))
    return out


def test_all_op_cases(runners, converted_cases):
    runner = runners["chromium"]
    failures = []
    for c in CASES:
        path, expected = converted_cases[c.name]
        try:
            got = runner.run(path, c.inputs, backend="webgl")
        except Exception as e:  # collect every failure, not just the first
            failures.append(f"{c.name}: {type(e).__name__}: {e}")
            continue
        if runner.last_backend != "webgl":
            failures.append(f"{c.name}: ran on {runner.last_backend}")
        failures += check(got, expected, "webgl", c.name)
    assert not failures, f"{len(failures)} failure(s) on webgl:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("webgl_models")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits", *OWN_MODELS, *LIGHT])
def test_model_matches_onnxruntime(name, model_dir, runners):
    m, path = prepare(name, model_dir)
    out = model_dir / name
    convert(path, out, backends=["webgl"])
    inits = {t.name for t in m.graph.initializer}
    inp = next(i for i in m.graph.input if i.name not in inits)
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    x = np.random.RandomState(0).rand(*shape).astype(np.float32)
    got = runners["chromium"].run(out, {inp.name: x}, backend="webgl")
    assert runners["chromium"].last_backend == "webgl"
    failures = check(got, expected_outputs(m, {inp.name: x}), "webgl", name)
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("name", WHOLE_MODELS)
def test_whole_model_matches_onnxruntime(name, model_dir, runners):
    """The exported ViT, BERT-style, UNet-style and MobileNetV3-style models of test_whole_models."""
    m = onnx.load(WHOLE_DATA / f"{name}.onnx")
    feeds = whole_inputs(m)
    out = model_dir / name
    convert(m, out, backends=["webgl"])
    got = runners["chromium"].run(out, feeds, backend="webgl")
    assert runners["chromium"].last_backend == "webgl"
    failures = check(got, expected_outputs(m, feeds), "webgl", name)
    assert not failures, "\n".join(failures)


def test_tensors_larger_than_a_texture_are_split(tmp_path, runners):
    """With textures of at most 16 × 16 texels the 2048-element activations span 8 textures each (every
    kernel reads and writes across the boundaries) and the weights of the 3×3 conv 3; onnxruntime agrees."""
    m = _split_model()
    out = tmp_path / "split"
    onnx.save(m, tmp_path / "split.onnx")
    subprocess.run([sys.executable, "-m", "webdnn", "convert", str(tmp_path / "split.onnx"), "-o", str(out), "-q",
                    "--backend", "webgl", "--webgl-max-texture", "16"], check=True)  # the CLI, as a user runs it
    graph = json.loads((out / "graph_webgl.json").read_text())
    assert graph["maxTextureSize"] == 16
    assert max(len(p["textures"]) for p in graph["placement"].values()) == 8
    assert all(t["width"] <= 16 and t["height"] <= 16 for t in graph["textures"])
    x = np.random.RandomState(1).rand(1, 8, 16, 16).astype(np.float32)
    got = runners["chromium"].run(out, {"x": x}, backend="webgl")
    failures = check(got, expected_outputs(m, {"x": x}), "webgl", "split")
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("webgl_small")
    c = next(c for c in CASES if c.name == "conv_basic")
    convert(c.model, d / "out", backends=["webgl", "js"])
    return d / "out", c, expected_outputs(c.model, c.inputs)


def test_node_has_no_webgl_and_falls_back(small_model, runners):
    out, c, expected = small_model
    node = runners["node"]
    got = node.run(out, c.inputs, backend=["webgl", "js"])
    assert node.last_backend == "js"
    assert not check(got, expected, "js", "fallback")
    with pytest.raises(RuntimeRunError, match="webgl: not available in this environment: no WebGL2"):
        node.run(out, c.inputs, backend="webgl")


def test_default_order_skips_a_software_renderer(small_model, runners):
    """SwiftShader is a CPU emulation: the default order passes over webgl (as over webgpu) to a CPU
    backend; named, webgl runs there."""
    out, c, expected = small_model
    chromium = runners["chromium"]
    info = chromium.page.evaluate("""async (u) => {
      try { await WebDNN.load(u, {backendOrder: ['webgl', 'js'], backendOptions: {webgl: {allowSoftwareRenderer: false}}}); }
      catch (e) { return String(e); }
      const r = await WebDNN.load(u); return r.backendName; }""", chromium.mount(out))
    assert info == "js"
    chromium.forget(out)
    got = chromium.run(out, c.inputs, backend="webgl")
    assert chromium.last_backend == "webgl"
    assert not check(got, expected, "webgl", "named")


def test_context_loss_gives_a_clear_error(small_model, runners):
    out, c, expected = small_model
    chromium = runners["chromium"]
    page = chromium.page
    page.evaluate("""() => {
      window.__contexts = [];
      window.__realGetContext = OffscreenCanvas.prototype.getContext;
      OffscreenCanvas.prototype.getContext = function (k, a) {
        const gl = window.__realGetContext.call(this, k, a); if (gl) window.__contexts.push(gl); return gl; };
    }""")
    try:
        chromium.forget(out)
        got = chromium.run(out, c.inputs, backend="webgl")
        assert not check(got, expected, "webgl", "before loss")
        page.evaluate("""async () => { for (const gl of window.__contexts) gl.getExtension('WEBGL_lose_context')?.loseContext();
                                       await new Promise(r => setTimeout(r, 50)); }""")
        with pytest.raises(RuntimeRunError, match="the WebGL context was lost.*load the model again"):
            chromium.run(out, c.inputs, backend="webgl")
    finally:
        page.evaluate("() => { OffscreenCanvas.prototype.getContext = window.__realGetContext; }")
        chromium.forget(out)
    got = chromium.run(out, c.inputs, backend="webgl")  # loading again gets a new context
    assert not check(got, expected, "webgl", "after reload")


def test_too_small_a_device_is_refused_at_load(tmp_path, runners):
    """A descriptor that asks for larger textures than the device has fails to load with the sizes
    (here the device's limit is made to look small)."""
    m = _split_model()
    out = tmp_path / "big"
    convert(m, out, backends=["webgl"])
    chromium = runners["chromium"]
    page = chromium.page
    page.evaluate("""() => {
      window.__realGetParameter = WebGL2RenderingContext.prototype.getParameter;
      WebGL2RenderingContext.prototype.getParameter = function (p) {
        return p === this.MAX_TEXTURE_SIZE ? 64 : window.__realGetParameter.call(this, p); };
    }""")
    try:
        with pytest.raises(RuntimeRunError, match="textures of 2048 texels a side; this device allows 64"):
            chromium.run(out, {"x": np.zeros((1, 8, 16, 16), np.float32)}, backend="webgl")
    finally:
        page.evaluate("() => { WebGL2RenderingContext.prototype.getParameter = window.__realGetParameter; }")
        chromium.forget(out)


def test_unsupported_sizes_are_refused_at_conversion(tmp_path):
    """int64 constants outside int32 cannot live in 32-bit texels: a clear error, not wrapped values."""
    from onnx import TensorProto, helper, numpy_helper
    big = numpy_helper.from_array(np.array([2**40, 3], np.int64), "k")
    g = helper.make_graph([helper.make_node("Add", ["x", "k"], ["y"])], "big",
                          [helper.make_tensor_value_info("x", TensorProto.INT64, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.INT64, [2])], [big])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    from webdnn.errors import ConversionError
    with pytest.raises(ConversionError, match="webgl backend: int64 constant 'k' holds values outside int32"):
        convert(m, tmp_path / "o", backends=["webgl"])


def _page_run(chromium, out, x, options):
    """Loads `out` on webgl with backendOptions.webgl = options in the page and runs it on x."""
    reply = chromium.page.evaluate("""async ([u, x, shape, options]) => {
      const r = await WebDNN.load(u, {backendOrder: ['webgl'], backendOptions: {webgl: options}});
      const outs = await r.run({[r.inputNames[0]]: new Float32Array(x)});
      const y = outs[r.outputNames[0]];
      const info = r.backendInfo; r.dispose?.();
      return {y: Array.from(y), info};
    }""", [chromium.mount(out), x.reshape(-1).tolist(), list(x.shape), options])
    return np.array(reply["y"], np.float32), reply["info"]


@pytest.mark.parametrize("name", ["mini_resnet", "mini_mobilenet"])
def test_half_float_render_targets(name, model_dir, runners):
    """Where only half-float textures can be rendered to (asked for here with backendOptions.webgl.halfFloat,
    as SwiftShader renders to float ones), every kernel's result is stored as a half: within the f16 row of
    the tolerance table, and not bit-identical to the float32 run."""
    m, path = prepare(name, model_dir)
    out = model_dir / f"{name}_f16"
    convert(path, out, backends=["webgl"])
    inits = {t.name for t in m.graph.initializer}
    inp = next(i for i in m.graph.input if i.name not in inits)
    x = np.random.RandomState(0).rand(*[d.dim_value for d in inp.type.tensor_type.shape.dim]).astype(np.float32)
    expected = expected_outputs(m, {inp.name: x})
    e = next(iter(expected.values()))
    chromium = runners["chromium"]
    half, info = _page_run(chromium, out, x, {"halfFloat": True})
    assert info["precision"] == "f16"
    full, info = _page_run(chromium, out, x, {})
    assert info["precision"] == "f32"
    failures = check({"y": half.reshape(e.shape)}, {"y": e}, "webgl-f16", f"{name} f16")
    failures += check({"y": full.reshape(e.shape)}, {"y": e}, "webgl", f"{name} f32")
    assert not failures, "\n".join(failures)
    assert not np.array_equal(half, full), "the half-float run rounded nothing"


def test_no_float_render_target_declines_at_probe(small_model, runners):
    """Without EXT_color_buffer_float and EXT_color_buffer_half_float the backend declines before any
    weight is read, and the order falls through."""
    out, c, expected = small_model
    chromium = runners["chromium"]
    page = chromium.page
    page.evaluate("""() => {
      window.__realGetExtension = WebGL2RenderingContext.prototype.getExtension;
      WebGL2RenderingContext.prototype.getExtension = function (n) {
        return n.startsWith('EXT_color_buffer_') ? null : window.__realGetExtension.call(this, n); };
    }""")
    try:
        chromium.forget(out)
        got = chromium.run(out, c.inputs, backend=["webgl", "js"])
        assert chromium.last_backend == "js"
        assert not check(got, expected, "js", "fell through")
        chromium.forget(out)
        with pytest.raises(RuntimeRunError, match="cannot render to float textures .neither EXT_color_buffer_float nor "
                                                  "EXT_color_buffer_half_float"):
            chromium.run(out, c.inputs, backend="webgl")
    finally:
        page.evaluate("() => { WebGL2RenderingContext.prototype.getExtension = window.__realGetExtension; }")
        chromium.forget(out)


def test_dispose_releases_the_context(small_model, runners):
    """dispose() deletes every texture, framebuffer and program and gives the context up."""
    out, c, _ = small_model
    chromium = runners["chromium"]
    got = chromium.page.evaluate("""async ([u, x]) => {
      const made = [];
      const real = OffscreenCanvas.prototype.getContext;
      OffscreenCanvas.prototype.getContext = function (k, a) { const gl = real.call(this, k, a); if (gl) made.push(gl); return gl; };
      let r;
      try { r = await WebDNN.load(u, {backendOrder: ['webgl']}); } finally { OffscreenCanvas.prototype.getContext = real; }
      await r.run({x: new Float32Array(x)});
      const gl = made[made.length - 1];
      const before = gl.isContextLost();
      r.dispose();
      return {before, after: gl.isContextLost()};
    }""", [chromium.mount(out), c.inputs["x"].reshape(-1).tolist()])
    assert got == {"before": False, "after": True}
