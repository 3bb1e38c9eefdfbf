"""What a Keras layer handler works with: LayerContext (config, weights, input Values, graph
building with on-the-spot constant folding, layouts) and the helpers every family shares, the
activation table included (every activation is an Elementwise expression, softmax a Softmax op)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ConversionError, ShapeError, UnsupportedOpsError
from ..ir.ops.elementwise import call, inp
from ..passes.fold_constants import try_fold
from .keras import Value

X = inp(0)


class LayerContext:
    """What a handler sees: the layer's config, weights and input Values, and graph building."""

    def __init__(self, imp, spec, inputs, call_, path, kw_values, config=None, class_name=None, weights=None):
        self.imp, self.spec, self.inputs, self.call, self.path = imp, spec, list(inputs), call_, path
        self.kw_values = kw_values
        self.graph = imp.graph
        self.cfg = spec.config if config is None else config
        self.class_name = class_name or spec.class_name
        self.name = spec.name
        self._weights = weights

    @property
    def x(self) -> Value:
        return self.inputs[0]

    @property
    def keras_major(self) -> int:
        return self.imp.keras_major

    def weights(self) -> list:
        return self.imp.weights(self.path) if self._weights is None else self._weights

    def run(self) -> list:
        try:
            from .keras_layers import LAYERS
            return list(LAYERS[self.class_name](self))
        except (ConversionError, UnsupportedOpsError):
            raise
        except ShapeError as e:
            raise ConversionError(f"Keras layer {self.class_name} {self.name!r}: {e}") from None
        except (ValueError, TypeError, IndexError, KeyError) as e:
            raise ConversionError(f"Keras layer {self.class_name} {self.name!r}: cannot convert: "
                                  f"{type(e).__name__}: {e}") from None

    def sub(self, class_name, config, inputs, weights, kw_values=None) -> list:
        """Run a wrapped layer (TimeDistributed, Bidirectional) with the given weights."""
        return LayerContext(self.imp, self.spec, inputs, self.call, self.path, kw_values or {}, config, class_name,
                            weights).run()

    def fail(self, msg: str):
        raise ConversionError(f"Keras layer {self.class_name} {self.name!r}: {msg}")

    # -- graph building ------------------------------------------------------------------------
    def op(self, type: str, inputs, attrs=None) -> list:
        outs = self.graph.add_op(type, inputs, attrs, name=self.name)
        folded = try_fold(self.graph, self.graph.ops[-1])
        return folded if folded is not None else outs

    def op1(self, type: str, inputs, attrs=None):
        return self.op(type, inputs, attrs)[0]

    def param(self, key, make):
        """A constant made once per layer (shared layers and repeated calls reuse it)."""
        w = self.weights()
        cache = self.imp.param_cache.setdefault(id(w), {}) if w else self.spec.cache  # shared layers: one copy
        k = (self.class_name, key)
        if k not in cache:
            arr = np.asarray(make())
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float32)
            cache[k] = self.graph.constant(arr, name=f"{self.name}_{key if isinstance(key, str) else 'c'}")
        return cache[k]

    def layout(self, v: Value, perm):
        return self.imp.layout(v, perm, self.name)

    def logical(self, v: Value):
        return self.layout(v, range(v.rank))

    def spatial(self, v: Value, fmt: str):
        """v as [N, C, spatial...] for a layer with data_format `fmt`."""
        return self.layout(v, spatial_perm(v.rank, fmt))

    def common_perm(self, values) -> tuple:
        rank = max(v.rank for v in values)
        same = [v.perm for v in values if v.rank == rank]
        return max(same, key=lambda p: (sum(q == p for q in same), p != tuple(range(rank))))

    def pointwise(self, expr, args, perm=None, mask=None) -> Value:
        """Elementwise over Values (brought to one layout) and logical-shaped numpy constants."""
        vals = [a for a in args if isinstance(a, Value)]
        perm = perm or self.common_perm(vals)
        rank = len(perm)
        ins = []
        for a in args:
            if isinstance(a, Value):
                if a.rank != rank:
                    self.fail(f"inputs of rank {a.rank} and {rank} cannot be combined")
                ins.append(self.layout(a, perm))
            else:
                arr = np.asarray(a, dtype=np.float32)
                arr = arr.reshape((1,) * (rank - arr.ndim) + arr.shape).transpose(perm)
                ins.append(self.graph.constant(arr, name=f"{self.name}_c"))
        return Value(self.op1("Elementwise", ins, {"expr": expr}), perm, mask)

    def activate(self, v: Value, act) -> Value:
        return apply_activation(self, v, act)


def spatial_perm(rank: int, fmt: str) -> tuple:
    if (fmt or "channels_last") == "channels_first":
        return tuple(range(rank))
    return (0, rank - 1, *range(1, rank - 1))


def _tuple(v, n: int) -> list:
    if isinstance(v, (int, float)):
        return [int(v)] * n
    v = list(v)
    return [int(e) for e in (v * n if len(v) == 1 else v)]


def _fmt(cfg) -> str:
    return cfg.get("data_format") or "channels_last"


def conv_pads(c, in_sizes, k, s, d, padding) -> list:
    padding = str(padding).lower()
    nd = len(k)
    if padding == "valid":
        return [0] * (2 * nd)
    if padding == "causal":
        return [(k[i] - 1) * d[i] for i in range(nd)] + [0] * nd
    if padding != "same":
        c.fail(f"padding {padding!r} is not supported")
    begins, ends = [], []
    for i in range(nd):  # TensorFlow's rule: the odd pixel goes at the end
        out = -(-in_sizes[i] // s[i])
        total = max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in_sizes[i])
        begins.append(total // 2)
        ends.append(total - total // 2)
    return begins + ends


def _axes(cfg, rank, default=-1) -> list:
    a = cfg.get("axis", default)
    a = [a] if isinstance(a, int) else list(a)
    return sorted(int(e) % rank for e in a)


def _per_axis(arr, axes, rank):
    """A parameter over `axes` as a logical-broadcastable array of the input's rank."""
    arr = np.asarray(arr, dtype=np.float64)
    shape = [1] * rank
    for i, ax in enumerate(axes):
        shape[ax] = arr.shape[i] if arr.ndim == len(axes) else (arr.size if len(axes) == 1 else 1)
    return arr.reshape(shape) if arr.size > 1 else arr.reshape(())


# ---- activations ---------------------------------------------------------------------------------
def _sigmoid(x):
    return call("reciprocal", call("add", 1, call("exp", call("neg", x))))


def _softplus(x):  # stable: max(x, 0) + log(1 + exp(-|x|))
    return call("add", call("max", x, 0), call("log", call("add", 1, call("exp", call("neg", call("abs", x))))))


def _hard_sigmoid(x, major):
    if major >= 3:  # Keras 3: relu6(x + 3) / 6
        return call("max", 0, call("min", 1, call("add", call("mul", x, 1 / 6), 0.5)))
    return call("max", 0, call("min", 1, call("add", call("mul", x, 0.2), 0.5)))


def _elu(x, alpha=1.0):
    return call("where", call("gt", x, 0), x, call("mul", alpha, call("sub", call("exp", x), 1)))


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

ACTIVATIONS: dict[str, Callable] = {
    "linear": lambda x, m: None,
    "relu": lambda x, m: call("max", x, 0),
    "relu6": lambda x, m: call("min", call("max", x, 0), 6),
    "sigmoid": lambda x, m: _sigmoid(x),
    "hard_sigmoid": _hard_sigmoid,
    "tanh": lambda x, m: call("tanh", x),
    "softplus": lambda x, m: _softplus(x),
    "softsign": lambda x, m: call("div", x, call("add", call("abs", x), 1)),
    "selu": lambda x, m: call("mul", _SELU_SCALE, _elu(x, _SELU_ALPHA)),
    "elu": lambda x, m: _elu(x),
    "celu": lambda x, m: call("add", call("max", x, 0), call("min", 0, call("sub", call("exp", x), 1))),
    "exponential": lambda x, m: call("exp", x),
    "leaky_relu": lambda x, m: call("where", call("lt", x, 0), call("mul", x, 0.2), x),
    "silu": lambda x, m: call("mul", x, _sigmoid(x)),
    "swish": lambda x, m: call("mul", x, _sigmoid(x)),
    "hard_silu": lambda x, m: call("mul", x, _hard_sigmoid(x, 3)),
    "hard_swish": lambda x, m: call("mul", x, _hard_sigmoid(x, 3)),
    "gelu": lambda x, m: call("mul", call("mul", x, 0.5), call("add", 1, call("erf", call("mul", x, 1 / np.sqrt(2))))),
    "mish": lambda x, m: call("mul", x, call("tanh", _softplus(x))),
    "log_sigmoid": lambda x, m: call("neg", _softplus(call("neg", x))),
    "hard_tanh": lambda x, m: call("max", -1, call("min", 1, x)),
    "tanh_shrink": lambda x, m: call("sub", x, call("tanh", x)),
    "soft_shrink": lambda x, m: call("where", call("gt", x, 0.5), call("sub", x, 0.5),
                                     call("where", call("lt", x, -0.5), call("add", x, 0.5), 0)),
    "hard_shrink": lambda x, m: call("where", call("gt", call("abs", x), 0.5), x, 0),
    "squareplus": lambda x, m: call("mul", 0.5, call("add", x, call("sqrt", call("add", call("mul", x, x), 4)))),
    "sparse_plus": lambda x, m: call("where", call("le", x, -1), 0, call("where", call("ge", x, 1), x,
                                     call("mul", 0.25, call("mul", call("add", x, 1), call("add", x, 1))))),
    "softmax": "softmax",
    "log_softmax": "log_softmax",
}


def activation_name(act) -> str:
    if act is None:
        return "linear"
    if isinstance(act, dict):  # a serialized function: {"class_name": "function", "config": "relu"}
        c = act.get("config")
        act = c if isinstance(c, str) else (c or {}).get("name", act.get("class_name"))
    return str(act).lower() if isinstance(act, str) and act[:1].isupper() else str(act)


def activation_expr(ctx, act, x=X):
    """The expression of a pointwise activation (None for linear); softmax is not pointwise."""
    name = activation_name(act)
    mk = ACTIVATIONS.get(name)
    if mk is None:
        ctx.fail(f"activation {name!r} is not supported")
    if isinstance(mk, str):
        ctx.fail(f"activation {name!r} is not pointwise here")
    return mk(x, ctx.keras_major)


def apply_activation(ctx, v: Value, act) -> Value:
    name = activation_name(act)
    mk = ACTIVATIONS.get(name)
    if mk is None:
        ctx.fail(f"activation {name!r} is not supported")
    if mk in ("softmax", "log_softmax"):
        return Value(ctx.op1("Softmax", [v.t], {"axis": v.phys(-1), "log": int(mk == "log_softmax")}), v.perm, v.mask)
    expr = mk(X, ctx.keras_major)
    return v if expr is None else ctx.pointwise(expr, [v], mask=v.mask)
