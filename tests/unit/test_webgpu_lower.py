"""webgpu lowering: every kernel op has a kernel family, fused epilogues, the buffer plan
(alignment, parts, precisions), shader deduplication and the limits a descriptor asks for."""
import numpy as np
import pytest

from tests.models import OWN_MODELS
from webdnn.backend.kernels import KERNEL_ATTRS
from webdnn.backend.lowering import lower_graph
from webdnn.backend.webgpu import lower
from webdnn.backend.webgpu.lower import FUSION, GENERATORS
from webdnn.backend.webgpu.plan import OFFSET_ALIGN
from webdnn.frontend.onnx import import_onnx
from webdnn.options import ConvertOptions
from webdnn.passes.pipeline import optimize


def optimized(name):
    g = import_onnx(OWN_MODELS[name]())
    optimize(g)
    return g


def test_every_kernel_op_has_a_webgpu_kernel():
    missing = set(KERNEL_ATTRS) - set(GENERATORS) - {"Reshape"}
    assert not missing, f"ops with a kernel table entry but no webgpu kernel family: {sorted(missing)}"


def test_conv_epilogues_are_fused():
    g = optimized("mini_resnet")
    steps = lower_graph(g, FUSION).steps
    convs = [s for s in steps if s.type == "Conv"]
    assert sum(s.epilogue is not None for s in convs) >= len(convs) - 1   # relu; + residual; relu
    assert not any(s.type == "Elementwise" for s in steps), "every Elementwise went into an epilogue"
    residual = [s for s in convs if s.epilogue is not None and len(s.epilogue.inputs) == 2
                and not any(t.is_constant for t in s.epilogue.inputs)]
    assert residual, "the residual add is fused into the conv that runs last"
    doc = lower(g).doc
    fused_away = {s.op.outputs[0].name for s in convs if s.epilogue is not None}
    assert not fused_away & set(doc["memory"]["f32"]["tensors"]), "fused intermediates get no memory"


@pytest.mark.parametrize("name", list(OWN_MODELS))
def test_plan_is_aligned_and_fits_default_limits(name):
    g = optimized(name)
    low = lower(g)
    doc, constants = low.doc, low.constants
    mem = doc["memory"]["f32"]
    for t, parts in mem["tensors"].items():
        for buf, off, nbytes in parts:
            assert off % OFFSET_ALIGN == 0 and nbytes % 4 == 0
            assert off + nbytes <= mem["buffers"][buf]["bytes"], t
    bound = {b[0] for d in doc["dispatches"] for b in d["bindings"]}
    assert bound <= set(mem["tensors"])
    assert {c.name for c in constants} <= set(mem["tensors"])
    lim = doc["limits"]
    assert lim["maxStorageBuffersPerShaderStage"] <= 8 and lim["maxComputeWorkgroupStorageSize"] <= 16384
    assert lim["maxComputeInvocationsPerWorkgroup"] <= 256
    assert len(doc["shaders"]) <= len(doc["dispatches"])
    assert all("FT" in s or "i32" in s for s in doc["shaders"])


def test_f16_has_both_plans_with_half_floats():
    g = optimized("mini_mobilenet")
    doc = lower(g, ConvertOptions(precision="f16")).doc
    assert doc["precision"] == "f16" and set(doc["memory"]) == {"f16", "f32"}
    name = g.inputs[0].name
    f16 = sum(p[2] for p in doc["memory"]["f16"]["tensors"][name])
    f32 = sum(p[2] for p in doc["memory"]["f32"]["tensors"][name])
    assert f16 * 2 == f32


def test_large_tensors_are_split_into_parts():
    g = optimized("mini_resnet")
    doc = lower(g, ConvertOptions(max_binding_bytes=1024)).doc
    mem = doc["memory"]["f32"]
    x = g.inputs[0]
    parts = mem["tensors"][x.name]
    assert len(parts) == -(-x.size // 256)
    assert all(p[2] == 1024 for p in parts[:-1])
    assert [p[1] - parts[0][1] for p in parts] == [i * 1024 for i in range(len(parts))]  # consecutive


def test_repeated_blocks_share_shaders():
    """Shapes are constants of the shaders; identical layers reuse one pipeline."""
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.ones((4, 4, 3, 3), np.float32) * 0.1, "w")
    nodes, x = [], "x"
    for i in range(4):
        nodes += [helper.make_node("Conv", [x, "w"], [f"c{i}"], pads=[1, 1, 1, 1]), helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        x = f"r{i}"
    m = helper.make_model(helper.make_graph(nodes, "rep", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                                            [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], [w]),
                          opset_imports=[helper.make_opsetid("", 13)])
    g = import_onnx(m)
    optimize(g)
    doc = lower(g).doc
    assert len(doc["dispatches"]) == 4 and len(doc["shaders"]) == 1


def test_bad_precision_is_refused():
    from webdnn.errors import ConversionError
    with pytest.raises(ConversionError, match="precision must be one of"):
        ConvertOptions(precision="f64")
