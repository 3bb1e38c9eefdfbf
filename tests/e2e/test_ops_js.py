"""Every op case, converted and run by the JS runtime in Node and in headless Chromium, matches
onnxruntime. One Node process and one browser serve all cases."""
import numpy as np
import onnxruntime as ort
import pytest

from tests.cases import CASES
from webdnn import convert
from webdnn.testing import compare

BACKENDS = ("js",)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp("ops")
    out = {}
    for c in CASES:
        sess = ort.InferenceSession(c.model.SerializeToString(), providers=["CPUExecutionProvider"])
        expected = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, c.inputs)))
        convert(c.model, root / c.name, backends=BACKENDS)
        out[c.name] = (root / c.name, expected)
    return out


@pytest.mark.parametrize("host", ["node", "chromium"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_all_op_cases(host, backend, runners, converted):
    runner = runners[host]
    failures = []
    for c in CASES:
        path, expected = converted[c.name]
        try:
            got = runner.run(path, c.inputs, backend=backend)
        except Exception as e:  # collect every failure, not just the first
            failures.append(f"{c.name}: {type(e).__name__}: {e}")
            continue
        for name, e in expected.items():
            msg = compare(got[name].astype(e.dtype) if e.dtype == np.bool_ else got[name], e, backend, f"{c.name}/{name}")
            if msg:
                failures.append(msg)
    assert not failures, f"{len(failures)} failure(s) on {backend} in {host}:\n" + "\n".join(failures)
