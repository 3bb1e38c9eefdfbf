"""The wasm backend's lowering: the C renderer table, the broadcasting helper, epilogue fusion,
the memory layout (constants, planned arena, per-thread scratch never overlap), weight prepacking,
and the compiled-library cache."""
import re

import numpy as np
import pytest

from tests.models import mini_mobilenet, mini_resnet
from webdnn.backend.wasm import render as R, toolchain
from webdnn.backend.lowering import lower_graph
from webdnn.backend.wasm.lower import FUSION, GEMM_SCRATCH, lower_program
from webdnn.options import ConvertOptions
from webdnn.converter import load_graph
from webdnn.ir import Graph
from webdnn.ir.ops.elementwise import PRIMITIVES, call, inp
from webdnn.passes.pipeline import optimize


def optimized(model):
    g = load_graph(model)
    optimize(g)
    return g


def test_renderer_table_covers_every_primitive():
    assert set(R.SCALAR) == set(PRIMITIVES)
    assert set(R.VECTOR) <= set(PRIMITIVES)


def test_render_types_and_constants():
    code, cls = R.render(call("max", inp(0), 0), ["float32"], lambda i: f"x{i}", "float32")
    assert cls == "f" and code == "wd_maxf(x0, ((float)0.0))"
    code, cls = R.render(call("lt", inp(0), inp(1)), ["int32", "float32"], lambda i: f"x{i}", "bool")
    assert cls == "b" and "(float)(x0)" in code
    code, cls = R.render(["cast", "int32", inp(0)], ["float32"], lambda i: f"x{i}", "int32")
    assert code == "wd_f2i(x0)"  # saturating: NaN and out-of-range values cannot trap
    assert R.c_float("nan") == '__builtin_nanf("")' and R.c_float(float("-inf")) == "(-__builtin_inff())"
    assert R.vectorizable(call("min", call("max", inp(0), 0), 6), ["float32"])
    assert R.vectorizable(call("erf", call("exp", inp(0))), ["float32"])  # csrc/vmath.h
    assert not R.vectorizable(call("sin", inp(0)), ["float32"])
    lit = ["cast", "float32", ["const", 0.5]]  # an inlined scalar constant (passes/simplify_elementwise)
    assert R.vectorizable(call("mul", inp(0), lit), ["float32"])
    assert R.render_vector(call("mul", inp(0), lit), lambda i: "v") == "wasm_f32x4_mul(v, wasm_f32x4_splat(((float)0.5)))"


@pytest.mark.parametrize("in_shape, out_shape, dims, strides", [
    ([2, 3, 4], [2, 3, 4], [24], [[1], [1]]),
    ([4, 1], [3, 4, 5], [3, 4, 5], [[20, 5, 1], [0, 1, 0]]),
    ([5], [3, 4, 5], [12, 5], [[5, 1], [0, 1]]),
    ([1, 4, 1, 1], [2, 4, 3, 3], [2, 4, 9], [[36, 9, 1], [0, 1, 0]]),
])
def test_broadcast_collapse(in_shape, out_shape, dims, strides):
    ost = R.broadcast_strides(out_shape, out_shape)
    got_dims, got = R.collapse(out_shape, [ost, R.broadcast_strides(in_shape, out_shape)])
    assert (got_dims, got) == (dims, strides)


def test_contraction_epilogues_are_fused():
    g = optimized(mini_resnet())
    steps = lower_graph(g, FUSION).steps
    convs = [s for s in steps if s.type == "Conv"]
    assert sum(s.epilogue is not None for s in convs) >= 5  # conv + relu, conv + residual add + relu
    assert not any(s.type == "Elementwise" for s in steps if s.epilogue is None and s.inputs[0].shape == s.outputs[0].shape
                   and any(t is not None and t.name == s.inputs[0].name for c in convs for t in c.outputs))
    mm = next(s for s in steps if s.type == "MatMul")
    assert mm.epilogue is not None  # the Gemm's bias add


def test_graph_output_is_not_fused_away():
    g = Graph()
    x = g.add_input("x", [1, 2, 5, 5])
    w = g.constant(np.ones((3, 2, 3, 3), np.float32), "w")
    (y,) = g.add_op("Conv", [x, w], {"pads": [1, 1, 1, 1]})
    (z,) = g.add_op("Elementwise", [y], {"expr": call("max", inp(0), 0)})
    g.outputs = [y, z]
    steps = lower_graph(g, FUSION).steps
    assert [s.epilogue for s in steps] == [None, None]


def test_layout_regions_do_not_overlap():
    g = optimized(mini_mobilenet())
    src, layout, constants, steps = lower_program(g)
    offs = layout["offsets"]
    ends = [offs[c.name] + c.data.nbytes for c in constants if c.dtype == "float32"]
    assert max(ends) <= layout["constBytes"] <= layout["arenaOffset"]
    assert layout["arenaOffset"] + layout["arenaBytes"] <= layout["scratchOffset"]
    acts = [t for s in steps for t in s.outputs]
    assert all(layout["arenaOffset"] <= offs[t.name] < layout["scratchOffset"] for t in acts)
    assert layout["arenaBytes"] < layout["sumBytes"]  # liveness-based reuse
    assert layout["scratchBytes"] >= GEMM_SCRATCH
    # every offset the C file uses is inside the planned region
    used = [int(v) for v in re.findall(r"wd_base \+ (\d+)", src)]
    assert max(used) < layout["scratchOffset"] + layout["scratchBytes"]


def test_weights_packed_once_when_used_once():
    g = optimized(mini_resnet())
    src, *_ = lower_program(g)
    prepare = src[src.index("wd_prepare(void)"):src.index("WD_EXPORT(run)")]
    packed = re.findall(r"wd_pack_a\(\(float\*\)\(wd_base \+ (\d+)\)", prepare)
    assert len(packed) == len(set(packed)) >= 5
    # those convs read the packed layout (the flag before the work buffer's pointer and size)
    assert len(re.findall(r", 1, (?:\(float\*\)wd_temp, \d+|0, 0)\};\n  wd_conv\(&p\);", src)) == len(packed)


def test_library_objects_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("WEBDNN_CACHE", str(tmp_path))
    first = toolchain.library_objects()
    stamps = [p.stat().st_mtime_ns for p in first]
    again = toolchain.library_objects()
    assert again == first and [p.stat().st_mtime_ns for p in again] == stamps
    assert all(p.is_relative_to(tmp_path) for p in first)


def test_module_exports_and_shared_memory():
    g = optimized(mini_resnet())
    src, layout, *_ = lower_program(g)
    wasm, initial = toolchain.build(src, 64 << 20)
    assert wasm[:4] == b"\0asm" and initial == toolchain.INITIAL_BYTES
    text = wasm.decode("latin-1")
    for name in ("run", "wd_init", "wd_prepare", "wd_worker", "wd_set_stack", "wd_stack_top", "wd_base_address",
                 "wd_step"):
        assert name in text, name


def test_relaxed_simd_build_fuses_multiply_adds():
    """Two builds of one program: the relaxed one uses f32x4.relaxed_madd (0xfd 0x85 0x02) where the
    plain one multiplies and adds; ConvertOptions(relaxed=False) writes the plain one only."""
    from webdnn.backend import wasm
    g = optimized(mini_resnet())
    low = wasm.lower(g)
    doc, files = low.doc, low.files
    assert doc["module"] == wasm.MODULE_FILE and doc["moduleRelaxed"] == wasm.RELAXED_FILE
    madd = b"\xfd\x85\x02"
    assert madd in files[wasm.RELAXED_FILE] and madd not in files[wasm.MODULE_FILE]
    low = wasm.lower(g, ConvertOptions(relaxed=False))
    assert "moduleRelaxed" not in low.doc and list(low.files) == [wasm.MODULE_FILE]


def _conv_graph(convs):
    """x -> Conv -> ... (each: out channels, kernel, stride, group) on a [1, 16, 32, 32] input."""
    g = Graph()
    x = g.add_input("x", [1, 16, 32, 32])
    c = 16
    for i, (m, k, s, grp) in enumerate(convs):
        w = g.constant(np.ones((m, c // grp, k, k), np.float32), f"w{i}")
        (x,) = g.add_op("Conv", [x, w], {"pads": [k // 2] * 4, "strides": [s, s], "group": grp})
        c = m
    g.outputs = [x]
    return g


def test_winograd_for_3x3_stride_1_convolutions(monkeypatch):
    """Winograd F(4x4, 3x3) takes 3x3 stride-1 group-1 convolutions with enough output tiles and
    channels; its transformed weights (36/9 of the weights) go to the wd_prep region between the
    temporary buffer and the scratch, and are computed once in wd_prepare; past the model's budget
    (emit.WINOGRAD_WEIGHT_BYTES) the rest run as the direct GEMM."""
    from webdnn.backend.wasm import emit
    src, layout, *_ = lower_program(_conv_graph([(16, 3, 1, 1), (16, 3, 2, 1), (16, 1, 1, 1), (16, 3, 1, 16),
                                                 (4, 3, 1, 1), (16, 5, 1, 1)]))
    assert src.count("wd_winograd(&p") == 1  # stride 2, 1x1, depthwise, 4 channels, 5x5: direct
    prepare = src[src.index("wd_prepare(void)"):src.index("WD_EXPORT(run)")]
    assert prepare.count("wd_winograd_weights(") == 1
    prep_at = int(re.search(r"#define wd_prep \(wd_base \+ (\d+)\)", src).group(1))
    assert layout["arenaOffset"] + layout["arenaBytes"] <= prep_at
    assert prep_at + 36 * 16 * 16 * 4 <= layout["scratchOffset"]
    src, *_ = lower_program(_conv_graph([(16, 3, 1, 1)] * 3))
    assert src.count("wd_winograd(&p") == 3
    monkeypatch.setattr(emit, "WINOGRAD_WEIGHT_BYTES", 2 * 36 * 16 * 16 * 4)
    src, *_ = lower_program(_conv_graph([(16, 3, 1, 1)] * 3))
    assert src.count("wd_winograd(&p") == 2 and src.count("wd_conv(&p)") == 1
    small = Graph()  # 2x2 output tiles: below WINOGRAD_MIN_TILES
    x = small.add_input("x", [1, 16, 8, 8])
    (y,) = small.add_op("Conv", [x, small.constant(np.ones((16, 16, 3, 3), np.float32), "w")], {"pads": [1] * 4})
    small.outputs = [y]
    assert "wd_winograd(&p" not in lower_program(small)[0]


def test_int8_convolutions_take_winograd_or_gather_their_patches(monkeypatch):
    """Under --weights int8 a Winograd-shaped convolution of 64 channels or more runs Winograd with
    integer products (int16 transformed weights, computed at load from the weights as stored); other
    convolutions of group 1 gather their patches; past the Winograd weight room a Winograd-shaped one
    gathers its patches too (its weights stay as stored either way); raw weights keep float Winograd."""
    from webdnn.backend.wasm import emit

    def graph():
        g = Graph()
        x = g.add_input("x", [1, 64, 32, 32])
        rng = np.random.default_rng(0)
        for i, (m, k, s) in enumerate([(64, 3, 1), (64, 3, 2), (32, 1, 1)]):
            w = g.constant(rng.standard_normal((m, x.shape[1], k, k)).astype(np.float32), f"w{i}")
            (x,) = g.add_op("Conv", [x, w], {"pads": [k // 2] * 4, "strides": [s, s]})
        g.outputs = [x]
        return g

    src = lower_program(graph(), weights="int8")[0]
    assert src.count("wd_q8_winograd(&p") == 1 and src.count("wd_q8_conv(") == 2 and "wd_winograd(&p" not in src
    assert src.count("wd_q8_winograd_weights_stored(") == 1 and src.count("wd_q8_conv_weights_stored(") == 2
    raw = lower_program(graph())[0]
    assert raw.count("wd_winograd(&p") == 1 and "wd_q8_" not in raw
    monkeypatch.setattr(emit, "WINOGRAD_WEIGHT_BYTES", emit.q8_winograd_weight_bytes(64, 64) - 1)
    src = lower_program(graph(), weights="int8")[0]
    assert "wd_q8_winograd(&p" not in src and src.count("wd_q8_conv(") == 3


def test_products_of_few_rows_take_their_constant_matrix_in_column_panels():
    """A constant B read only by products with M < 4 (a classifier head, a recurrent step) is
    rewritten once at load into panels of 32 columns; B also read by a product of many rows, or one
    over the 8 MiB copy budget, stays row-major."""
    g = Graph()
    x = g.add_input("x", [1, 2, 64])
    z = g.add_input("z", [8, 64])
    w = g.constant(np.ones((64, 100), np.float32), "w")      # two GEMVs: packed once
    v = g.constant(np.ones((64, 40), np.float32), "v")       # a GEMV and a GEMM: not packed
    (a,) = g.add_op("MatMul", [x, w], {})
    (b,) = g.add_op("MatMul", [x, w], {})
    (c,) = g.add_op("MatMul", [x, v], {})
    (d,) = g.add_op("MatMul", [z, v], {})
    g.outputs = [a, b, c, d]
    src, *_ = lower_program(g)
    prepare = src[src.index("wd_prepare(void)"):src.index("WD_EXPORT(run)")]
    assert prepare.count("wd_pack_b_panels(") == 1 and ", 64, 100, (float*)wd_temp" in prepare
    assert src.count("wd_gemv_packed(") == 2 and src.count("wd_matmul(") == 2


def test_linear_weights_are_rewritten_into_slivers_once():
    """A constant B [K, N] (N a multiple of 8) read only by float products of 4 rows or more is rewritten once
    at load into slivers of 8 columns, in place (a bit per 8-float unit in the temporary buffer) and every
    such product reads the slivers; B with N % 8 != 0, B also read by a few-row product, and under --weights
    int8 (8-bit products) stay as they are."""
    g = Graph()
    x = g.add_input("x", [1, 6, 64])
    z = g.add_input("z", [2, 64])
    w = g.constant(np.ones((64, 96), np.float32), "w")  # two GEMMs: one rewrite
    v = g.constant(np.ones((64, 40), np.float32), "v")  # a GEMM and a GEMV: row-major
    u = g.constant(np.ones((64, 36), np.float32), "u")  # 36 columns: row-major
    outs = [g.add_op("MatMul", [x, w], {})[0], g.add_op("MatMul", [x, w], {})[0], g.add_op("MatMul", [x, v], {})[0],
            g.add_op("MatMul", [z, v], {})[0], g.add_op("MatMul", [x, u], {})[0]]
    g.outputs = outs
    src, *_ = lower_program(g)
    prepare = src[src.index("wd_prepare(void)"):src.index("WD_EXPORT(run)")]
    assert prepare.count("wd_pack_b_slivers(") == 1 and ", 64, 96, (uint8_t*)wd_temp" in prepare
    assert src.count("wd_matmul_slivers(") == 2 and src.count("wd_matmul(") == 3
    q8 = lower_program(g, weights="int8")[0]
    assert "wd_pack_b_slivers(" not in q8 and "wd_matmul_slivers(" not in q8


def test_slivers_with_rows_known_at_run_time():
    """x [seq, 64] x W [64, 96], seq symbolic: fewer than 4 rows read a column-panel copy of W (made at load from W
    as stored), more read W in slivers, rewritten in place after every copy is made."""
    from onnx import TensorProto, helper, numpy_helper
    from webdnn.converter import load_graph
    m = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "seq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones((64, 96), np.float32), "w")]), opset_imports=[helper.make_opsetid("", 13)])
    g = load_graph(m, symbolic=True)
    g.symbols.setdefault("seq", 1)
    optimize(g)
    src, *_ = lower_program(g)
    prepare = src[src.index("wd_prepare(void)"):src.index("WD_EXPORT(run)")]
    assert prepare.index("wd_pack_b_panels(") < prepare.index("wd_pack_b_slivers(")
    assert re.search(r"if \(.* < 4\) wd_gemv_packed\(.*wd_prep.*\n\s*else wd_matmul_slivers\(", src)


def test_batched_products_with_a_shared_matrix_are_one_product():
    """[1, 7, 5, K] × [K, N] with a constant B is one product of 35 rows (B packed once, not 7 times),
    its bias epilogue read over the folded rows; with an epilogue input that changes per batch entry
    but repeats over the rows it stays 7 products of 5 rows; [3, 1, K] × [K, N] is one GEMV of 3 rows."""
    g = Graph()
    x = g.add_input("x", [1, 7, 5, 48])
    z = g.add_input("z", [3, 1, 40])
    w = g.constant(np.ones((48, 37), np.float32), "w")
    w2 = g.constant(np.ones((48, 37), np.float32), "w2")
    v = g.constant(np.ones((40, 70), np.float32), "v")
    b = g.constant(np.ones(37, np.float32), "b")
    s = g.constant(np.ones((1, 7, 1, 37), np.float32), "s")
    (t,) = g.add_op("MatMul", [x, w], {})
    (y,) = g.add_op("Elementwise", [t, b], {"expr": call("add", inp(0), inp(1))})
    (u,) = g.add_op("MatMul", [x, w2], {})
    (q,) = g.add_op("Elementwise", [u, s], {"expr": call("mul", inp(0), inp(1))})
    (r,) = g.add_op("MatMul", [z, v], {})
    g.outputs = [y, q, r]
    optimize(g)
    src, *_ = lower_program(g)
    calls = re.findall(r"wd_(matmul|gemv_packed)\(.*?, (\d+), (\d+), (\d+), (\d+), k\d+_ao", src)
    assert sorted(calls) == sorted([("matmul", "35", "37", "48", "1"), ("matmul", "5", "37", "48", "7"),
                                    ("gemv_packed", "3", "70", "40", "1")]), calls
    assert src.count("static void e") == 2  # both epilogues fused


def test_small_image_convolutions_get_room_to_pack_their_columns_once():
    """A convolution with few output columns (threads split its rows) gets the temporary buffer for its
    whole packed im2col matrix; a large image, a 1x1 stride-1 convolution (B read in place) and a matrix
    past emit.PREPACK_BYTES do not."""
    from webdnn.backend.wasm import emit

    def conv(shape, cout, k, pads):
        g = Graph()
        x = g.add_input("x", shape)
        (y,) = g.add_op("Conv", [x, g.constant(np.ones((cout, shape[1], k, k), np.float32), "w")],
                        {"pads": [pads] * 4, "strides": [2, 2] if k == 3 else [1, 1]})
        g.outputs = [y]
        src, layout, *_ = lower_program(g)
        m = re.search(r"wd_conv_t p = \{.*, (\(float\*\)wd_temp, (\d+)|0, 0)\};", src)
        temp = int(re.search(r"#define wd_prep \(wd_base \+ (\d+)\)", src).group(1)) - \
            int(re.search(r"#define wd_temp \(wd_base \+ (\d+)\)", src).group(1))
        return (int(m.group(2)) if m.group(2) else 0), temp

    floats, temp = conv([1, 64, 16, 16], 128, 3, 1)  # 8x8 outputs: one column block, K = 576
    assert floats == 576 * emit.GEMM_NC and temp >= floats * 4
    assert conv([1, 8, 200, 200], 32, 3, 1)[0] == 0  # 10,000 columns: enough blocks for the threads
    assert conv([1, 64, 16, 16], 128, 1, 0)[0] == 0  # read in place
    assert conv([1, 1024, 16, 16], 64, 3, 1)[0] == 0  # 9216 x 128 floats: past PREPACK_BYTES


def test_own_4bit_weights_stay_4bit_for_products_only():
    """A quantized model's 4-bit B (blocks of 32 along K, symmetric: MatMulNBits) read only by MatMuls is placed
    as stored and multiplied by wd_matmul_q4; one also read by another op, a float B, and the same B under
    --weights int8 (stored 8-bit: the q8 products) are not."""
    rng = np.random.default_rng(3)

    def q4(k, n):  # values -8..7 times a half-float scale per block of 32 along K
        s = rng.uniform(0.01, 0.05, (n, k // 32)).astype(np.float16).astype(np.float32)
        q = rng.integers(-8, 8, (n, k))
        return (q * np.repeat(s, 32, axis=1)).T.astype(np.float32).copy()
    g = Graph()
    g.quantized = True
    x = g.add_input("x", [3, 64])
    w = g.constant(q4(64, 48), "w")       # two products: 4-bit
    v = g.constant(q4(64, 48), "v")       # a product and an Add: decoded
    f = g.constant(rng.standard_normal((64, 48)).astype(np.float32), "f")  # not 4-bit
    outs = [g.add_op("MatMul", [x, w], {})[0], g.add_op("MatMul", [x, w], {})[0], g.add_op("MatMul", [x, v], {})[0],
            g.add_op("MatMul", [x, f], {})[0]]
    outs.append(g.add_op("Elementwise", [v, v], {"expr": call("add", inp(0), inp(1))})[0])
    g.outputs = outs
    src, layout, *_ = lower_program(g)
    assert layout["encoded"] == {"w": {"encoding": "int4", "block": 32, "axis": 0}}
    assert src.count("wd_matmul_q4(") == 2
    gap = layout["offsets"]["v"] - layout["offsets"]["w"]  # placed one after the other
    assert 2 * 96 + 64 * 48 // 2 <= gap < 64 * 48 * 4  # w takes its stored bytes (scales, nibbles), not floats
    src8, layout8, *_ = lower_program(g, weights="int8")
    assert "wd_matmul_q4(" not in src8 and all(e["encoding"] == "int8" for e in layout8["encoded"].values())
