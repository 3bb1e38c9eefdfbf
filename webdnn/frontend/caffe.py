"""Caffe frontend: a ``.caffemodel`` (binary NetParameter) and its ``deploy.prototxt`` (text) → ONNX
graph (onnx.helper) → the ONNX frontend, as the PyTorch frontend goes through torch.onnx. No Caffe
installation: the schema is built with the protobuf package (caffe_proto.py).

    webdnn convert bvlc.caffemodel --prototxt deploy.prototxt -o out [--input-shape data=1,3,224,224]
    webdnn.convert("bvlc.caffemodel", "out", prototxt="deploy.prototxt")

The prototxt gives the topology and the inputs (``input``/``input_shape``/``input_dim``, Input
layers, or a data layer's first top); without one the caffemodel's own net definition is used, and
``input_shapes`` must give what it leaves open. Layers come from the prototxt, weights from the
caffemodel's layer of the same name (both the current ``layer`` and the deprecated V1 ``layers``
form). Only what the TEST phase runs is converted: include/exclude rules are applied, loss and
accuracy layers and labels are dropped. Caffe's in-place layers (top == bottom) make new versions
of a blob; the network's outputs are the blobs no later layer reads, named as in Caffe.

Every layer type is checked before any work, and one UnsupportedLayersError lists all the
unsupported ones. Each layer's handler (caffe_layers.py) knows Caffe's shape rules (pooling's ceil
rounding, InnerProduct's axis, Crop, Reshape's 0/-1), so shapes are tracked here, not re-inferred.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConversionError, ModelFileError, UnsupportedOpsError
from .caffe_proto import classes
from .onnx_builder import GraphBuilder

V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL", "CONCAT": "Concat",
    "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution", "DATA": "Data",
    "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout", "DUMMY_DATA": "DummyData",
    "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise", "EXP": "Exp", "FLATTEN": "Flatten",
    "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output", "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col",
    "IMAGE_DATA": "ImageData", "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss", "MVN": "MVN",
    "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH",
    "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold"}
# layers a deployed network does not run: their tops (and the labels of data layers) are dropped
DROPPED = {"Accuracy", "Silence", "SoftmaxWithLoss", "EuclideanLoss", "HingeLoss", "InfogainLoss",
           "MultinomialLogisticLoss", "SigmoidCrossEntropyLoss", "ContrastiveLoss", "HDF5Output"}
# layers whose first top is a network input
DATA_LAYERS = {"Input", "Data", "ImageData", "HDF5Data", "MemoryData", "DummyData", "WindowData"}


class UnsupportedLayersError(UnsupportedOpsError):
    """Raised once, before any work, listing every unsupported Caffe layer type with its layers."""

    def __init__(self, unsupported: dict[str, list[str]]):
        self.layers = unsupported
        self.unsupported = {(t, "caffe", None): names for t, names in unsupported.items()}
        total = sum(len(v) for v in unsupported.values())
        lines = [f"{total} layer(s) use {len(unsupported)} unsupported Caffe layer type(s):"]
        for t, names in sorted(unsupported.items()):
            shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
            lines.append(f"  {t}: {len(names)} layer(s): {shown}")
        ConversionError.__init__(self, "\n".join(lines))


def is_caffe_file(model) -> bool:
    return isinstance(model, (str, Path)) and str(model).lower().endswith((".caffemodel", ".prototxt"))


# ---- reading -------------------------------------------------------------------------------------

def read_caffemodel(path) -> "object":
    """The binary NetParameter of a .caffemodel (one ModelFileError line if it is not one)."""
    net = classes()["NetParameter"]()
    data = Path(path).read_bytes()
    try:
        net.ParseFromString(data)
    except Exception as e:
        raise ModelFileError(f"{path}: not a Caffe model (binary NetParameter): {str(e).splitlines()[0][:200]}") from None
    if not net.layer and not net.layers:
        raise ModelFileError(f"{path}: not a Caffe model: no layers in it")
    return net


def read_prototxt(path):
    """(net, error): the text NetParameter. A field this schema does not know (a Caffe fork's layer)
    does not stop the reading: the net is read without it and `error` says where it was, so that
    the layer can be reported as unsupported, or the error raised if every layer is supported."""
    from google.protobuf import text_format
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    cls = classes()["NetParameter"]
    try:
        return text_format.Parse(text, cls()), None
    except text_format.ParseError as e:
        where = f"{path}:{e.GetLine()}:{e.GetColumn()}" if e.GetLine() else str(path)
        text_ = str(e).split(" : ", 1)[-1].replace('Message type "caffe.', '"').rstrip(".")
        strict_error = (f"{where}: {text_} (a field of a Caffe fork that webdnn does not know, "
                        f"or a typo)" if "has no field" in text_ else f"{where}: {text_}")
    try:
        return text_format.Parse(text, cls(), allow_unknown_field=True), strict_error
    except text_format.ParseError as e:
        raise ModelFileError(f"{path}: not a Caffe network definition (prototxt): {e}") from None


def layers_of(net) -> list:
    """The net's layers as LayerParameter messages (the V1 form upgraded)."""
    if net.layer:
        return list(net.layer)
    LayerParameter = classes()["LayerParameter"]
    type_names = net.layers[0].DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number if net.layers else {}
    out = []
    for v1 in net.layers:
        if v1.HasField("layer"):
            raise ModelFileError(f"layer {v1.layer.name or v1.name!r} uses Caffe's V0 layer format (before 2014); "
                                 f"upgrade it with Caffe's upgrade_net_proto_text / upgrade_net_proto_binary")
        lp = LayerParameter(name=v1.name, bottom=v1.bottom, top=v1.top, include=v1.include, exclude=v1.exclude,
                            blobs=v1.blobs, loss_weight=v1.loss_weight)
        enum_name = type_names[v1.type].name if v1.type in type_names else str(v1.type)
        lp.type = V1_TYPES.get(enum_name, enum_name)
        for field, value in v1.ListFields():
            if field.name.endswith("_param") and field.name in lp.DESCRIPTOR.fields_by_name:
                getattr(lp, field.name).CopyFrom(value)
        out.append(lp)
    return out


def _rule_met(rule) -> bool:
    # the deploy state: phase TEST, level 0, no stages (Caffe's NetState defaults at test time)
    if rule.HasField("phase") and rule.phase != 1:
        return False
    if rule.HasField("min_level") and 0 < rule.min_level:
        return False
    if rule.HasField("max_level") and 0 > rule.max_level:
        return False
    return not rule.stage


def runs_at_test(layer) -> bool:
    if layer.include:
        return any(_rule_met(r) for r in layer.include)
    if layer.HasField("phase") and layer.phase != 1:
        return False
    return not any(_rule_met(r) for r in layer.exclude)


def blob_array(blob) -> np.ndarray:
    # legacy blobs are 4-D (num, channels, height, width): (1, 1, N, K) for an InnerProduct weight;
    # the layer handlers reshape a blob to the shape they expect when the sizes agree
    shape = list(blob.shape.dim) if blob.HasField("shape") else [blob.num, blob.channels, blob.height, blob.width]
    values = np.asarray(blob.double_data if len(blob.double_data) else blob.data, dtype=np.float32)
    if values.size != int(np.prod(shape)):
        raise ModelFileError(f"a weight blob holds {values.size} values but its shape is {shape}")
    return values.reshape(shape)


# ---- conversion ----------------------------------------------------------------------------------

class Builder(GraphBuilder):
    """The ONNX graph of a Caffe net, with the current ONNX tensor and shape of every Caffe blob
    (in-place layers make new versions)."""

    def __init__(self, final_names: dict):
        super().__init__()
        self.blobs: dict[str, tuple[str, tuple]] = {}  # caffe blob -> (onnx name, shape)
        self.read: set[str] = set()
        self.order: list[str] = []
        self._final = final_names  # caffe blob -> index of the layer that writes it last
        self.layer = None
        self.layer_index = -1

    def start(self, layer, index: int) -> None:
        self.layer, self.layer_index, self.scope = layer, index, layer.name

    def bottom(self, i: int = 0) -> str:
        blob = self.layer.bottom[i]
        self.read.add(blob)
        return self.blobs[blob][0]

    def shape(self, i: int = 0) -> tuple:
        return self.blobs[self.layer.bottom[i]][1]

    def set_top(self, i: int, onnx_name: str, shape) -> None:
        blob = self.layer.top[i]
        if self._final.get(blob) == self.layer_index:  # the blob's last version carries the Caffe name
            onnx_name = self.rename(onnx_name, blob)
        self.blobs[blob] = (onnx_name, tuple(int(d) for d in shape))
        self.read.discard(blob)
        if blob not in self.order:
            self.order.append(blob)

    def add_input(self, blob: str, shape) -> None:
        super().add_input(blob, shape)
        self.blobs[blob] = (blob, tuple(int(d) for d in shape))
        self.order.append(blob)


def _input_shape(name, given, input_shapes, n_inputs):
    shapes = input_shapes or {}
    shape = shapes.get(name)
    if shape is None and "" in shapes and n_inputs == 1:
        shape = shapes[""]
    shape = shape if shape is not None else given
    if not shape:
        raise ConversionError(f"the shape of input {name!r} is not in the network definition: "
                              f"give it with --input-shape {name}=N,C,H,W (input_shapes={{'{name}': (...)}})")
    if any(int(d) < 1 for d in shape):
        raise ConversionError(f"input {name!r}: every dimension must be at least 1, got {list(shape)}")
    return tuple(int(d) for d in shape)


def _declared_inputs(net) -> list[tuple[str, list]]:
    names = list(net.input)
    if net.input_shape:
        shapes = [list(s.dim) for s in net.input_shape]
    elif net.input_dim:
        dims = list(net.input_dim)
        shapes = [dims[4 * i:4 * i + 4] for i in range(len(names))]
    else:
        shapes = [None] * len(names)
    return list(zip(names, shapes + [None] * (len(names) - len(shapes))))


def _data_layer_shape(layer):
    if layer.type == "Input":
        p = layer.input_param
        return [list(s.dim) for s in p.shape] if p.shape else []
    if layer.type == "MemoryData":
        p = layer.memory_data_param
        return [[p.batch_size, p.channels, p.height, p.width]] if p.batch_size else []
    if layer.type == "DummyData":
        p = layer.dummy_data_param
        if p.shape:
            return [list(s.dim) for s in p.shape]
        return [[n, c, h, w] for n, c, h, w in zip(p.num, p.channels, p.height, p.width)]
    return []


def import_caffe(caffemodel, prototxt=None, input_shapes=None):
    """Read a .caffemodel (and its prototxt) and convert it; see the module docstring."""
    from .caffe_layers import HANDLERS, unsupported_setting
    if str(caffemodel).lower().endswith(".prototxt") and prototxt is None:
        raise ConversionError(f"{caffemodel} is a network definition without weights: convert the .caffemodel "
                              f"and name this file with --prototxt (prototxt=...)")
    for path, what in ((caffemodel, "model file"), (prototxt, "network definition")):
        if path is not None and not Path(path).is_file():
            raise ConversionError(f"{what} {str(path)!r} does not exist")
    weights_net = read_caffemodel(caffemodel)
    if prototxt is not None:
        net, text_error = read_prototxt(prototxt)
    else:
        net, text_error = weights_net, None
    layers = [lp for lp in layers_of(net) if runs_at_test(lp)]
    weights = {}
    for lp in layers_of(weights_net):
        if lp.blobs:
            weights[lp.name] = list(lp.blobs)

    # every unsupported layer at once, before any work
    unsupported: dict[str, list[str]] = {}
    for lp in layers:
        if lp.type in DROPPED or lp.type in DATA_LAYERS:
            continue
        if lp.type not in HANDLERS:
            unsupported.setdefault(lp.type, []).append(lp.name)
        else:
            why = unsupported_setting(lp)
            if why:
                unsupported.setdefault(f"{lp.type} ({why})", []).append(lp.name)
    if unsupported:
        raise UnsupportedLayersError(unsupported)
    if text_error:
        raise ModelFileError(text_error.splitlines()[0])

    final = {}
    for i, lp in enumerate(layers):
        if lp.type not in DROPPED:
            for t in lp.top:
                final[t] = i
    b = Builder(final)
    declared = _declared_inputs(net)
    input_names = [n for n, _ in declared] + [t for lp in layers if lp.type in DATA_LAYERS
                                              for t in (lp.top if lp.type == "Input" else lp.top[:1])]
    if isinstance(input_shapes, (list, tuple)):  # shapes in input order
        if len(input_shapes) != len(input_names):
            raise ConversionError(f"{len(input_shapes)} input shape(s) for the {len(input_names)} input(s) {input_names}")
        input_shapes = dict(zip(input_names, input_shapes))
    unknown = sorted(set(input_shapes or {}) - set(input_names) - {""})
    if unknown:
        raise ConversionError(f"input shape(s) given for {unknown}, which are not inputs; the inputs are {input_names}")
    n_inputs = len(input_names)
    for name, shape in declared:
        b.add_input(name, _input_shape(name, shape, input_shapes, n_inputs))
    dropped: set[str] = set()
    for i, lp in enumerate(layers):
        b.start(lp, i)
        if lp.type in DATA_LAYERS:
            shapes = _data_layer_shape(lp)
            tops = list(lp.top) if lp.type == "Input" else list(lp.top[:1])
            for j, top in enumerate(tops):
                b.add_input(top, _input_shape(top, shapes[j] if j < len(shapes) else None, input_shapes, n_inputs))
            if lp.type != "Input":
                dropped.update(lp.top[1:])  # labels
            continue
        if lp.type in DROPPED or any(x in dropped for x in lp.bottom):
            if lp.type not in DROPPED:
                raise ConversionError(f"layer {lp.name!r} ({lp.type}) reads {[x for x in lp.bottom if x in dropped]}, "
                                      f"the labels of a data layer, which a deployed network does not have")
            dropped.update(t for t in lp.top if t not in lp.bottom)
            continue
        missing = [x for x in lp.bottom if x not in b.blobs]
        if missing:
            raise ConversionError(f"layer {lp.name!r} ({lp.type}) reads blob(s) {missing} that no earlier layer or "
                                  f"input makes (declare the network's inputs in the prototxt or with --input-shape)")
        blobs = []
        try:
            blobs = [blob_array(x) for x in weights.get(lp.name, [])]
            HANDLERS[lp.type](b, lp, blobs)
        except ConversionError as e:
            if str(e).startswith(f"layer {lp.name!r}"):
                raise
            raise type(e)(f"layer {lp.name!r} ({lp.type}): {e}") from None
        except (ValueError, IndexError, KeyError) as e:
            shapes = [b.blobs[x][1] for x in lp.bottom if x in b.blobs]
            raise ConversionError(f"layer {lp.name!r} ({lp.type}): cannot convert it with input shape(s) {shapes} "
                                  f"and weight blob shape(s) {[list(w.shape) for w in blobs]}: {e}") from None
    outputs = [blob for blob in b.order if blob not in b.read and blob not in dropped
               and blob not in {n for n, _ in b.inputs}]
    if not outputs:
        raise ConversionError("the network has no outputs (every blob is read by a later layer)")
    model = b.model([b.blobs[o] for o in outputs], net.name or Path(str(caffemodel)).stem)
    from .onnx import import_onnx
    graph = import_onnx(model)
    graph.source = {"format": "caffe", "file": os.path.basename(str(caffemodel)),
                    "prototxt": os.path.basename(str(prototxt)) if prototxt is not None else None}
    return graph


__all__ = ["import_caffe", "is_caffe_file", "read_caffemodel", "read_prototxt", "layers_of", "blob_array",
           "UnsupportedLayersError"]
