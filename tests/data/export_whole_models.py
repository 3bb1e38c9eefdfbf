"""Define and export the small whole models the tests run (random, seeded weights):

    python tests/data/export_whole_models.py      # needs torch (pip install torch==2.13.0)

The exported .onnx files are committed, so the tests themselves need no torch.
"""
from pathlib import Path

import torch
from torch import nn
import torch.nn.functional as F

HERE = Path(__file__).parent


class Block(nn.Module):
    """Pre-norm transformer block: LayerNorm, multi-head attention (optional mask), GELU MLP."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x, bias=None):
        b, n, d = x.shape
        h = self.heads
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) * (d // h) ** -0.5
        if bias is not None:
            att = att + bias
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(y)
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    def __init__(self, dim=64, depth=2, heads=4, patch=8, img=32, classes=10):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (img // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, classes)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


class TinyBERT(nn.Module):
    def __init__(self, vocab=100, dim=64, depth=2, heads=4, seq=16):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, dim), nn.Embedding(seq, dim)
        self.norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.pool = nn.Linear(dim, dim)

    def forward(self, ids, mask):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.norm(self.tok(ids) + self.pos(pos))
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * -10000.0
        for blk in self.blocks:
            x = blk(x, bias)
        return x, torch.tanh(self.pool(x[:, 0]))


class TinyUNet(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        conv = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())  # noqa: E731
        self.d1, self.d2, self.mid = conv(3, c), conv(c, 2 * c), conv(2 * c, 4 * c)
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, 2)
        self.u2 = conv(4 * c, 2 * c)
        self.u1 = conv(3 * c, c)
        self.out = nn.Conv2d(c, 2, 1)

    def forward(self, x):
        a = self.d1(x)
        b = self.d2(F.max_pool2d(a, 2))
        m = self.mid(F.max_pool2d(b, 2))
        u = self.u2(torch.cat([self.up2(m), b], 1))
        u = F.interpolate(u, scale_factor=2, mode="bilinear", align_corners=False)
        return self.out(self.u1(torch.cat([u, a], 1)))


class SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))


class InvertedResidual(nn.Module):
    def __init__(self, i, e, o, k, s, se):
        super().__init__()
        self.use_res = s == 1 and i == o
        layers = [nn.Conv2d(i, e, 1, bias=False), nn.BatchNorm2d(e), nn.Hardswish(),
                  nn.Conv2d(e, e, k, s, k // 2, groups=e, bias=False), nn.BatchNorm2d(e), nn.Hardswish()]
        if se:
            layers.append(SE(e))
        layers += [nn.Conv2d(e, o, 1, bias=False), nn.BatchNorm2d(o)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_res else y


class TinyMobileNetV3(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish())
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 16, 3, 2, True), InvertedResidual(16, 64, 24, 3, 2, False),
                                    InvertedResidual(24, 72, 24, 3, 1, False), InvertedResidual(24, 96, 40, 5, 2, True),
                                    InvertedResidual(40, 120, 40, 5, 1, True))
        self.head = nn.Sequential(nn.Conv2d(40, 96, 1), nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(96, 128), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(128, classes))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def randomize_bn(model):
    """Non-trivial running statistics, so BatchNorm folding is really exercised."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


MODELS = {
    "tiny_vit": (TinyViT, lambda: (torch.randn(1, 3, 32, 32),), ["image"], ["logits"]),
    "tiny_bert": (TinyBERT, lambda: (torch.randint(0, 100, (2, 16)), torch.tensor([[1] * 16, [1] * 10 + [0] * 6])),
                  ["input_ids", "attention_mask"], ["hidden", "pooled"]),
    "tiny_unet": (TinyUNet, lambda: (torch.randn(1, 3, 32, 32),), ["image"], ["mask"]),
    "tiny_mobilenetv3": (TinyMobileNetV3, lambda: (torch.randn(1, 3, 64, 64),), ["image"], ["logits"]),
}


def main():
    for name, (cls, inputs, in_names, out_names) in MODELS.items():
        torch.manual_seed(0)
        model = cls().eval()
        randomize_bn(model)
        path = HERE / f"{name}.onnx"
        torch.onnx.export(model, inputs(), str(path), input_names=in_names, output_names=out_names,
                          opset_version=17, dynamo=False)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
