"""ONNX function expansion: an op we have no handler for, but which the ONNX standard defines as a
function of other ops (CastLike, LayerNormalization, Attention, Swish, the losses …), is replaced
by its function body before conversion, so it needs no handler of its own.

    before:  LayerNormalization(x, scale, bias)
    after:   ReduceMean → Sub → Mul → ReduceMean → Add → Sqrt → Reciprocal → Mul → Mul → Add
             (names prefixed by the node's name)
"""
from __future__ import annotations

import onnx
from onnx import defs, helper, shape_inference


# domains whose ops the standard defines (the preview domain holds ops like FlexAttention)
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.preview")


def _schema(op_type: str, opset: int, domain: str = ""):
    try:
        return defs.get_schema(op_type, opset, "" if domain == "ai.onnx" else domain)
    except Exception:  # unknown op
        return None


def _domain_version(node, opset: int, versions: dict) -> int:
    """The opset of the node's domain: the model's import for it (the default domain: `opset`)."""
    return opset if node.domain in ("", "ai.onnx") else versions.get(node.domain, 1)


def function_for(node, opset: int, value_types: dict, versions: dict | None = None) -> onnx.FunctionProto | None:
    """The FunctionProto of `node` at `opset` (its body's default-domain opset; `versions` gives
    other domains' opsets), or None if the standard defines none."""
    s = _schema(node.op_type, _domain_version(node, opset, versions or {}), node.domain)
    if s is None:
        return None
    try:
        if s.has_function and s.function_opset_versions:
            best = max(v for v in s.function_opset_versions if v <= opset) if any(
                v <= opset for v in s.function_opset_versions) else None
            if best is not None:
                f = onnx.FunctionProto()
                f.ParseFromString(s.get_function_with_opset_version(best))
                return f
        if s.has_context_dependent_function:
            types = []
            for name in node.input:
                t = value_types.get(name)
                if name and t is None:
                    return None  # the body depends on an input type we do not know
                types.append((t or onnx.TypeProto()).SerializeToString())
            versions = [v for v in s.context_dependent_function_opset_versions if v <= opset] or [None]
            if versions[-1] is None:
                raw = s.get_context_dependent_function(node.SerializeToString(), types)
            else:
                raw = s.get_context_dependent_function_with_opset_version(max(versions), node.SerializeToString(), types)
            f = onnx.FunctionProto()
            f.ParseFromString(raw)
            return f if f.node else None
    except Exception:  # a schema that cannot build its body for these attributes
        return None
    return None


def _attr_value(node, name):
    for a in node.attribute:
        if a.name == name:
            return a
    return None


def _bind_free_names(g: onnx.GraphProto, name, bound=frozenset()) -> None:
    """Renames, in place, the names subgraph g reads from its enclosing scope (not defined in g)."""
    local = set(bound) | {v.name for v in g.input} | {t.name for t in g.initializer}
    for n in g.node:
        local.update(n.output)
    for n in g.node:
        for i, x in enumerate(n.input):
            if x and x not in local:
                n.input[i] = name(x)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                _bind_free_names(a.g, name, frozenset(local))
    for v in g.output:
        if v.name not in local:
            v.name = name(v.name)


def inline(node, f: onnx.FunctionProto, prefix: str, schema=None) -> list:
    """The body of `f` with formal names bound to `node`'s inputs/outputs/attributes."""
    rename = {}
    for formal, actual in zip(f.input, node.input):
        rename[formal] = actual
    for formal in f.input[len(node.input):]:
        rename[formal] = ""  # optional input not given
    for formal, actual in zip(f.output, node.output):
        rename[formal] = actual
    defaults = {}
    if schema is not None:  # older function bodies name attributes without their defaults
        for k, a in schema.attributes.items():
            if a.default_value is not None and a.default_value.type:
                defaults[k] = a.default_value
    defaults.update({a.name: a for a in f.attribute_proto})

    def name(n):
        if n == "":
            return ""
        return rename.setdefault(n, f"{prefix}/{n}")

    out = []
    for i, b in enumerate(f.node):
        attrs = []
        for a in b.attribute:
            if a.ref_attr_name:
                v = _attr_value(node, a.ref_attr_name) or defaults.get(a.ref_attr_name)
                if v is None:
                    continue  # optional attribute left unset
                c = onnx.AttributeProto()
                c.CopyFrom(v)
                c.name = a.name
                attrs.append(c)
            elif a.type == onnx.AttributeProto.GRAPH:  # a body reading the function's names: bind them too
                c = onnx.AttributeProto()
                c.CopyFrom(a)
                _bind_free_names(c.g, name)
                attrs.append(c)
            else:
                attrs.append(a)
        new = helper.make_node(b.op_type, [name(x) for x in b.input], [name(x) for x in b.output],
                               name=f"{prefix}/{b.name or b.op_type + str(i)}", domain=b.domain)
        new.attribute.extend(attrs)
        out.append(new)
    return out


def expand_functions(proto: onnx.ModelProto, opset: int, has_handler, max_depth: int = 4) -> onnx.ModelProto:
    """Replace nodes without a handler by their standard function bodies (recursively)."""
    if all(has_handler(n) for n in proto.graph.node):
        return proto
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    versions = {imp.domain: imp.version for imp in proto.opset_import}
    for _ in range(max_depth):
        pending = [n for n in model.graph.node if not has_handler(n)]
        if not pending:
            break
        try:
            inferred = shape_inference.infer_shapes(model)
            types = {vi.name: vi.type for vi in list(inferred.graph.value_info) + list(inferred.graph.input)
                     + list(inferred.graph.output)}
        except Exception:
            types = {vi.name: vi.type for vi in list(model.graph.input) + list(model.graph.output)}
        for t in model.graph.initializer:
            types.setdefault(t.name, helper.make_tensor_type_proto(t.data_type, list(t.dims)))
        nodes, changed = [], False
        for k, n in enumerate(model.graph.node):
            f = None if has_handler(n) or n.domain not in STANDARD_DOMAINS else function_for(n, opset, types, versions)
            if f is None:
                nodes.append(n)
            else:
                schema = _schema(n.op_type, _domain_version(n, opset, versions), n.domain)
                nodes.extend(inline(n, f, n.name or f"{n.op_type}_{k}", schema))
                changed = True
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        if not changed:
            break
    return model
