"""Models as onnxruntime's transformer optimizer and quantizer write them (com.microsoft contrib
ops), converted and run on every backend against onnxruntime: a BERT-style encoder layer
(EmbedLayerNormalization, Attention with the mask index, SkipLayerNormalization, FastGelu) and a
decoder step with 4-bit weights (SimplifiedLayerNormalization, MatMulNBits, RotaryEmbedding, causal
MultiHeadAttention with a key/value cache, SkipSimplifiedLayerNormalization), and a grouped-query
attention decode step with rotary embeddings (GroupQueryAttention)."""
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import webdnn
from webdnn.testing import compare

MS = "com.microsoft"
RUNS = [("node", "js"), ("node", "wasm"), ("native", "webgpu")]
rng = np.random.default_rng(0)


def w(*shape, scale=0.2):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def build(nodes, inputs: dict, outputs: list, inits: dict):
    def info(name, v):
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
    g = helper.make_graph(nodes, "m", [info(k, v) for k, v in inputs.items()],
                          [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)])


def ms(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, domain=MS, **attrs)


def encoder_layer():
    h, s, b, v = 32, 8, 2, 50
    nodes = [
        ms("EmbedLayerNormalization", ["ids", "seg", "we", "pe", "se", "g0", "b0", "mask"], ["emb", "mask_index"],
           epsilon=1e-12),
        ms("Attention", ["emb", "qkv_w", "qkv_b", "mask_index"], ["att"], num_heads=4),
        helper.make_node("MatMul", ["att", "o_w"], ["att_o"]),
        ms("SkipLayerNormalization", ["att_o", "emb", "g1", "b1", "o_b"], ["ln1"], epsilon=1e-12),
        helper.make_node("MatMul", ["ln1", "f1_w"], ["f1"]),
        ms("FastGelu", ["f1", "f1_b"], ["gelu"]),
        helper.make_node("MatMul", ["gelu", "f2_w"], ["f2"]),
        ms("SkipLayerNormalization", ["f2", "ln1", "g2", "b2", "f2_b"], ["out"], epsilon=1e-12),
    ]
    inits = {"we": w(v, h), "pe": w(16, h), "se": w(2, h), "g0": 1 + w(h), "b0": w(h), "qkv_w": w(h, 3 * h),
             "qkv_b": w(3 * h), "o_w": w(h, h), "g1": 1 + w(h), "b1": w(h), "o_b": w(h), "f1_w": w(h, 4 * h),
             "f1_b": w(4 * h), "f2_w": w(4 * h, h), "g2": 1 + w(h), "b2": w(h), "f2_b": w(h)}
    inputs = {"ids": rng.integers(0, v, (b, s)).astype(np.int32), "seg": rng.integers(0, 2, (b, s)).astype(np.int32),
              "mask": np.array([[1] * s, [1] * 5 + [0] * 3], np.int32)}
    return build(nodes, inputs, ["out"], inits), inputs


def _nbits(n, k, bs=32):
    q = rng.integers(0, 16, (n, k))
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8).reshape(n, k // bs, bs // 2)
    return packed, w(n, k // bs, scale=0.02)


def decoder_step():
    h, n, s, past = 64, 4, 2, 5
    hd = h // n
    nodes = [ms("SkipSimplifiedLayerNormalization", ["x", "residual", "g0"], ["xn", "", "", "res"], epsilon=1e-6)]
    inits = {"g0": 1 + w(h), "g1": 1 + w(h), "cos": np.cos(np.arange(16)[:, None] / 10 ** (np.arange(hd // 2) / 4)).astype(np.float32),
             "sin": np.sin(np.arange(16)[:, None] / 10 ** (np.arange(hd // 2) / 4)).astype(np.float32)}
    for name in ("q", "k", "v", "o"):
        inits[f"{name}_B"], inits[f"{name}_s"] = _nbits(h, h)
    proj = {name: ms("MatMulNBits", ["xn" if name != "o" else "att", f"{name}_B", f"{name}_s"], [f"{name}_p"], K=h, N=h,
                     bits=4, block_size=32) for name in ("q", "k", "v", "o")}
    nodes += [proj["q"], proj["k"], proj["v"]]
    nodes += [ms("RotaryEmbedding", ["q_p", "pos", "cos", "sin"], ["q_r"], num_heads=n),
              ms("RotaryEmbedding", ["k_p", "pos", "cos", "sin"], ["k_r"], num_heads=n),
              ms("MultiHeadAttention", ["q_r", "k_r", "v_p", "", "", "", "past_k", "past_v"], ["att", "present_k", "present_v"],
                 num_heads=n, unidirectional=1),
              proj["o"],
              ms("SkipSimplifiedLayerNormalization", ["o_p", "res", "g1"], ["out"], epsilon=1e-6),
              helper.make_node("SimplifiedLayerNormalization", ["out", "g1"], ["final"], axis=-1, epsilon=1e-5)]
    inputs = {"x": w(1, s, h, scale=1), "residual": w(1, s, h, scale=1),
              "pos": np.arange(past, past + s, dtype=np.int64)[None], "past_k": w(1, n, past, hd, scale=1),
              "past_v": w(1, n, past, hd, scale=1)}
    return build(nodes, inputs, ["final", "present_k", "present_v"], inits), inputs


def gqa_step():
    """One decode step of a grouped-query attention layer with rotary embeddings (as Llama-style
    exports write it): 4 query heads over 2 key/value heads, a cache of 6."""
    n, kvn, h, past = 4, 2, 16, 6
    nodes = [helper.make_node("MatMul", ["x", "wq"], ["q"]), helper.make_node("MatMul", ["x", "wk"], ["k"]),
             helper.make_node("MatMul", ["x", "wv"], ["v"]),
             ms("GroupQueryAttention", ["q", "k", "v", "past_k", "past_v", "seqlens_k", "total", "cos", "sin"],
                ["att", "present_k", "present_v"], num_heads=n, kv_num_heads=kvn, do_rotary=1)]
    angles = np.arange(32)[:, None] / 10 ** (np.arange(h // 2) / 4)
    inits = {"wq": w(64, n * h), "wk": w(64, kvn * h), "wv": w(64, kvn * h),
             "cos": np.cos(angles).astype(np.float32), "sin": np.sin(angles).astype(np.float32)}
    inputs = {"x": w(1, 1, 64, scale=1), "past_k": w(1, kvn, past, h, scale=1), "past_v": w(1, kvn, past, h, scale=1),
              "seqlens_k": np.array([past], np.int32), "total": np.array(past + 1, np.int32)}
    return build(nodes, inputs, ["att", "present_k", "present_v"], inits), inputs


def test_contrib_models_on_every_backend(runners, tmp_path):
    failures = []
    for name, make in (("encoder", encoder_layer), ("decoder", decoder_step), ("gqa", gqa_step)):
        m, inputs = make()
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        expected = dict(zip(names, sess.run(names, inputs)))
        out = tmp_path / name
        webdnn.convert(m, out, backends=("js", "wasm", "webgpu"))
        for host, backend in RUNS:
            got = runners[host].run(out, inputs, backend=backend)
            for o in names:
                msg = compare(got[o], expected[o], backend, f"{name}/{o} on {backend} in {host}")
                if msg:
                    failures.append(msg)
    assert not failures, "\n".join(failures)
