"""`webdnn serve DIR` on a descriptor without a page of its own: the generated page lists the
model's inputs and outputs, takes an .npy file or an image (resized to the input) or random numbers,
runs on the chosen backend and shows the outputs as top-k (a classifier), an image (an image output)
or numbers, with the time; checked in Chromium against onnxruntime, with a screenshot."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from webdnn import convert
from webdnn.runners import runtime_dist
from webdnn.serve import Server, add_model_page

from ..pages import png


def models():
    rng = np.random.default_rng(0)
    w = lambda *s: numpy_helper.from_array((rng.standard_normal(s) * 0.2).astype(np.float32), f"w{len(s)}_{s[0]}")
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 16, 16])
    out = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
    classifier = helper.make_graph(
        [helper.make_node("Conv", ["image", "w4_10"], ["c"]), helper.make_node("Flatten", ["c"], ["f"]),
         helper.make_node("Softmax", ["f"], ["probs"])], "classifier", [x], [out("probs")], [w(10, 3, 16, 16)])
    painter = helper.make_graph(
        [helper.make_node("Conv", ["image", "w4_3"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Sigmoid", ["c"], ["painted"])],
        "painter", [x], [out("painted")], [w(3, 3, 3, 3)])
    mk = lambda g: helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    return {"classifier": mk(classifier), "painter": mk(painter)}


@pytest.fixture(scope="module")
def served(tmp_path_factory, runners):
    root = tmp_path_factory.mktemp("serve")
    ms = models()
    for name, m in ms.items():
        convert(m, root / name, backends=("js", "wasm"))
    # pages of the session's one Chromium (a second sync Playwright cannot start beside it)
    yield root, ms, runners["chromium"]


def open_page(chromium, root, name):
    srv = Server(root / name, mounts={"/webdnn/": runtime_dist()}).start()
    assert add_model_page(srv)
    page = chromium.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(srv.url)
    page.wait_for_selector("body[data-state=ready]")
    return srv, page, errors


def run(page, backend):
    page.select_option("#backend", backend)
    page.click("#run")
    page.wait_for_selector("body[data-state=done], body[data-state=failed]")
    assert page.get_attribute("body", "data-state") == "done", page.inner_text("#error")


@pytest.mark.parametrize("backend", ["wasm", "js"])
def test_classifier_page_shows_top_k_of_an_npy_input(served, backend, tmp_path):
    root, ms, chromium = served
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    expected = ort.InferenceSession(ms["classifier"].SerializeToString()).run(None, {"image": x})[0].reshape(-1)
    srv, page, errors = open_page(chromium, root, "classifier")
    try:
        assert "image" in page.inner_text("#inputs") and "[1,3,16,16] float32" in page.inner_text("#inputs")
        page.set_input_files("input[data-input=image]", str(tmp_path / "x.npy"))
        page.wait_for_function("document.querySelector('#inputs').innerText.includes('x.npy')")
        run(page, backend)
        rows = page.query_selector_all("table.topk tr")[1:]
        shown = [int(r.query_selector_all("td")[1].inner_text()) for r in rows]
        assert shown == list(np.argsort(-expected)[:5])
        assert f"ran on {backend} in" in page.inner_text("#time")
        page.screenshot(path=str(tmp_path / "classifier.png"), full_page=True)
        assert (tmp_path / "classifier.png").stat().st_size > 10_000
        assert not errors, errors
    finally:
        page.close()
        srv.close()


def test_image_input_and_image_output(served, tmp_path):
    root, ms, chromium = served
    rgb = np.zeros((40, 30, 3), np.uint8)
    rgb[:, :15] = (255, 0, 0)
    rgb[:, 15:] = (0, 0, 255)
    png(tmp_path / "in.png", rgb)
    srv, page, errors = open_page(chromium, root, "painter")
    try:
        page.set_input_files("input[data-input=image]", str(tmp_path / "in.png"))
        page.wait_for_function("document.querySelector('#inputs').innerText.includes('resized to 16×16')")
        run(page, "wasm")
        canvas = page.query_selector("section.output canvas")
        assert canvas is not None and canvas.get_attribute("width") == "16"
        # the output image is not blank: its pixels differ
        spread = page.evaluate("""() => { const c = document.querySelector('section.output canvas');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let lo = 255, hi = 0;
          for (let i = 0; i < d.length; i += 4) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); } return hi - lo; }""")
        assert spread > 100
        page.screenshot(path=str(tmp_path / "painter.png"), full_page=True)
        assert not errors, errors
    finally:
        page.close()
        srv.close()


def test_numbers_for_other_outputs_and_random_inputs(served, tmp_path):
    """Without a file the inputs are random numbers; an output that is neither a class vector nor an
    image is shown as numbers with min/max/mean; a descriptor with its own index.html keeps it."""
    root, ms, chromium = served
    m = helper.make_model(helper.make_graph(
        [helper.make_node("Mul", ["a", "two"], ["b"])], "double",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(2, np.float32), "two")]), opset_imports=[helper.make_opsetid("", 13)])
    convert(m, root / "double", backends=("js",))
    srv, page, errors = open_page(chromium, root, "double")
    try:
        run(page, "js")
        text = page.inner_text("section.output")
        assert "min" in text and "mean" in text and len(page.inner_text("p.values").split(",")) == 6
        assert not errors, errors
    finally:
        page.close()
        srv.close()
    (root / "double" / "index.html").write_text("<p>own page</p>")
    own = Server(root / "double").start()
    try:
        assert not add_model_page(own)
    finally:
        own.close()
