"""Activation functions, each defined once as an Elementwise expression builder.

Every frontend takes its activations from ACTIVATIONS: the ONNX operators of the same name (and
the ONNX RNN/GRU/LSTM activation lists), Keras' activation strings and activation layers. The
names a frontend knows an activation by sit with its formula, so adding a fused activation
touches this table only, and two frontends cannot disagree about a formula.

An entry's `build(x, **params)` returns the expression with `x` (an expression, usually
``["in", 0]``) as its argument; `params` lists the parameters in the ONNX attribute order
(alpha, beta, ...) with the ONNX defaults.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .ops.elementwise import call, inp

X = inp(0)


@dataclass(frozen=True)
class Activation:
    build: Callable[..., list]
    params: dict = field(default_factory=dict)  # name -> default, in the ONNX attribute order
    onnx_since: int | None = None  # the ONNX operator of this name exists from this opset (None: it is no operator)
    keras: dict = field(default_factory=dict)  # Keras activation name -> the parameters it fixes

    def expr(self, x=X, **params) -> list:
        unknown = set(params) - set(self.params)
        if unknown:
            raise TypeError(f"unknown activation parameter(s) {sorted(unknown)}; it takes {list(self.params)}")
        return self.build(x, **{**self.params, **params})


# ---- formulas used by several entries -----------------------------------------------------------
def sigmoid(x):
    return call("reciprocal", call("add", 1, call("exp", call("neg", x))))


def softplus(x):
    """log(1 + exp(x)) in the form that does not overflow: max(x, 0) + log(1 + exp(-|x|))."""
    return call("add", call("max", x, 0), call("log", call("add", 1, call("exp", call("neg", call("abs", x))))))


def hard_sigmoid(x, alpha, beta):
    return call("max", 0, call("min", 1, call("add", call("mul", x, alpha), beta)))


def elu(x, alpha):
    return call("where", call("lt", x, 0), call("mul", alpha, call("sub", call("exp", x), 1)), x)


def _celu(x, alpha):
    if alpha == 1:  # the common case without the scaling
        return call("add", call("max", x, 0), call("min", 0, call("sub", call("exp", x), 1)))
    return call("add", call("max", x, 0), call("min", 0, call("mul", alpha, call("sub", call("exp", call("div", x, alpha)), 1))))


def _gelu(x, approximate):
    if approximate == "tanh":
        inner = call("mul", np.sqrt(2 / np.pi), call("add", x, call("mul", 0.044715, call("mul", x, call("mul", x, x)))))
        return call("mul", call("mul", x, 0.5), call("add", 1, call("tanh", inner)))
    if approximate != "none":
        raise ValueError(f"Gelu approximate={approximate!r} (expected 'none' or 'tanh')")
    return call("mul", call("mul", x, 0.5), call("add", 1, call("erf", call("mul", x, 1 / np.sqrt(2)))))


def _shrink(x, lambd, bias):
    lo, hi = (x, x) if bias == 0 else (call("add", x, bias), call("sub", x, bias))  # bias 0: Keras' hard_shrink
    return call("where", call("lt", x, -lambd), lo, call("where", call("gt", x, lambd), hi, 0))


def _sparse_plus(x):
    return call("where", call("le", x, -1), 0,
                call("where", call("ge", x, 1), x, call("mul", 0.25, call("mul", call("add", x, 1), call("add", x, 1)))))


# float32 values of SELU's constants (the ONNX defaults; Keras' float64 ones round to the same)
SELU_ALPHA, SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875

ACTIVATIONS: dict[str, Activation] = {
    "Linear": Activation(lambda x: x, keras={"linear": {}}),
    "Relu": Activation(lambda x: call("max", x, 0), onnx_since=1, keras={"relu": {}}),
    "Relu6": Activation(lambda x: call("min", call("max", x, 0), 6), keras={"relu6": {}}),
    "LeakyRelu": Activation(lambda x, alpha: call("where", call("lt", x, 0), call("mul", x, alpha), x), {"alpha": 0.01},
                            onnx_since=1, keras={"leaky_relu": {"alpha": 0.2}}),
    "ThresholdedRelu": Activation(lambda x, alpha: call("where", call("gt", x, alpha), x, 0), {"alpha": 1.0},
                                  onnx_since=1),
    "Elu": Activation(elu, {"alpha": 1.0}, onnx_since=1, keras={"elu": {}}),
    "Selu": Activation(lambda x, alpha, gamma: call("mul", gamma, call("where", call("le", x, 0),
                                                                       call("mul", alpha, call("sub", call("exp", x), 1)), x)),
                       {"alpha": SELU_ALPHA, "gamma": SELU_GAMMA}, onnx_since=1, keras={"selu": {}}),
    "Celu": Activation(_celu, {"alpha": 1.0}, onnx_since=12, keras={"celu": {}}),
    "Sigmoid": Activation(sigmoid, onnx_since=1, keras={"sigmoid": {}}),
    "LogSigmoid": Activation(lambda x: call("neg", softplus(call("neg", x))), keras={"log_sigmoid": {}}),
    "HardSigmoid": Activation(hard_sigmoid, {"alpha": 0.2, "beta": 0.5}, onnx_since=1, keras={"hard_sigmoid": {}}),
    "HardSwish": Activation(lambda x: call("mul", x, hard_sigmoid(x, 1 / 6, 0.5)), onnx_since=1,
                            keras={"hard_silu": {}, "hard_swish": {}}),
    "Silu": Activation(lambda x: call("mul", x, sigmoid(x)), keras={"silu": {}, "swish": {}}),
    "Tanh": Activation(lambda x: call("tanh", x), onnx_since=1, keras={"tanh": {}}),
    "HardTanh": Activation(lambda x: call("max", -1, call("min", 1, x)), keras={"hard_tanh": {}}),
    "TanhShrink": Activation(lambda x: call("sub", x, call("tanh", x)), keras={"tanh_shrink": {}}),
    "ScaledTanh": Activation(lambda x, alpha, beta: call("mul", alpha, call("tanh", call("mul", x, beta))),
                             {"alpha": 1.0, "beta": 1.0}),
    "Affine": Activation(lambda x, alpha, beta: call("add", call("mul", x, alpha), beta), {"alpha": 1.0, "beta": 0.0}),
    "Softplus": Activation(softplus, onnx_since=1, keras={"softplus": {}}),
    "Softsign": Activation(lambda x: call("div", x, call("add", call("abs", x), 1)), onnx_since=1, keras={"softsign": {}}),
    "Squareplus": Activation(lambda x, b: call("mul", 0.5, call("add", x, call("sqrt", call("add", call("mul", x, x), b)))),
                             {"b": 4.0}, keras={"squareplus": {}}),
    "SparsePlus": Activation(_sparse_plus, keras={"sparse_plus": {}}),
    "Gelu": Activation(_gelu, {"approximate": "none"}, onnx_since=20, keras={"gelu": {}}),
    "Mish": Activation(lambda x: call("mul", x, call("tanh", softplus(x))), onnx_since=18, keras={"mish": {}}),
    "Shrink": Activation(_shrink, {"lambd": 0.5, "bias": 0.0}, onnx_since=9,
                         keras={"soft_shrink": {"lambd": 0.5, "bias": 0.5}, "hard_shrink": {"lambd": 0.5, "bias": 0.0}}),
    "Exp": Activation(lambda x: call("exp", x), onnx_since=1, keras={"exponential": {}}),
}

# Keras activation name -> (table name, the parameters that name fixes)
KERAS_NAMES: dict[str, tuple[str, dict]] = {k: (name, p) for name, a in ACTIVATIONS.items() for k, p in a.keras.items()}
