"""The shared lowered graph (backend/lowering.py): which Elementwise op joins which op as its
epilogue, where the fused step runs, and what each backend's `Fusion` capabilities change;
ConvertOptions, the one object that carries a conversion's choices to the lowerings."""
import pathlib

import numpy as np
import pytest

from webdnn.backend import LOWERERS
from webdnn.backend.lowering import Fusion, Lowered, lower_graph
from webdnn.errors import ConversionError
from webdnn.ir import Graph
from webdnn.ir.ops.elementwise import call, inp
from webdnn.options import ConvertOptions

CONV = Fusion(families=("Conv",))


def conv(g, x, cout=3, name=None):
    w = g.constant(np.ones((cout, x.shape[1], 3, 3), np.float32), f"w{len(g.ops)}")
    (y,) = g.add_op("Conv", [x, w], {"pads": [1, 1, 1, 1]}, name=name)
    return y


def ew(g, expr, inputs, name=None):
    (y,) = g.add_op("Elementwise", inputs, {"expr": expr}, name=name)
    return y


def graph_relu():
    g = Graph()
    x = g.add_input("x", [1, 2, 5, 5])
    y = conv(g, x, name="c")
    g.outputs = [ew(g, call("max", inp(0), 0), [y], name="relu")]
    return g


def test_single_consumer_elementwise_becomes_the_epilogue():
    g = graph_relu()
    (s,) = lower_graph(g, CONV).steps
    assert s.type == "Conv" and s.epilogue is g.ops[1] and s.slot == 0
    assert s.outputs == g.outputs and s.label == "Conv c + relu"
    assert all(t is not g.ops[0].outputs[0] for t in s.inputs), "the fused intermediate is no step's input"


def test_nothing_is_fused_for_a_backend_without_fusing_families():
    g = graph_relu()
    assert [s.epilogue for s in lower_graph(g).steps] == [None, None]
    assert [s.epilogue for s in lower_graph(g, Fusion(families=("MatMul",))).steps] == [None, None]


def test_not_fused_when_the_intermediate_is_needed_elsewhere():
    g = Graph()
    x = g.add_input("x", [1, 2, 5, 5])
    y = conv(g, x)
    z = ew(g, call("max", inp(0), 0), [y])
    g.outputs = [y, z]  # a graph output must be stored
    assert [s.epilogue for s in lower_graph(g, CONV).steps] == [None, None]
    g.outputs = [ew(g, call("add", inp(0), inp(1)), [z, y])]  # two consumers
    assert all(s.epilogue is None for s in lower_graph(g, CONV).steps)


def test_not_fused_when_read_twice_or_broadcast_to_another_shape():
    g = Graph()
    x = g.add_input("x", [1, 2, 5, 5])
    y = conv(g, x)
    g.outputs = [ew(g, call("mul", inp(0), inp(1)), [y, y])]  # y * y: two slots
    assert lower_graph(g, CONV).steps[0].epilogue is None
    g = Graph()
    x = g.add_input("x", [1, 2, 5, 5])
    b = g.add_input("b", [2, 3, 5, 5])
    y = conv(g, x)
    g.outputs = [ew(g, call("add", inp(0), inp(1)), [y, b])]  # output [2,3,5,5] != conv's [1,3,5,5]
    assert lower_graph(g, CONV).steps[0].epilogue is None


def test_dtype_and_read_capabilities_restrict_fusion():
    g = Graph()
    x = g.add_input("x", [1, 2, 5, 5])
    r = g.add_input("r", [1, 3, 5, 5])
    y = conv(g, x)
    g.outputs = [ew(g, call("add", inp(0), inp(1)), [y, r])]
    assert lower_graph(g, CONV).steps[0].epilogue is not None
    assert lower_graph(g, Fusion(("Conv",), dtypes=("float16",))).steps[0].epilogue is None
    seen = []
    no_r = Fusion(("Conv",), reads=lambda op, t: seen.append((op.type, t.name)) or t is not r)
    assert lower_graph(g, no_r).steps[0].epilogue is None
    assert seen == [("Conv", "r")], "asked once, about the epilogue's other input only"


def test_fused_step_runs_where_the_epilogue_was():
    """conv1 → a; x → conv2 → b; relu(a + b): of the two convs feeding the add the later takes it
    and the fused step runs at the add's place, after everything it reads."""
    g = Graph()
    x = g.add_input("x", [1, 2, 5, 5])
    a = conv(g, x, name="c1")
    m = ew(g, call("neg", inp(0)), [x], name="between")  # an op between the conv and its epilogue
    b = conv(g, m, name="c2")
    g.outputs = [ew(g, call("max", call("add", inp(0), inp(1)), 0), [a, b], name="add_relu")]
    steps = lower_graph(g, CONV).steps
    assert [s.label for s in steps] == ["Conv c1", "Elementwise between", "Conv c2 + add_relu"]
    assert steps[2].slot == 1 and a in steps[2].inputs
    produced = {id(x)}
    for s in steps:
        assert all(t.is_constant or id(t) in produced for t in s.inputs), s.label
        produced.update(id(t) for t in s.outputs)


def test_every_backend_returns_a_lowered_result():
    g = graph_relu()
    for name in ("js", "webgpu"):
        low = LOWERERS[name](g, ConvertOptions(backends=(name,)))
        assert isinstance(low, Lowered) and low.doc["backend"] == name
    assert LOWERERS["webgpu"](g).memory["planned_peak"] > 0
    assert LOWERERS["js"](g).memory is None  # the js runtime frees by liveness; no static plan


def test_convert_options_are_checked_at_once():
    assert ConvertOptions(backends="wasm").backends == ("wasm",)
    with pytest.raises(ConversionError, match="unknown backend"):
        ConvertOptions(backends=("webgl2",))
    with pytest.raises(ConversionError, match="unknown weight encoding"):
        ConvertOptions(weights="int3")
    with pytest.raises(ConversionError, match="precision must be one of"):
        ConvertOptions(precision="f64")
    with pytest.raises(TypeError, match="unknown conversion option"):
        ConvertOptions().with_(tile="big")
    assert ConvertOptions().with_(precision="f16").precision == "f16"


def test_convert_takes_options_by_object_and_by_name(tmp_path):
    """precision reaches the webgpu lowering through convert(); a named option overrides the object's."""
    import json

    from tests.models import OWN_MODELS
    from webdnn import convert
    m = OWN_MODELS["mini_mobilenet"]()
    convert(m, tmp_path / "a", ConvertOptions(backends=("webgpu",), precision="f16"))
    assert json.loads((tmp_path / "a" / "graph_webgpu.json").read_text())["precision"] == "f16"
    s = convert(m, tmp_path / "b", ConvertOptions(backends=("webgpu",), precision="f16"), precision="f32")
    assert json.loads((tmp_path / "b" / "graph_webgpu.json").read_text())["precision"] == "f32"
    assert set(s["activation_bytes"]) == {"webgpu"}
    with pytest.raises(TypeError, match="unknown conversion option"):
        convert(m, tmp_path / "c", tiles="big")


def test_no_context_variable_state():
    root = pathlib.Path(__file__).resolve().parents[2] / "webdnn"
    users = [str(p.relative_to(root)) for p in root.rglob("*.py") if "contextvars" in p.read_text()]
    assert not users, f"options travel in ConvertOptions, not context variables: {users}"


def _attention_graph(**kw):
    from tests.models import attention_block
    from webdnn.frontend.onnx import import_onnx
    from webdnn.passes.pipeline import optimize
    g = import_onnx(attention_block(**kw)[0])
    optimize(g)
    return g


def test_attention_chain_is_one_step_where_the_backend_takes_it():
    """q · kᵀ → scale + mask → Softmax(last axis) → · v: one "Attention" step reading q, k (the Transpose
    making kᵀ taken into the step), the mask and v, whose kᵀ, score and probability tensors no step stores;
    a backend that refuses the Transpose gets the step reading kᵀ; a backend without `attention` keeps the
    products, the Softmax and the fused epilogue as they were."""
    g = _attention_graph()
    took = []
    steps = lower_graph(g, Fusion(families=("MatMul",), attention=lambda a, pv: took.append(a) or True)).steps
    att = [s for s in steps if s.type == "Attention"]
    assert len(att) == 1 and len(took) == 1
    a = att[0].attention
    assert a.softmax.type == "Softmax" and a.epilogue is not None and a.scores.type == "MatMul"
    assert a.key is not None and a.key.type == "Transpose" and a.key.outputs[0] is a.scores.inputs[1]
    assert [t.name for t in att[0].inputs] == [a.scores.inputs[0].name, "k", "mask", "v"]
    assert att[0].name == a.softmax.name and att[0].outputs == att[0].op.outputs
    stored = {t.name for s in steps for t in s.outputs}
    assert not {a.scores.inputs[1].name, a.scores.outputs[0].name, a.softmax.outputs[0].name} & stored
    no_key = lower_graph(g, Fusion(families=("MatMul",), attention=lambda a, pv: a.key is None)).steps
    (att,) = [s for s in no_key if s.type == "Attention"]
    assert att.attention.key is None and "Transpose" in [s.type for s in no_key]
    assert [t.name for t in att.inputs] == [att.attention.scores.inputs[0].name, att.attention.scores.inputs[1].name, "mask", "v"]
    plain = lower_graph(g, Fusion(families=("MatMul",))).steps
    assert [s.type for s in plain].count("Softmax") == 1 and not any(s.type == "Attention" for s in plain)
    refused = lower_graph(g, Fusion(families=("MatMul",), attention=lambda a, pv: False)).steps
    assert [s.type for s in refused] == [s.type for s in plain]


def test_attention_chain_needs_single_use_intermediates_and_the_last_axis():
    g = _attention_graph(mask=False)
    sm = next(op for op in g.ops if op.type == "Softmax")
    g.outputs.append(sm.outputs[0])  # the probabilities are wanted as well: they must be stored
    yes = Fusion(families=("MatMul",), attention=lambda a, pv: True)
    assert not any(s.type == "Attention" for s in lower_graph(g, yes).steps)
    g.outputs.pop()
    assert any(s.type == "Attention" for s in lower_graph(g, yes).steps)
    sm.attrs["axis"] = 2  # not the keys' axis
    assert not any(s.type == "Attention" for s in lower_graph(g, yes).steps)
    sm.attrs["axis"] = -1
    sm.attrs["log"] = 1  # log-softmax is not a weighting
    assert not any(s.type == "Attention" for s in lower_graph(g, yes).steps)


def _layernorm_graph():
    from onnx import TensorProto, helper, numpy_helper
    from webdnn.frontend.onnx import import_onnx
    from webdnn.passes.pipeline import optimize
    inits = [numpy_helper.from_array(np.full(8, 2, np.float32), "g"), numpy_helper.from_array(np.ones(8, np.float32), "b")]
    gr = helper.make_graph([helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1)], "ln",
                           [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 8])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    g = import_onnx(helper.make_model(gr, opset_imports=[helper.make_opsetid("", 17)]))
    optimize(g)
    return g


def test_row_group_takes_a_layernorm_whole():
    """LayerNorm's reductions over the last axis and the Elementwise ops around them are one "Rows" step
    reading x, γ and β and writing y (between the Reshapes to and from rows), where the backend takes it;
    without `rows` nothing changes."""
    g = _layernorm_graph()
    seen = []
    steps = [s for s in lower_graph(g, Fusion(rows=lambda grp: seen.append(grp) or True)).steps if s.type != "Reshape"]
    assert [s.type for s in steps] == ["Rows"]
    grp = steps[0].rows
    assert [o.type for o in grp.ops].count("Reduce") == 2 and grp.output is grp.ops[-1].outputs[0] and grp.full == (5, 8)
    ins = steps[0].inputs  # x (as rows), γ and β
    assert len(ins) == 3 and sorted(t.is_constant for t in ins) == [False, True, True]
    assert "Rows" not in [s.type for s in lower_graph(g, Fusion()).steps]
    assert "Rows" not in [s.type for s in lower_graph(g, Fusion(rows=lambda grp: False)).steps]


def test_row_group_needs_private_intermediates_and_the_last_axis():
    g = _layernorm_graph()
    yes = Fusion(rows=lambda grp: True)
    mean = next(op for op in g.ops if op.type == "Reduce").outputs[0]
    g.outputs.append(mean)  # the mean is wanted too: it is stored by a Reduce of its own, the rest is a group
    types = [s.type for s in lower_graph(g, yes).steps if s.type != "Reshape"]
    assert types == ["Reduce", "Rows"], types
    g.outputs.pop()
    red = [op for op in g.ops if op.type == "Reduce"]
    for op in red:
        op.attrs["axes"] = [0]  # over the rows, not along them
    assert not any(s.type == "Rows" for s in lower_graph(g, yes).steps)
