"""import_torch honours input_shapes: without example inputs it traces float32 inputs of those
shapes; with both, they must agree (one error naming the input and both shapes)."""
import pytest

torch = pytest.importorskip("torch")  # an optional dependency: `pip install 'webdnn[torch]'`
from torch import nn  # noqa: E402

from webdnn.converter import load_graph  # noqa: E402
from webdnn.errors import ConversionError  # noqa: E402
from webdnn.frontend.pytorch import import_torch  # noqa: E402


class Pair(nn.Module):
    def forward(self, image, scale):
        return torch.relu(image).mean(dim=(2, 3)) * scale


def shapes(graph):
    return {t.name: list(t.shape) for t in graph.inputs}


def test_shapes_without_example_inputs():
    g = import_torch(Pair(), None, input_shapes={"image": [2, 3, 8, 8], "scale": [2, 3]})
    assert shapes(g) == {"image": [2, 3, 8, 8], "scale": [2, 3]}
    assert all(t.dtype == "float32" for t in g.inputs)
    # through the converter's entry point, an unnamed shape for a one-input module
    g = load_graph(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)), input_shapes={"": [5, 3, 4]})
    assert shapes(g) == {"input": [5, 3, 4]}  # nn.Sequential.forward(input)


def test_shapes_agreeing_with_example_inputs():
    g = import_torch(Pair(), (torch.randn(1, 3, 4, 4), torch.randn(1, 3)), input_shapes={"scale": (1, 3)})
    assert shapes(g) == {"image": [1, 3, 4, 4], "scale": [1, 3]}


def test_shapes_disagreeing_with_example_inputs():
    with pytest.raises(ConversionError) as e:
        load_graph(Pair(), input_shapes={"image": [1, 3, 9, 9]}, example_inputs=(torch.randn(1, 3, 4, 4), torch.randn(1, 3)))
    assert str(e.value) == "input 'image': the example input has shape [1, 3, 4, 4], input_shapes gives [1, 3, 9, 9]"


def test_bad_shape_names():
    with pytest.raises(ConversionError, match=r"input_shapes name \['img'\], but the module's inputs are \['image', 'scale'\]"):
        import_torch(Pair(), None, input_shapes={"img": [1, 3, 4, 4]})
    with pytest.raises(ConversionError, match=r"no input shape for \['image'\]"):
        import_torch(Pair(), None, input_shapes={"scale": [1, 3]})
    with pytest.raises(ConversionError, match="without a name needs a module with one input"):
        import_torch(Pair(), None, input_shapes={"": [1, 3, 4, 4]})
    with pytest.raises(ConversionError, match="example inputs"):
        import_torch(Pair(), None)
