"""Caffe networks written by the tests themselves (seeded random weights): a deploy.prototxt and a
.caffemodel through webdnn's own schema (webdnn.frontend.caffe_proto), read back by OpenCV's dnn
module as the oracle."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf import json_format, text_format

from webdnn.frontend.caffe_proto import classes


class Net:
    def __init__(self, name: str, inputs: dict, seed: int = 0, input_layer: bool = True):
        C = classes()
        self.net = C["NetParameter"](name=name)
        self.blobs = {}
        self.rng = np.random.default_rng(seed)
        if input_layer:
            for blob, shape in inputs.items():
                lp = self.net.layer.add(name=blob, type="Input", top=[blob])
                lp.input_param.shape.add(dim=list(shape))
        else:  # the deprecated NetParameter.input / input_shape form
            for blob, shape in inputs.items():
                self.net.input.append(blob)
                self.net.input_shape.add(dim=list(shape))

    def layer(self, type: str, name: str, bottom, top=None, blobs=(), **params):
        bottom = [bottom] if isinstance(bottom, str) else list(bottom)
        top = [name] if top is None else ([top] if isinstance(top, str) else list(top))
        lp = self.net.layer.add(name=name, type=type, bottom=bottom, top=top)
        for field, value in params.items():
            if isinstance(value, list):  # a repeated message (include rules)
                for v in value:
                    json_format.ParseDict(v, getattr(lp, field).add())
            else:
                json_format.ParseDict(value, getattr(lp, field))
        if blobs:
            self.blobs[name] = [np.asarray(b, np.float32) for b in blobs]
        return top[0] if len(top) == 1 else top

    def randn(self, *shape, scale=1.0):
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def write(self, folder, name: str | None = None) -> tuple[Path, Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        name = name or self.net.name
        proto = folder / f"{name}.prototxt"
        proto.write_text(text_format.MessageToString(self.net))
        weights = type(self.net)()
        weights.CopyFrom(self.net)
        for lp in weights.layer:
            for arr in self.blobs.get(lp.name, []):
                bp = lp.blobs.add()
                bp.shape.dim.extend(arr.shape)
                bp.data.extend(arr.reshape(-1).tolist())
        model = folder / f"{name}.caffemodel"
        model.write_bytes(weights.SerializeToString())
        return model, proto


def opencv_forward(model: Path, proto: Path, inputs: dict, outputs: list[str]) -> list[np.ndarray]:
    import cv2
    net = cv2.dnn.readNetFromCaffe(str(proto), str(model))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    for name, x in inputs.items():
        net.setInput(x, name)
    return [np.asarray(y) for y in net.forward(outputs)]


def conv_bn(net: Net, x: str, c_in: int, c_out: int, k: int, name: str, bn: str, scale: str, stride=1, pad=0,
            relu: str | None = None, bias=False, gamma=1.0) -> str:
    """A convolution with the BatchNorm + Scale pair of the original ResNet-50 (names as given)."""
    blobs = [net.randn(c_out, c_in, k, k, scale=(2.0 / (c_in * k * k)) ** 0.5)] + ([net.randn(c_out, scale=0.1)] if bias else [])
    net.layer("Convolution", name, x, blobs=blobs,
              convolution_param={"num_output": c_out, "kernel_size": [k], "stride": [stride], "pad": [pad],
                                 "bias_term": bias})
    factor = 2.0  # Caffe keeps running sums and their weight
    net.layer("BatchNorm", bn, name, top=name, blobs=[net.randn(c_out, scale=0.1) * factor,
                                                       (net.rng.uniform(0.5, 1.5, c_out) * factor).astype(np.float32),
                                                       np.array([factor], np.float32)],
              batch_norm_param={"use_global_stats": True})
    net.layer("Scale", scale, name, top=name, blobs=[(net.rng.uniform(0.5, 1.5, c_out) * gamma).astype(np.float32),
                                                     net.randn(c_out, scale=0.1)],
              scale_param={"bias_term": True})
    if relu:
        net.layer("ReLU", relu, name, top=name)
    return name


def resnet50(input_size: int = 224, classes_: int = 1000, seed: int = 0, fc_scale: float = 0.25) -> Net:
    """He et al.'s ResNet-50 as released in Caffe (ResNet-50-deploy.prototxt): the same layer names,
    BatchNorm + Scale pairs, in-place ReLUs, the stride on branch2a, ceil-mode pooling."""
    net = Net("ResNet-50", {"data": (1, 3, input_size, input_size)}, seed=seed)
    x = conv_bn(net, "data", 3, 64, 7, "conv1", "bn_conv1", "scale_conv1", stride=2, pad=3, relu="conv1_relu", bias=True)
    x = net.layer("Pooling", "pool1", x, pooling_param={"pool": "MAX", "kernel_size": 3, "stride": 2})
    c_in = 64
    for stage, (blocks, width) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], start=2):
        for i in range(blocks):
            s = f"{stage}{'abcdef'[i]}"
            stride = 2 if i == 0 and stage > 2 else 1
            if i == 0:
                shortcut = conv_bn(net, x, c_in, width * 4, 1, f"res{s}_branch1", f"bn{s}_branch1", f"scale{s}_branch1",
                                   stride=stride)
            else:
                shortcut = x
            y = conv_bn(net, x, c_in, width, 1, f"res{s}_branch2a", f"bn{s}_branch2a", f"scale{s}_branch2a",
                        stride=stride, relu=f"res{s}_branch2a_relu")
            y = conv_bn(net, y, width, width, 3, f"res{s}_branch2b", f"bn{s}_branch2b", f"scale{s}_branch2b",
                        pad=1, relu=f"res{s}_branch2b_relu")
            y = conv_bn(net, y, width, width * 4, 1, f"res{s}_branch2c", f"bn{s}_branch2c", f"scale{s}_branch2c",
                        gamma=0.2)  # keeps the residual sum (and the logits) of a random network moderate
            x = net.layer("Eltwise", f"res{s}", [shortcut, y])
            net.layer("ReLU", f"res{s}_relu", x, top=x)
            c_in = width * 4
    k = (input_size + 31) // 32
    x = net.layer("Pooling", "pool5", x, pooling_param={"pool": "AVE", "kernel_size": k, "stride": 1})
    x = net.layer("InnerProduct", "fc1000", x, blobs=[net.randn(classes_, 2048, scale=fc_scale * 2048 ** -0.5), net.randn(classes_, scale=0.1)],
                  inner_product_param={"num_output": classes_})
    net.layer("Softmax", "prob", x)
    return net
