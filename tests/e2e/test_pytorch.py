"""PyTorch modules converted with webdnn.convert(module, example_inputs, out_dir) (exported through
torch.onnx, then the ONNX frontend) and run by the JavaScript runtime match torch's own output."""
import numpy as np
import pytest
import torch
from torch import nn

import webdnn
from webdnn.errors import ConversionError
from webdnn.frontend.pytorch import import_torch
from webdnn.ir import reference
from webdnn.passes.pipeline import optimize
from webdnn.runners import read_model
from webdnn.testing import compare


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=4), nn.BatchNorm2d(32), nn.Hardswish(),
            nn.Conv2d(32, 32, 1), nn.SiLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, 10))

    def forward(self, image):
        return torch.softmax(self.head(self.features(image)), dim=1)


class TransformerBlock(nn.Module):
    """Pre-norm self-attention + GELU MLP, both residual, then mean pooling and a classifier."""

    def __init__(self, d=32, heads=4):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.out = nn.Linear(d, 3)

    def forward(self, tokens, bias):
        h = self.ln1(tokens)
        x = tokens + self.attn(h, h, h, need_weights=False)[0]
        x = x + self.mlp(self.ln2(x))
        return self.out(x.mean(dim=1)) + bias, x


def randomized(module, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return module.eval()


def expected_outputs(module, args):
    with torch.no_grad():
        y = module(*args)
    return [t.numpy() for t in (y if isinstance(y, tuple) else (y,))]


def run_hosts(runners, out, feeds, expected, what):
    names = [o["name"] for o in read_model(out)["outputs"]]
    failures = []
    for host in ("node", "chromium"):
        got = runners[host].run(out, feeds, backend="js")
        for name, e in zip(names, expected):
            msg = compare(got[name], e, "js", f"{what}/{name} in {host}")
            if msg:
                failures.append(msg)
    assert not failures, "\n".join(failures)


def test_small_cnn(tmp_path, runners):
    model = randomized(SmallCNN(), 0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    expected = expected_outputs(model, (x,))
    summary = webdnn.convert(model, x, tmp_path / "cnn")
    assert [i["name"] for i in summary["inputs"]] == ["image"]  # named after forward()'s parameter
    assert model.training is False
    run_hosts(runners, tmp_path / "cnn", {"image": x.numpy()}, expected, "small_cnn")


def test_transformer_block(tmp_path, runners):
    model = randomized(TransformerBlock(), 2)
    model.train()  # convert() exports in eval mode and puts the mode back
    tokens = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(3))
    bias = torch.randn(1, 3, generator=torch.Generator().manual_seed(4))
    expected = expected_outputs(model.eval(), (tokens, bias))
    model.train()
    webdnn.convert(model, (tokens, bias), tmp_path / "block")
    assert model.training is True
    run_hosts(runners, tmp_path / "block", {"tokens": tokens.numpy(), "bias": bias.numpy()}, expected, "transformer")


class ConfidentPixels(nn.Module):
    """torch.nonzero (exported as NonZero + Transpose): a data-dependent shape, run as host steps."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, image):
        p = torch.sigmoid(self.conv(image))
        return p, torch.nonzero(p > 0.7)


def test_nonzero_runs_after_the_backend(tmp_path, runners):
    model = randomized(ConfidentPixels(), 5)
    x = torch.randn(1, 3, 6, 6, generator=torch.Generator().manual_seed(6))
    expected = expected_outputs(model, (x,))
    assert 0 < len(expected[1]) < 4 * 36
    summary = webdnn.convert(model, x, tmp_path / "nonzero")
    assert isinstance(summary["outputs"][1]["shape"][0], str) and summary["outputs"][1]["shape"][1] == 4
    run_hosts(runners, tmp_path / "nonzero", {"image": x.numpy()}, expected, "nonzero")


def test_reference_and_errors():
    """The IR itself agrees with torch (numpy references), and bad calls say what is wrong."""
    model = randomized(SmallCNN(), 5)
    x = torch.randn(1, 3, 16, 16)
    g = optimize(import_torch(model, x), verify=True)
    assert g.source["format"] == "pytorch"
    got = reference.run(g, {"image": x.numpy()})
    msg = compare(next(iter(got.values())), expected_outputs(model, (x,))[0], "reference", "small_cnn")
    assert msg is None, msg
    with pytest.raises(ConversionError, match="example inputs"):
        import_torch(model, None)
    with pytest.raises(TypeError, match="example_inputs"):
        webdnn.convert(model, x)
    with pytest.raises(ConversionError, match="torch.onnx.export failed"):
        import_torch(model, torch.randn(1, 5, 16, 16))  # wrong channel count: the trace fails
    np.testing.assert_equal(model.training, False)
