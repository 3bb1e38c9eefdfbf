"""Every op's numpy reference (through the ONNX frontend) agrees with onnxruntime."""
import numpy as np
import onnxruntime as ort
import pytest

from tests.cases import CASES
from webdnn.frontend.onnx import import_onnx
from webdnn.ir import reference
from webdnn.passes.pipeline import optimize
from webdnn.testing import assert_close


def ort_run(case):
    sess = ort.InferenceSession(case.model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, case.inputs)))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reference_matches_onnxruntime(case):
    expected = ort_run(case)
    g = import_onnx(case.model)
    g.verify()
    got = reference.run(g, case.inputs)
    for name, e in expected.items():
        assert_close(got[name], e, "reference", f"{case.name}/{name}")
    # and the optimized graph computes the same
    optimize(g, verify=True)
    got = reference.run(g, case.inputs)
    for name, e in expected.items():
        assert_close(got[name], e, "reference", f"{case.name}/{name} (optimized)")
