"""Chainer models for the tests, converted inside the Chainer environment (.venv-chainer: Chainer 7
needs numpy < 1.24, the rest of the suite numpy 2), which test_chainer.py runs as

    .venv-chainer/bin/python tests/chainer_models.py OUT NAME...

For each NAME it writes OUT/NAME/descriptor (webdnn.convert of the link), OUT/NAME/io.npz (the
inputs, and Chainer's outputs under "expected:<output name>") and, for NAME "unsupported",
OUT/NAME/error.txt (the conversion error's text)."""
from __future__ import annotations

import sys
from pathlib import Path

import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import webdnn  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "style_transfer"))
from faststylenet import FastStyleNet  # noqa: E402


def seeded(link, seed=0, calibrate=None):
    """Random parameters, and BatchNormalization statistics that are not the identity: random, or
    with `calibrate` (example inputs) those of one training-mode pass over them, as a trained
    network's statistics normalize its activations."""
    rng = np.random.default_rng(seed)
    for name, p in sorted(link.namedparams()):
        scale = (1.0 / np.prod(p.shape[1:])) ** 0.5 if p.ndim > 1 else 0.1  # keeps activations moderate
        p.array[...] = rng.standard_normal(p.shape).astype(np.float32) * scale
    for _, l in sorted(link.namedlinks()):
        if isinstance(l, L.BatchNormalization):
            l.avg_mean[...] = rng.standard_normal(l.avg_mean.shape) * 0.1
            l.avg_var[...] = rng.uniform(0.5, 1.5, l.avg_var.shape)
            l.gamma.array[...] = rng.uniform(0.5, 1.5, l.gamma.shape)
    if calibrate is not None:
        bns = [l for _, l in link.namedlinks() if isinstance(l, L.BatchNormalization)]
        for l in bns:
            l.decay = 0.0
        with chainer.using_config("train", True):
            link(*[np.asarray(x, np.float32) for x in calibrate])
        for l in bns:
            l.decay = 0.9
    return link


class Functions(chainer.Chain):
    """The functions of the frontend's list in one network: convolutions (plain, depthwise,
    transposed, dilated), linear, fixed batch normalization, pooling with Chainer's cover_all,
    unpooling, LRN, resize, the activations, shape functions and arithmetic."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.c1 = L.Convolution2D(3, 8, 3, stride=2, pad=1)
            self.bn1 = L.BatchNormalization(8)
            self.dw = L.DepthwiseConvolution2D(8, 2, 3, pad=1)
            self.dil = L.DilatedConvolution2D(16, 8, 3, pad=2, dilate=2)
            self.up = L.Deconvolution2D(8, 4, 4, stride=2, pad=1)
            self.fc = L.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        h = F.dropout(F.relu(self.bn1(self.c1(x))), 0.3)        # 17 -> 9; dropout: nothing in test mode
        h = F.leaky_relu(self.dw(h), slope=0.2)
        h = F.elu(self.dil(h), alpha=0.8)
        p = F.max_pooling_2d(h, 2)                               # cover_all: 9 -> 5
        a = F.average_pooling_2d(h, 3, stride=2, pad=1)          # 9 -> 5
        h = F.concat([F.sigmoid(p) * a, F.tanh(a) - p / 2], axis=1)
        h = F.local_response_normalization(h, n=3, k=1.5, alpha=1e-2, beta=0.6)
        h = F.unpooling_2d(h[:, :8], 2, cover_all=False)         # 5 -> 10
        h = F.resize_images(h, (7, 7))
        h = self.up(h)                                           # 7 -> 14
        h = F.transpose(h, (0, 1, 3, 2))
        h = F.reshape(h, (1, 4, -1))
        s = F.broadcast_to(F.sum(h, axis=2, keepdims=True), h.shape)
        h = 2.0 - h * 0.5 + s / 10 + F.absolute(h) ** 1.5 - 1 / (1 + F.exp(-h))
        y = F.softmax(self.fc(F.clipped_relu(h, 4.0)))
        return y, F.log_softmax(F.split_axis(h, 2, axis=2)[1].reshape(1, -1), axis=1)


class Unsupported(chainer.Chain):
    def forward(self, x):
        return F.cumsum(F.im2col(F.im2col(x, 2), 1), axis=1)


def _calibrated(link, seed, inputs):
    return seeded(link, seed, calibrate=inputs), inputs


def _saved_and_loaded(link, inputs):
    """A saved model as a user converts one: save_npz, then load_npz into a fresh instance."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        chainer.serializers.save_npz(f"{tmp}/model.npz", link)
        fresh = type(link)()
        chainer.serializers.load_npz(f"{tmp}/model.npz", fresh)
    return fresh, inputs


MODELS = {
    "functions": lambda: (seeded(Functions(), 1), [np.random.default_rng(0).standard_normal((1, 3, 17, 17))]),
    "faststylenet": lambda: _saved_and_loaded(*_calibrated(FastStyleNet(), 2,
                                                           [np.random.default_rng(0).uniform(0, 255, (1, 3, 32, 32))])),
    # integer pixel values, as a picture gives them (the page test feeds it as a PNG)
    "faststylenet_page": lambda: _calibrated(FastStyleNet(), 3,
                                             [np.round(np.random.default_rng(1).uniform(0, 255, (1, 3, 48, 64)))]),
    "unsupported": lambda: (Unsupported(), [np.zeros((1, 3, 4, 4), np.float32)]),
}


def main(out: str, names: list[str]) -> None:
    for name in names:
        link, inputs = MODELS[name]()
        inputs = [x.astype(np.float32) for x in inputs]
        folder = Path(out) / name
        folder.mkdir(parents=True, exist_ok=True)
        if name == "unsupported":
            try:
                webdnn.convert(link, inputs, folder / "descriptor")
            except webdnn.WebDNNError as e:
                (folder / "error.txt").write_text(f"{type(e).__name__}: {e}")
            continue
        with chainer.using_config("train", False):
            ys = link(*inputs)
        ys = ys if isinstance(ys, tuple) else (ys,)
        summary = webdnn.convert(link, inputs, folder / "descriptor", backends=("js", "wasm", "webgpu"))
        names_out = [t["name"] for t in summary["outputs"]]
        in_names = [t["name"] for t in summary["inputs"]]
        np.savez(folder / "io.npz", **dict(zip(in_names, inputs)),
                 **{f"expected:{n}": y.array for n, y in zip(names_out, ys)})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
