"""Convert once, run any size: models exported with open dims keep them as symbolic sizes on the js,
wasm and webgpu backends (docs/descriptor.md "Symbolic sizes"), checked against onnxruntime at several
shapes in Node, Chromium and natively; a backend built for fixed sizes refuses others with a clear error."""
import json
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from tests import models as small
from webdnn import convert
from webdnn.descriptor import read_model
from webdnn.runners import RuntimeRunError
from webdnn.testing import compare

_spec = importlib.util.spec_from_file_location("webdnn_bench_zoo", Path(__file__).resolve().parents[2] / "bench" / "zoo.py")
zoo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zoo)

SEQ_LENGTHS = (1, 7, 128, 384)
# where each backend runs in these tests: webgpu natively (wgpu on lavapipe), the others in Node
HOST = {"js": "node", "wasm": "node", "webgpu": "native"}


def _convert(model, out, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = convert(model, out, **kw)
    return summary, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    """A BERT-style encoder (attention mask, position ids from the input's own length) exported with
    open batch and sequence axes, converted once for js, wasm and webgpu."""
    torch.manual_seed(0)
    net = zoo.Bert(vocab=1000, h=64, layers=2, heads=4, inter=256, positions=512)
    ids = torch.randint(0, 1000, (1, 16))
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "last_hidden_state": {0: "batch", 1: "seq"}, "pooler_output": {0: "batch"}}
    proto = zoo.export(net, [ids, torch.ones(1, 16, dtype=torch.int64)], ["input_ids", "attention_mask"],
                       ["last_hidden_state", "pooler_output"], 3, dynamic_axes=axes)
    out = tmp_path_factory.mktemp("dyn") / "bert"
    summary, notes = _convert(proto, out, backends=["js", "wasm", "webgpu"])
    return proto, out, summary, notes


def _bert_feeds(batch, seq, seed):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), np.int64)
    mask[-1, seq // 2 + 1:] = 0  # padding in the last row
    return {"input_ids": rng.integers(0, 1000, (batch, seq)).astype(np.int64), "attention_mask": mask}


def test_bert_descriptor_records_symbolic_dims(bert):
    _, out, summary, notes = bert
    model = read_model(out)
    ids = next(t for t in model["inputs"] if t["name"] == "input_ids")
    assert ids["dims"] == ["batch", "seq"] and ids["shape"] == [1, 1]
    assert next(t for t in model["outputs"] if t["name"] == "last_hidden_state")["dims"] == ["batch", "seq", 64]
    assert all(model["backends"][b].get("symbolic") is True for b in ("js", "wasm", "webgpu"))
    assert any("js, wasm, webgpu take any" in n and "batch=1, seq=1" in n for n in notes), notes


@pytest.mark.parametrize("host,backend", [("node", "js"), ("chromium", "js"), ("node", "wasm"), ("chromium", "wasm"),
                                          ("chromium", "webgpu"), ("native", "webgpu")])
def test_bert_runs_at_every_sequence_length(bert, runners, host, backend):
    proto, out, _, _ = bert
    sess = ort.InferenceSession(proto.SerializeToString())
    for i, seq in enumerate(SEQ_LENGTHS):
        batch = 2 if seq == 7 else 1
        feeds = _bert_feeds(batch, seq, i)
        want = dict(zip(["last_hidden_state", "pooler_output"], sess.run(None, feeds)))
        got = runners[host].run(out, feeds, backend=backend)
        assert runners[host].last_backend == backend
        for name, e in want.items():
            assert got[name].shape == e.shape, (seq, name, got[name].shape, e.shape)
            err = compare(got[name], e, backend, f"{name} at seq {seq}")
            assert err is None, err


def test_bert_with_int8_weights_at_several_lengths(bert, tmp_path, runners):
    """--weights int8 on the symbolic encoder: the wasm products run on 8-bit weights over the run-time
    rows (stats.int8Products) and agree with js's float arithmetic on the same weights. The fixed graph
    (for the descriptor's defaults) uses some constants differently: the axes the wasm kernels read win."""
    proto = bert[0]
    out = tmp_path / "int8"
    _convert(proto, out, backends=["js", "wasm"], weights="int8")
    doc = json.loads((out / "graph_wasm.json").read_text())
    assert doc["symbols"] and doc["stats"]["int8Products"] >= 12 and doc["encoded"]
    for i, (batch, seq) in enumerate([(2, 7), (1, 128)]):
        feeds = _bert_feeds(batch, seq, i)
        want = runners["node"].run(out, feeds, backend="js")
        got = runners["node"].run(out, feeds, backend="wasm")
        for name, e in want.items():
            assert compare(got[name], e, "wasm-int8", f"{name} at seq {seq}") is None


def test_a_backend_built_for_fixed_sizes_refuses_others(tmp_path, runners):
    """A Pad over a symbolic dim: the js backend binds it, the wasm backend cannot (it is built for
    n=1, with a note) and refuses another n naming the backend that takes it."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    pads = helper.make_tensor("pads", TensorProto.INT64, [4], [1, 0, 1, 0])
    m = helper.make_model(helper.make_graph([helper.make_node("Pad", ["x", "pads"], ["y"])], "pad", [x], [y], [pads]),
                          opset_imports=[helper.make_opsetid("", 17)])
    out = tmp_path / "pad"
    _, notes = _convert(m, out, backends=["js", "wasm"])
    assert any("wasm backend is built for the fixed sizes" in n for n in notes), notes
    assert any("js takes any, wasm is built for n=1" in n for n in notes), notes
    x4 = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(runners["node"].run(out, {"x": x4}, backend="js")["y"], np.pad(x4, ((1, 1), (0, 0))))
    with pytest.raises(RuntimeRunError, match=r"wasm backend of this descriptor was built for \[1,3\].*js backend takes"):
        runners["node"].run(out, {"x": x4}, backend="wasm")
    got = runners["node"].run(out, {"x": x4[:1]}, backend="wasm")  # its own shape runs
    np.testing.assert_array_equal(got["y"], np.pad(x4[:1], ((1, 1), (0, 0))))


def test_input_shape_fixes_a_named_dim(bert, tmp_path):
    proto, _, _, _ = bert
    summary, _ = _convert(proto, tmp_path / "fixed", backends=["js"], input_shapes={"seq": [16]})
    ids = next(t for t in summary["inputs"] if t["name"] == "input_ids")
    assert ids["shape"] == [1, 16] and ids["dims"] == ["batch", 16]


def test_a_declared_range_bounds_a_size(bert, tmp_path, runners):
    from webdnn.options import SizeRange
    proto, _, _, _ = bert
    out = tmp_path / "ranged"
    summary, notes = _convert(proto, out, backends=["js", "wasm"], input_shapes={"seq": SizeRange(4, 256)})
    assert summary["inputs"][0]["shape"] == [1, 4]  # the fixed backends take the low end
    assert any("seq=4" in n for n in notes), notes
    runners["node"].run(out, _bert_feeds(1, 256, 0), backend="js")
    with pytest.raises(RuntimeRunError, match=r"input 'input_ids' dim 1 \('seq'\) is 384, outside the range 4..256"):
        runners["node"].run(out, _bert_feeds(1, 384, 0), backend="js")


@pytest.mark.parametrize("backend", ["js", "wasm", "webgpu"])
def test_cnn_runs_at_batch_1_and_8(tmp_path, runners, backend):
    proto = small.mini_resnet()
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    out = tmp_path / "resnet"
    summary, _ = _convert(proto, out, backends=[backend])
    assert summary["inputs"][0]["dims"] == ["N", 3, 32, 32]
    assert read_model(out)["backends"][backend].get("symbolic") is True
    sess = ort.InferenceSession(proto.SerializeToString())
    for n in (1, 8, 3):
        x = np.random.default_rng(n).standard_normal((n, 3, 32, 32)).astype(np.float32)
        (want,) = sess.run(None, {"x": x})
        got = next(iter(runners[HOST[backend]].run(out, {"x": x}, backend=backend).values()))
        err = compare(got, want, backend, f"batch {n}")
        assert err is None, err


# greedy generation with a key/value cache: in Node (GENERATE) and in a Chromium page (test_gpt2_..._webgpu)
GENERATE_LOOP = """async (WebDNN, where, backend, ids, steps) => {
const runner = await WebDNN.load(where, { backendOrder: [backend] });
const pastNames = runner.inputNames.filter((n) => n.startsWith('past_'));
const dims = Object.fromEntries(runner.getInputViews().map((v) => [v.name, v.dims]));
// the first step has an empty cache: its 'past' dim is 0
let past = Object.fromEntries(pastNames.map((n) => [n, { data: new Float32Array(0),
  shape: dims[n].map((d) => (typeof d === 'number' ? d : d === 'past' ? 0 : 1)) }]));
const tokens = [];
for (let step = 0; step < steps; step++) {
  const out = await runner.run({ input_ids: { data: Int32Array.from(ids), shape: [1, ids.length] }, ...past });
  const views = Object.fromEntries(runner.getOutputViews().map((v) => [v.name, v]));
  const [, s, vocab] = views.logits.shape;
  const next = WebDNN.Math.argmax(out.logits.subarray((s - 1) * vocab, s * vocab))[0];
  tokens.push(next);
  ids = [next];
  past = Object.fromEntries(pastNames.map((n) => {
    const p = n.replace('past_', 'present_');
    return [n, { data: out[p], shape: [...views[p].shape] }];
  }));
}
return tokens;
}"""

GENERATE = """
import * as WebDNN from %(runtime)s;
const [dir, promptJson, steps] = process.argv.slice(2);
const generate = """ + GENERATE_LOOP.replace("%", "%%") + """;
console.log(JSON.stringify(await generate(WebDNN, dir, process.env.WEBDNN_BACKEND, JSON.parse(promptJson), Number(steps))));
"""


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    proto = zoo.gpt2_export(zoo.GPT2(vocab=500, h=64, layers=2, heads=4, positions=128))
    out = tmp_path_factory.mktemp("gpt2") / "gpt2"
    summary, _ = _convert(proto, out, backends=["js", "wasm", "webgpu"])
    return proto, out, summary


def _gpt2_tokens(proto, prompt, steps):
    """The greedy loop on onnxruntime."""
    sess = ort.InferenceSession(proto.SerializeToString())
    names = [i.name for i in sess.get_inputs() if i.name.startswith("past_")]
    past = {n: np.zeros((1, 4, 0, 16), np.float32) for n in names}
    ids, want = prompt, []
    for _ in range(steps):
        logits, *present = sess.run(None, {"input_ids": np.array([ids], np.int64), **past})
        want.append(int(logits[0, -1].argmax()))
        ids, past = [want[-1]], dict(zip(names, present))
    return want


@pytest.mark.parametrize("backend", ["js", "wasm"])
def test_gpt2_greedy_generation_with_a_key_value_cache(gpt2, tmp_path, backend):
    """A GPT-2-style decoder converted once; JavaScript generates 32 tokens greedily, feeding each
    step's `present` caches back as `past` (0, then 5, 6, ... cached positions), token by token
    equal to the same loop on onnxruntime."""
    import json
    import subprocess

    from webdnn.runners import runtime_dist
    import os
    proto, out, summary = gpt2
    assert next(t for t in summary["outputs"] if t["name"] == "present_key_0")["dims"] == ["batch", 4, "past + seq", 16]
    prompt, steps = [5, 17, 42, 7, 99], 32
    want = _gpt2_tokens(proto, prompt, steps)

    script = tmp_path / "generate.mjs"
    script.write_text(GENERATE % {"runtime": json.dumps((runtime_dist() / "webdnn.mjs").as_uri())})
    run = subprocess.run(["node", str(script), str(out), json.dumps(prompt), str(steps)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "WEBDNN_BACKEND": backend})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == want


def test_gpt2_greedy_generation_on_webgpu(gpt2, runners):
    """The same loop in a Chromium page on the webgpu backend: one set of shaders for every cache
    length (the sizes come from a uniform), the activations placed again as the cache grows."""
    proto, out, _ = gpt2
    assert read_model(out)["backends"]["webgpu"].get("symbolic") is True
    prompt, steps = [5, 17, 42, 7, 99], 32
    chromium = runners["chromium"]
    got = chromium.page.evaluate(f"([url, ids, steps]) => ({GENERATE_LOOP})(WebDNN, url, 'webgpu', ids, steps)",
                                 [chromium.mount(out), prompt, steps])
    assert got == _gpt2_tokens(proto, prompt, steps)


def test_gpt2_with_4bit_weights_generates_as_onnxruntime(gpt2, tmp_path, runners):
    """The decoder through onnxruntime's MatMulNBitsQuantizer (4-bit weights in blocks of 32): converted once,
    the weights stay 4-bit on wasm (multiplied as stored) and webgpu (unpacked in the shader); 16 tokens
    generated greedily with the cache, in Node on wasm and in a Chromium page on webgpu, equal to the same
    loop on onnxruntime with the quantized model."""
    import os
    import subprocess

    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    from webdnn.runners import runtime_dist
    proto, _, _ = gpt2
    quantizer = MatMulNBitsQuantizer(_onnx_copy(proto), block_size=32, is_symmetric=True)
    quantizer.process()
    q4 = quantizer.model.model
    assert sum(n.op_type == "MatMulNBits" for n in q4.graph.node) >= 8
    out = tmp_path / "gpt2-int4"
    _convert(q4, out, backends=["wasm", "webgpu"])
    for backend in ("wasm", "webgpu"):
        graph = json.loads((out / f"graph_{backend}.json").read_text())
        assert graph.get("symbols") and sum(e["encoding"] == "int4" for e in graph.get("encoded", {}).values()) >= 8
    prompt, steps = [5, 17, 42, 7, 99], 16
    want = _gpt2_tokens(q4, prompt, steps)
    script = tmp_path / "generate.mjs"
    script.write_text(GENERATE % {"runtime": json.dumps((runtime_dist() / "webdnn.mjs").as_uri())})
    run = subprocess.run(["node", str(script), str(out), json.dumps(prompt), str(steps)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "WEBDNN_BACKEND": "wasm"})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == want
    chromium = runners["chromium"]
    got = chromium.page.evaluate(f"([url, ids, steps]) => ({GENERATE_LOOP})(WebDNN, url, 'webgpu', ids, steps)",
                                 [chromium.mount(out), prompt, steps])
    assert got == want


def _onnx_copy(m):
    import onnx
    c = onnx.ModelProto()
    c.CopyFrom(m)
    return c


class _CausalSelfAttention(torch.nn.Module):
    """torch's scaled_dot_product_attention with is_causal: the export builds the causal mask with
    Trilu over the sequence length and scales by 1/sqrt(Cast(Shape)): sizes used as data."""

    def __init__(self, d=64, heads=4):
        super().__init__()
        self.heads, self.qkv, self.o = heads, torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o(y.transpose(1, 2).reshape(b, t, d))


def test_causal_attention_at_several_lengths(tmp_path, runners):
    torch.manual_seed(0)
    net = _CausalSelfAttention()
    proto = zoo.export(net, [torch.randn(1, 5, 64)], ["x"], ["y"], 4,
                       dynamic_axes={"x": {0: "b", 1: "t"}, "y": {0: "b", 1: "t"}})
    out = tmp_path / "causal"
    _, notes = _convert(proto, out, backends=["js", "wasm", "webgpu"])
    assert any("js, wasm, webgpu take any" in n for n in notes), notes
    sess = ort.InferenceSession(proto.SerializeToString())
    for t in (1, 3, 17):
        x = np.random.default_rng(t).standard_normal((2, t, 64)).astype(np.float32)
        (want,) = sess.run(None, {"x": x})
        for host, backend in (("node", "js"), ("node", "wasm"), ("native", "webgpu")):
            err = compare(runners[host].run(out, {"x": x}, backend=backend)["y"], want, backend, f"t={t}")
            assert err is None, err


def test_sizes_beyond_wasm_memory_are_refused(bert, runners):
    """Sequence 60000: the attention scores alone would take 57 GiB; wd_bind() refuses the binding
    before anything runs, and the runner still runs a size that fits afterwards."""
    _, out, _, _ = bert
    with pytest.raises(RuntimeRunError, match=r"need more than the 2 GiB a wasm model may use"):
        runners["node"].run(out, _bert_feeds(1, 60000, 0), backend="wasm")
    got = runners["node"].run(out, _bert_feeds(1, 7, 0), backend="wasm")
    assert got["last_hidden_state"].shape == (1, 7, 64)


@pytest.mark.parametrize("host", ["native", "chromium"])
def test_sizes_beyond_a_gpu_binding_are_refused(bert, runners, host):
    """Sequence 1.1 million on webgpu: the feed-forward layer's activations (256 floats a token, 1.1 GB) would
    exceed what one storage binding may hold (1 GiB on SwiftShader; the attention scores are never stored,
    attention being one kernel); the binding is refused naming the tensor before anything is allocated, and
    a size that fits runs afterwards."""
    proto, out, _, _ = bert
    with pytest.raises(RuntimeRunError, match=r"tensor '.*' would take \d+ bytes at .*seq=1100000.*binds at most"):
        runners[host].run(out, _bert_feeds(1, 1_100_000, 0), backend="webgpu")
    feeds = _bert_feeds(1, 7, 0)
    want = ort.InferenceSession(proto.SerializeToString()).run(None, feeds)[0]
    err = compare(runners[host].run(out, feeds, backend="webgpu")["last_hidden_state"], want, "webgpu", "after")
    assert err is None, err


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_models_at_several_lengths(tmp_path, runners, kind):
    """torch's LSTM (2 layers, bidirectional, 20 units: not a multiple of the kernel's 8), GRU and RNN
    exported with an open sequence length run as Recurrent ops at any length on js, wasm and webgpu (one
    dispatch walking the steps)."""
    torch.manual_seed(1)
    layer = {"LSTM": lambda: torch.nn.LSTM(16, 20, 2, batch_first=True, bidirectional=True),
             "GRU": lambda: torch.nn.GRU(16, 12, 1, batch_first=True),
             "RNN": lambda: torch.nn.RNN(16, 8, 1, batch_first=True)}[kind]()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = layer

        def forward(self, x):
            return self.rnn(x)[0]

    proto = zoo.export(Net(), [torch.randn(2, 5, 16)], ["x"], ["y"], 6,
                       dynamic_axes={"x": {0: "b", 1: "t"}, "y": {0: "b", 1: "t"}})
    out = tmp_path / kind
    summary, _ = _convert(proto, out, backends=["js", "wasm", "webgpu"])
    assert summary["op_counts"].get("Recurrent", 0) >= 1 and "Slice" not in summary["op_counts"]
    assert all(b.get("symbolic") for b in read_model(out)["backends"].values())
    sess = ort.InferenceSession(proto.SerializeToString())
    for t in (1, 6, 41):
        x = np.random.default_rng(t).standard_normal((3, t, 16)).astype(np.float32)
        (want,) = sess.run(None, {"x": x})
        for backend in ("js", "wasm", "webgpu"):
            err = compare(runners[HOST[backend]].run(out, {"x": x}, backend=backend)["y"], want, backend, f"{kind} t={t}")
            assert err is None, err


class _Segmenter(torch.nn.Module):
    """An FCN with two stride-2 stages, nearest 2x upsampling and skip concatenations: its image
    sizes agree only for multiples of 4, which the conversion declares (x=n,3,4*h,4*w)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.c1 = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU())
        self.d1 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU())
        self.d2 = nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(), nn.MaxPool2d(3, 1, 1))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.u1 = nn.Sequential(nn.Conv2d(48, 16, 3, 1, 1), nn.SiLU())
        self.u2 = nn.Sequential(nn.Conv2d(24, 8, 1), nn.SiLU())
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        a = self.c1(x)
        b = self.d1(a)
        u = self.u1(torch.cat([self.up(self.d2(b)), b], 1))
        return self.head(self.u2(torch.cat([self.up(u), a], 1)))


@pytest.mark.parametrize("backend", ["js", "wasm", "webgpu"])
def test_segmenter_at_several_image_sizes(tmp_path, runners, backend):
    from webdnn.options import SizeRange
    torch.manual_seed(2)
    proto = zoo.export(_Segmenter().eval(), [torch.randn(1, 3, 32, 32)], ["x"], ["y"], 7,
                       dynamic_axes={"x": {0: "n", 2: "H", 3: "W"}, "y": {0: "n", 2: "H", 3: "W"}})
    out = tmp_path / "seg"
    summary, _ = _convert(proto, out, backends=[backend],
                          input_shapes={"x": ["n", 3, "4*h", "4*w"], "h": [8], "w": SizeRange(1, 64)})
    assert summary["inputs"][0]["dims"] == ["n", 3, "4*h", "4*w"] and summary["inputs"][0]["shape"] == [1, 3, 32, 4]
    sess = ort.InferenceSession(proto.SerializeToString())
    for shape in ((1, 3, 32, 32), (2, 3, 48, 20), (1, 3, 4, 4)):
        x = np.random.default_rng(shape[2]).standard_normal(shape).astype(np.float32)
        (want,) = sess.run(None, {"x": x})
        err = compare(runners[HOST[backend]].run(out, {"x": x}, backend=backend)["y"], want, backend, f"{shape}")
        assert err is None, err
    with pytest.raises(RuntimeRunError, match=r"dim 2 is 30; it must be 4\*h for a whole h"):
        runners[HOST[backend]].run(out, {"x": np.zeros((1, 3, 30, 32), np.float32)}, backend=backend)
    with pytest.raises(RuntimeRunError, match=r"outside the range 1..64 of w"):
        runners[HOST[backend]].run(out, {"x": np.zeros((1, 3, 8, 260), np.float32)}, backend=backend)


class _MobileBlocks(torch.nn.Module):
    """Depthwise convolutions of the mobile families: 3x3 stride 1 and 2, 5x5 stride 2, a dilated 3x3 and a
    7x7 (ConvNeXt), each with a bias and the next layer's activation; then two transposed convolutions
    that upsample (4x4 stride 2; 3x3 stride 2 with an output padding, in 2 groups)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.dw = nn.ModuleList([nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.Conv2d(16, 16, 3, 2, 1, groups=16),
                                 nn.Conv2d(16, 16, 5, 2, 2, groups=16), nn.Conv2d(16, 16, 3, 1, 2, 2, groups=16),
                                 nn.Conv2d(16, 16, 7, 1, 3, groups=16)])
        self.act = nn.Hardswish()
        self.up = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(),
                                nn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1, groups=2))

    def forward(self, x):
        x = self.stem(x)
        for c in self.dw:
            x = self.act(c(x))
        return self.up(x)


@pytest.mark.parametrize("backend", ["js", "wasm", "webgpu"])
def test_depthwise_and_transposed_convolutions_at_several_image_sizes(tmp_path, runners, backend, monkeypatch):
    """One descriptor for any image size; the wasm backend's depthwise kernel for sizes known at run time
    reads the input in place (rows and columns outside it skipped), four outputs at a time inside; a
    transposed convolution's columns go through the temporary buffer in chunks of whole pixels (here
    room for 50 pixels: chunks that start and end inside rows)."""
    from webdnn.backend.wasm import emit
    monkeypatch.setattr(emit, "CONVT_COLS_BYTES", 50 * 8 * 16 * 4)
    torch.manual_seed(5)
    proto = zoo.export(_MobileBlocks().eval(), [torch.randn(1, 3, 64, 64)], ["x"], ["y"], 17,
                       dynamic_axes={"x": {0: "n", 2: "H", 3: "W"}, "y": {0: "n", 2: "h", 3: "w"}})
    out = tmp_path / "mobile"
    summary, _ = _convert(proto, out, backends=[backend])
    assert summary["inputs"][0]["dims"] == ["n", 3, "H", "W"]
    sess = ort.InferenceSession(proto.SerializeToString())
    for shape in ((1, 3, 64, 64), (2, 3, 37, 90), (1, 3, 8, 5), (1, 3, 1, 1)):
        x = np.random.default_rng(shape[3]).standard_normal(shape).astype(np.float32)
        (want,) = sess.run(None, {"x": x})
        err = compare(runners[HOST[backend]].run(out, {"x": x}, backend=backend)["y"], want, backend, f"{shape}")
        assert err is None, err


@pytest.fixture(scope="module")
def yolo(tmp_path_factory):
    """A YOLOv8n-style detector exported for any image size (anchors from the feature maps' sizes),
    converted once with sides declared as multiples of 32."""
    torch.manual_seed(16)
    proto = zoo.export(zoo.YOLOv8(img=320, dynamic=True), [torch.randn(1, 3, 320, 320)], ["data"], ["detections"], 16,
                       dynamic_axes={"data": {0: "n", 2: "H", 3: "W"}, "detections": {0: "n", 2: "A"}})
    out = tmp_path_factory.mktemp("yolo") / "yolo"
    summary, _ = _convert(proto, out, backends=["js", "wasm", "webgpu"],
                          input_shapes={"data": ["n", 3, "32*h", "32*w"], "h": [10], "w": [10]})
    return proto, out, summary


@pytest.mark.parametrize("backend", ["js", "wasm", "webgpu"])
def test_detector_at_320x320_and_640x480(yolo, runners, backend):
    proto, out, summary = yolo
    assert summary["outputs"][0]["dims"] == ["n", 84, "21*h*w"]
    assert read_model(out)["backends"][backend].get("symbolic") is True
    sess = ort.InferenceSession(proto.SerializeToString())
    for shape in ((1, 3, 320, 320), (1, 3, 480, 640)):
        x = np.random.default_rng(shape[2]).standard_normal(shape).astype(np.float32)
        (want,) = sess.run(None, {"data": x})
        got = runners[HOST[backend]].run(out, {"data": x}, backend=backend)["detections"]
        assert got.shape == want.shape == (1, 84, 21 * shape[2] * shape[3] // 1024)
        # boxes are in pixels, scores in [0, 1]: each part against its own scale
        err = compare(got[:, :4], want[:, :4], backend, f"boxes at {shape}")
        assert err is None, err
        # the scores come after ~70 layers of random-weight convolutions: float32 rounding reaches
        # 1.1-1.2e-4 of their [0, 1] scale, just past the table's 1e-4 (as in test_bench_models)
        err = compare(got[:, 4:], want[:, 4:], backend, f"scores at {shape}", looser=2)
        assert err is None, err


def test_float_arithmetic_on_a_size_runs_at_run_time(tmp_path, runners):
    """x + len(x) / 2.0 (the size cast to float): an odd length must give a half, so the division
    is not folded into the sizes but runs on the size the binding gives."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["t"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
             helper.make_node("Div", ["sf", "two"], ["half"]), helper.make_node("Add", ["x", "half"], ["y"])]
    m = helper.make_model(helper.make_graph(nodes, "half", [x], [y], [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])]),
                          opset_imports=[helper.make_opsetid("", 17)])
    out = tmp_path / "half"
    _convert(m, out, backends=["js", "wasm", "webgpu"])
    for t in (3, 4):
        xs = np.arange(t, dtype=np.float32)
        for backend in ("js", "wasm", "webgpu"):
            np.testing.assert_allclose(runners[HOST[backend]].run(out, {"x": xs}, backend=backend)["y"], xs + t / 2)


def test_gpt2_converted_with_int4_weights_generates_on_wasm_as_on_js(gpt2, tmp_path):
    """The float decoder converted with --weights int4: every MatMul's weights in blocks of 32 along K; on wasm
    they stay 4-bit in memory and every product by them (5 prompt rows, then one row a step) runs on them as
    stored (wd_matmul_q4); 16 tokens generated greedily with the cache in Node, equal on wasm and on js (which
    computes in float on the same decoded weights)."""
    import os
    import subprocess

    from webdnn.runners import runtime_dist
    proto, _, _ = gpt2
    out = tmp_path / "gpt2-w4"
    _convert(proto, out, backends=["js", "wasm"], weights="int4")
    graph = json.loads((out / "graph_wasm.json").read_text())
    assert graph["stats"]["int4Products"] >= 9 and graph["stats"]["int8Products"] == 0
    assert all(e.get("axis") == 0 for e in graph["encoded"].values())
    prompt, steps = [5, 17, 42, 7, 99], 16
    script = tmp_path / "generate.mjs"
    script.write_text(GENERATE % {"runtime": json.dumps((runtime_dist() / "webdnn.mjs").as_uri())})
    tokens = {}
    for backend in ("js", "wasm"):
        run = subprocess.run(["node", str(script), str(out), json.dumps(prompt), str(steps)],
                             capture_output=True, text=True, timeout=300, env={**os.environ, "WEBDNN_BACKEND": backend})
        assert run.returncode == 0, run.stderr
        tokens[backend] = json.loads(run.stdout)
    assert tokens["wasm"] == tokens["js"] and len(tokens["js"]) == steps
