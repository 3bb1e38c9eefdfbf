"""Whole models: convert with `webdnn convert`, run with the JS runtime in Node and in headless
Chromium, compare with onnxruntime. The light_* models are full-size architectures (224×224)
whose weights are all 0.02, so their logits are compared too (added as a second output):
softmax over identical huge logits alone would say little."""
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.models import OWN_MODELS
from webdnn.testing import compare

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
LIGHT_MODELS = ["light_resnet50", "light_squeezenet", "light_densenet121", "light_inception_v1",
                "light_shufflenet", "light_vgg19"]
DIGITS = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "digits", "digits.onnx")


def with_logits(m: onnx.ModelProto) -> onnx.ModelProto:
    sm = [n for n in m.graph.node if n.op_type == "Softmax"]
    if sm:
        m.graph.output.append(onnx.helper.make_tensor_value_info(sm[-1].input[0], onnx.TensorProto.FLOAT, None))
    return m


def prepare(name, tmp):
    if name.startswith("light_"):
        m = with_logits(onnx.load(os.path.join(LIGHT, name + ".onnx")))
    elif name == "digits":
        m = onnx.load(DIGITS)
        m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    else:
        m = OWN_MODELS[name]()
    path = tmp / f"{name}.onnx"
    onnx.save(m, path)
    return m, path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


MODELS = ["digits", *OWN_MODELS, *LIGHT_MODELS]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_model_matches_onnxruntime(name, models, runners):
    m, path = prepare(name, models)
    out = models / name
    # the CLI, as a user runs it
    subprocess.run([sys.executable, "-m", "webdnn", "convert", str(path), "-o", str(out), "-q"], check=True)
    inits = {t.name for t in m.graph.initializer}
    inp = next(i for i in m.graph.input if i.name not in inits)
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    x = np.random.RandomState(0).rand(*shape).astype(np.float32)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {inp.name: x})))
    failures = []
    for host in ("node", "chromium"):
        got = runners[host].run(out, {inp.name: x}, backend="js")
        for k, e in expected.items():
            msg = compare(got[k], e, "js", f"{name}/{k} in {host}")
            if msg:
                failures.append(msg)
    assert not failures, "\n".join(failures)
