"""The wasm backend end to end: every op case and every whole model, converted once, run by the
JS runtime in Node and in headless Chromium, multi-threaded (shared memory, worker threads) and
single-threaded (no shared memory, the path a page without cross-origin isolation takes), each
compared with onnxruntime under the "wasm" tolerance."""
import os
import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.cases import CASES
from tests.models import shared_matrix_products
from tests.e2e.test_models import MODELS as MODEL_NAMES, prepare
from tests.e2e.test_whole_models import DATA, MODELS as WHOLE_MODELS, inputs_for
from webdnn import convert
from webdnn.runners import get_runner
from webdnn.testing import compare

THREADS = {"mt": 2, "st": 1}


def expected_of(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


@pytest.fixture(scope="module")
def node_hosts():
    """Node processes with the thread count fixed (WEBDNN_WASM_THREADS), whatever the core count."""
    import os
    started = {k: get_runner("node", env={**os.environ, "WEBDNN_WASM_THREADS": str(n)}) for k, n in THREADS.items()}
    yield started
    for r in started.values():
        r.close()


def hosts(runners, node_hosts):
    """(label, run(path, feeds)) for each host and thread mode; Chromium's page is switched with
    the WEBDNN_WASM_THREADS global (its loaded runners are dropped in between)."""
    chromium = runners["chromium"]
    assert chromium.cross_origin_isolated, "the harness page must be cross-origin isolated for wasm threads"
    for mode, n in THREADS.items():
        yield f"node/{mode}", node_hosts[mode]
    for mode, n in THREADS.items():
        chromium.forget()
        chromium.page.evaluate(f"window.WEBDNN_WASM_THREADS = {n}")
        yield f"chromium/{mode}", chromium
    chromium.forget()
    chromium.page.evaluate("delete window.WEBDNN_WASM_THREADS")


def check(runner, label, path, feeds, expected, what, failures):
    try:
        got = runner.run(path, feeds, backend="wasm")
    except Exception as e:  # collect every failure, not just the first
        failures.append(f"{what} in {label}: {type(e).__name__}: {e}")
        return
    assert runner.last_backend == "wasm"
    for name, e in expected.items():
        a = got[name].astype(e.dtype) if e.dtype == np.bool_ else got[name]
        msg = compare(a, e, "wasm", f"{what}/{name} in {label}")
        if msg:
            failures.append(msg)


def check_node(node_hosts, path, feeds, expected, what):
    """Runs `path` in Node at every thread count of THREADS and compares with `expected`, all failures at once."""
    failures = []
    for mode in THREADS:
        check(node_hosts[mode], f"node/{mode}", path, feeds, expected, what, failures)
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def converted_cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("wasm_ops")
    out, failures = {}, []
    for c in CASES:
        try:
            convert(c.model, root / c.name, backends=("wasm",))
        except Exception as e:
            failures.append(f"{c.name}: conversion: {type(e).__name__}: {e}")
            continue
        out[c.name] = (root / c.name, expected_of(c.model, c.inputs))
    return out, failures


def test_all_op_cases(converted_cases, runners, node_hosts):
    converted, failures = converted_cases
    failures = list(failures)
    for label, runner in hosts(runners, node_hosts):
        for c in CASES:
            if c.name in converted:
                path, expected = converted[c.name]
                check(runner, label, path, c.inputs, expected, c.name, failures)
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures)


@pytest.mark.slow
def test_models(runners, node_hosts, tmp_path):
    """Own models, the light_* models of the onnx package and the whole models of tests/data."""
    jobs = []
    for name in MODEL_NAMES:
        m, _ = prepare(name, tmp_path)
        inits = {t.name for t in m.graph.initializer}
        inp = next(i for i in m.graph.input if i.name not in inits)
        shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        jobs.append((name, m, {inp.name: np.random.RandomState(0).rand(*shape).astype(np.float32)}))
    for name in WHOLE_MODELS:
        m = onnx.load(DATA / f"{name}.onnx")
        jobs.append((name, m, inputs_for(m)))
    failures, converted = [], []
    for name, m, feeds in jobs:
        try:
            convert(m, tmp_path / name, backends=("wasm",))
        except Exception as e:
            failures.append(f"{name}: conversion: {type(e).__name__}: {e}")
            continue
        converted.append((name, tmp_path / name, feeds, expected_of(m, feeds)))
    for label, runner in hosts(runners, node_hosts):
        for name, path, feeds, expected in converted:
            check(runner, label, path, feeds, expected, name, failures)
        if label.startswith("chromium"):
            runner.forget()
    assert not failures, "\n".join(failures)


def test_thread_mode_is_reported(runners, node_hosts, tmp_path):
    """runner.backendInfo says how it runs: threads over shared memory, or one thread without; the
    relaxed-SIMD module where the engine has it (Chromium does; the page can decline it)."""
    c = next(c for c in CASES if c.name == "conv_basic")
    convert(c.model, tmp_path / "m", backends=("wasm",))
    page = runners["chromium"].page
    url = runners["chromium"].mount(tmp_path / "m")
    info = page.evaluate("""async (u) => {
        const out = [];
        for (const [threads, relaxedSimd] of [[2, true], [1, true], [2, false]]) {
            const r = await WebDNN.load(u, {backendOrder: ['wasm'], backendOptions: {wasm: {threads, relaxedSimd}}});
            const {y0} = await r.run({x: new Float32Array(r.getInputViews()[0].length).fill(0.5)});
            out.push({...r.backendInfo, y: Array.from(y0)});
            r.dispose();
        }
        return out;
    }""", url)
    assert info[0]["threads"] == 2 and info[0]["sharedMemory"] is True and info[0]["relaxedSimd"] is True
    assert info[1]["threads"] == 1 and info[1]["sharedMemory"] is False and info[1]["relaxedSimd"] is True
    assert info[2]["relaxedSimd"] is False
    # fused and unfused multiply-adds agree within the wasm tolerance
    assert compare(np.float32(info[2]["y"]), np.float32(info[0]["y"]), "wasm", "relaxed vs plain") is None


def test_repeated_and_overlapping_runs(runners, tmp_path):
    """Input buffers are recycled from run to run (runner snapshots, the worker's transfer
    buffers): sequential runs, runs queued while one executes, and a view set while a run waits
    each compute on their own inputs, and an output kept from an earlier run is never overwritten."""
    c = next(c for c in CASES if c.name == "conv_basic")
    convert(c.model, tmp_path / "m", backends=("wasm",))
    x0 = c.inputs["x"]
    xs = [x0, x0 * -2.0, x0 + 1.0, x0 * 0.5, x0 - 3.0]
    want = [expected_of(c.model, {"x": x})["y0"] for x in xs]
    url = runners["chromium"].mount(tmp_path / "m")
    got = runners["chromium"].page.evaluate("""async ([u, xs]) => {
        const out = [];
        for (const threads of [1, 2]) {
            const r = await WebDNN.load(u, {backendOrder: ['wasm'], backendOptions: {wasm: {threads}}});
            const ys = [];
            ys.push((await r.run({x: xs[0]})).y0);          // sequential
            ys.push((await r.run({x: xs[1]})).y0);
            const v = r.getInputViews()[0];
            const p2 = r.run({x: xs[2]});                    // queued runs and a view set meanwhile
            v.set(xs[3]);
            const p3 = r.run();
            v.set(xs[4]);
            const p4 = r.run();
            for (const p of [p2, p3, p4]) ys.push((await p).y0);
            out.push(ys.map((y) => Array.from(y)));
            r.dispose();
        }
        return out;
    }""", [url, [x.ravel().tolist() for x in xs]])
    for threads, ys in zip((1, 2), got):
        for i, (y, e) in enumerate(zip(ys, want)):
            msg = compare(np.float32(y).reshape(e.shape), e, "wasm", f"run {i} at {threads} thread(s)")
            assert msg is None, msg


def test_static_tables_beyond_the_default_initial_memory(runners, tmp_path):
    """Index tables of a reversed slice over 600k positions (~5 MB of static data, past the 2 MiB
    default): the module's initial memory is sized from what the linker needs."""
    from onnx import TensorProto, helper
    n = 600_000
    ints = lambda name, v: helper.make_tensor(name, TensorProto.INT64, [1], [v])  # noqa: E731
    g = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0]),
         helper.make_node("Slice", ["t", "st", "en", "ax", "sp"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, n])],
        [ints("st", n - 1), ints("en", -n - 1), ints("ax", 1), ints("sp", -1)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    out = tmp_path / "big_tables"
    convert(m, out, backends=["wasm"])
    import json
    assert json.loads((out / "graph_wasm.json").read_text())["memory"]["initialPages"] * 65536 > 2 << 20
    x = np.random.default_rng(0).standard_normal((n, 2)).astype(np.float32)
    y = runners["node"].run(out, {"x": x}, backend="wasm")["y"]
    np.testing.assert_array_equal(y, x.T[:, ::-1])


def test_profile_times_every_kernel(tmp_path):
    """Runner.profile() on wasm (through the Node runner and `webdnn run --profile`): one entry per
    kernel of graph_wasm.json, labelled with its op type; the js backend says it cannot."""
    import json
    import subprocess
    import sys
    m = next(c for c in CASES if c.name == "conv_basic").model
    out = tmp_path / "prof"
    convert(m, out, backends=["wasm", "js"])
    kernels = json.loads((out / "graph_wasm.json").read_text())["kernels"]
    x = np.random.default_rng(0).standard_normal([d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim])
    feeds = {m.graph.input[0].name: x.astype(np.float32)}
    with get_runner("node") as r:
        prof = r.profile(out, feeds, backend="wasm", passes=3)
        assert [k for k, _ in prof] == kernels and all(ms >= 0 for _, ms in prof)
        assert kernels[0].startswith("Conv ")
        from webdnn.runners import RuntimeRunError
        with pytest.raises(RuntimeRunError, match="js backend has no per-kernel profile"):
            r.profile(out, feeds, backend="js")
    np.save(tmp_path / "x.npy", feeds[m.graph.input[0].name])
    res = subprocess.run([sys.executable, "-m", "webdnn", "run", str(out), "--input", str(tmp_path / "x.npy"),
                          "--backend", "wasm", "--profile"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "op kind" in res.stdout and "Conv" in res.stdout and "slowest kernels" in res.stdout
    # the header says how many threads ran it; --threads sets them (the default is the core count)
    env = {k: v for k, v in os.environ.items() if k != "WEBDNN_WASM_THREADS"}
    for threads, want in (("1", "on wasm, 1 thread:"), ("2", "on wasm, 2 threads:")):
        res = subprocess.run([sys.executable, "-m", "webdnn", "run", str(out), "--input", str(tmp_path / "x.npy"),
                              "--backend", "wasm", "--profile", "--threads", threads], capture_output=True, text=True,
                             timeout=120, env=env)
        assert res.returncode == 0 and want in res.stdout, res.stdout + res.stderr
    res = subprocess.run([sys.executable, "-m", "webdnn", "run", str(out), "--input", str(tmp_path / "x.npy"),
                          "--backend", "wasm", "--threads", "0"], capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and "--threads must be 1 or more" in res.stderr
    res = subprocess.run([sys.executable, "-m", "webdnn", "run", str(out), "--input", str(tmp_path / "x.npy"),
                          "--backend", "wasm", "--threads", "2", "--in", "chromium"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode != 0 and "--threads sets the wasm backend's threads in Node" in res.stderr


def test_conv_transpose_in_chunks_of_input_rows(runners, node_hosts, tmp_path):
    """A ConvTranspose whose GEMM output exceeds one chunk (emit.CONVT_COLS_BYTES) runs over chunks
    of input rows; overlapping taps (kernel 4, stride 2) add across chunk borders, groups and a fused
    ReLU included; Node single- and multi-threaded agree with onnxruntime."""
    from onnx import TensorProto, helper, numpy_helper
    from webdnn.backend.wasm.emit import CONVT_COLS_BYTES
    C, Mg, g, H, W, k = 8, 64, 2, 40, 64, 4
    assert W * Mg * k * k * 4 * H > 2 * CONVT_COLS_BYTES  # three chunks or more
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array((rng.standard_normal((C, Mg, k, k)) * 0.1).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(Mg * g).astype(np.float32), "b")
    gr = helper.make_graph(
        [helper.make_node("ConvTranspose", ["x", "w", "b"], ["t"], strides=[2, 2], pads=[1, 1, 1, 1], group=g),
         helper.make_node("Relu", ["t"], ["y"])], "convt",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C, H, W])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w, b])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 13)])
    out = tmp_path / "convt"
    convert(m, out, backends=["wasm"])
    feeds = {"x": rng.standard_normal((1, C, H, W)).astype(np.float32)}
    expected = expected_of(m, feeds)
    check_node(node_hosts, out, feeds, expected, "convtranspose")


def test_few_row_products_split_over_threads(node_hosts, tmp_path):
    """MatMul with fewer than 4 rows (the register-blocked GEMV, its constant B in column panels):
    301 columns split between the threads (32-column blocks, 4-column vectors and a scalar rest in
    the partial panel), a batch of single rows sharing B (one 3-row product), a fused bias add; a B of
    22 columns (one partial panel)."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(4)
    w = numpy_helper.from_array(rng.standard_normal((200, 301)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(301).astype(np.float32), "b")
    v = numpy_helper.from_array(rng.standard_normal((200, 22)).astype(np.float32), "v")
    gr = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["t"]), helper.make_node("Add", ["t", "b"], ["y"]),
         helper.make_node("MatMul", ["x", "v"], ["u"])], "gemv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 1, 200])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("u", TensorProto.FLOAT, None)], [w, b, v])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 13)])
    out = tmp_path / "gemv"
    convert(m, out, backends=["wasm"])
    feeds = {"x": rng.standard_normal((3, 1, 200)).astype(np.float32)}
    expected = expected_of(m, feeds)
    check_node(node_hosts, out, feeds, expected, "gemv")


def test_products_on_weights_in_slivers(node_hosts, tmp_path):
    """Linear layers whose constant weights are rewritten at load into slivers of 8 columns (emit.gemm_slivers):
    rows not a multiple of 4 (37), K across the GEMM's 256-row blocks (600) and shorter than one (3), columns
    past one 256-wide task block and not a multiple of it (264, 8), a batch folded into the rows with a bias
    and GELU epilogue, one weight read by two products. Node at 1 and 2 threads vs onnxruntime."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(11)
    init = lambda name, *shape: numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["t"]), helper.make_node("Add", ["t", "b"], ["t1"]),
             helper.make_node("Gelu", ["t1"], ["y"]), helper.make_node("MatMul", ["x2", "w"], ["y2"]),
             helper.make_node("MatMul", ["s", "n"], ["y3"]), helper.make_node("MatMul", ["s2", "k"], ["y4"])]
    gr = helper.make_graph(
        nodes, "slivers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 37, 600]),
         helper.make_tensor_value_info("x2", TensorProto.FLOAT, [5, 600]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [9, 40]),
         helper.make_tensor_value_info("s2", TensorProto.FLOAT, [6, 3])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "y2", "y3", "y4")],
        [init("w", 600, 264), init("b", 264), init("n", 40, 8), init("k", 3, 48)])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 20)])
    out = tmp_path / "slivers"
    convert(m, out, backends=["wasm"])
    feeds = {"x": rng.standard_normal((2, 37, 600)).astype(np.float32),
             "x2": rng.standard_normal((5, 600)).astype(np.float32),
             "s": rng.standard_normal((9, 40)).astype(np.float32),
             "s2": rng.standard_normal((6, 3)).astype(np.float32)}
    expected = expected_of(m, feeds)
    check_node(node_hosts, out, feeds, expected, "slivers")


def test_pooling_reduces_window_rows_first(node_hosts, tmp_path):
    """Float pooling reduces each output row's window rows into one padded row, then along it (ops.c
    pool_separable): max and average, strides 1, 2 and 3, 5x5 windows, padding counted and not, ceil mode, a
    dilation; a plane too wide for the thread scratch (70001 columns) pools each window directly. A NaN in a
    max window comes through (as Max and the js backend have it; onnxruntime's MaxPool drops it), so those
    outputs are checked against a window scan. Node at 1 and 2 threads."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(12)
    specs = [("MaxPool", [1, 3, 13, 17], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
             ("MaxPool", [1, 2, 20, 20], dict(kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])),
             ("MaxPool", [1, 2, 12, 14], dict(kernel_shape=[3, 3], strides=[3, 3], dilations=[1, 2])),
             ("AveragePool", [1, 4, 12, 15], dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1,
                                                  count_include_pad=1)),
             ("AveragePool", [1, 2, 11, 9], dict(kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])),
             ("AveragePool", [1, 2, 10, 13], dict(kernel_shape=[2, 3], strides=[3, 2])),
             ("MaxPool", [1, 2, 5, 70001], dict(kernel_shape=[3, 3], strides=[2, 2])),
             ("AveragePool", [1, 1, 4, 70001], dict(kernel_shape=[3, 3], strides=[1, 2], pads=[1, 1, 1, 1]))]
    nodes, ins, outs, feeds = [], [], [], {}
    for i, (op, shape, attrs) in enumerate(specs):
        nodes.append(helper.make_node(op, [f"x{i}"], [f"y{i}"], **attrs))
        ins.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, shape))
        outs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, None))
        feeds[f"x{i}"] = rng.standard_normal(shape).astype(np.float32)
    m = helper.make_model(helper.make_graph(nodes, "pools", ins, outs), opset_imports=[helper.make_opsetid("", 13)])
    out = tmp_path / "pools"
    convert(m, out, backends=["wasm"])
    expected = expected_of(m, feeds)
    nan_feeds = dict(feeds)
    x = feeds["x0"].copy()
    x[0, 1, 6, 8] = x[0, 2, 0, 0] = np.nan
    nan_feeds["x0"] = x
    padded = np.pad(x, [(0, 0), (0, 0), (1, 2), (1, 2)], constant_values=-np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))[:, :, ::2, ::2]
    has_nan = np.isnan(windows).any(axis=(-1, -2))
    failures = []
    for mode in THREADS:
        check(node_hosts[mode], f"node/{mode}", out, feeds, expected, "pools", failures)
        got = node_hosts[mode].run(out, nan_feeds, backend="wasm")["y0"]
        assert got.shape == has_nan.shape and np.array_equal(np.isnan(got), has_nan), mode
        np.testing.assert_allclose(got[~has_nan], expected["y0"][~has_nan])
    assert not failures, "\n".join(failures)


def test_batched_products_with_a_shared_matrix_are_one_product(node_hosts, tmp_path):
    """[..., M, K] × [K, N] with a constant B (a Linear on NHWC activations or on windows) runs as one
    [batch·M, K] product (emit.matmul_rows), its epilogue reading bias rows, a full residual and a
    per-channel scale over the folded rows; an epilogue input that varies per batch entry but repeats
    over M keeps the batched path; a few-row batch folds into one GEMV. Node at 1 and 2 threads vs
    onnxruntime."""
    m, feeds = shared_matrix_products()
    out = tmp_path / "fold"
    convert(m, out, backends=["wasm"])
    expected = expected_of(m, feeds)
    check_node(node_hosts, out, feeds, expected, "fold")


def test_contiguous_pieces_are_views(node_hosts, tmp_path):
    """Slices, Splits and Concats whose pieces are contiguous ranges of their whole (memory.views):
    the pieces share the whole's bytes and their kernels copy nothing; a conv writes straight into
    its part of a channel Concat, a view feeds a fused epilogue, a piece is also a graph output, a
    strided slice and a batch-2 concat still copy; Node at 1 and 2 threads agrees with onnxruntime."""
    import json
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(6)
    w = numpy_helper.from_array(rng.standard_normal((8, 4, 3, 3)).astype(np.float32), "w")
    m_ = numpy_helper.from_array(rng.standard_normal((5, 64)).astype(np.float32), "m")
    i64 = lambda n, v: numpy_helper.from_array(np.array(v, np.int64), n)
    gr = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("Concat", ["c", "r"], ["cat"], axis=1),                      # [1, 12, 6, 5]: c, r placed
         helper.make_node("Split", ["cat", "sp"], ["s0", "s1", "s2"], axis=1),  # views
         helper.make_node("Sigmoid", ["s1"], ["g"]),
         helper.make_node("Slice", ["cat", "st", "en", "ax"], ["row"]),                # channel 5, row 2: a view
         helper.make_node("Reshape", ["row", "shp"], ["row2"]),
         helper.make_node("MatMul", ["row2", "m"], ["p"]),
         helper.make_node("Slice", ["p", "st1", "en1", "ax1"], ["ph"]),                 # [1, 32] of [1, 64]: a view
         helper.make_node("Slice", ["p", "st0", "en1", "ax1", "two"], ["pe"]),          # every second: copied
         helper.make_node("Add", ["ph", "pe"], ["q"]),
         helper.make_node("Concat", ["xb", "xb"], ["cb"], axis=1)],                    # batch 2: copied
        "views",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 5]),
         helper.make_tensor_value_info("xb", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("s0", "g", "s2", "q", "cb")],
        [w, m_, i64("st", [5, 2]), i64("en", [6, 3]), i64("ax", [1, 2]), i64("shp", [1, 5]), i64("st1", [32]),
         i64("en1", [64]), i64("ax1", [1]), i64("st0", [0]), i64("two", [2]), i64("sp", [2, 6, 4])])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 13)])
    out = tmp_path / "views"
    convert(m, out, backends=["wasm"])
    kernels = json.loads((out / "graph_wasm.json").read_text())["kernels"]
    assert not any(k.startswith(("Concat", "Split")) and "cb" not in k for k in kernels[:-1]), kernels
    assert sum(k.startswith("Slice") for k in kernels) == 1, kernels  # only the strided one
    feeds = {"x": rng.standard_normal((1, 4, 6, 5)).astype(np.float32),
             "xb": rng.standard_normal((2, 3)).astype(np.float32)}
    expected = expected_of(m, feeds)
    check_node(node_hosts, out, feeds, expected, "views")


def test_jobs_of_many_small_tasks(node_hosts, tmp_path):
    """Jobs of hundreds of tasks (a per-channel mean, a pooling per channel, a softmax per row) are
    claimed in runs of consecutive tasks, the last run shorter: every task runs once, at 1 and 2
    threads."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(5)
    gr = helper.make_graph(
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
         helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Softmax", ["x"], ["s"], axis=-1)], "many",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1001, 6, 7])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("m", "p", "s")])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 13)])
    out = tmp_path / "many"
    convert(m, out, backends=["wasm"])
    feeds = {"x": rng.standard_normal((1, 1001, 6, 7)).astype(np.float32)}
    expected = expected_of(m, feeds)
    check_node(node_hosts, out, feeds, expected, "many small tasks")


def test_winograd_convolutions(node_hosts, tmp_path, monkeypatch):
    """3x3 stride-1 convolutions run as Winograd F(4x4, 3x3) (emit.winograd_plan): output sizes that
    are not multiples of 4, asymmetric pads, two images, no bias, a fused residual Add and a fused
    Sigmoid, and a work buffer small enough that each image takes several chunks of tile rows;
    Node single- and multi-threaded agree with onnxruntime."""
    from onnx import TensorProto, helper, numpy_helper
    from webdnn.backend.wasm import emit
    from webdnn.backend.wasm.lower import lower_program
    from webdnn.converter import load_graph
    from webdnn.passes.pipeline import optimize
    monkeypatch.setattr(emit, "WINOGRAD_WORK_BYTES", 1 << 20)  # several chunks below
    rng = np.random.default_rng(5)
    cases = [  # N, C, M, H, W, pads, bias, epilogue
        (2, 16, 24, 21, 18, (1, 1, 1, 1), True, "Add"),
        (1, 40, 32, 37, 50, (0, 2, 1, 0), False, "Sigmoid"),
        (1, 64, 64, 62, 61, (1, 1, 1, 1), True, None),
        (1, 8, 12, 18, 130, (2, 0, 0, 3), True, None),
    ]
    failures = []
    for n, (N, C, M, H, W, pads, bias, epi) in enumerate(cases):
        OH, OW = H + pads[0] + pads[2] - 2, W + pads[1] + pads[3] - 2
        inits = [numpy_helper.from_array((rng.standard_normal((M, C, 3, 3)) * 0.2).astype(np.float32), "w")]
        if bias:
            inits.append(numpy_helper.from_array(rng.standard_normal(M).astype(np.float32), "b"))
        nodes = [helper.make_node("Conv", ["x", "w"] + (["b"] if bias else []), ["t" if epi else "y"], pads=list(pads))]
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, C, H, W])]
        feeds = {"x": rng.standard_normal((N, C, H, W)).astype(np.float32)}
        if epi == "Add":
            nodes.append(helper.make_node("Add", ["t", "r"], ["y"]))
            inputs.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, [N, M, OH, OW]))
            feeds["r"] = rng.standard_normal((N, M, OH, OW)).astype(np.float32)
        elif epi:
            nodes.append(helper.make_node(epi, ["t"], ["y"]))
        gr = helper.make_graph(nodes, "wino", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 13)])
        g = load_graph(m)
        optimize(g)
        src = lower_program(g)[0]
        call = re.search(r"wd_winograd\(&p, .*, (\d+)\);", src)
        assert call, f"case {n} should run as Winograd"
        if n == 2:
            assert int(call.group(1)) < -(-OH // 4)  # more than one chunk of tile rows
        out = tmp_path / f"wino{n}"
        convert(m, out, backends=["wasm"])
        expected = expected_of(m, feeds)
        for mode in THREADS:
            check(node_hosts[mode], f"node/{mode}", out, feeds, expected, f"winograd case {n}", failures)
    assert not failures, "\n".join(failures)


def test_masked_softmax_has_no_subnormal_probabilities(node_hosts, tmp_path):
    """Attention scores masked with a large negative number (-100 in Swin's shifted windows, -1e4 or the
    lowest float in padding and causal masks) give probabilities below the smallest normal float: the
    softmax makes them 0 (an x86 CPU computes with subnormals a hundred times slower, here and in the
    MatMul that reads them), and the rest stay within the wasm tolerance; over a contiguous axis (with a
    tail of 3) and a strided one; LogSoftmax keeps its finite logs."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(8)
    gr = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["s"], axis=-1), helper.make_node("Softmax", ["x"], ["t"], axis=1),
         helper.make_node("LogSoftmax", ["x"], ["l"], axis=-1)], "masked",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 9, 11])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("s", "t", "l")])
    m = helper.make_model(gr, opset_imports=[helper.make_opsetid("", 13)])
    out = tmp_path / "masked"
    convert(m, out, backends=["wasm"])
    x = rng.standard_normal((2, 9, 11)).astype(np.float32)
    x[0, :, 3] = -100.0
    x[0, :, 10] = -95.0  # in the tail of a row of 11
    x[1, 2, :5] = -1e4
    x[1, 4:, 7] = np.finfo(np.float32).min
    x[1, :3, 8] = -87.0  # e^-87 ~ 1.6e-38 times the row's e^-max: normal or 0, never subnormal
    expected = expected_of(m, {"x": x})
    tiny = np.finfo(np.float32).tiny
    for mode in THREADS:
        got = node_hosts[mode].run(out, {"x": x}, backend="wasm")
        for name in ("s", "t", "l"):
            assert compare(got[name], expected[name], "wasm", f"{mode} {name}") is None
        for name in ("s", "t"):
            p = got[name]
            assert not np.any((p != 0) & (np.abs(p) < tiny)), f"{mode} {name}: subnormal probabilities"
            assert np.all(p[expected[name] < tiny / 2] == 0)
        assert np.all(got["s"][0, :, 3] == 0) and np.all(got["t"][1, 4:, 7] == 0)
