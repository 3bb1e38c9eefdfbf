"""ONNX frontend: .onnx file (or ModelProto) → IR Graph.

Before any work it checks every node against the handler table (onnx_registry.HANDLERS, filled by
the onnx_ops*.py families, all imported here) and raises ONE
UnsupportedOpsError listing them all. Nodes are then converted in order; an op whose inputs are
all constants is folded on the spot (the same fold the constant-folding pass uses), so chains like
Shape → Gather → Concat → Reshape arrive as constant attributes.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, TensorProto

from ..errors import ConversionError, UnsupportedOpsError, ShapeError, DynamicValueError, ModelFileError
from ..ir import Graph, Tensor
from ..ir.symbolic import Sym, as_dim, substitute, symbols
from ..options import SizeRange
from ..passes.fold_constants import try_fold
from .onnx_registry import HANDLERS, ONNX_DTYPES, handler_key, tensor_dtype  # noqa: F401  (ONNX_DTYPES: part of this API)
# every handler family, imported for its registrations
from . import (onnx_ops, onnx_ops_composite, onnx_ops_contrib, onnx_ops_control, onnx_ops_index,  # noqa: F401
               onnx_ops_rnn, onnx_ops_sample, onnx_ops_signal, onnx_ops_text)


def load_model(model) -> onnx.ModelProto:
    """Read an .onnx file (with external data next to it) with a clear error on bad input."""
    if isinstance(model, onnx.ModelProto):
        return model
    path = Path(model)
    if not path.is_file():
        raise ConversionError(f"model file {str(path)!r} does not exist")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf DecodeError and friends
        raise ModelFileError(f"{path}: not a valid ONNX model (truncated or corrupted?): {type(e).__name__}: {e}") from None
    if not proto.graph.node and not proto.graph.output:
        raise ModelFileError(f"{path}: the file parsed but holds no graph (is it an ONNX model?)")
    bad = _undecodable_names(proto.graph)
    if bad:
        raise ModelFileError(f"{path}: {bad} is not valid UTF-8 (names and op types in an ONNX file are UTF-8 text)")
    try:
        onnx.load_external_data_for_model(proto, str(path.parent))
    except Exception as e:
        raise ModelFileError(f"{path}: cannot read its external weight data: {e}") from None
    return proto


def _undecodable_names(g) -> str | None:
    """The first name of the graph (or a subgraph) that protobuf could not decode as UTF-8 (it hands
    such strings over as bytes), shown with its bytes escaped."""
    names = [vi.name for vi in [*g.input, *g.output, *g.value_info, *g.initializer]]
    for n in g.node:
        names += [n.name, n.op_type, n.domain, *n.input, *n.output, *(a.name for a in n.attribute)]
    for v in names:
        if not isinstance(v, str):
            return repr(v.decode("utf-8", "backslashreplace"))
    return next((bad for bad in map(_undecodable_names, _subgraphs(g)) if bad), None)


def _subgraphs(g) -> list:
    """The graphs in g's nodes' attributes (If branches, Loop and Scan bodies)."""
    return [sub for n in g.node for a in n.attribute for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs)]


def default_opset(proto) -> int:
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def to_array(tp: TensorProto) -> np.ndarray:
    try:
        a = numpy_helper.to_array(tp)
    except Exception as e:  # raw data shorter than the dims say, an unknown data type, ...
        raise ModelFileError(f"tensor {tp.name!r} (dims {list(tp.dims)}): damaged data: {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}") from None
    if a.dtype == np.float64:
        a = a.astype(np.float32)
    return a


class NodeContext:
    """What a handler sees: the node, its IR inputs, attribute access and graph building."""

    def __init__(self, conv: "OnnxImporter", node):
        self.conv, self.node, self.graph = conv, node, conv.graph
        self.opset = conv.opset
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    @property
    def name(self) -> str:
        return self.node.name or (self.node.output[0] if self.node.output else self.node.op_type)

    def num_inputs(self) -> int:
        return len(self.node.input)

    def has_input(self, i: int) -> bool:
        return i < len(self.node.input) and self.node.input[i] != ""

    def input(self, i: int) -> Tensor | None:
        if not self.has_input(i):
            return None
        return self.conv.lookup(self.node.input[i], self.node)

    def inputs(self) -> list[Tensor]:
        return [self.input(i) for i in range(len(self.node.input)) if self.has_input(i)]

    def const(self, i: int, what: str | None = None) -> np.ndarray | None:
        """The value of input i, which must be constant after folding (static shapes)."""
        t = self.input(i)
        if t is None:
            return None
        if not t.is_constant:
            raise DynamicValueError(
                f"{self.node.op_type} node {self.name!r}: input {i} ({what or t.name!r}) must be known at conversion "
                f"time, but it is computed from the model input at run time (data-dependent shapes are not supported; "
                f"if it comes straight from a model input, pin that input with constant_inputs)", tensor=t.name)
        return t.data

    def attr(self, name: str, default=None):
        v = self.attrs.get(name, default)
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, TensorProto):
            v = to_array(v)
        return v

    def op(self, type: str, inputs, attrs=None, n_out: int = 1, names=None) -> list[Tensor]:
        """Add an IR op (folded right away when all its inputs are constants)."""
        outs = self.graph.add_op(type, inputs, attrs, name=self.name, output_names=names)
        op = self.graph.ops[-1]
        folded = try_fold(self.graph, op)
        return folded if folded is not None else outs

    def op1(self, type: str, inputs, attrs=None) -> Tensor:
        return self.op(type, inputs, attrs)[0]

    def ew(self, expr, inputs) -> Tensor:
        return self.op1("Elementwise", inputs, {"expr": expr})

    def constant(self, value, dtype=None) -> Tensor:
        return self.graph.constant(value, name=f"{self.name}_c", dtype=dtype)

    def call(self, op_type: str, inputs, n_out: int = 1, **attrs) -> list[Tensor]:
        """The IR of a standard ONNX op `op_type` on these IR tensors (None: an absent optional input),
        through its own handler: for ops composed of standard ones (the com.microsoft contrib ops)."""
        names, bound = [], []
        for t in inputs:
            if t is None:
                names.append("")
                continue
            n = f"\0call:{id(t)}"  # a name no model can hold
            if n not in self.conv.values:
                self.conv.values[n] = t
                bound.append(n)
            names.append(n)
        node = onnx.helper.make_node(op_type, names, [f"\0call:{op_type}:{i}" for i in range(n_out)],
                                     name=f"{self.name}/{op_type}", **attrs)
        try:
            return list(self.conv.handlers[op_type].fn(NodeContext(self.conv, node)))
        finally:
            for n in bound:
                del self.conv.values[n]

    def call1(self, op_type: str, inputs, **attrs) -> Tensor:
        return self.call(op_type, inputs, 1, **attrs)[0]

    def fail(self, msg: str):
        raise ConversionError(f"{self.node.op_type} node {self.name!r} (opset {self.opset}): {msg}")


class OnnxImporter:
    def __init__(self, proto, input_shapes: dict | None = None, constant_inputs: dict | None = None,
                 symbolic: bool = False):
        self.proto = proto
        self.symbolic = symbolic  # open dims stay symbols (ir/symbolic.py) instead of becoming 1
        self.ranges: dict[str, tuple[int, int]] = {}  # symbol -> the (lo, hi) --input-shape declared
        self.expr_symbols: dict[str, int] = {}  # names inside --input-shape expressions -> the fixed value
        self.handlers = HANDLERS
        self.opset = default_opset(proto)
        self.input_shapes = dict(input_shapes or {})
        self.constant_inputs = dict(constant_inputs or {})
        self.graph = Graph(proto.graph.name or "model")
        self.values: dict[str, Tensor] = {}
        self.notes: list[str] = []
        self._bodies: dict[bytes, onnx.GraphProto] = {}

    def lookup(self, name: str, node) -> Tensor:
        try:
            return self.values[name]
        except KeyError:
            raise ConversionError(f"{node.op_type} node {node.name!r} reads {name!r}, which no earlier node produces "
                                  f"(the graph is not topologically sorted or the file is damaged)") from None

    def has_handler(self, node) -> bool:
        h = self.handlers.get(handler_key(node.op_type, node.domain))
        return h is not None and h.since <= self.opset

    def check_supported(self):
        from .onnx_functions import expand_functions
        self.proto = expand_functions(self.proto, self.opset, self.has_handler)
        unsupported: dict[tuple, list[str]] = {}
        for node in self._nodes(self.proto.graph):
            domain = node.domain if node.domain not in ("", "ai.onnx") else ""
            h = self.handlers.get(handler_key(node.op_type, domain))
            if h is None or not (h.since <= self.opset):
                key = (node.op_type, domain, self.opset)
                unsupported.setdefault(key, []).append(node.name or (node.output[0] if node.output else "?"))
        if unsupported:
            raise UnsupportedOpsError(unsupported)

    def _nodes(self, graph):
        """The graph's nodes and, recursively, those of the bodies (subgraphs) its nodes carry."""
        for node in graph.node:
            yield node
            if self.has_handler(node):
                for a in node.attribute:
                    if a.type == onnx.AttributeProto.GRAPH:
                        yield from self._nodes(self.body(a.g))

    def body(self, g: onnx.GraphProto) -> onnx.GraphProto:
        """A subgraph with the ops the standard defines as functions expanded (as for the main graph)."""
        from .onnx_functions import expand_functions
        key = g.SerializeToString()
        if key not in self._bodies:
            m = onnx.helper.make_model(g, opset_imports=self.proto.opset_import)
            self._bodies[key] = expand_functions(m, self.opset, self.has_handler).graph
        return self._bodies[key]

    def run_body(self, g: onnx.GraphProto, args: list, where: str) -> list:
        """Imports a subgraph (a Scan or Loop body) once, its inputs bound to `args`; names of the
        enclosing graphs stay visible. -> the body's outputs. Called once per unrolled iteration."""
        g = self.body(g)
        if len(args) != len(g.input):
            raise ConversionError(f"{where}: the body takes {len(g.input)} inputs, {len(args)} given")
        missing = object()
        saved: dict = {}

        def bind(name, t):
            if name not in saved:
                saved[name] = self.values.get(name, missing)
            self.values[name] = t

        try:
            for vi, t in zip(g.input, args):
                bind(vi.name, t)
            for init in g.initializer:
                bind(init.name, self.graph.constant(to_array(init), name=init.name))
            for node in g.node:
                self._convert_node(node, bind)
            outs = []
            for vi in g.output:
                t = self.values.get(vi.name)
                if t is None:
                    raise ConversionError(f"{where}: body output {vi.name!r} is not produced")
                outs.append(t)
            return outs
        finally:
            for name, old in saved.items():
                if old is missing:
                    self.values.pop(name, None)
                else:
                    self.values[name] = old

    def add_inputs(self):
        g = self.proto.graph
        inits = {t.name for t in g.initializer}
        real_inputs = [i for i in g.input if i.name not in inits]
        if "" in self.input_shapes:  # one shape without a name: the model's only input
            names = [i.name for i in real_inputs if i.name not in self.constant_inputs]
            if len(names) != 1:
                raise ConversionError(f"--input-shape without a name needs a model with one input; this one has {names}")
            self.input_shapes[names[0]] = self.input_shapes.pop("")
        # a name that is not an input but one of their dim_params fixes that size everywhere (seq=128)
        params = {d.dim_param for i in real_inputs for d in i.type.tensor_type.shape.dim if d.dim_param}
        # names inside the shapes given as expressions (data=1,3,32*h,32*w): h=7 sets the size the
        # fixed backends are built for (default 1), h=1..40 bounds it
        in_exprs = symbols([[as_dim(d) for d in v] for k, v in self.input_shapes.items()
                            if k in {i.name for i in real_inputs} and not isinstance(v, SizeRange)])
        fixed_dims = {}
        for name in sorted(set(self.input_shapes) - {i.name for i in real_inputs}):
            value = self.input_shapes[name]
            if name in in_exprs and name not in params:
                self.input_shapes.pop(name)
                if isinstance(value, SizeRange):
                    self.ranges[name] = (value.lo, value.hi)
                    value = [value.lo]
                if len(list(value)) != 1 or int(list(value)[0]) < 0:
                    raise ConversionError(f"--input-shape {name}=...: give the size {name!r} one value, got {value}")
                self.expr_symbols[name] = int(list(value)[0])
            elif name in params and isinstance(self.input_shapes[name], SizeRange):
                r = self.input_shapes.pop(name)
                self.ranges[dim_symbol(name, "", 0)] = (r.lo, r.hi)
                if not self.symbolic:
                    fixed_dims[name] = r.lo
            elif name in params:
                value = list(self.input_shapes.pop(name))
                if len(value) != 1 or int(value[0]) < 0:
                    raise ConversionError(f"--input-shape {name}=...: {name!r} is a dimension of the model's inputs; "
                                          f"give it one size (e.g. {name}=128), got {value}")
                fixed_dims[name] = int(value[0])
        unknown = (set(self.input_shapes) | set(self.constant_inputs)) - {i.name for i in real_inputs}
        if unknown:
            raise ConversionError(f"input shapes/constants name {sorted(unknown)}, but the model's inputs are "
                                  f"{[i.name for i in real_inputs]}" + (f" and their named dimensions {sorted(params)}"
                                                                         if params else ""))
        for vi in real_inputs:
            tt = vi.type.tensor_type
            if not vi.type.HasField("tensor_type"):
                raise ConversionError(f"input {vi.name!r} is not a tensor (sequences/maps are not supported)")
            dtype = tensor_dtype(tt.elem_type, f"input {vi.name!r}")
            if vi.name in self.constant_inputs:  # pinned: a constant from now on
                self.values[vi.name] = self.graph.constant(np.asarray(self.constant_inputs[vi.name]), vi.name, dtype)
                continue
            dims = [d.dim_value if d.HasField("dim_value") else fixed_dims.get(d.dim_param, d.dim_param or "?")
                    for d in tt.shape.dim]
            if vi.name in self.input_shapes:
                shape = [as_dim(d) for d in self.input_shapes[vi.name]]
                # a size given as an expression of names (32*h): symbolic here; fixed at 1 per name otherwise
                names = symbols(shape)
                for n in names:
                    self.expr_symbols.setdefault(n, 1)
                if names and not self.symbolic:
                    shape = [substitute(d, {n: self.expr_symbols[n] for n in names}) for d in shape]
                if tt.HasField("shape") and len(shape) != len(dims):
                    raise ConversionError(f"--input-shape {vi.name}={','.join(map(str, shape))} has rank {len(shape)}, "
                                          f"the model declares {dims}")
                fixed = [i for i, d in enumerate(dims) if isinstance(d, int) and tt.HasField("shape") and d != shape[i]]
                if fixed:  # the graph was built for those sizes (its reshapes and weights say so)
                    raise ConversionError(
                        f"--input-shape {vi.name}={','.join(map(str, shape))} changes dim(s) {fixed} that the model fixes "
                        f"({dims}); only its open dims can be set")
            elif self.symbolic:
                shape = [d if isinstance(d, int) else Sym(dim_symbol(d, vi.name, i)) for i, d in enumerate(dims)]
            else:
                symbolic = [d for d in dims if not isinstance(d, int)]
                if symbolic:
                    self.notes.append(f"input {vi.name!r} has symbolic dims {dims}; using 1 for each "
                                      f"(override with --input-shape {vi.name}=...)")
                shape = [d if isinstance(d, int) else 1 for d in dims]
            t = self.graph.add_input(vi.name, shape, dtype)
            self.values[vi.name] = t
        for init in g.initializer:
            arr = to_array(init)
            self.values[init.name] = self.graph.constant(arr, name=init.name)

    def convert(self) -> Graph:
        self.check_supported()
        self.add_inputs()
        for node in self.proto.graph.node:
            self._convert_node(node, self.values.__setitem__)
        for vi in self.proto.graph.output:
            t = self.values.get(vi.name)
            if t is None:
                raise ConversionError(f"graph output {vi.name!r} is not produced by any supported path")
            self.graph.outputs.append(t)
        self._name_outputs()
        return self.graph

    def _convert_node(self, node, bind):
        before = {id(t) for t in self.values.values() if t is not None} | {id(t) for t in self.graph.inputs}
        ctx = NodeContext(self, node)
        h = self.handlers[handler_key(node.op_type, node.domain)]
        try:
            outs = h.fn(ctx)
        except ShapeError as e:  # IR words: say which ONNX node it was
            raise ConversionError(f"{node.op_type} node {ctx.name!r}: {e}") from None
        except (ConversionError, UnsupportedOpsError):
            raise
        except (ValueError, TypeError, IndexError, KeyError) as e:  # malformed attributes or inputs
            raise ConversionError(f"{node.op_type} node {ctx.name!r} (opset {self.opset}): cannot convert: "
                                  f"{type(e).__name__}: {e}") from None
        outs = list(outs)
        for name, t in zip(node.output, outs):
            if name:
                self._adopt_name(t, name, before)
                bind(name, t)
        for name in node.output[len(outs):]:
            if name:
                bind(name, None)  # optional outputs a handler does not produce

    def _adopt_name(self, t: Tensor, name: str, before: set):
        """A tensor this node created takes the ONNX name (errors and outputs then speak ONNX)."""
        if id(t) in before or t.name == name or name in self.graph._names:
            return
        self.graph._names.discard(t.name)
        self.graph._names.add(name)
        t.name = name

    def _name_outputs(self):
        """Outputs keep their ONNX names; a constant or input output gets an Identity."""
        outs = []
        for vi, t in zip(self.proto.graph.output, self.graph.outputs):
            if t.is_constant or t in self.graph.inputs or any(o is t for o in outs):
                if t.name == vi.name:  # free the public name for the copy
                    t.name = self.graph.unique_name(f"{vi.name}_value")
                (t,) = self.graph._identity_for_output(t, vi.name)
            outs.append(t)
        self.graph.outputs = outs


# ops whose presence marks a model quantized by its author (Graph.quantized)
QUANTIZED_OPS = {"MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv", "DequantizeLinear",
                 "DynamicQuantizeLinear", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM",
                 "QGemm", "QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearGlobalAveragePool", "QLinearAveragePool",
                 "QLinearSoftmax", "QLinearLeakyRelu", "QLinearSigmoid", "MatMulNBits", "QAttention"}


def _all_nodes(proto):
    """Every node of the model: the main graph's, its subgraphs' and its functions'."""
    stack = [proto.graph, *proto.functions]
    while stack:
        g = stack.pop()
        yield from g.node
        stack += _subgraphs(g)


def dim_symbol(param: str, input_name: str, axis: int) -> str:
    """The symbol of an open ONNX dim: its dim_param made a name (`batch_size`, `seq_len`), or, when the
    dim has none, `<input>_<axis>`."""
    if param and param != "?":
        name = re.sub(r"[^A-Za-z0-9_]", "_", param)
    else:
        name = re.sub(r"[^A-Za-z0-9_]", "_", f"{input_name}_{axis}")
    return name if re.match(r"[A-Za-z_]", name) else f"d_{name}"


def import_onnx(model, input_shapes: dict | None = None, constant_inputs: dict | None = None,
                symbolic: bool = False) -> Graph:
    """Load and convert; warnings (e.g. symbolic dims set to 1) are issued as Python warnings.

    input_shapes: {input name: shape}; the key "" names the only input of a one-input model.
    constant_inputs pins model inputs to fixed values (they stop being inputs)."""
    proto = load_model(model)
    imp = OnnxImporter(proto, input_shapes, constant_inputs, symbolic)
    graph = imp.convert()
    graph.symbol_ranges = dict(imp.ranges)
    graph.quantized = any(n.op_type in QUANTIZED_OPS for n in _all_nodes(proto))
    graph.symbols.update(imp.expr_symbols if symbolic else {})
    for n in imp.notes:
        warnings.warn(n, stacklevel=2)
    graph.source = {"format": "onnx", "opset": imp.opset,
                    "file": os.path.basename(str(model)) if not isinstance(model, onnx.ModelProto) else None}
    return graph
