"""Small models of our own, built with onnx.helper and random weights (so outputs are not degenerate)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


class Builder:
    def __init__(self, name, seed=0):
        self.name, self.nodes, self.inits, self.rng, self.n = name, [], [], np.random.RandomState(seed), 0

    def w(self, *shape, scale=None):
        fan_in = int(np.prod(shape[1:])) or 1
        a = (self.rng.randn(*shape) * (scale if scale is not None else np.sqrt(2.0 / fan_in))).astype(np.float32)
        return self.const(a)

    def const(self, a):
        self.n += 1
        name = f"c{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(a), name))
        return name

    def node(self, op, inputs, **attrs):
        self.n += 1
        out = f"t{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=f"{op.lower()}{self.n}", **attrs))
        return out

    def conv_bn_relu(self, x, cin, cout, k=3, stride=1, group=1, relu=True):
        y = self.node("Conv", [x, self.w(cout, cin // group, k, k)], pads=[k // 2] * 4, strides=[stride] * 2, group=group)
        y = self.node("BatchNormalization", [y, self.const(self.rng.rand(cout).astype(np.float32) + 0.5),
                                             self.const(self.rng.randn(cout).astype(np.float32) * 0.1),
                                             self.const(self.rng.randn(cout).astype(np.float32) * 0.1),
                                             self.const(self.rng.rand(cout).astype(np.float32) + 0.5)])
        return self.node("Relu", [y]) if relu else y

    def model(self, x_shape, out, opset=13):
        g = helper.make_graph(self.nodes, self.name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        return m


def mini_resnet():
    """Residual blocks with a projection shortcut, max and global average pool, Gemm, Softmax."""
    b = Builder("mini_resnet", 1)
    h = b.conv_bn_relu("x", 3, 16, k=5, stride=2)
    h = b.node("MaxPool", [h], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    for cin, cout, s in [(16, 16, 1), (16, 32, 2)]:
        y = b.conv_bn_relu(h, cin, cout, stride=s)
        y = b.conv_bn_relu(y, cout, cout, relu=False)
        sc = h if cin == cout and s == 1 else b.conv_bn_relu(h, cin, cout, k=1, stride=s, relu=False)
        h = b.node("Relu", [b.node("Add", [y, sc])])
    h = b.node("GlobalAveragePool", [h])
    h = b.node("Flatten", [h])
    h = b.node("Gemm", [h, b.w(10, 32), b.const(np.zeros(10, np.float32))], transB=1)
    return b.model([1, 3, 32, 32], b.node("Softmax", [h], axis=1))


def mini_mobilenet():
    """Depthwise-separable blocks with HardSwish/Clip, squeeze-excitation, channel shuffle, concat."""
    b = Builder("mini_mobilenet", 2)
    h = b.conv_bn_relu("x", 3, 16, stride=2)
    dw = b.conv_bn_relu(h, 16, 16, group=16, relu=False)
    dw = b.node("HardSwish", [dw])
    pw = b.node("Clip", [b.conv_bn_relu(dw, 16, 24, k=1, relu=False), b.const(np.float32(0)), b.const(np.float32(6))])
    se = b.node("GlobalAveragePool", [pw])
    se = b.node("Relu", [b.node("Conv", [se, b.w(8, 24, 1, 1)])])
    se = b.node("HardSigmoid", [b.node("Conv", [se, b.w(24, 8, 1, 1)])])
    h = b.node("Mul", [pw, se])
    # channel shuffle: [1, 24, H, W] → [1, 2, 12, H, W] → transpose → back
    sh = b.node("Reshape", [h, b.const(np.array([1, 2, 12, 16, 16], np.int64))])
    sh = b.node("Transpose", [sh], perm=[0, 2, 1, 3, 4])
    sh = b.node("Reshape", [sh, b.const(np.array([1, 24, 16, 16], np.int64))])
    a = b.node("AveragePool", [sh], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    m = b.node("MaxPool", [sh], kernel_shape=[2, 2], strides=[2, 2])
    h = b.node("Concat", [a, m], axis=1)
    h = b.node("ReduceMean", [h], axes=[2, 3], keepdims=0)
    h = b.node("MatMul", [h, b.w(48, 10)])
    return b.model([1, 3, 32, 32], b.node("LogSoftmax", [h], axis=-1), opset=14)


def mini_segmenter():
    """Encoder-decoder with ConvTranspose, Pad, Slice, LeakyRelu, Sigmoid, a residual and Split."""
    b = Builder("mini_segmenter", 3)
    e = b.node("LeakyRelu", [b.node("Conv", ["x", b.w(8, 3, 3, 3)], pads=[1, 1, 1, 1], strides=[2, 2])], alpha=0.1)
    e2 = b.node("Elu", [b.node("Conv", [e, b.w(16, 8, 3, 3)], pads=[1, 1, 1, 1], strides=[2, 2])])
    d = b.node("ConvTranspose", [e2, b.w(16, 8, 2, 2), b.const(np.zeros(8, np.float32))], strides=[2, 2])
    d = b.node("Add", [d, e])
    d = b.node("ConvTranspose", [d, b.w(8, 4, 3, 3)], strides=[2, 2], pads=[1, 1, 0, 0])
    d = b.node("Pad", [d, b.const(np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64))], mode="reflect")
    d = b.node("Slice", [d, b.const(np.array([0, 0], np.int64)), b.const(np.array([32, 32], np.int64)),
                         b.const(np.array([2, 3], np.int64))])
    s1 = f"t{b.n + 1}"
    b.n += 2
    b.nodes.append(helper.make_node("Split", [d, b.const(np.array([2, 2], np.int64))], [s1, s1 + "b"], axis=1))
    return b.model([1, 3, 32, 32], b.node("Sigmoid", [b.node("Mul", [s1, s1 + "b"])]))


OWN_MODELS = {"mini_resnet": mini_resnet, "mini_mobilenet": mini_mobilenet, "mini_segmenter": mini_segmenter}


def shared_matrix_products():
    """(model, feeds): Linear layers on 4-D activations ([1, 7, 5, 48] × [48, 37]: a batch of products
    sharing B, which backends run as one product of 35 rows) with fused epilogues — a bias and erf then
    a full-shape residual; a scale that varies per batch entry but repeats over the rows — and a
    batch of single rows × a shared B ([3, 1, 40] × [40, 70]) plus a bias."""
    rng = np.random.default_rng(8)
    init = lambda name, *shape: numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["t"]), helper.make_node("Add", ["t", "b"], ["t1"]),
             helper.make_node("Erf", ["t1"], ["t2"]), helper.make_node("Add", ["t2", "r"], ["y"]),
             helper.make_node("MatMul", ["x", "w2"], ["u"]), helper.make_node("Mul", ["u", "s"], ["z"]),
             helper.make_node("MatMul", ["g", "v"], ["q"]), helper.make_node("Add", ["q", "c"], ["gy"])]
    gr = helper.make_graph(
        nodes, "shared_matrix_products",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 7, 5, 48]),
         helper.make_tensor_value_info("r", TensorProto.FLOAT, [1, 7, 5, 37]),
         helper.make_tensor_value_info("g", TensorProto.FLOAT, [3, 1, 40])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "z", "gy")],
        [init("w", 48, 37), init("w2", 48, 37), init("b", 37), init("s", 1, 7, 1, 37), init("v", 40, 70), init("c", 70)])
    feeds = {"x": rng.standard_normal((1, 7, 5, 48)).astype(np.float32),
             "r": rng.standard_normal((1, 7, 5, 37)).astype(np.float32),
             "g": rng.standard_normal((3, 1, 40)).astype(np.float32)}
    return helper.make_model(gr, opset_imports=[helper.make_opsetid("", 13)]), feeds


def attention_block(batch=2, heads=4, queries=37, keys=37, d=16, dv=24, mask=True, seed=0, masked_first=0):
    """(model, feeds): scaled dot-product attention as exporters write it: Transpose(k), q · kᵀ, × 1/√d,
    + an additive mask [batch, 1, 1, keys] (the second half of the last batch entry's keys masked with
    -1e9; the first `masked_first` keys of the first entry with -inf), Softmax over the keys, · v, heads
    moved back next to the values."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Mul", ["s", "scale"], ["ss"])]
    last = "ss"
    if mask:
        nodes.append(helper.make_node("Add", ["ss", "mask"], ["sm"]))
        last = "sm"
    nodes += [helper.make_node("Softmax", [last], ["p"], axis=-1), helper.make_node("MatMul", ["p", "v"], ["o"]),
              helper.make_node("Transpose", ["o"], ["y"], perm=[0, 2, 1, 3])]
    shapes = {"q": [batch, heads, queries, d], "k": [batch, heads, keys, d], "v": [batch, heads, keys, dv]}
    if mask:
        shapes["mask"] = [batch, 1, 1, keys]
    gr = helper.make_graph(nodes, "attention", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in shapes.items()],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                           [numpy_helper.from_array(np.array(d ** -0.5, np.float32), "scale")])
    feeds = {n: (rng.standard_normal(s) * (2 if n == "q" else 1)).astype(np.float32) for n, s in shapes.items() if n != "mask"}
    if mask:
        m = np.zeros(shapes["mask"], np.float32)
        m[-1, ..., keys // 2:] = -1e9
        m[0, ..., :masked_first] = -np.inf
        feeds["mask"] = m
    return helper.make_model(gr, opset_imports=[helper.make_opsetid("", 13)]), feeds


def row_norms(rows=(3, 50), c=96, seed=0):
    """(model, feeds): row-wise normalizations over the last axis, as exports write them: LayerNormalization
    (opset 17) after a residual add, then RMSNorm written out as ops (x / sqrt(mean(x²) + ε) · w) and a
    softmax written out as ops (exp(x - max) / Σ) of its result (one group: the RMSNorm's output has no
    other reader)."""
    rng = np.random.default_rng(seed)
    init = lambda name, *shape: numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
    nodes = [helper.make_node("Add", ["x", "r"], ["h"]),
             helper.make_node("LayerNormalization", ["h", "g", "b"], ["ln"], axis=-1, epsilon=1e-5),
             helper.make_node("Mul", ["ln", "ln"], ["sq"]), helper.make_node("ReduceMean", ["sq"], ["ms"], axes=[-1]),
             helper.make_node("Add", ["ms", "eps"], ["mse"]), helper.make_node("Sqrt", ["mse"], ["rms"]),
             helper.make_node("Div", ["ln", "rms"], ["nrm"]), helper.make_node("Mul", ["nrm", "w"], ["rn"]),
             helper.make_node("ReduceMax", ["rn"], ["mx"], axes=[-1]), helper.make_node("Sub", ["rn", "mx"], ["d"]),
             helper.make_node("Exp", ["d"], ["e"]), helper.make_node("ReduceSum", ["e", "last"], ["se"]),
             helper.make_node("Div", ["e", "se"], ["y"])]
    shape = [*rows, c]
    gr = helper.make_graph(nodes, "row_norms", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape),
                                                helper.make_tensor_value_info("r", TensorProto.FLOAT, shape)],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                           [init("g", c), init("b", c), init("w", c), numpy_helper.from_array(np.array(1e-6, np.float32), "eps"),
                            numpy_helper.from_array(np.array([-1], np.int64), "last")])
    feeds = {"x": rng.standard_normal(shape).astype(np.float32) * 3 + 1, "r": rng.standard_normal(shape).astype(np.float32)}
    return helper.make_model(gr, opset_imports=[helper.make_opsetid("", 17)]), feeds
