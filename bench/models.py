"""The benchmark's models as ONNX files, all with random weights (nothing is downloaded).

ResNet50, MobileNetV2 and SqueezeNet1.1 are built here with onnx.helper as torchvision defines them
(no torch needed); convolutions carry BatchNormalization nodes as exported models do. The others
(zoo.py) are torch modules written from their papers and exported by torch.onnx (opset 17): they
need torch, which is imported only when one of them is built.

    MODELS[name]() -> onnx.ModelProto        write_all(dir) -> {name: path}
    feeds(model) -> {input name: array}      the same deterministic inputs for every check
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Net:
    def __init__(self, name: str, seed: int):
        self.name, self.nodes, self.inits, self.n = name, [], [], 0
        self.rng = np.random.RandomState(seed)

    def _name(self, base: str) -> str:
        self.n += 1
        return f"{base}{self.n}"

    def const(self, a) -> str:
        name = self._name("w")
        self.inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    def node(self, op: str, inputs, **attrs) -> str:
        out = self._name(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=1, group=1, bn=True, bias=False):
        fan_in = cin // group * k * k
        w = (self.rng.randn(cout, cin // group, k, k) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        ins = [x, self.const(w)] + ([self.const(self.rng.randn(cout).astype(np.float32) * 0.01)] if bias else [])
        y = self.node("Conv", ins, kernel_shape=[k, k], pads=[k // 2] * 4, strides=[stride] * 2, group=group)
        if bn:
            r = self.rng
            y = self.node("BatchNormalization", [y, self.const(r.uniform(0.5, 1.0, cout).astype(np.float32)),
                                                 self.const(r.randn(cout).astype(np.float32) * 0.05),
                                                 self.const(r.randn(cout).astype(np.float32) * 0.05),
                                                 self.const(r.uniform(0.5, 1.5, cout).astype(np.float32))])
        return y

    def model(self, out: str, opset: int = 13) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, self.name,
                              [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 224, 224])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 1000])], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def mobilenet_v2() -> onnx.ModelProto:
    """MobileNetV2 1.0 (Sandler et al. 2018), 224×224, ReLU6 as Clip(0, 6)."""
    n = _Net("mobilenet_v2", 2)
    lo, hi = n.const(np.float32(0)), n.const(np.float32(6))

    def relu6(x):
        return n.node("Clip", [x, lo, hi])

    h = relu6(n.conv("data", 3, 32, 3, 2))
    cin = 32
    for t, c, reps, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                          (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(reps):
            stride = s if i == 0 else 1
            hid = cin * t
            y = relu6(n.conv(h, cin, hid, 1)) if t != 1 else h
            y = relu6(n.conv(y, hid, hid, 3, stride, group=hid))
            y = n.conv(y, hid, c, 1)
            h = n.node("Add", [h, y]) if stride == 1 and cin == c else y
            cin = c
    h = relu6(n.conv(h, cin, 1280, 1))
    h = n.node("GlobalAveragePool", [h])
    h = n.node("Flatten", [h])
    w = (n.rng.randn(1000, 1280) * np.sqrt(1.0 / 1280)).astype(np.float32)
    h = n.node("Gemm", [h, n.const(w), n.const(np.zeros(1000, np.float32))], transB=1)
    return n.model(n.node("Softmax", [h], axis=1))


def squeezenet1_1() -> onnx.ModelProto:
    """SqueezeNet 1.1 (torchvision's layout): fire modules, ceil-mode max pools, conv classifier."""
    n = _Net("squeezenet1_1", 3)

    def conv_relu(x, cin, cout, k, stride=1):
        return n.node("Relu", [n.conv(x, cin, cout, k, stride, bn=False, bias=True)])

    def pool(x):
        return n.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)

    def fire(x, cin, sq, e1, e3):
        s = conv_relu(x, cin, sq, 1)
        return n.node("Concat", [conv_relu(s, sq, e1, 1), conv_relu(s, sq, e3, 3)], axis=1)

    h = n.node("Relu", [n.node("Conv", ["data", n.const((n.rng.randn(64, 3, 3, 3) * 0.27).astype(np.float32)),
                                          n.const(np.zeros(64, np.float32))], kernel_shape=[3, 3], strides=[2, 2])])
    h = pool(h)
    h = fire(h, 64, 16, 64, 64)
    h = fire(h, 128, 16, 64, 64)
    h = pool(h)
    h = fire(h, 128, 32, 128, 128)
    h = fire(h, 256, 32, 128, 128)
    h = pool(h)
    h = fire(h, 256, 48, 192, 192)
    h = fire(h, 384, 48, 192, 192)
    h = fire(h, 384, 64, 256, 256)
    h = fire(h, 512, 64, 256, 256)
    h = conv_relu(h, 512, 1000, 1)
    h = n.node("GlobalAveragePool", [h])
    h = n.node("Flatten", [h])
    return n.model(n.node("Softmax", [h], axis=1))


def resnet50() -> onnx.ModelProto:
    """ResNet50 v1.5 (torchvision's layout: the stride on the 3×3 of each bottleneck)."""
    n = _Net("resnet50", 1)
    h = n.node("Relu", [n.conv("data", 3, 64, 7, 2)])
    h = n.node("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for i in range(blocks):
            s = stride if i == 0 else 1
            y = n.node("Relu", [n.conv(h, cin, width, 1)])
            y = n.node("Relu", [n.conv(y, width, width, 3, s)])
            y = n.conv(y, width, width * 4, 1)
            sc = n.conv(h, cin, width * 4, 1, s) if i == 0 else h
            h = n.node("Relu", [n.node("Add", [y, sc])])
            cin = width * 4
    h = n.node("GlobalAveragePool", [h])
    h = n.node("Flatten", [h])
    w = (n.rng.randn(1000, 2048) * np.sqrt(1.0 / 2048)).astype(np.float32)
    h = n.node("Gemm", [h, n.const(w), n.const(np.zeros(1000, np.float32))], transB=1)
    return n.model(n.node("Softmax", [h], axis=1))


_ZOO = None


def zoo():
    """bench/zoo.py, loaded on first use (it imports torch); this file is itself loaded by path."""
    global _ZOO
    if _ZOO is None:
        spec = importlib.util.spec_from_file_location("webdnn_bench_zoo", Path(__file__).with_name("zoo.py"))
        _ZOO = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_ZOO)
    return _ZOO


def _from_zoo(name: str):
    def build(size: int | None = None) -> onnx.ModelProto:
        """size: the image side (or sequence length) to export at; the benchmark's own by default."""
        fn, default = zoo().ZOO[name]
        return fn(size or default)
    build.__name__ = build.__qualname__ = name
    return build


# name -> () -> ModelProto. Grouped by family; the zoo names are listed here so that looking a name
# up needs no torch (bench/zoo.py's ZOO holds the same names).
ZOO_NAMES = ["InceptionV3",                                                          # classic CNN
             "MobileNetV3-Small", "EfficientNet-B0", "ShuffleNetV2", "GhostNet",    # mobile CNNs
             "ConvNeXt-Tiny",                                                       # modern CNN
             "DeiT-Tiny", "Swin-T",                                                 # vision transformers
             "MobileViT-S", "EfficientFormer-L1",                                   # hybrids
             "BERT-Small",                                                          # text encoder
             "GPT2-decode",                                                         # text decoder, one token
             "YOLOv8n",                                                             # detector
             "UNet",                                                                # segmentation
             "LSTM"]                                                                # recurrent


def _quantized(name: str, base, kind: str):
    """`base` quantized as its author would with onnxruntime's tools: "dynamic" (weights int8 per tensor,
    activations quantized at run time: DynamicQuantizeLinear + MatMulInteger, what quantize_dynamic
    makes of a transformer), "qdq" (static: QDQ, weights int8 per channel, activations int8 with scales
    calibrated on four inputs of feeds()), "qoperator" (static after onnxruntime's pre-processing, in
    the QOperator format of the model zoo's int8 models: QLinearConv, QLinearAdd, ..., uint8 activations)
    or "int4" (MatMulNBits: the MatMuls' weights 4-bit in blocks of 32 along K, symmetric, what
    onnxruntime's MatMulNBitsQuantizer makes of a language model for the browser)."""
    def build() -> onnx.ModelProto:
        import tempfile
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        class Calibration(CalibrationDataReader):
            def __init__(self):
                self.left = [feeds(model, seed) for seed in range(4)]

            def get_next(self):
                return self.left.pop() if self.left else None

        model = base()
        if kind == "int4":
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
            quantizer = MatMulNBitsQuantizer(model, block_size=32, is_symmetric=True)
            quantizer.process()
            return quantizer.model.model
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "float.onnx"), os.path.join(d, "int8.onnx")
            onnx.save(model, src)
            if kind == "dynamic":
                quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
            elif kind == "qoperator":
                pre = os.path.join(d, "pre.onnx")
                quant_pre_process(src, pre)
                quantize_static(pre, dst, Calibration(), quant_format=QuantFormat.QOperator, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            else:
                quantize_static(src, dst, Calibration(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
            return onnx.load(dst)
    build.__name__ = build.__qualname__ = name
    return build


MODELS = {"ResNet50": resnet50, "MobileNetV2": mobilenet_v2, "SqueezeNet1.1": squeezenet1_1,
          **{n: _from_zoo(n) for n in ZOO_NAMES}}
# models quantized by their authors (onnxruntime.quantization): their own 8-bit weights and arithmetic
QUANTIZED = {"ResNet50-QDQ": _quantized("ResNet50-QDQ", resnet50, "qdq"),
             "ResNet50-QOperator": _quantized("ResNet50-QOperator", resnet50, "qoperator"),
             "BERT-Small-dynamic-int8": _quantized("BERT-Small-dynamic-int8", MODELS["BERT-Small"], "dynamic"),
             "GPT2-decode-int4": _quantized("GPT2-decode-int4", MODELS["GPT2-decode"], "int4")}
MODELS.update(QUANTIZED)


class _Paths(Mapping):
    """{name: path of <dir>/<name>.onnx}; a file is written the first time its name is looked up, so
    a run over a few models neither exports the others nor needs torch for the onnx.helper ones."""

    def __init__(self, out_dir, names):
        self.dir, self.names = out_dir, list(names)

    def __getitem__(self, name):
        if name not in self.names:
            raise KeyError(name)
        p = os.path.join(self.dir, f"{name}.onnx")
        if not os.path.exists(p):
            tmp = p + ".part"  # never leave a half-written model behind for the next run
            onnx.save(MODELS[name](), tmp)
            os.replace(tmp, p)
        return p

    def __iter__(self):
        return iter(self.names)

    def __len__(self):
        return len(self.names)


def write_all(out_dir, names=None) -> Mapping:
    """{name: <out_dir>/<name>.onnx} for the named models (default: all); each file is written when
    first looked up, and kept for later runs."""
    os.makedirs(out_dir, exist_ok=True)
    return _Paths(out_dir, MODELS if names is None else names)


def feeds(model: onnx.ModelProto, seed: int = 0) -> dict:
    """Deterministic inputs for every graph input: token ids below the vocabulary size (the rows of the
    embedding table a Gather reads them from; else BERT's), an attention mask with the last quarter
    padded out, standard normal floats for everything else."""
    rng = np.random.RandomState(seed)
    tables = {t.name: t.dims[0] for t in model.graph.initializer if t.dims}
    vocab = {n.input[1]: tables[n.input[0]] for n in model.graph.node if n.op_type == "Gather" and n.input[0] in tables}
    out = {}
    for i in model.graph.input:
        shape = [d.dim_value for d in i.type.tensor_type.shape.dim]
        if i.type.tensor_type.elem_type == TensorProto.INT64:
            if "mask" in i.name:
                a = np.ones(shape, np.int64)
                a[..., shape[-1] - shape[-1] // 4:] = 0
            else:
                a = rng.randint(0, vocab.get(i.name, 30522), shape).astype(np.int64)
        else:
            a = rng.randn(*shape).astype(np.float32)
        out[i.name] = a
    return out
