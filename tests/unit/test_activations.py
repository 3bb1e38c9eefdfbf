"""The activation table (webdnn/ir/activations.py): every entry, evaluated by the numpy reference
of its expression, matches the textbook formula computed in float64 (over a range that includes
|x| = 100, where a naive softplus overflows), and the ONNX and Keras frontends build the same
expression for every activation they share."""
import math

import numpy as np
import pytest
from onnx import TensorProto, helper

from webdnn.frontend.keras_context import KERAS3_PARAMS, activation_expr
from webdnn.frontend.onnx import import_onnx
from webdnn.ir.activations import ACTIVATIONS, KERAS_NAMES, SELU_ALPHA, SELU_GAMMA
from webdnn.ir.ops.elementwise import evaluate

X = np.concatenate([np.linspace(-100, 100, 201), np.linspace(-6, 6, 241), [-1, -0.5, 0, 0.5, 1]])
_erf = np.vectorize(math.erf)


def _softplus(x):
    return np.logaddexp(0, x)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (numpy formula over float64 x with the parameters as keywords, parameter sets to try)
REFERENCE = {
    "Linear": (lambda x: x, [{}]),
    "Relu": (lambda x: np.maximum(x, 0), [{}]),
    "Relu6": (lambda x: np.clip(x, 0, 6), [{}]),
    "LeakyRelu": (lambda x, alpha: np.where(x >= 0, x, alpha * x), [{}, {"alpha": 0.3}]),
    "ThresholdedRelu": (lambda x, alpha: np.where(x > alpha, x, 0), [{}, {"alpha": -0.5}]),
    "Elu": (lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), [{}, {"alpha": 0.7}]),
    "Selu": (lambda x, alpha, gamma: gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))),
             [{}, {"alpha": 2.0, "gamma": 0.5}]),
    "Celu": (lambda x, alpha: np.maximum(0, x) + np.minimum(0, alpha * np.expm1(np.minimum(x, 0) / alpha)),
             [{}, {"alpha": 2.0}]),
    "Sigmoid": (_sigmoid, [{}]),
    "LogSigmoid": (lambda x: -_softplus(-x), [{}]),
    "HardSigmoid": (lambda x, alpha, beta: np.clip(alpha * x + beta, 0, 1), [{}, {"alpha": 1 / 6, "beta": 0.5}]),
    "HardSwish": (lambda x: x * np.clip(x / 6 + 0.5, 0, 1), [{}]),
    "Silu": (lambda x: x * _sigmoid(x), [{}]),
    "Tanh": (np.tanh, [{}]),
    "HardTanh": (lambda x: np.clip(x, -1, 1), [{}]),
    "TanhShrink": (lambda x: x - np.tanh(x), [{}]),
    "ScaledTanh": (lambda x, alpha, beta: alpha * np.tanh(beta * x), [{}, {"alpha": 2.0, "beta": 0.5}]),
    "Affine": (lambda x, alpha, beta: alpha * x + beta, [{}, {"alpha": 2.0, "beta": -1.0}]),
    "Softplus": (_softplus, [{}]),
    "Softsign": (lambda x: x / (1 + np.abs(x)), [{}]),
    "Squareplus": (lambda x, b: (x + np.sqrt(x * x + b)) / 2, [{}, {"b": 1.0}]),
    "SparsePlus": (lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)), [{}]),
    "Gelu": (lambda x, approximate: x / 2 * (1 + (_erf(x / np.sqrt(2)) if approximate == "none" else
                                                 np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
             [{}, {"approximate": "tanh"}]),
    "Mish": (lambda x: x * np.tanh(_softplus(x)), [{}]),
    "Shrink": (lambda x, lambd, bias: np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0)),
               [{}, {"lambd": 0.5, "bias": 0.5}, {"lambd": 1.5, "bias": 0.25}]),
    "Exp": (lambda x: np.exp(np.minimum(x, 80)), [{}]),  # float32 exp overflows past ~88.7
}


def test_every_entry_has_a_reference():
    assert set(REFERENCE) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_entry_matches_formula(name):
    act = ACTIVATIONS[name]
    formula, param_sets = REFERENCE[name]
    x = X if name != "Exp" else X[X <= 80]
    for params in param_sets:
        got = evaluate(act.expr(**params), [x.astype(np.float32)])
        want = formula(x.astype(np.float32).astype(np.float64), **{**act.params, **params})
        assert np.all(np.isfinite(got)), (name, params, x[~np.isfinite(got)])
        # float32 rounding, plus an absolute term for the cancellation in float32 of terms of the size
        # of x (x + sqrt(x² + b) at x = -100; 1 + erf(x) for negative x in Gelu)
        excess = np.abs(got - want) - (1e-5 * np.abs(want) + 1e-6 * (1 + np.abs(x)))
        worst = int(np.argmax(excess))
        assert excess[worst] <= 0, f"{name} {params}: x={x[worst]}: got {got[worst]}, expected {want[worst]}"


def test_softplus_is_stable():
    # the naive log(1 + exp(x)) overflows to inf at x = 100 in float32
    assert evaluate(ACTIVATIONS["Softplus"].expr(), [np.float32([100, -100])]).tolist() == pytest.approx([100, 0])


def test_selu_constants_are_the_float32_ones():
    assert np.float32(SELU_ALPHA) == np.float32(1.6732632423543772848170429916717)
    assert np.float32(SELU_GAMMA) == np.float32(1.0507009873554804934193349852946)


# ---- the frontends agree --------------------------------------------------------------------------
class _KerasLayer:
    """What activation_expr reads of a Keras layer context."""

    def __init__(self, keras_major):
        self.keras_major = keras_major

    def fail(self, msg):
        raise AssertionError(msg)


def _onnx_expr(op_type, attrs, opset):
    node = helper.make_node(op_type, ["x"], ["y"], **attrs)
    g = helper.make_graph([node], "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    graph = import_onnx(m)
    (op,) = graph.ops
    assert op.type == "Elementwise"
    return op.attrs["expr"]


def _as_float32(expr):
    """Constants as the float32 values a backend uses (ONNX attributes are float32)."""
    if expr[0] == "const":
        return ["const", float(np.float32(expr[1]))]
    if expr[0] in ("in", "cast"):
        return expr if expr[0] == "in" else ["cast", expr[1], _as_float32(expr[2])]
    return [expr[0], *(_as_float32(a) for a in expr[1:])]


SHARED = sorted((k, m) for k, (name, _) in KERAS_NAMES.items() if ACTIVATIONS[name].onnx_since is not None
                for m in (2, 3))


def test_shared_activations_cover_the_common_ones():
    names = {KERAS_NAMES[k][0] for k, _ in SHARED}
    assert {"Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Softplus",
            "Softsign", "Gelu", "Mish", "Exp"} <= names


@pytest.mark.parametrize("keras_name,major", SHARED)
def test_keras_and_onnx_build_the_same_expression(keras_name, major):
    name, fixed = KERAS_NAMES[keras_name]
    if major >= 3:
        fixed = {**fixed, **KERAS3_PARAMS.get(keras_name, {})}
    keras = activation_expr(_KerasLayer(major), keras_name)
    onnx = _onnx_expr(name, fixed, max(13, ACTIVATIONS[name].onnx_since))  # the parameters Keras fixes as attributes
    assert _as_float32(keras) == _as_float32(onnx)
