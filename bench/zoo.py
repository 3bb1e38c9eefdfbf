"""The benchmark's torch-defined models, written out from their papers and reference code (no
torchvision, nothing downloaded): each is a torch.nn.Module with random weights, exported to
ONNX (opset 17) by torch.onnx's TorchScript exporter, which needs no extra packages.

Weights: convolutions and linear layers are drawn from N(0, 1/fan_in); BatchNorm statistics are
measured on one random input (so every BN output is about unit variance, as in a trained net);
layer scales, position embeddings and attention biases get magnitudes like trained ones, not their
near-zero initial values, so that every branch of the graph moves the output.

One file for all of them (past the usual ~600 lines): the families share their building blocks
(ConvBN, InvertedResidual, Attention, PreNormBlock), and each model is one short section.
"""
from __future__ import annotations

import io
import itertools
import math
import warnings

import onnx
import torch
import torch.nn.functional as F
from torch import nn


def make_divisible(v, d=8):
    """torchvision's _make_divisible: round to a multiple of d, never below 90 % of v."""
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


class ConvBN(nn.Sequential):
    """Conv2d (no bias) + BatchNorm2d + optional activation, 'same' padding for odd kernels."""

    def __init__(self, cin, cout, k=1, s=1, groups=1, act=nn.ReLU, pad=None, eps=1e-5):
        pad = (k - 1) // 2 if pad is None else pad
        layers = [nn.Conv2d(cin, cout, k, s, pad, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=eps)]
        super().__init__(*layers, *([act()] if act else []))


class SE(nn.Module):
    """Squeeze-and-excitation: global pool, 1x1 reduce, act, 1x1 expand, gate, scale."""

    def __init__(self, c, sq, act=nn.ReLU, gate=nn.Hardsigmoid):
        super().__init__()
        self.fc1, self.fc2, self.act, self.gate = nn.Conv2d(c, sq, 1), nn.Conv2d(sq, c, 1), act(), gate()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


class InvertedResidual(nn.Module):
    """MBConv (MobileNetV2/V3, EfficientNet, MobileViT's MV2): expand 1x1, depthwise kxk, SE, project."""

    def __init__(self, cin, exp, cout, k=3, s=1, act=nn.ReLU, se=0, se_act=nn.ReLU, gate=nn.Hardsigmoid, eps=1e-5):
        super().__init__()
        layers = [ConvBN(cin, exp, 1, act=act, eps=eps)] if exp != cin else []
        layers.append(ConvBN(exp, exp, k, s, groups=exp, act=act, eps=eps))
        if se:
            layers.append(SE(exp, se, se_act, gate))
        layers.append(ConvBN(exp, cout, 1, act=None, eps=eps))
        self.block, self.res = nn.Sequential(*layers), s == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.res else self.block(x)


class Classifier(nn.Module):
    """features -> global average pool -> flatten -> head."""

    def __init__(self, features, head, flatten=True):
        super().__init__()
        self.features, self.head, self.flatten = features, head, flatten

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.head(torch.flatten(x, 1) if self.flatten else x)


# ---------------------------------------------------------------- Inception v3 (Szegedy et al. 2016)

def _bc(cin, cout, k, s=1, p=0):
    return ConvBN(cin, cout, k, s, pad=p, eps=1e-3)


class _Branches(nn.ModuleList):
    """Runs each branch on the input and concatenates the results along channels."""

    def forward(self, x):
        return torch.cat([b(x) for b in self], 1)


class _PoolThen(nn.Module):
    """An Inception pool branch: 3x3 average pool (stride 1, padding counted), then a 1x1 conv."""

    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return self.conv(F.avg_pool2d(x, 3, 1, 1))


class _InceptionE(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.b1 = _bc(cin, 320, 1)
        self.b3, self.b3a, self.b3b = _bc(cin, 384, 1), _bc(384, 384, (1, 3), p=(0, 1)), _bc(384, 384, (3, 1), p=(1, 0))
        self.bd = nn.Sequential(_bc(cin, 448, 1), _bc(448, 384, 3, p=1))
        self.bda, self.bdb = _bc(384, 384, (1, 3), p=(0, 1)), _bc(384, 384, (3, 1), p=(1, 0))
        self.bp = _bc(cin, 192, 1)

    def forward(self, x):
        b3, bd = self.b3(x), self.bd(x)
        return torch.cat([self.b1(x), self.b3a(b3), self.b3b(b3), self.bda(bd), self.bdb(bd),
                          self.bp(F.avg_pool2d(x, 3, 1, 1))], 1)


def inception_v3():
    """torchvision's layout (no auxiliary head at inference), 299x299."""
    def a(cin, pool):
        return _Branches([_bc(cin, 64, 1), nn.Sequential(_bc(cin, 48, 1), _bc(48, 64, 5, p=2)),
                          nn.Sequential(_bc(cin, 64, 1), _bc(64, 96, 3, p=1), _bc(96, 96, 3, p=1)),
                          _PoolThen(_bc(cin, pool, 1))])

    def c(cin, c7):
        return _Branches([_bc(cin, 192, 1),
                          nn.Sequential(_bc(cin, c7, 1), _bc(c7, c7, (1, 7), p=(0, 3)), _bc(c7, 192, (7, 1), p=(3, 0))),
                          nn.Sequential(_bc(cin, c7, 1), _bc(c7, c7, (7, 1), p=(3, 0)), _bc(c7, c7, (1, 7), p=(0, 3)),
                                        _bc(c7, c7, (7, 1), p=(3, 0)), _bc(c7, 192, (1, 7), p=(0, 3))),
                          _PoolThen(_bc(cin, 192, 1))])

    b = _Branches([_bc(288, 384, 3, 2), nn.Sequential(_bc(288, 64, 1), _bc(64, 96, 3, p=1), _bc(96, 96, 3, 2)),
                   nn.MaxPool2d(3, 2)])
    d = _Branches([nn.Sequential(_bc(768, 192, 1), _bc(192, 320, 3, 2)),
                   nn.Sequential(_bc(768, 192, 1), _bc(192, 192, (1, 7), p=(0, 3)), _bc(192, 192, (7, 1), p=(3, 0)),
                                 _bc(192, 192, 3, 2)), nn.MaxPool2d(3, 2)])
    features = nn.Sequential(_bc(3, 32, 3, 2), _bc(32, 32, 3), _bc(32, 64, 3, p=1), nn.MaxPool2d(3, 2),
                             _bc(64, 80, 1), _bc(80, 192, 3), nn.MaxPool2d(3, 2),
                             a(192, 32), a(256, 64), a(288, 64), b, c(768, 128), c(768, 160), c(768, 160),
                             c(768, 192), d, _InceptionE(1280), _InceptionE(2048))
    return Classifier(features, nn.Sequential(nn.Dropout(0.5), nn.Linear(2048, 1000)))


# ---------------------------------------------------------------- mobile CNNs

def mobilenet_v3_small():
    """Howard et al. 2019, torchvision's layout: hardswish, SE with hardsigmoid gates, BN eps 1e-3."""
    hs, re = nn.Hardswish, nn.ReLU
    layers, cin = [ConvBN(3, 16, 3, 2, act=hs, eps=1e-3)], 16
    for k, exp, cout, se, act, s in [(3, 16, 16, 1, re, 2), (3, 72, 24, 0, re, 2), (3, 88, 24, 0, re, 1),
                                     (5, 96, 40, 1, hs, 2), (5, 240, 40, 1, hs, 1), (5, 240, 40, 1, hs, 1),
                                     (5, 120, 48, 1, hs, 1), (5, 144, 48, 1, hs, 1), (5, 288, 96, 1, hs, 2),
                                     (5, 576, 96, 1, hs, 1), (5, 576, 96, 1, hs, 1)]:
        layers.append(InvertedResidual(cin, exp, cout, k, s, act, make_divisible(exp // 4) if se else 0, eps=1e-3))
        cin = cout
    layers.append(ConvBN(96, 576, 1, act=hs, eps=1e-3))
    return Classifier(nn.Sequential(*layers),
                      nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(1024, 1000)))


def efficientnet_b0():
    """Tan & Le 2019 (torchvision's layout): MBConv with SiLU, SE squeezing to in/4 with sigmoid gates."""
    layers, cin = [ConvBN(3, 32, 3, 2, act=nn.SiLU)], 32
    for t, k, s, cout, n in [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                             (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]:
        for i in range(n):
            layers.append(InvertedResidual(cin, cin * t, cout, k, s if i == 0 else 1, nn.SiLU, max(1, cin // 4),
                                           nn.SiLU, nn.Sigmoid))
            cin = cout
    layers.append(ConvBN(320, 1280, 1, act=nn.SiLU))
    return Classifier(nn.Sequential(*layers), nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000)))


class _ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, s):
        super().__init__()
        bf = cout // 2
        self.branch1 = (nn.Sequential(ConvBN(cin, cin, 3, s, groups=cin, act=None), ConvBN(cin, bf, 1))
                        if s > 1 else None)
        self.branch2 = nn.Sequential(ConvBN(cin if s > 1 else bf, bf, 1), ConvBN(bf, bf, 3, s, groups=bf, act=None),
                                     ConvBN(bf, bf, 1))

    def forward(self, x):
        if self.branch1 is None:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat([x1, self.branch2(x2)], 1)
        else:
            out = torch.cat([self.branch1(x), self.branch2(x)], 1)
        b, c, h, w = out.shape  # channel shuffle, 2 groups
        return out.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


def shufflenet_v2():
    """ShuffleNetV2 x1.0 (Ma et al. 2018, torchvision's layout): channel split, shuffle of 2 groups."""
    layers, cin = [ConvBN(3, 24, 3, 2), nn.MaxPool2d(3, 2, 1)], 24
    for n, cout in [(4, 116), (8, 232), (4, 464)]:
        layers += [_ShuffleUnit(cin if i == 0 else cout, cout, 2 if i == 0 else 1) for i in range(n)]
        cin = cout
    layers.append(ConvBN(464, 1024, 1))
    return Classifier(nn.Sequential(*layers), nn.Linear(1024, 1000))


class _GhostModule(nn.Module):
    """Half the channels from a 1x1 conv, the other half from a cheap 3x3 depthwise conv of those."""

    def __init__(self, cin, cout, relu=True):
        super().__init__()
        init = math.ceil(cout / 2)
        act = nn.ReLU if relu else None
        self.cout = cout
        self.primary, self.cheap = ConvBN(cin, init, 1, act=act), ConvBN(init, init, 3, groups=init, act=act)

    def forward(self, x):
        y = self.primary(x)
        return torch.cat([y, self.cheap(y)], 1)[:, :self.cout]


class _GhostBottleneck(nn.Module):
    def __init__(self, cin, mid, cout, k, s, se):
        super().__init__()
        self.body = nn.Sequential(_GhostModule(cin, mid),
                                  *([ConvBN(mid, mid, k, s, groups=mid, act=None)] if s > 1 else []),
                                  *([SE(mid, make_divisible(mid * se, 4))] if se else []),  # gate relu6(x + 3) / 6
                                  _GhostModule(mid, cout, relu=False))
        self.short = None if cin == cout and s == 1 else nn.Sequential(
            ConvBN(cin, cin, k, s, groups=cin, act=None), ConvBN(cin, cout, 1, act=None))

    def forward(self, x):
        return self.body(x) + (x if self.short is None else self.short(x))


def ghostnet():
    """GhostNet 1.0x (Han et al. 2020, the authors' layout): ghost bottlenecks, SE on some stages."""
    layers, cin = [ConvBN(3, 16, 3, 2)], 16
    for k, exp, cout, se, s in [(3, 16, 16, 0, 1), (3, 48, 24, 0, 2), (3, 72, 24, 0, 1), (5, 72, 40, .25, 2),
                                (5, 120, 40, .25, 1), (3, 240, 80, 0, 2), (3, 200, 80, 0, 1), (3, 184, 80, 0, 1),
                                (3, 184, 80, 0, 1), (3, 480, 112, .25, 1), (3, 672, 112, .25, 1),
                                (5, 672, 160, .25, 2), (5, 960, 160, 0, 1), (5, 960, 160, .25, 1),
                                (5, 960, 160, 0, 1), (5, 960, 160, .25, 1)]:
        layers.append(_GhostBottleneck(cin, exp, cout, k, s, se))
        cin = cout
    layers.append(ConvBN(160, 960, 1))
    # conv_head: a 1x1 conv with bias on the pooled features, then ReLU and the classifier
    return Classifier(nn.Sequential(*layers), nn.Sequential(nn.Conv2d(960, 1280, 1), nn.ReLU(), nn.Flatten(),
                                                            nn.Dropout(0.2), nn.Linear(1280, 1000)), flatten=False)


# ---------------------------------------------------------------- ConvNeXt (Liu et al. 2022)

class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of NCHW, written out as the paper's code does it."""

    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c)), eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class _ConvNeXtBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1, self.act, self.pw2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))  # layer scale

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.gamma * self.pw2(self.act(self.pw1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    def __init__(self, depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)):
        super().__init__()
        self.down = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0]))] + [
            nn.Sequential(LayerNorm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, 2)) for i in range(3)])
        self.stages = nn.ModuleList(nn.Sequential(*[_ConvNeXtBlock(d) for _ in range(n)]) for n, d in zip(depths, dims))
        self.norm, self.head = nn.LayerNorm(dims[-1], eps=1e-6), nn.Linear(dims[-1], 1000)

    def forward(self, x):
        for down, stage in zip(self.down, self.stages):
            x = stage(down(x))
        return self.head(self.norm(x.mean([-2, -1])))


# ---------------------------------------------------------------- transformers

class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (timm's layout); optional additive bias."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x, bias=None):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        att = (q * self.scale) @ k.transpose(-2, -1)
        if bias is not None:
            att = att + bias
        return self.proj((att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


def mlp(dim, hidden, act=nn.GELU):
    return nn.Sequential(nn.Linear(dim, hidden), act(), nn.Linear(hidden, dim))


class PreNormBlock(nn.Module):
    """x + attn(LN(x)); x + mlp(LN(x))  (ViT, DeiT, MobileViT's transformer)."""

    def __init__(self, dim, heads, hidden, act=nn.GELU, eps=1e-6):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=eps), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim, eps=eps), mlp(dim, hidden, act)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DeiT(nn.Module):
    """DeiT-Tiny (Touvron et al. 2021) = ViT-Ti/16: patch 16, dim 192, 12 blocks, 3 heads, class token."""

    def __init__(self, dim=192, depth=12, heads=3, img=224, patch=16):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, (img // patch) ** 2 + 1, dim) * 0.5)
        self.blocks = nn.Sequential(*[PreNormBlock(dim, heads, 4 * dim) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 1000)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


def _windows(x, ws):  # (B, H, W, C) -> (B * nW, ws * ws, C)
    b, h, w, c = x.shape
    return x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)


def _unwindows(x, ws, h, w):  # (B * nW, ws * ws, C) -> (B, H, W, C)
    c = x.shape[-1]
    return x.view(-1, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


class _SwinBlock(nn.Module):
    """Window attention with a relative position bias; every other block shifts the windows by ws/2
    (torch.roll) and masks attention between pieces that the shift brought together."""

    def __init__(self, dim, res, heads, ws, shift):
        super().__init__()
        if res <= ws:
            ws, shift = res, 0
        self.res, self.ws, self.shift = res, ws, shift
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), mlp(dim, 4 * dim)
        self.table = nn.Parameter(torch.randn((2 * ws - 1) ** 2, heads) * 0.5)
        coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (ws - 1)
        self.register_buffer("index", rel[:, :, 0] * (2 * ws - 1) + rel[:, :, 1], persistent=False)
        mask = None
        if shift:
            img = torch.zeros(1, res, res, 1)
            cnt = 0
            for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                    img[:, hs, wsl, :] = cnt
                    cnt += 1
            mw = _windows(img, ws).squeeze(-1)
            mask = (mw[:, None, :] - mw[:, :, None]).ne(0).float() * -100.0  # (nW, N, N)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        b, L, c = x.shape
        h, ws, s = self.res, self.ws, self.shift
        y = self.norm1(x).view(b, h, h, c)
        if s:
            y = torch.roll(y, (-s, -s), (1, 2))
        y = _windows(y, ws)
        n = ws * ws
        bias = self.table[self.index.reshape(-1)].view(n, n, -1).permute(2, 0, 1).unsqueeze(0)  # (1, heads, N, N)
        if self.mask is not None:
            bias = (bias + self.mask.unsqueeze(1)).repeat(b, 1, 1, 1)  # (b * nW, heads, N, N)
        y = _unwindows(self.attn(y, bias), ws, h, h)
        if s:
            y = torch.roll(y, (s, s), (1, 2))
        x = x + y.reshape(b, L, c)
        return x + self.mlp(self.norm2(x))


class _PatchMerging(nn.Module):
    def __init__(self, dim, res):
        super().__init__()
        self.res, self.norm, self.reduction = res, nn.LayerNorm(4 * dim), nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):
        b, _, c = x.shape
        x = x.view(b, self.res, self.res, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class Swin(nn.Module):
    """Swin-T (Liu et al. 2021): patch 4, dim 96, depths 2-2-6-2, heads 3-6-12-24, window 7, 224x224."""

    def __init__(self, dim=96, depths=(2, 2, 6, 2), heads=(3, 6, 12, 24), ws=7, img=224):
        super().__init__()
        self.patch, self.patch_norm = nn.Conv2d(3, dim, 4, 4), nn.LayerNorm(dim)
        layers, res = [], img // 4
        for i, (n, h) in enumerate(zip(depths, heads)):
            d = dim * 2 ** i
            layers += [_SwinBlock(d, res, h, ws, 0 if j % 2 == 0 else ws // 2) for j in range(n)]
            if i < len(depths) - 1:
                layers.append(_PatchMerging(d, res))
                res //= 2
        self.layers = nn.Sequential(*layers)
        self.norm, self.head = nn.LayerNorm(dim * 8), nn.Linear(dim * 8, 1000)

    def forward(self, x):
        x = self.patch_norm(self.patch(x).flatten(2).transpose(1, 2))
        return self.head(self.norm(self.layers(x)).mean(1))


# ---------------------------------------------------------------- hybrids

class _MobileViTBlock(nn.Module):
    """Local 3x3 conv, 1x1 to d; unfold 2x2 patches into P=4 sequences of N tokens; transformer
    (pre-norm, SiLU FFN of 2d); fold back; 1x1 to C; concat with the input; 3x3 fusion conv."""

    def __init__(self, c, d, depth, heads=4):
        super().__init__()
        self.local = nn.Sequential(ConvBN(c, c, 3, act=nn.SiLU), nn.Conv2d(c, d, 1, bias=False))
        self.transformer = nn.Sequential(*[PreNormBlock(d, heads, 2 * d, nn.SiLU, eps=1e-5) for _ in range(depth)],
                                         nn.LayerNorm(d))
        self.proj, self.fusion = ConvBN(d, c, 1, act=nn.SiLU), ConvBN(2 * c, c, 3, act=nn.SiLU)

    def forward(self, x):
        y = self.local(x)
        b, d, h, w = y.shape
        nh, nw = h // 2, w // 2
        y = y.reshape(b * d * nh, 2, nw, 2).transpose(1, 2).reshape(b, d, nh * nw, 4).transpose(1, 3)
        y = self.transformer(y.reshape(b * 4, nh * nw, d))
        y = y.contiguous().view(b, 4, nh * nw, d).transpose(1, 3)
        y = y.reshape(b * d * nh, nw, 2, 2).transpose(1, 2).reshape(b, d, h, w)
        return self.fusion(torch.cat([x, self.proj(y)], 1))


def mobilevit_s():
    """MobileViT-S (Mehta & Rastegari 2022, ml-cvnets' layout), 256x256."""
    def mv2(cin, cout, s=1):
        return InvertedResidual(cin, make_divisible(cin * 4), cout, 3, s, nn.SiLU)

    features = nn.Sequential(ConvBN(3, 16, 3, 2, act=nn.SiLU), mv2(16, 32),
                             mv2(32, 64, 2), mv2(64, 64), mv2(64, 64),
                             mv2(64, 96, 2), _MobileViTBlock(96, 144, 2),
                             mv2(96, 128, 2), _MobileViTBlock(128, 192, 4),
                             mv2(128, 160, 2), _MobileViTBlock(160, 240, 3),
                             ConvBN(160, 640, 1, act=nn.SiLU))
    return Classifier(features, nn.Sequential(nn.Dropout(0.1), nn.Linear(640, 1000)))


class _Meta4D(nn.Module):
    """EfficientFormer's conv block: x + ls1 * (avgpool3(x) - x); x + ls2 * BN-MLP of 1x1 convs."""

    def __init__(self, dim):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.mlp = nn.Sequential(nn.Conv2d(dim, 4 * dim, 1), nn.BatchNorm2d(4 * dim), nn.GELU(),
                                 nn.Conv2d(4 * dim, dim, 1), nn.BatchNorm2d(dim))
        self.ls1, self.ls2 = nn.Parameter(torch.empty(dim, 1, 1)), nn.Parameter(torch.empty(dim, 1, 1))

    def forward(self, x):
        x = x + self.ls1 * (self.pool(x) - x)
        return x + self.ls2 * self.mlp(x)


class _EFAttention(nn.Module):
    """LeViT-style attention: 8 heads, key dim 32, value dim 128, a learned bias per head and
    per (|dy|, |dx|) offset on the 7x7 grid."""

    def __init__(self, dim, key=32, heads=8, ratio=4, res=7):
        super().__init__()
        self.heads, self.key, self.d, self.scale = heads, key, ratio * key, key ** -0.5
        self.qkv, self.proj = nn.Linear(dim, heads * (2 * key + ratio * key)), nn.Linear(heads * ratio * key, dim)
        pts = list(itertools.product(range(res), range(res)))
        offsets, idx = {}, []
        for p in pts:
            for q in pts:
                idx.append(offsets.setdefault((abs(p[0] - q[0]), abs(p[1] - q[1])), len(offsets)))
        self.biases = nn.Parameter(torch.randn(heads, len(offsets)) * 0.5)
        self.register_buffer("idx", torch.tensor(idx).view(len(pts), len(pts)), persistent=False)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, self.heads, -1).permute(0, 2, 1, 3).split([self.key, self.key, self.d], 3)
        att = (q @ k.transpose(-2, -1)) * self.scale + self.biases[:, self.idx]
        return self.proj((att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, self.heads * self.d))


class _Meta3D(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), _EFAttention(dim)
        self.norm2, self.mlp = nn.LayerNorm(dim), mlp(dim, 4 * dim)
        self.ls1, self.ls2 = nn.Parameter(torch.empty(dim)), nn.Parameter(torch.empty(dim))

    def forward(self, x):
        x = x + self.ls1 * self.attn(self.norm1(x))
        return x + self.ls2 * self.mlp(self.norm2(x))


class EfficientFormer(nn.Module):
    """EfficientFormer-L1 (Li et al. 2022): conv stem, 4D pooling blocks in 4 stages (48-96-224-448,
    depths 3-2-6-4), the last block of the last stage a 3D attention block; distillation head."""

    def __init__(self, depths=(3, 2, 6, 4), dims=(48, 96, 224, 448), vit=1):
        super().__init__()
        layers = [ConvBN(3, dims[0] // 2, 3, 2), ConvBN(dims[0] // 2, dims[0], 3, 2)]
        for i, (n, d) in enumerate(zip(depths, dims)):
            if i:
                layers.append(ConvBN(dims[i - 1], d, 3, 2, act=None))
            layers += [_Meta4D(d) for _ in range(n - (vit if i == 3 else 0))]
        layers.append(nn.Flatten(2))
        self.conv = nn.Sequential(*layers)
        self.vit = nn.Sequential(*[_Meta3D(dims[-1]) for _ in range(vit)])
        self.norm = nn.LayerNorm(dims[-1])
        self.head, self.dist_head = nn.Linear(dims[-1], 1000), nn.Linear(dims[-1], 1000)

    def forward(self, x):
        x = self.norm(self.vit(self.conv(x).transpose(1, 2))).mean(1)
        return (self.head(x) + self.dist_head(x)) / 2


# ---------------------------------------------------------------- text

class _BertLayer(nn.Module):
    """Post-norm encoder layer: separate q/k/v projections, GELU (erf) feed-forward."""

    def __init__(self, h, heads, inter):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(h, eps=1e-12), nn.LayerNorm(h, eps=1e-12)
        self.inter, self.act, self.out = nn.Linear(h, inter), nn.GELU(), nn.Linear(inter, h)

    def forward(self, x, bias):
        b, s, h = x.shape
        split = lambda t: t.view(b, s, self.heads, h // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(h // self.heads) + bias
        ctx = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, s, h)
        x = self.ln1(x + self.o(ctx))
        return self.ln2(x + self.out(self.act(self.inter(x))))


class Bert(nn.Module):
    """A BERT-style encoder (Devlin et al. 2019) at BERT-small shapes (Turc et al. 2019): hidden 512,
    4 layers, 8 heads, intermediate 2048, WordPiece vocabulary 30522, 512 positions; outputs the
    last hidden state and the tanh pooler."""

    def __init__(self, vocab=30522, h=512, layers=4, heads=8, inter=2048, positions=512):
        super().__init__()
        self.word, self.position = nn.Embedding(vocab, h), nn.Embedding(positions, h)
        self.token_type = nn.Embedding(2, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList(_BertLayer(h, heads, inter) for _ in range(layers))
        self.pooler = nn.Linear(h, h)

    def forward(self, input_ids, attention_mask):
        # position ids from the input's own shape, as an export with a dynamic sequence axis has them
        pos = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.word(input_ids) + self.position(pos) + self.token_type(torch.zeros_like(input_ids))
        x = self.ln(x)
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return x, torch.tanh(self.pooler(x[:, 0]))


class SpeechLSTM(nn.Module):
    """A 2-layer LSTM (hidden 256) over 80 log-mel features per frame, per-frame logits over 29
    characters (a CTC acoustic model), batch-first; exported as two ONNX LSTM ops."""

    def __init__(self, feats=80, hidden=256, layers=2, classes=29):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(feats, hidden, layers, batch_first=True), nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


class _GPT2Block(nn.Module):
    """Pre-norm decoder block with a key/value cache: attends to the cached keys/values of the
    earlier tokens and its own; returns the block output and the grown cache."""

    def __init__(self, h, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(h), nn.LayerNorm(h)
        self.qkv, self.proj = nn.Linear(h, 3 * h), nn.Linear(h, h)
        self.fc, self.out = nn.Linear(h, 4 * h), nn.Linear(4 * h, h)

    def forward(self, x, past_k, past_v, allowed):
        b, s, h = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(h, dim=-1)
        split = lambda t: t.view(b, s, self.heads, h // self.heads).transpose(1, 2)  # noqa: E731
        k = torch.cat([past_k, split(k)], dim=2)
        v = torch.cat([past_v, split(v)], dim=2)
        att = (split(q) @ k.transpose(-1, -2)) / math.sqrt(h // self.heads)
        att = att.masked_fill(~allowed, -1e9).softmax(-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, s, h))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh")), k, v


class GPT2(nn.Module):
    """A GPT-2-style decoder (Radford et al. 2019) with a key/value cache, as exported for generation:
    inputs the new tokens and each layer's cached keys and values (length `past`, 0 at the first step),
    outputs the next-token logits and the grown caches (`present`). Positions continue from `past`;
    a token sees the cache and the new tokens up to itself (causal)."""

    def __init__(self, vocab=50257, h=768, layers=12, heads=12, positions=1024):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, h), nn.Embedding(positions, h)
        self.blocks = nn.ModuleList(_GPT2Block(h, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(h)
        self.head = nn.Linear(h, vocab, bias=False)

    def forward(self, input_ids, *past):
        s, p = input_ids.shape[1], past[0].shape[2]
        pos = torch.arange(p, p + s).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(pos)
        # query i (at position p + i) sees keys 0 .. p + i
        allowed = torch.arange(p + s).unsqueeze(0) <= (torch.arange(s) + p).unsqueeze(1)
        present = []
        for i, block in enumerate(self.blocks):
            x, k, v = block(x, past[2 * i], past[2 * i + 1], allowed)
            present += [k, v]
        return (self.head(self.ln(x)), *present)


def gpt2_export(model: GPT2, past: int = 3, seq: int = 2, seed: int = 18) -> onnx.ModelProto:
    """GPT2 exported with open batch, sequence and cache lengths: inputs input_ids [batch, seq],
    past_key_<i> / past_value_<i> [batch, heads, past, head dim]; outputs logits and present_*."""
    torch.manual_seed(seed)
    heads, hd = model.blocks[0].heads, model.wte.embedding_dim // model.blocks[0].heads
    ids = torch.randint(0, model.wte.num_embeddings, (1, seq))
    pasts = [torch.randn(1, heads, past, hd) for _ in range(2 * len(model.blocks))]
    kv = [f"past_{kind}_{i}" for i in range(len(model.blocks)) for kind in ("key", "value")]
    present = [n.replace("past", "present") for n in kv]
    axes = {"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"},
            **{n: {0: "batch", 2: "past"} for n in kv}, **{n: {0: "batch", 2: "total"} for n in present}}
    return export(model, [ids, *pasts], ["input_ids", *kv], ["logits", *present], seed, dynamic_axes=axes)


def gpt2_decode(past: int = 127, seed: int = 19) -> onnx.ModelProto:
    """One generation step of a small GPT-2-style decoder (4 layers of 512, 8 heads, a vocabulary of 8192):
    one new token against a key/value cache of `past` positions, fixed shapes: what a browser runs per
    token of a language model (products of one row: every weight read once per token)."""
    model = GPT2(vocab=8192, h=512, layers=4, heads=8, positions=256)
    torch.manual_seed(seed)
    ids = torch.randint(0, 8192, (1, 1))
    pasts = [torch.randn(1, 8, past, 64) for _ in range(8)]
    kv = [f"past_{kind}_{i}" for i in range(4) for kind in ("key", "value")]
    return export(model, [ids, *pasts], ["input_ids", *kv], ["logits", *(n.replace("past", "present") for n in kv)], seed)


# ---------------------------------------------------------------- detection, segmentation

class _C2f(nn.Module):
    """YOLOv8's CSP block: 1x1 to 2c, split, n bottlenecks on the second half, concat all, 1x1."""

    def __init__(self, cin, cout, n, shortcut):
        super().__init__()
        c = cout // 2
        self.cv1, self.cv2 = ConvBN(cin, 2 * c, 1, act=nn.SiLU), ConvBN((2 + n) * c, cout, 1, act=nn.SiLU)
        self.m = nn.ModuleList(nn.Sequential(ConvBN(c, c, 3, act=nn.SiLU), ConvBN(c, c, 3, act=nn.SiLU))
                               for _ in range(n))
        self.shortcut = shortcut

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(y[-1] + m(y[-1]) if self.shortcut else m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class _SPPF(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cv1, self.cv2 = ConvBN(c, c // 2, 1, act=nn.SiLU), ConvBN(2 * c, c, 1, act=nn.SiLU)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(F.max_pool2d(y[-1], 5, 1, 2))
        return self.cv2(torch.cat(y, 1))


class YOLOv8(nn.Module):
    """YOLOv8n (Ultralytics 2023; width 0.25, depth 0.33): C2f backbone + SPPF, PAN neck with nearest
    upsampling and concat, decoupled anchor-free head with DFL (16 bins); the output is the decoded
    (1, 4 + 80, anchors) tensor before NMS: boxes as cx, cy, w, h in pixels, class sigmoids."""

    def __init__(self, img=416, nc=80, reg_max=16, dynamic=False):
        super().__init__()
        # dynamic: anchors from the feature maps' own sizes in forward() (as an export for any image
        # size computes them), else buffers for `img`
        self.dynamic = dynamic
        cbs = lambda i, o, s=1: ConvBN(i, o, 3, s, act=nn.SiLU)  # noqa: E731
        self.b1 = nn.Sequential(cbs(3, 16, 2), cbs(16, 32, 2), _C2f(32, 32, 1, True), cbs(32, 64, 2),
                                _C2f(64, 64, 2, True))
        self.b2 = nn.Sequential(cbs(64, 128, 2), _C2f(128, 128, 2, True))
        self.b3 = nn.Sequential(cbs(128, 256, 2), _C2f(256, 256, 1, True), _SPPF(256))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.n1, self.n2 = _C2f(384, 128, 1, False), _C2f(192, 64, 1, False)
        self.d1, self.n3 = cbs(64, 64, 2), _C2f(192, 128, 1, False)
        self.d2, self.n4 = cbs(128, 128, 2), _C2f(384, 256, 1, False)
        c2, c3 = max(16, 64 // 4, reg_max * 4), max(64, min(nc, 100))
        self.box = nn.ModuleList(nn.Sequential(cbs(c, c2), cbs(c2, c2), nn.Conv2d(c2, 4 * reg_max, 1))
                                 for c in (64, 128, 256))
        self.cls = nn.ModuleList(nn.Sequential(cbs(c, c3), cbs(c3, c3), nn.Conv2d(c3, nc, 1)) for c in (64, 128, 256))
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        self.nc, self.reg_max = nc, reg_max
        anchors, strides = [], []
        for s in (8, 16, 32):
            n = img // s
            yy, xx = torch.meshgrid(torch.arange(n) + 0.5, torch.arange(n) + 0.5, indexing="ij")
            anchors.append(torch.stack([xx, yy], -1).view(-1, 2))
            strides.append(torch.full((n * n,), float(s)))
        self.register_buffer("anchors", torch.cat(anchors).T.unsqueeze(0), persistent=False)  # (1, 2, A)
        self.register_buffer("strides", torch.cat(strides)[None, None], persistent=False)  # (1, 1, A)

    def forward(self, x):
        p3 = self.b1(x)
        p4 = self.b2(p3)
        p5 = self.b3(p4)
        h4 = self.n1(torch.cat([self.up(p5), p4], 1))
        o3 = self.n2(torch.cat([self.up(h4), p3], 1))
        o4 = self.n3(torch.cat([self.d1(o3), h4], 1))
        o5 = self.n4(torch.cat([self.d2(o4), p5], 1))
        b = x.shape[0]
        y = torch.cat([torch.cat([bx(o), cl(o)], 1).view(b, 4 * self.reg_max + self.nc, -1)
                       for o, bx, cl in zip((o3, o4, o5), self.box, self.cls)], 2)
        anchors, strides = (self._anchors((o3, o4, o5)) if self.dynamic else (self.anchors, self.strides))
        box, cls = y.split((4 * self.reg_max, self.nc), 1)
        a = box.shape[2]
        dist = self.dfl(box.view(b, 4, self.reg_max, a).transpose(2, 1).softmax(1)).view(b, 4, a)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = anchors - lt, anchors + rb
        return torch.cat([torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], 1) * strides, cls.sigmoid()], 1)

    @staticmethod
    def _anchors(feats):
        """(1, 2, A) cell centres and (1, 1, A) strides of the feature maps, from their sizes."""
        anchors, strides = [], []
        for f, s in zip(feats, (8, 16, 32)):
            h, w = f.shape[2:]
            # float aranges, as Ultralytics' own export computes them
            yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5, torch.arange(w, dtype=torch.float32) + 0.5,
                                    indexing="ij")
            anchors.append(torch.stack([xx, yy], -1).view(-1, 2))
            strides.append(torch.ones(h * w) * s)
        return torch.cat(anchors).T.unsqueeze(0), torch.cat(strides)[None, None]


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) with padded 3x3 convs + BN + ReLU (the common modern form):
    4 max-pool downsamplings, 2x2 transposed-conv upsamplings, skip concatenations, 1x1 classifier.
    Base width 32 (the paper has 64: 4x the compute, more than a page would run interactively)."""

    def __init__(self, base=32, classes=2):
        super().__init__()
        two = lambda i, o: nn.Sequential(ConvBN(i, o, 3), ConvBN(o, o, 3))  # noqa: E731
        w = [base * 2 ** i for i in range(5)]
        self.downs = nn.ModuleList([two(3, w[0])] + [two(w[i], w[i + 1]) for i in range(4)])
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, 2) for i in reversed(range(4)))
        self.convs = nn.ModuleList(two(2 * w[i], w[i]) for i in reversed(range(4)))
        self.out = nn.Conv2d(w[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, down in enumerate(self.downs):
            x = down(F.max_pool2d(x, 2) if i else x)
            skips.append(x)
        for up, conv, skip in zip(self.ups, self.convs, reversed(skips[:-1])):
            x = conv(torch.cat([skip, up(x)], 1))
        return self.out(x)


# ---------------------------------------------------------------- weights and export

@torch.no_grad()
def randomize(model: nn.Module, example, seed: int) -> nn.Module:
    """Seeded random weights with sane activations (see the module docstring); returns model.eval()."""
    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            normal(m.weight, m.weight[0].numel() ** -0.5)
        elif isinstance(m, nn.ConvTranspose2d):  # each output sees cin * k * k / stride^2 inputs
            normal(m.weight, (m.weight.shape[0] * m.weight[0, 0].numel() / (m.stride[0] * m.stride[1])) ** -0.5)
        elif isinstance(m, (nn.BatchNorm2d, nn.LayerNorm, LayerNorm2d)):
            if getattr(m, "weight", None) is not None:
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
                normal(m.bias, 0.1)
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # the cumulative average: the statistics of the calibration input
        elif isinstance(m, nn.Embedding):
            normal(m.weight, 1.0)
        elif isinstance(m, nn.LSTM):
            for p in m.parameters():
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * m.hidden_size ** -0.5)
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.ConvTranspose2d)) and m.bias is not None:
            normal(m.bias, 0.1)
    for name, p in model.named_parameters():
        if name.rsplit(".", 1)[-1] in ("gamma", "ls1", "ls2"):  # layer scales: trained ones are O(0.1 .. 1)
            p.copy_(torch.rand(p.shape, generator=g) * 0.4 + 0.1)
    if isinstance(model, YOLOv8):  # the DFL conv is fixed: the expectation over the 16 bins
        model.dfl.weight.copy_(torch.arange(16, dtype=torch.float32).view(1, 16, 1, 1))
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        model.train()
        calib = tuple(torch.randn(t.shape, generator=g) if t.is_floating_point() else t for t in example)
        model(*calib)
    return model.eval()


def export(model: nn.Module, example, input_names, output_names, seed: int, dynamic_axes=None) -> onnx.ModelProto:
    """dynamic_axes (torch.onnx.export's): {name: {axis: dim name}} for dims left open in the export."""
    randomize(model, example, seed)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, tuple(example), f, opset_version=17, dynamo=False, input_names=list(input_names),
                          output_names=list(output_names), do_constant_folding=True, dynamic_axes=dynamic_axes)
    m = onnx.load_from_string(f.getvalue())
    m.graph.name = type(model).__name__
    onnx.checker.check_model(m)
    return m


def image(model, size, seed, out="logits"):
    """An image model: input 'data' (1, 3, size, size), deterministic weights from `seed`."""
    torch.manual_seed(seed)
    return export(model(), [torch.randn(1, 3, size, size)], ["data"], [out], seed)


def bert(seq=128):
    torch.manual_seed(11)
    ids = torch.randint(0, 30522, (1, seq))
    return export(Bert(), [ids, torch.ones(1, seq, dtype=torch.int64)], ["input_ids", "attention_mask"],
                  ["last_hidden_state", "pooler_output"], 11)


def lstm(frames=64):
    torch.manual_seed(12)
    return export(SpeechLSTM(), [torch.randn(1, frames, 80)], ["data"], ["logits"], 12)


# name -> (builder(size) -> ModelProto, benchmark size): image side, or sequence length
ZOO = {
    "InceptionV3": (lambda s: image(inception_v3, s, 4), 299),
    "MobileNetV3-Small": (lambda s: image(mobilenet_v3_small, s, 5), 224),
    "EfficientNet-B0": (lambda s: image(efficientnet_b0, s, 6), 224),
    "ShuffleNetV2": (lambda s: image(shufflenet_v2, s, 7), 224),
    "GhostNet": (lambda s: image(ghostnet, s, 8), 224),
    "ConvNeXt-Tiny": (lambda s: image(ConvNeXt, s, 9), 224),
    "DeiT-Tiny": (lambda s: image(lambda: DeiT(img=s), s, 10), 224),
    "Swin-T": (lambda s: image(lambda: Swin(img=s), s, 13), 224),
    "MobileViT-S": (lambda s: image(mobilevit_s, s, 14), 256),
    "EfficientFormer-L1": (lambda s: image(EfficientFormer, s, 15), 224),
    "BERT-Small": (bert, 128),
    "GPT2-decode": (gpt2_decode, 127),
    "YOLOv8n": (lambda s: image(lambda: YOLOv8(img=s), s, 16, "detections"), 416),
    "UNet": (lambda s: image(UNet, s, 17, "mask_logits"), 256),
    "LSTM": (lstm, 64),
}
