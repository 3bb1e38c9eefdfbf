"""Whole models of our own (tests/data/export_whole_models.py; random weights): a small ViT, a
BERT-style encoder with an attention mask, a UNet-style model with ConvTranspose and Resize, and
a MobileNetV3-style model with HardSwish and squeeze-excitation. Each must match onnxruntime on
every backend, in Node and in Chromium."""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from webdnn import convert
from webdnn.testing import compare

DATA = Path(__file__).parent.parent / "data"
MODELS = ["tiny_vit", "tiny_bert", "tiny_unet", "tiny_mobilenetv3"]
BACKENDS = ["js"]


def inputs_for(m: onnx.ModelProto) -> dict:
    rng = np.random.RandomState(0)
    feeds = {}
    for i in m.graph.input:
        shape = [d.dim_value for d in i.type.tensor_type.shape.dim]
        if i.name == "input_ids":
            feeds[i.name] = rng.randint(0, 100, shape).astype(np.int64)
        elif i.name == "attention_mask":
            mask = np.ones(shape, np.int64)
            mask[1, 10:] = 0
            feeds[i.name] = mask
        else:
            feeds[i.name] = rng.randn(*shape).astype(np.float32)
    return feeds


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_whole_model(name, runners, tmp_path):
    m = onnx.load(DATA / f"{name}.onnx")
    feeds = inputs_for(m)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    convert(m, tmp_path / name, backends=BACKENDS)
    failures = []
    for host in ("node", "chromium"):
        for backend in BACKENDS:
            got = runners[host].run(tmp_path / name, feeds, backend=backend)
            for k, e in expected.items():
                msg = compare(got[k], e, backend, f"{name}/{k} on {backend} in {host}")
                if msg:
                    failures.append(msg)
    assert not failures, "\n".join(failures)
