"""Keras frontend: a saved Keras model → IR Graph, read with h5py and zipfile only (no TensorFlow,
no Keras at conversion time).

Files: ``.h5`` written by Keras 2 or by Keras 3's legacy writer (``model_config`` JSON attribute +
``model_weights`` groups), and ``.keras`` (Keras 3 zip: ``config.json`` + ``model.weights.h5``).

Before any work every layer, nested models included, is checked against the handler table
(keras_layers.LAYERS) and ONE UnsupportedLayersError lists every unsupported class and layer name.
Layers are then converted in dependency order; an op whose inputs are all constants is folded on
the spot (passes.fold_constants.try_fold), as in the ONNX frontend.

Layout. Keras is channels-last; the IR's Conv and Pool are channels-first. Each Keras tensor is a
`Value`: an IR tensor plus ``perm``, where physical axis i of the IR tensor holds logical (Keras)
axis ``perm[i]``. Convolutions leave their output channels-first, pointwise layers run in whatever
layout they are given, and a Transpose is emitted only where a layer needs the logical order
(Reshape, Flatten, a Dense over a non-last physical axis, graph outputs). ResNet50 thus gets one
Transpose, at its input.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConversionError, UnsupportedOpsError
from ..ir import Graph, Tensor
from ..passes.fold_constants import try_fold
from .keras_context import LayerContext, Value
from .keras_file import KerasFile, read_file, to_snake_case
from .keras_layers import LAYERS, unsupported_settings

MODEL_CLASSES = ("Functional", "Model", "Sequential")


class UnsupportedLayersError(UnsupportedOpsError):
    """Raised once, before any work, listing every unsupported Keras layer class with its layers."""

    def __init__(self, unsupported: dict[str, list[str]]):
        self.layers = unsupported
        self.unsupported = {(cls, "keras", None): names for cls, names in unsupported.items()}
        total = sum(len(v) for v in unsupported.values())
        lines = [f"{total} layer(s) use {len(unsupported)} unsupported Keras layer class(es):"]
        for cls, names in sorted(unsupported.items()):
            lines.append(f"  {cls}: {len(names)} layer(s): {', '.join(repr(n) for n in names)}")
        ConversionError.__init__(self, "\n".join(lines))


# ---- model structure ----------------------------------------------------------------------------
Ref = tuple  # (layer name, node index, tensor index)


@dataclass
class Call:
    args: list            # tensor refs in positional order (lists flattened)
    kw_refs: dict         # keyword -> [tensor refs]
    kwargs: dict          # the other keyword arguments


@dataclass
class LayerSpec:
    class_name: str
    name: str
    config: dict
    key: str                          # the layer's group name in a .keras weights file
    calls: list = field(default_factory=list)
    model: "ModelSpec | None" = None  # a nested model
    cache: dict = field(default_factory=dict)


@dataclass
class ModelSpec:
    name: str
    class_name: str
    layers: list
    inputs: list
    outputs: list
    sequential: bool = False
    build_input_shape: list | None = None


def _is_ktensor(o) -> bool:
    return isinstance(o, dict) and o.get("class_name") == "__keras_tensor__"


def _collect_refs(o, out: list):
    if _is_ktensor(o):
        h = o["config"]["keras_history"]
        out.append((h[0], int(h[1]), int(h[2])))
    elif isinstance(o, (list, tuple)):
        for e in o:
            _collect_refs(e, out)
    elif isinstance(o, dict):
        for e in o.values():
            _collect_refs(e, out)
    return out


def _parse_call(node) -> Call:
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        args = _collect_refs(node.get("args", []), [])
        kw_refs, kwargs = {}, {}
        for k, v in (node.get("kwargs") or {}).items():
            refs = _collect_refs(v, [])
            if refs:
                kw_refs[k] = refs
            else:
                kwargs[k] = v
        return Call(args, kw_refs, kwargs)
    # Keras 2: [[layer, node, tensor, kwargs], ...]
    args, kwargs = [], {}
    for entry in node:
        args.append((entry[0], int(entry[1]), int(entry[2])))
        if len(entry) > 3 and isinstance(entry[3], dict):
            kwargs.update(entry[3])
    return Call(args, {}, kwargs)


def _refs(o) -> list:
    """input_layers / output_layers: [[name, node, tensor], ...], a single flat triple, or a dict."""
    if isinstance(o, dict):
        o = list(o.values())
    if not o:
        return []
    if isinstance(o[0], str):
        return [(o[0], int(o[1]), int(o[2]))]
    out = []
    for e in o:
        out += _refs(e)
    return out


def parse_model(cfg: dict) -> ModelSpec:
    """{"class_name": ..., "config": ...} of a Functional or Sequential model → ModelSpec."""
    cls = cfg.get("class_name")
    conf = cfg.get("config", {})
    if cls not in MODEL_CLASSES:
        raise ConversionError(f"the file holds a {cls!r}, not a Functional or Sequential model "
                              f"(subclassed models carry no graph; rebuild the model functionally)")
    raw_layers = conf.get("layers", conf if isinstance(conf, list) else [])
    layers, used = [], {}
    for lc in raw_layers:
        lcls = lc.get("class_name")
        lconf = lc.get("config") or {}
        name = lc.get("name") or lconf.get("name") or to_snake_case(lcls)
        key = to_snake_case(lcls)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        spec = LayerSpec(lcls, name, lconf, key)
        spec.calls = [_parse_call(n) for n in lc.get("inbound_nodes", [])]
        if lcls in MODEL_CLASSES:
            spec.model = parse_model(lc)
        layers.append(spec)
    if cls == "Sequential":
        return ModelSpec(conf.get("name", "sequential"), cls, layers, [], [], sequential=True,
                         build_input_shape=conf.get("build_input_shape"))
    return ModelSpec(conf.get("name", "model"), cls, layers, _refs(conf.get("input_layers", [])),
                     _refs(conf.get("output_layers", [])))


def walk_layers(spec: ModelSpec, prefix=()):
    """Every layer of a model, nested models' layers included: (path, LayerSpec)."""
    for layer in spec.layers:
        path = prefix + ((layer.name, layer.key),)
        yield path, layer
        if layer.model is not None:
            yield from walk_layers(layer.model, path)


# ---- values with a layout -----------------------------------------------------------------------
KERAS_DTYPES = {"float32": "float32", "float64": "float32", "float16": "float32", "bfloat16": "float32",
                "int32": "int32", "int64": "int64", "int8": "int8", "uint8": "uint8", "bool": "bool",
                "int16": "int32", "uint16": "int32"}


def _dtype_name(d) -> str:
    if isinstance(d, dict):  # Keras 3 DTypePolicy
        d = (d.get("config") or {}).get("name", "float32")
    d = str(d or "float32")
    if d.startswith("mixed_"):
        return "float32"
    if d not in KERAS_DTYPES:
        raise ConversionError(f"input dtype {d!r} is not supported")
    return KERAS_DTYPES[d]


# ---- the importer -------------------------------------------------------------------------------
class KerasImporter:
    def __init__(self, kfile: KerasFile, input_shapes=None):
        self.kfile = kfile
        self.layers = LAYERS
        self.unsupported_settings = unsupported_settings
        self.model = parse_model(kfile.config)
        self.input_shapes = input_shapes
        self.graph = Graph(self.model.name)
        self.weight_cache: dict = {}
        self.param_cache: dict = {}

    @property
    def keras_major(self) -> int:
        return self.kfile.major

    # -- checks --------------------------------------------------------------------------------
    def check_supported(self):
        bad: dict[str, list[str]] = {}
        for path, layer in walk_layers(self.model):
            if layer.class_name in MODEL_CLASSES or layer.class_name == "InputLayer":
                continue
            if layer.class_name not in self.layers:
                bad.setdefault(layer.class_name, []).append(layer.name)
                continue
            for what in self.unsupported_settings(layer.class_name, layer.config):
                bad.setdefault(f"{layer.class_name} ({what})", []).append(layer.name)
        if bad:
            raise UnsupportedLayersError(bad)

    # -- inputs --------------------------------------------------------------------------------
    def _input_layers(self) -> list[tuple[str, list, str]]:
        """(name, batch shape with None, dtype) of each model input, in order."""
        m = self.model
        if m.sequential:
            first = m.layers[0] if m.layers else None
            if first is None:
                raise ConversionError("the Sequential model has no layers")
            if first.class_name == "InputLayer":
                c = first.config
                shape = c.get("batch_shape") or c.get("batch_input_shape")
                return [(first.name, list(shape), _dtype_name(c.get("dtype")))]
            shape = first.config.get("batch_input_shape") or m.build_input_shape
            if shape is None:
                raise ConversionError("the Sequential model was saved before it was built: its input shape is "
                                      "unknown (build it, e.g. with keras.Input, before saving)")
            if isinstance(shape, dict):
                shape = next(iter(shape.values()))
            return [(f"{first.name}_input", list(shape), _dtype_name(first.config.get("dtype")))]
        by_name = {l.name: l for l in m.layers}
        out = []
        for name, _, _ in m.inputs:
            layer = by_name.get(name)
            if layer is None or layer.class_name != "InputLayer":
                raise ConversionError(f"model input {name!r} is not an InputLayer")
            c = layer.config
            shape = c.get("batch_shape") or c.get("batch_input_shape")
            out.append((name, list(shape), _dtype_name(c.get("dtype"))))
        return out

    def _shapes(self, specs) -> list[list[int]]:
        given = self.input_shapes
        names = [n for n, _, _ in specs]
        if given is None:
            given = {}
        if isinstance(given, (list, tuple)) and given and not isinstance(given[0], (int, np.integer)):
            if len(given) != len(specs):
                raise ConversionError(f"{len(given)} input shape(s) given, the model has {len(specs)} input(s) {names}")
            given = dict(zip(names, given))
        elif isinstance(given, (list, tuple)):
            given = {"": given}
        given = dict(given)
        if "" in given:
            if len(specs) != 1:
                raise ConversionError(f"an input shape without a name needs a model with one input; this one has {names}")
            given[names[0]] = given.pop("")
        unknown = set(given) - set(names)
        if unknown:
            raise ConversionError(f"input shape(s) given for {sorted(unknown)}, but the model's inputs are {names}")
        shapes = []
        for name, shape, _ in specs:
            if name in given:
                s = [int(d) for d in given[name]]
                if len(s) != len(shape):
                    raise ConversionError(f"input shape {s} for {name!r} has rank {len(s)}; the model declares "
                                          f"{_fmt_shape(shape)}")
                fixed = [i for i, (a, b) in enumerate(zip(s, shape)) if b is not None and a != b]
                if fixed:  # the layers were built for those sizes
                    raise ConversionError(f"input shape {s} for {name!r} changes dim(s) {fixed} that the model fixes "
                                          f"({_fmt_shape(shape)}); only its open (None) dims can be set")
            else:
                if any(d is None for d in shape[1:]):
                    raise ConversionError(
                        f"input {name!r} has unknown dims {_fmt_shape(shape)}; give its full shape, e.g. "
                        f"--input_shape '({','.join(str(d) if d is not None else 'N' for d in [1] + list(shape[1:]))})'")
                s = [1 if shape[0] is None else int(shape[0])] + [int(d) for d in shape[1:]]
            shapes.append(s)
        return shapes

    # -- conversion ----------------------------------------------------------------------------
    def convert(self) -> Graph:
        self.check_supported()
        specs = self._input_layers()
        shapes = self._shapes(specs)
        inputs = [Value(self.graph.add_input(name, shape, dtype)) for (name, _, dtype), shape in zip(specs, shapes)]
        outs, names = self.run_model(self.model, inputs, ())
        self._set_outputs(outs, names)
        return self.graph

    def run_model(self, spec: ModelSpec, inputs: list, prefix: tuple):
        """Apply a (nested) model to input values; returns (output values, output names)."""
        if spec.sequential:
            v = inputs[0]
            name = spec.name
            for layer in spec.layers:
                if layer.class_name == "InputLayer":
                    continue
                outs = self.apply(layer, [v], Call([], {}, {}), prefix + ((layer.name, layer.key),))
                v, name = outs[0], layer.name
            return [v], [name]
        values: dict[tuple, Value] = {}
        if len(inputs) != len(spec.inputs):
            raise ConversionError(f"model {spec.name!r} takes {len(spec.inputs)} input(s), got {len(inputs)}")
        for ref, v in zip(spec.inputs, inputs):
            values[(ref[0], ref[1], ref[2])] = v
        pending = [(layer, i) for layer in spec.layers for i in range(len(layer.calls))]
        while pending:
            rest = []
            for layer, i in pending:
                call = layer.calls[i]
                needed = call.args + [r for refs in call.kw_refs.values() for r in refs]
                if not all(r in values for r in needed):
                    rest.append((layer, i))
                    continue
                outs = self.apply(layer, [values[r] for r in call.args], call,
                                  prefix + ((layer.name, layer.key),), kw_values={
                                      k: [values[r] for r in refs] for k, refs in call.kw_refs.items()})
                for j, v in enumerate(outs):
                    values[(layer.name, i, j)] = v
            if len(rest) == len(pending):
                missing = sorted({r for l, i in rest for r in l.calls[i].args if r not in values})
                raise ConversionError(f"model {spec.name!r}: layers {[l.name for l, _ in rest][:10]} wait for "
                                      f"tensors {missing[:10]} that no layer produces")
            pending = rest
        outs, names = [], []
        for ref in spec.outputs:
            if ref not in values:
                raise ConversionError(f"model {spec.name!r}: output {ref} is never produced")
            outs.append(values[ref])
            names.append(ref[0] if ref[2] == 0 else f"{ref[0]}_{ref[2]}")
        return outs, names

    def apply(self, layer: LayerSpec, inputs: list, call: Call, path: tuple, kw_values=None) -> list:
        if layer.model is not None:
            return self.run_model(layer.model, inputs, path)[0]
        if layer.class_name == "InputLayer":
            return inputs
        ctx = LayerContext(self, layer, inputs, call, path, kw_values or {})
        return ctx.run()

    def weights(self, path: tuple) -> list:
        key = tuple(p[0] for p in path)
        if key not in self.weight_cache:
            w = self.kfile.weights.layer(path)
            if not w:  # a layer shared with another (nested) model is stored once, under its first owner
                for other, _ in walk_layers(self.model):
                    if other != path and other[-1][0] == path[-1][0]:
                        w = self.weights(other) if tuple(p[0] for p in other) in self.weight_cache \
                            else self.kfile.weights.layer(other)
                        if w:
                            self.weight_cache[tuple(p[0] for p in other)] = w
                            break
            self.weight_cache[key] = w
        return self.weight_cache[key]

    # -- layout --------------------------------------------------------------------------------
    def layout(self, v: Value, perm, name: str) -> Tensor:
        """v's tensor with physical axis i holding logical axis perm[i] (one Transpose, cached)."""
        perm = tuple(perm)
        t = v.views.get(perm)
        if t is None:
            tperm = [v.perm.index(a) for a in perm]
            (t,) = self.graph.add_op("Transpose", [v.t], {"perm": tperm}, name=f"{name}_layout")
            op = self.graph.ops[-1]
            folded = try_fold(self.graph, op)
            t = folded[0] if folded else t
            v.views[perm] = t
        return t

    def _set_outputs(self, outs: list, names: list):
        """Outputs in logical layout, named after the Keras layers that produce them."""
        g = self.graph
        final = []
        for v, name in zip(outs, names):
            t = self.layout(v, range(v.rank), name)
            copy = t.is_constant or t in g.inputs or any(o is t for o in final)
            if t.name != name or copy:
                public = g.unique_name(name) if name in g._names and t.name != name else name
                if copy:
                    if t.name == public:
                        t.name = g.unique_name(f"{public}_value")
                    (t,) = g._identity_for_output(t, public)
                else:
                    g._names.discard(t.name)
                    t.name = public
                g._names.add(public)
            final.append(t)
        g.outputs = final


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def import_keras(model, input_shapes=None) -> Graph:
    """Read a Keras .h5/.keras file and convert it; ``input_shapes``: {input name: shape}, a single
    shape (one-input models; key "" means the same), or a list of shapes in input order."""
    kfile = read_file(model)
    try:
        imp = KerasImporter(kfile, input_shapes)
        graph = imp.convert()
    finally:
        kfile.close()
    graph.source = {"format": "keras", "file": os.path.basename(str(model)), "keras_version": kfile.keras_version}
    return graph


def is_keras_file(model) -> bool:
    s = str(model).lower()
    return s.endswith((".h5", ".hdf5", ".keras"))


__all__ = ["import_keras", "is_keras_file", "read_file", "UnsupportedLayersError", "Value", "KerasFile"]
