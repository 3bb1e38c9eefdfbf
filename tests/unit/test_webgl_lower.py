"""webgl lowering: every kernel op has a kernel family, the packing of tensors into textures, the texture
plan (activations share textures, no draw reads a texture it writes, Reshape shares its input's), fused
epilogues, program deduplication, and the refusals (symbolic sizes, oversized int64 constants)."""
import pytest
from onnx import TensorProto, helper

from tests.models import OWN_MODELS
from webdnn.backend.kernels import KERNEL_ATTRS
from webdnn.backend.webgl import lower
from webdnn.backend.webgl.lower import GENERATORS
from webdnn.backend.webgl.plan import packing
from webdnn.errors import ConversionError
from webdnn.frontend.onnx import import_onnx
from webdnn.options import ConvertOptions
from webdnn.passes.pipeline import optimize


def optimized(name):
    g = import_onnx(OWN_MODELS[name]())
    optimize(g)
    return g


def test_every_kernel_op_has_a_webgl_kernel():
    # Recurrent is unrolled into IR ops before the webgl lowering (no loop-carried state in a draw)
    missing = set(KERNEL_ATTRS) - set(GENERATORS) - {"Reshape", "Recurrent"}
    assert not missing, f"ops with a kernel table entry but no webgl kernel family: {sorted(missing)}"


def test_packing_rows_and_split_textures():
    p = packing(10, 4)
    assert (p.width, p.cap, p.parts) == (4, 16, (3,))
    p = packing(40, 4)  # 16 + 16 + 8 elements: two full 4 × 4 textures, one of 4 × 2
    assert (p.width, p.cap, p.parts) == (4, 16, (4, 4, 2))
    assert packing(0, 4096).parts == (1,)  # an empty tensor still has a texel
    assert packing(5000, 4096).parts == (2,)


def _doc(name, **options):
    return lower(optimized(name), ConvertOptions(backends=("webgl",), **options)).doc


@pytest.mark.parametrize("name", ["mini_resnet", "mini_mobilenet", "mini_segmenter"])
def test_no_draw_reads_a_texture_it_writes_and_activations_share(name):
    doc = _doc(name)
    for d in doc["draws"]:
        reads = {t for _, t in d["inputs"]}
        writes = {t for t, _ in d["outputs"]}
        assert not reads & writes, f"{d['name']} reads and writes texture(s) {reads & writes}"
    outputs = [t for d in doc["draws"] for t, _ in d["outputs"]]
    assert len(set(outputs)) < len(outputs), "activation textures are reused"
    assert len(set(doc["programs"])) == len(doc["programs"])


def test_epilogues_are_fused_into_convs():
    doc = _doc("mini_resnet")
    g = optimized("mini_resnet")
    convs = [op for op in g.ops if op.type == "Conv"]
    assert len(doc["draws"]) < len(g.ops), "elementwise epilogues have no draw of their own"
    assert sum("texelFetch" in p for p in doc["programs"]) == len(doc["programs"])
    assert len(convs) <= len(doc["draws"])


def test_reshape_shares_its_input_textures():
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [6, 4])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Reshape", ["r", "s"], ["y"]),
                           helper.make_node("Neg", ["y"], ["z"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [6, 4])], [shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    graph = import_onnx(m)
    optimize(graph)
    doc = lower(graph).doc
    assert len(doc["draws"]) == 2  # relu, neg: no copy for the reshape
    assert doc["draws"][1]["inputs"][0][1] == doc["draws"][0]["outputs"][0][0]


def test_tiny_textures_split_every_large_tensor():
    doc = _doc("mini_resnet", webgl_max_texture=32)
    assert doc["maxTextureSize"] == 32
    assert all(t["width"] <= 32 and t["height"] <= 32 for t in doc["textures"])
    multi = [p for p in doc["placement"].values() if len(p["textures"]) > 1]
    assert multi and all(p["cap"] == 1024 for p in multi)
    assert max(len(p["textures"]) for p in doc["placement"].values()) > 2


def test_refusals():
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    graph = import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), symbolic=True)
    assert any(t.is_symbolic for t in graph.inputs)
    optimize(graph)
    with pytest.raises(ConversionError, match="webgl backend does not take symbolic sizes"):
        lower(graph)
    with pytest.raises(ConversionError, match="webgl_max_texture must be an int in 2..16384"):
        ConvertOptions(webgl_max_texture=1)
