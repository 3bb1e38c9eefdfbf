"""The ONNX importer resolves an input shape given without a name (key "") itself: the only input of
a one-input model, else one error naming the inputs; `webdnn convert --input-shape D1,...` relies on it."""
import pytest
from onnx import TensorProto, helper

from webdnn.errors import ConversionError
from webdnn.frontend.onnx import import_onnx


def model(input_names):
    nodes = [helper.make_node("Relu", [input_names[0]], ["y"])]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["n", 4]) for n in input_names]
    g = helper.make_graph(nodes, "m", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_unnamed_shape_is_the_only_input():
    g = import_onnx(model(["x"]), {"": [3, 4]})
    assert [(t.name, list(t.shape)) for t in g.inputs] == [("x", [3, 4])]


def test_unnamed_shape_needs_one_input():
    with pytest.raises(ConversionError) as e:
        import_onnx(model(["a", "b"]), {"": [3, 4]})
    assert str(e.value) == "--input-shape without a name needs a model with one input; this one has ['a', 'b']"


def test_cli_passes_an_unnamed_shape_to_the_importer(tmp_path, capsys):
    import onnx
    from webdnn.cli import main
    onnx.save(model(["x"]), tmp_path / "m.onnx")
    assert main(["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "out"), "--backend", "js",
                 "--input-shape", "2,4", "-q"]) == 0
    assert "input  x: [2, 4] float32" in capsys.readouterr().out
    onnx.save(model(["a", "b"]), tmp_path / "two.onnx")
    assert main(["convert", str(tmp_path / "two.onnx"), "-o", str(tmp_path / "out2"), "--input-shape", "2,4", "-q"]) == 2
    assert "needs a model with one input; this one has ['a', 'b']" in capsys.readouterr().err
