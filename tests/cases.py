"""Single-op ONNX models with inputs: each is checked against onnxruntime by the numpy reference
(unit) and by every backend in Node and Chromium (e2e)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, TensorProto

F = TensorProto.FLOAT
I64 = TensorProto.INT64


@dataclass
class Case:
    name: str
    model: onnx.ModelProto
    inputs: dict = field(default_factory=dict)


def _rng(name):
    return np.random.RandomState(abs(hash(name)) % (2**31))


def case(name, op, inputs, attrs=None, consts=None, opset=13, n_out=1, out_types=None, in_types=None, node_inputs=None):
    """inputs: {name: array} fed at run time; consts: {name: array} initializers (in node order after inputs);
    node_inputs: the node's input names when they differ from that order ("" for an absent optional input)."""
    consts = consts or {}
    node_inputs = list(inputs) + list(consts) if node_inputs is None else list(node_inputs)
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, node_inputs, outs, name=f"{op.lower()}_node", **(attrs or {}))
    ginputs = [helper.make_tensor_value_info(k, onnx.helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
               for k, v in inputs.items()]
    inits = [onnx.numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    gouts = [helper.make_tensor_value_info(o, (out_types or {}).get(o, 0), None) for o in outs]
    g = helper.make_graph([node], name, ginputs, gouts, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    m = onnx.shape_inference.infer_shapes(m)
    return Case(name, m, inputs)


def r(*shape, name="x", lo=-1.0, hi=1.0):
    return _rng(name + str(shape)).uniform(lo, hi, shape).astype(np.float32)


def build_cases() -> list[Case]:
    C = []
    x4 = r(2, 4, 7, 7)
    w = r(6, 4, 3, 3, name="w")
    b = r(6, name="b")
    C += [
        case("conv_basic", "Conv", {"x": x4}, consts={"w": w, "b": b}),
        case("conv_pads_strides", "Conv", {"x": x4}, {"pads": [1, 0, 2, 1], "strides": [2, 1]}, {"w": w}),
        case("conv_dilation", "Conv", {"x": r(1, 4, 9, 9)}, {"dilations": [2, 2], "pads": [2, 2, 2, 2]}, {"w": w, "b": b}),
        case("conv_group", "Conv", {"x": r(1, 4, 6, 6)}, {"group": 2}, {"w": r(6, 2, 3, 3, name="wg")}),
        case("conv_depthwise", "Conv", {"x": r(1, 4, 8, 8)}, {"group": 4, "pads": [1, 1, 1, 1]}, {"w": r(4, 1, 3, 3, name="wd")}),
        # the generic depthwise path: large windows, stride 2, dilation; widths past the vector steps
        case("conv_depthwise_7x7", "Conv", {"x": r(1, 3, 20, 21)}, {"group": 3, "pads": [3, 3, 3, 3]},
             {"w": r(3, 1, 7, 7, name="wd7"), "b": r(3, name="bd7")}),
        case("conv_depthwise_5x5_s2", "Conv", {"x": r(1, 3, 19, 23)}, {"group": 3, "pads": [2, 2, 2, 2], "strides": [2, 2]},
             {"w": r(3, 1, 5, 5, name="wd5")}),
        # planes narrower than the vector steps (7×7 at the end of a mobile CNN): partial last vectors that
        # must not spill into the next row or channel
        case("conv_depthwise_small_plane", "Conv", {"x": r(1, 5, 7, 7)}, {"group": 5, "pads": [2, 2, 2, 2]},
             {"w": r(5, 1, 5, 5, name="wd5s"), "b": r(5, name="bd5s")}),
        case("conv_depthwise_small_plane_s2", "Conv", {"x": r(1, 4, 13, 11)}, {"group": 4, "pads": [2, 2, 2, 2], "strides": [2, 2]},
             {"w": r(4, 1, 5, 5, name="wd5t")}),
        case("conv_depthwise_dilated", "Conv", {"x": r(1, 2, 17, 19)}, {"group": 2, "pads": [2, 2, 2, 2], "dilations": [2, 2]},
             {"w": r(2, 1, 3, 3, name="wdd")}),
        # a small image with many filters: threads split the rows, the im2col matrix is packed once for all
        # of them (two images, two groups: the packed buffer is reused)
        case("conv_small_image_many_filters", "Conv", {"x": r(2, 8, 12, 12)}, {"group": 2, "pads": [1, 1, 1, 1]},
             {"w": r(40, 4, 3, 3, name="wsm"), "b": r(40, name="bsm")}),
        case("conv_same_upper", "Conv", {"x": r(1, 4, 7, 7)}, {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
             {"w": r(3, 4, 4, 4, name="w4")}),
        case("conv_same_lower", "Conv", {"x": r(1, 4, 7, 7)}, {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
             {"w": r(3, 4, 4, 4, name="w4")}),
        case("conv_1d", "Conv", {"x": r(1, 3, 10)}, {"pads": [1, 2], "strides": [2]}, {"w": r(5, 3, 3, name="w1")}),
        case("conv_1x1", "Conv", {"x": r(1, 8, 5, 5)}, consts={"w": r(16, 8, 1, 1, name="w11"), "b": r(16, name="b16")}),
        case("convtranspose_basic", "ConvTranspose", {"x": r(1, 3, 4, 4)}, {"strides": [2, 2]},
             {"w": r(3, 5, 3, 3, name="wt"), "b": r(5, name="bt")}),
        case("convtranspose_pads_outpad", "ConvTranspose", {"x": r(1, 3, 4, 5)},
             {"strides": [2, 3], "pads": [1, 0, 1, 1], "output_padding": [1, 2]}, {"w": r(3, 2, 3, 3, name="wt2")}),
        case("convtranspose_group_dil", "ConvTranspose", {"x": r(1, 4, 3, 3)}, {"group": 2, "dilations": [2, 1]},
             {"w": r(4, 3, 2, 2, name="wt3")}),
        case("convtranspose_output_shape", "ConvTranspose", {"x": r(1, 2, 3, 3)},
             {"strides": [2, 2], "output_shape": [8, 8]}, {"w": r(2, 2, 3, 3, name="wt4")}),
        case("gemm_basic", "Gemm", {"a": r(3, 5)}, consts={"b": r(5, 4, name="gb"), "c": r(4, name="gc")}),
        case("gemm_trans_alpha_beta", "Gemm", {"a": r(5, 3)}, {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0},
             {"b": r(4, 5, name="gb2"), "c": r(3, 4, name="gc2")}),
        case("matmul_2d", "MatMul", {"a": r(3, 5), "b": r(5, 4, name="mb")}),
        case("matmul_batched_broadcast", "MatMul", {"a": r(2, 1, 3, 5), "b": r(3, 5, 4, name="mb2")}),
        case("matmul_1d", "MatMul", {"a": r(5)}, consts={"b": r(2, 5, 3, name="mb3")}),
        case("batchnorm", "BatchNormalization", {"x": x4},
             consts={"s": r(4, name="s"), "bb": r(4, name="bb"), "m": r(4, name="m"), "v": r(4, name="v", lo=0.5, hi=2)}),
    ]
    ux = r(2, 3, 4, 5, name="u", lo=-3, hi=3)
    for op, attrs in [("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Sigmoid", {}), ("Tanh", {}),
                      ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}), ("Elu", {"alpha": 0.7}),
                      ("Selu", {}), ("Softplus", {}), ("Exp", {}), ("Neg", {}), ("Abs", {}), ("Floor", {}),
                      ("Ceil", {}), ("Erf", {}), ("Sign", {})]:
        C.append(case(f"unary_{op.lower()}", op, {"x": ux}, attrs, opset=14 if op == "HardSwish" else 13))
    px = r(2, 3, 4, 5, name="p", lo=0.1, hi=4)
    for op in ("Log", "Sqrt", "Reciprocal"):
        C.append(case(f"unary_{op.lower()}", op, {"x": px}))
    C += [
        case("gelu", "Gelu", {"x": ux}, opset=20),
        case("gelu_tanh", "Gelu", {"x": ux}, {"approximate": "tanh"}, opset=20),
        case("clip_inputs", "Clip", {"x": ux}, consts={"lo": np.float32(-0.5), "hi": np.float32(1.5)}),
        case("clip_attrs_opset6", "Clip", {"x": ux}, {"min": -1.0, "max": 0.5}, opset=6),
        case("clip_runtime_bounds", "Clip", {"x": ux, "lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)}),
        case("mod_int_python", "Mod", {"a": np.array([7, -7, 9, -9, 5], np.int64), "b": np.array([3, 3, -4, -4, 5], np.int64)}),
        case("mod_fmod", "Mod", {"a": ux, "b": r(5, name="md", lo=0.5, hi=2)}, {"fmod": 1}),
        case("flatten_negative_axis", "Flatten", {"x": ux}, {"axis": -1}),
        case("prelu", "PRelu", {"x": ux}, consts={"slope": r(3, 1, 1, name="sl")}),
    ]
    a, bb = r(2, 3, 4, 5, name="ba"), r(4, 1, name="bb2", lo=0.5, hi=2)
    for op in ("Add", "Sub", "Mul", "Div", "Max", "Min"):
        C.append(case(f"binary_{op.lower()}", op, {"a": a, "b": bb}))
    C += [
        case("pow", "Pow", {"a": px, "b": r(5, name="pw", lo=-1, hi=2)}),
        case("sum3", "Sum", {"a": a, "b": bb, "c": r(5, name="c3")}),
        case("mean3", "Mean", {"a": a, "b": bb, "c": r(5, name="c3")}),
        case("div_int", "Div", {"a": np.array([7, -7, 9, -9, 5], np.int64), "b": np.array([2, 2, -4, -4, 5], np.int64)}),
        case("cast_to_int", "Cast", {"x": ux}, {"to": TensorProto.INT32}),
        case("maxpool", "MaxPool", {"x": x4}, {"kernel_shape": [3, 3], "strides": [2, 2]}),
        case("maxpool_pads_ceil", "MaxPool", {"x": x4}, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1],
                                                         "ceil_mode": 1}),
        case("maxpool_dilation", "MaxPool", {"x": r(1, 2, 9, 9)}, {"kernel_shape": [2, 2], "dilations": [2, 2]}),
        case("avgpool", "AveragePool", {"x": x4}, {"kernel_shape": [2, 2], "strides": [2, 2]}),
        case("avgpool_pads_exclude", "AveragePool", {"x": x4}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
        case("avgpool_pads_include", "AveragePool", {"x": x4}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                                                "count_include_pad": 1}),
        case("avgpool_ceil", "AveragePool", {"x": r(1, 2, 6, 6)}, {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
        case("maxpool_1d", "MaxPool", {"x": r(1, 3, 11)}, {"kernel_shape": [3], "strides": [2]}),
        case("globalavgpool", "GlobalAveragePool", {"x": x4}),
        case("globalmaxpool", "GlobalMaxPool", {"x": x4}),
        case("lrn", "LRN", {"x": r(1, 6, 4, 4)}, {"size": 3, "alpha": 0.001, "beta": 0.75, "bias": 1.5}),
        case("softmax_last", "Softmax", {"x": ux}),
        case("softmax_axis1", "Softmax", {"x": ux}, {"axis": 1}),
        case("logsoftmax_axis2", "LogSoftmax", {"x": ux}, {"axis": 2}),
        case("softmax_opset11_coerce", "Softmax", {"x": ux}, {"axis": 1}, opset=11),
    ]
    for op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceSumSquare", "ReduceLogSumExp"):
        if op == "ReduceSum":
            C.append(case("reducesum", op, {"x": ux}, {"keepdims": 0}, consts={"axes": np.array([1, -1], np.int64)}))
        else:
            C.append(case(op.lower(), op, {"x": ux}, {"axes": [1, -1], "keepdims": 0}))
    C += [
        case("reducelogsum", "ReduceLogSum", {"x": px}, {"axes": [2]}),
        case("reducemean_all", "ReduceMean", {"x": ux}),
        case("reshape", "Reshape", {"x": ux}, consts={"s": np.array([0, -1, 5], np.int64)}),
        case("flatten", "Flatten", {"x": ux}, {"axis": 2}),
        case("squeeze", "Squeeze", {"x": r(2, 1, 3, 1)}, consts={"axes": np.array([1, 3], np.int64)}),
        case("unsqueeze", "Unsqueeze", {"x": r(2, 3)}, consts={"axes": np.array([0, -1], np.int64)}),
        case("unsqueeze_opset11", "Unsqueeze", {"x": r(2, 3)}, {"axes": [1]}, opset=11),
        case("transpose", "Transpose", {"x": ux}, {"perm": [2, 0, 3, 1]}),
        case("concat", "Concat", {"a": r(2, 3, 4), "b": r(2, 1, 4, name="cb"), "c": r(2, 2, 4, name="cc")}, {"axis": 1}),
        case("split", "Split", {"x": r(2, 6, 3)}, {"axis": 1}, consts={"s": np.array([1, 2, 3], np.int64)}, n_out=3),
        case("split_equal", "Split", {"x": r(4, 6)}, {"axis": 1}, n_out=2),
        case("slice", "Slice", {"x": ux}, consts={"s": np.array([1, 0], np.int64), "e": np.array([3, 10], np.int64),
                                                  "ax": np.array([1, 3], np.int64), "st": np.array([1, 2], np.int64)}),
        case("slice_negative_step", "Slice", {"x": ux}, consts={"s": np.array([-1], np.int64), "e": np.array([-100], np.int64),
                                                                "ax": np.array([2], np.int64), "st": np.array([-2], np.int64)}),
        case("gather", "Gather", {"x": ux}, {"axis": 1}, consts={"i": np.array([[2, -1], [0, 1]], np.int64)}),
        case("gather_runtime_indices", "Gather", {"x": r(5, 3), "i": np.array([4, 0, -2], np.int64)}),
        case("pad_constant", "Pad", {"x": ux}, {"mode": "constant"},
             consts={"p": np.array([0, 1, 2, 0, 0, 0, 1, 3], np.int64), "v": np.float32(0.5)}),
        case("pad_reflect", "Pad", {"x": ux}, {"mode": "reflect"}, consts={"p": np.array([0, 0, 2, 1, 0, 0, 1, 3], np.int64)}),
        case("pad_edge_negative", "Pad", {"x": ux}, {"mode": "edge"}, consts={"p": np.array([0, 0, -1, 2, 0, 0, 1, -2], np.int64)}),
        case("expand", "Expand", {"x": r(3, 1)}, consts={"s": np.array([2, 1, 4], np.int64)}),
        case("identity", "Identity", {"x": ux}),
        case("einsum_attention", "Einsum", {"q": r(2, 3, 4, 5), "k": r(2, 3, 6, 5, name="ek")}, {"equation": "bhqd,bhkd->bhqk"}),
        case("einsum_outer", "Einsum", {"a": r(3), "b": r(4, name="eb")}, {"equation": "i,j->ij"}),
        case("einsum_reduce_transpose", "Einsum", {"a": r(2, 3, 4)}, {"equation": "abc->ca"}),
        case("einsum_implicit_ellipsis", "Einsum", {"a": r(2, 3, 4), "b": r(4, 5, name="e2")}, {"equation": "...ij,jk"}),
        case("quantize_per_axis", "QuantizeLinear", {"x": ux * 40},
             {"axis": 1}, {"s": np.array([0.5, 0.25, 1.0], np.float32), "z": np.array([10, 128, 0], np.uint8)}),
        case("dequantize_int8", "DequantizeLinear", {"x": np.arange(-6, 6, dtype=np.int8).reshape(3, 4)},
             consts={"s": np.float32(0.1), "z": np.int8(-2)}),
        case("pad_constant_inf", "Pad", {"x": ux}, {"mode": "constant"},
             consts={"p": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "v": np.float32(-np.inf)}),
        case("max_with_inf_const", "Max", {"a": ux}, consts={"b": np.array([np.inf, -np.inf, 0, 1, 2], np.float32)}),
        case("where_less", "Where", {"c": ux > 0, "a": ux, "b": r(5, name="wb")}),
        case("equal_int", "Equal", {"a": np.array([1, 2, 3], np.int64), "b": np.array([1, 0, 3], np.int64)}),
    ]
    C += _index_scan_resize_cases()
    return C


def _index_scan_resize_cases() -> list[Case]:
    """GatherElements/GatherND/Scatter*, ArgMax/ArgMin/Hardmax, CumSum, TopK and Resize/Upsample."""
    x = r(3, 4, 5, name="ix")
    ties = np.round(r(3, 4, 5, name="it") * 2).astype(np.float32)  # few distinct values: many ties
    gi = np.array([[[1, -1, 0, 2, 3]] * 2] * 3, np.int64)  # [3, 2, 5] indices into axis 1
    C = [
        case("gatherelements_axis1", "GatherElements", {"x": x, "i": gi}, {"axis": 1}),
        case("gatherelements_last_axis_const", "GatherElements", {"x": x}, {"axis": -1},
             consts={"i": np.array([[[4, 0, -5]] * 4] * 3, np.int64)}),
        case("gathernd", "GatherND", {"x": x, "i": np.array([[0, 1], [2, -1], [1, 3]], np.int64)}),
        case("gathernd_batch_dims", "GatherND", {"x": x, "i": np.array([[[1, 4], [3, 0]], [[0, 0], [2, 2]],
                                                                        [[3, -1], [1, 1]]], np.int64)},
             {"batch_dims": 1}),
        case("scatternd_slices_add", "ScatterND", {"x": x, "i": np.array([[1], [0], [1]], np.int64), "u": r(3, 4, 5, name="su")},
             {"reduction": "add"}, opset=16),
    ]
    su = r(3, 2, 5, name="su2")
    for red in ("none", "add", "mul", "max", "min"):
        C.append(case(f"scatterelements_{red}", "ScatterElements", {"x": x, "i": gi, "u": su},
                      {"axis": 1, "reduction": red} if red != "none" else {"axis": 1}, opset=18))
        C.append(case(f"scatternd_{red}", "ScatterND",
                      {"x": x, "i": np.array([[2, 1], [0, -1], [2, 1]], np.int64), "u": r(3, 5, name="sn")},
                      {"reduction": red} if red != "none" else {}, opset=18))
    for op in ("ArgMax", "ArgMin"):
        C += [
            case(f"{op.lower()}_keepdims", op, {"x": ties}, {"axis": 1}),
            case(f"{op.lower()}_last_index_nokeep", op, {"x": ties}, {"axis": -1, "keepdims": 0, "select_last_index": 1}),
        ]
    C += [
        case("hardmax", "Hardmax", {"x": ties}, {"axis": 1}),
        case("hardmax_opset11_coerce", "Hardmax", {"x": ties}, {"axis": 1}, opset=11),
        case("cumsum_axis1", "CumSum", {"x": x}, consts={"a": np.array(1, np.int64)}),
        case("cumsum_exclusive_reverse", "CumSum", {"x": x}, {"exclusive": 1, "reverse": 1},
             consts={"a": np.array(-1, np.int32)}),
        case("cumsum_int32", "CumSum", {"x": np.arange(-6, 6, dtype=np.int32).reshape(3, 4)}, {"exclusive": 1},
             consts={"a": np.array(0, np.int64)}),
        case("cumprod_exclusive_reverse", "CumProd", {"x": x}, {"exclusive": 1, "reverse": 1},
             consts={"a": np.array(2, np.int64)}, opset=26),
        case("tensorscatter_circular", "TensorScatter",
             {"past": r(2, 3, 6, 4, name="kv"), "u": r(2, 3, 3, 4, name="kvu"), "w": np.array([1, 5], np.int64)},
             {"mode": "circular"}, opset=24),
        case("tensorscatter_prefill_axis1", "TensorScatter", {"past": r(2, 6, 4, name="kv1"), "u": r(2, 2, 4, name="kvu1")},
             {"axis": 1}, opset=24),
        case("topk_largest", "TopK", {"x": ties}, {"axis": 1}, consts={"k": np.array([3], np.int64)}, n_out=2),
        case("topk_smallest_last_axis", "TopK", {"x": ties}, {"largest": 0}, consts={"k": np.array([4], np.int64)}, n_out=2),
        case("topk_opset1_attr_k", "TopK", {"x": x}, {"k": 2, "axis": 0}, opset=1, n_out=2),
    ]
    img = r(1, 2, 7, 9, name="img")
    sizes = lambda *s: {"sz": np.array(s, np.int64)}  # noqa: E731
    scales = lambda *s: {"sc": np.array(s, np.float32)}  # noqa: E731
    X_SZ, X_SC, X_ROI_SZ = ["x", "", "", "sz"], ["x", "", "sc"], ["x", "roi", "", "sz"]
    for nm in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        C.append(case(f"resize_nearest_{nm}_up", "Resize", {"x": img}, {"mode": "nearest", "nearest_mode": nm},
                      consts=sizes(1, 2, 10, 14), node_inputs=X_SZ))
        C.append(case(f"resize_nearest_{nm}_down_asymmetric", "Resize", {"x": img},
                      {"mode": "nearest", "nearest_mode": nm, "coordinate_transformation_mode": "asymmetric"},
                      consts=scales(1, 1, 0.6, 0.5), node_inputs=X_SC))
    for ctm in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"):
        C.append(case(f"resize_linear_{ctm}_up", "Resize", {"x": img},
                      {"mode": "linear", "coordinate_transformation_mode": ctm}, consts=sizes(1, 2, 12, 16), node_inputs=X_SZ))
        C.append(case(f"resize_linear_{ctm}_down", "Resize", {"x": img},
                      {"mode": "linear", "coordinate_transformation_mode": ctm}, consts=sizes(1, 2, 4, 1), node_inputs=X_SZ))
        C.append(case(f"resize_cubic_{ctm}", "Resize", {"x": img}, {"mode": "cubic", "coordinate_transformation_mode": ctm},
                      consts=sizes(1, 2, 11, 5), node_inputs=X_SZ))
    C += [
        case("resize_cubic_a05_exclude_outside", "Resize", {"x": img},
             {"mode": "cubic", "cubic_coeff_a": -0.5, "exclude_outside": 1}, consts=scales(1, 1, 1.5, 0.75), node_inputs=X_SC),
        case("resize_linear_scales_3d", "Resize", {"x": r(3, 5, 4, name="vol")}, {"mode": "linear"},
             consts=scales(2.0, 0.6, 1.5), node_inputs=X_SC),
        case("resize_tf_crop_and_resize", "Resize", {"x": img},
             {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": -3.0},
             consts={"roi": np.array([0, 0, -0.2, 0.3, 1, 1, 0.8, 1.4], np.float32), **sizes(1, 2, 6, 8)}, node_inputs=X_ROI_SZ),
        case("resize_axes_not_larger", "Resize", {"x": img},
             {"mode": "linear", "axes": [3, 2], "keep_aspect_ratio_policy": "not_larger"},
             consts=sizes(20, 10), node_inputs=X_SZ, opset=18),
        case("resize_axes_not_smaller_nearest", "Resize", {"x": img},
             {"mode": "nearest", "axes": [2, 3], "keep_aspect_ratio_policy": "not_smaller"},
             consts=sizes(5, 5), node_inputs=X_SZ, opset=18),
        case("resize_linear_antialias_down", "Resize", {"x": img}, {"mode": "linear", "antialias": 1},
             consts=sizes(1, 2, 3, 4), node_inputs=X_SZ, opset=18),
        case("resize_cubic_antialias_down", "Resize", {"x": img}, {"mode": "cubic", "antialias": 1},
             consts=scales(1, 1, 0.5, 0.4), node_inputs=X_SC, opset=18),
        case("resize_half_pixel_symmetric", "Resize", {"x": img},
             {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"},
             consts=scales(1, 1, 1.7, 0.7), node_inputs=X_SC, opset=19),
        case("resize_opset10_nearest_down", "Resize", {"x": img}, consts=scales(1, 1, 0.6, 0.5), opset=10),
        case("resize_opset10_linear_up", "Resize", {"x": img}, {"mode": "linear"}, consts=scales(1, 1, 2, 1.5), opset=10),
        case("resize_nearest_uint8", "Resize", {"x": (np.arange(63) * 4).astype(np.uint8).reshape(1, 1, 7, 9)},
             consts=scales(1, 1, 2, 2), node_inputs=X_SC),
        case("upsample_nearest", "Upsample", {"x": img}, consts=scales(1, 1, 2, 3), opset=9),
        case("upsample_linear", "Upsample", {"x": img}, {"mode": "linear"}, consts=scales(1, 1, 2, 2.5), opset=9),
        case("upsample_opset7_scales_attr", "Upsample", {"x": img}, {"scales": [1.0, 1.0, 1.5, 2.0]}, opset=7),
        case("resize_opset11_tf_half_pixel_for_nn", "Resize", {"x": img},
             {"coordinate_transformation_mode": "tf_half_pixel_for_nn"},
             consts={"roi": np.zeros(0, np.float32), **scales(1, 1, 1.4, 0.6)}, node_inputs=["x", "roi", "sc"], opset=11),
    ]
    return C


CASES = build_cases()
