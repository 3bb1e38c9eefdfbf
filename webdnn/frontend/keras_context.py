"""What a Keras layer handler works with: Value (a Keras tensor in some layout), LayerContext
(config, weights, input Values, graph building with on-the-spot constant folding, layouts) and the
helpers every family shares, activations included (their formulas: ir/activations.py; softmax is
a Softmax op)."""
from __future__ import annotations

import numpy as np

from ..errors import ConversionError, ShapeError, UnsupportedOpsError
from ..ir import Tensor
from ..ir.activations import ACTIVATIONS, KERAS_NAMES
from ..ir.ops.elementwise import inp
from ..passes.fold_constants import try_fold

X = inp(0)


class Value:
    """A Keras tensor: IR tensor ``t`` whose physical axis i is logical axis ``perm[i]``;
    ``mask`` is an optional float 0/1 tensor [N, T] (Embedding(mask_zero) / Masking)."""

    __slots__ = ("t", "perm", "views", "mask")

    def __init__(self, t: Tensor, perm=None, mask=None):
        self.t = t
        self.perm = tuple(range(len(t.shape))) if perm is None else tuple(perm)
        assert len(self.perm) == len(t.shape), (self.perm, t.shape)
        self.views = {self.perm: t}
        self.mask = mask

    @property
    def rank(self) -> int:
        return len(self.perm)

    @property
    def shape(self) -> tuple:
        s = [0] * self.rank
        for i, a in enumerate(self.perm):
            s[a] = self.t.shape[i]
        return tuple(s)

    @property
    def dtype(self) -> str:
        return self.t.dtype

    def phys(self, logical_axis: int) -> int:
        return self.perm.index(logical_axis % self.rank)

    def __repr__(self):
        return f"<Value {list(self.shape)} perm={self.perm} {self.t.name!r}>"


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
            return list(self.imp.layers[self.class_name](self))
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


def int_list(v, n: int) -> list:
    """An int or a sequence (one element repeats) as n ints: kernel sizes, strides, ..."""
    if isinstance(v, (int, float)):
        return [int(v)] * n
    v = list(v)
    return [int(e) for e in (v * n if len(v) == 1 else v)]


def data_format(cfg) -> str:
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


def config_axes(cfg, rank, default=-1) -> list:
    """The layer's `axis` (an int or a list, negative allowed) as sorted non-negative axes."""
    a = cfg.get("axis", default)
    a = [a] if isinstance(a, int) else list(a)
    return sorted(int(e) % rank for e in a)


def per_axis(arr, axes, rank):
    """A parameter over `axes` as a logical-broadcastable array of the input's rank."""
    arr = np.asarray(arr, dtype=np.float64)
    shape = [1] * rank
    for i, ax in enumerate(axes):
        shape[ax] = arr.shape[i] if arr.ndim == len(axes) else (arr.size if len(axes) == 1 else 1)
    return arr.reshape(shape) if arr.size > 1 else arr.reshape(())


# ---- activations ---------------------------------------------------------------------------------
SOFTMAX = {"softmax": 0, "log_softmax": 1}  # not pointwise: a Softmax op (its `log` flag)
KERAS3_PARAMS = {"hard_sigmoid": {"alpha": 1 / 6}}  # Keras 3 redefined hard_sigmoid as relu6(x + 3) / 6


def is_supported_activation(name: str) -> bool:
    return name in KERAS_NAMES or name in SOFTMAX


def activation_name(act) -> str:
    if act is None:
        return "linear"
    if isinstance(act, dict):  # a serialized function: {"class_name": "function", "config": "relu"}
        c = act.get("config")
        act = c if isinstance(c, str) else (c or {}).get("name", act.get("class_name"))
    return str(act).lower() if isinstance(act, str) and act[:1].isupper() else str(act)


def activation_expr(ctx, act, x=X):
    """The expression of a pointwise activation (x itself for linear); softmax is not pointwise."""
    name = activation_name(act)
    if not is_supported_activation(name):
        ctx.fail(f"activation {name!r} is not supported")
    if name in SOFTMAX:
        ctx.fail(f"activation {name!r} is not pointwise here")
    key, params = KERAS_NAMES[name]
    if ctx.keras_major >= 3:
        params = {**params, **KERAS3_PARAMS.get(name, {})}
    return ACTIVATIONS[key].expr(x, **params)


def apply_activation(ctx, v: Value, act) -> Value:
    name = activation_name(act)
    if name in SOFTMAX:
        return Value(ctx.op1("Softmax", [v.t], {"axis": v.phys(-1), "log": SOFTMAX[name]}), v.perm, v.mask)
    expr = activation_expr(ctx, act)
    return v if expr == X else ctx.pointwise(expr, [v], mask=v.mask)
