"""onnxruntime's contrib ops (domain com.microsoft) that exported models use, each composed of IR
ops and of standard ONNX ops through their own handlers (NodeContext.call), so that a model from
onnxruntime's transformer optimizer or quantizer converts like any other. Their definitions follow
onnxruntime's ContribOperators documentation; tests/unit/test_onnx_contrib.py compares each with
onnxruntime's CPU implementation."""
from __future__ import annotations

import numpy as np

from ..ir.activations import _gelu, sigmoid
from ..ir.ops.elementwise import call, inp
from .onnx_ops_composite import integer_matmul
from .onnx_registry import X, handler

MS = "com.microsoft"


# ---- activations ------------------------------------------------------------------------------------
@handler("Gelu", domain=MS)
def _gelu_ms(c):
    return [c.ew(_gelu(X, "none"), [c.input(0)])]


@handler("FastGelu", domain=MS)
def _fast_gelu(c):
    x = c.input(0) if not c.has_input(1) else c.ew(call("add", X, inp(1)), [c.input(0), c.input(1)])
    return [c.ew(_gelu(X, "tanh"), [x])]


@handler("BiasGelu", domain=MS)
def _bias_gelu(c):
    return [c.ew(_gelu(call("add", X, inp(1)), "none"), [c.input(0), c.input(1)])]


@handler("QuickGelu", domain=MS)
def _quick_gelu(c):
    alpha = float(c.attr("alpha", 1.702))
    return [c.ew(call("mul", X, sigmoid(call("mul", X, alpha))), [c.input(0)])]


@handler("BiasAdd", domain=MS)
def _bias_add(c):
    return [c.ew(call("add", call("add", X, inp(1)), inp(2)), [c.input(0), c.input(1), c.input(2)])]


# ---- helpers --------------------------------------------------------------------------------------
FLOAT = 1  # TensorProto.FLOAT


def _ints(c, values):
    return c.constant(np.asarray(values, np.int64))


def _reshape(c, t, shape):
    return c.call1("Reshape", [t, _ints(c, shape)])


def _reduce_mean(c, t, axes):
    return c.op1("Reduce", [t], {"kind": "mean", "axes": list(axes), "keepdims": 1})


def _norm(c, s, axes, eps: float, simplified: bool):
    """(normalized s, mean or None, 1/std) over `axes`: layer norm, or RMS norm when simplified."""
    mean = None
    cen = s
    if not simplified:
        mean = _reduce_mean(c, s, axes)
        cen = c.ew(call("sub", X, inp(1)), [s, mean])
    var = _reduce_mean(c, c.ew(call("mul", X, X), [cen]), axes)
    inv_std = c.ew(call("div", 1.0, call("sqrt", call("add", X, eps))), [var])
    return c.ew(call("mul", X, inp(1)), [cen, inv_std]), mean, inv_std


def _affine(c, y, gamma, beta=None):
    if beta is None:
        return c.ew(call("mul", X, inp(1)), [y, gamma])
    return c.ew(call("add", call("mul", X, inp(1)), inp(2)), [y, gamma, beta])


def _sum(c, tensors):
    tensors = [t for t in tensors if t is not None]
    out = tensors[0]
    for t in tensors[1:]:
        out = c.ew(call("add", X, inp(1)), [out, t])
    return out


# ---- normalizations -------------------------------------------------------------------------------
def _skip_norm(c, simplified: bool):
    x, skip, gamma = c.input(0), c.input(1), c.input(2)
    beta = None if simplified else c.input(3)
    bias = c.input(3 if simplified else 4)
    s = _sum(c, [x, skip, bias])
    y, mean, inv_std = _norm(c, s, [len(x.shape) - 1], float(c.attr("epsilon", 1e-12)), simplified)
    mean = mean if mean is not None else c.ew(call("mul", X, 0.0), [inv_std])  # ORT's output: zeros
    return [_affine(c, y, gamma, beta), mean, inv_std, s]


@handler("SkipLayerNormalization", domain=MS)
def _skip_layer_norm(c):
    return _skip_norm(c, simplified=False)


@handler("SkipSimplifiedLayerNormalization", domain=MS)
def _skip_simplified_layer_norm(c):
    return _skip_norm(c, simplified=True)


@handler("SimplifiedLayerNormalization")  # onnxruntime registers this one in the default domain
def _simplified_layer_norm(c):
    x = c.input(0)
    axis = int(c.attr("axis", -1)) % len(x.shape)
    y, _, inv_std = _norm(c, x, range(axis, len(x.shape)), float(c.attr("epsilon", 1e-5)), simplified=True)
    return [_affine(c, y, c.input(1)), inv_std]


@handler("EmbedLayerNormalization", domain=MS)
def _embed_layer_norm(c):
    ids = c.input(0)
    b, s = ids.shape
    word, pos_table, seg_table = c.input(2), c.input(3), c.input(4)
    emb = c.call1("Gather", [word, ids], axis=0)
    pos_ids = c.input(8) if c.has_input(8) else _ints(c, np.arange(s)[None])
    parts = [emb, c.call1("Gather", [pos_table, pos_ids], axis=0)]
    if c.has_input(1) and seg_table is not None:
        parts.append(c.call1("Gather", [seg_table, c.input(1)], axis=0))
    total = _sum(c, parts)
    y, _, _ = _norm(c, total, [2], float(c.attr("epsilon", 1e-12)), simplified=False)
    out = _affine(c, y, c.input(5), c.input(6))
    if c.has_input(7):  # mask_index: how many entries of each row are exactly 1
        ones = c.call1("Cast", [c.ew(call("eq", X, 1), [c.input(7)])], to=6)  # int32
        mask_index = c.op1("Reduce", [ones], {"kind": "sum", "axes": [1], "keepdims": 0})
    else:
        mask_index = c.constant(np.zeros(b, np.int32))
    return [out, mask_index, total]


# ---- attention --------------------------------------------------------------------------------------
def _heads(c, t, n: int):
    """(B, L, N*h) -> (B, N, L, h)."""
    b, l, d = t.shape
    return c.call1("Transpose", [c.call1("Reshape", [t, _ints(c, [b, l, n, d // n])])], perm=[0, 2, 1, 3])


def _merge_heads(c, t):
    b, n, l, h = t.shape
    return c.call1("Reshape", [c.call1("Transpose", [t], perm=[0, 2, 1, 3]), _ints(c, [b, l, n * h])])


def _padding_mask(c, mask, b: int, s: int, t: int, fill: float):
    """The additive mask (B, 1, S|1, T) of onnxruntime's key padding formats: (B) valid lengths,
    (2B) end and start positions (left padding), (B, T) or (B, S, T) values where > 0 keeps."""
    if len(mask.shape) == 1:
        j = _ints(c, np.arange(t)[None, :])  # (1, T)
        if mask.shape[0] == 2 * b:
            end = c.call1("Reshape", [c.call1("Slice", [mask, _ints(c, [0]), _ints(c, [b])]), _ints(c, [b, 1])])
            start = c.call1("Reshape", [c.call1("Slice", [mask, _ints(c, [b]), _ints(c, [2 * b])]), _ints(c, [b, 1])])
            keep = c.ew(call("and", call("le", inp(1), X), call("lt", X, inp(2))),
                        [c.call1("Cast", [j], to=6), start, end])
        else:  # (B) lengths; (3B+2) reads the first B values, as onnxruntime does
            n = mask if mask.shape[0] == b else c.call1("Slice", [mask, _ints(c, [0]), _ints(c, [b])])
            keep = c.ew(call("lt", X, inp(1)), [c.call1("Cast", [j], to=6), c.call1("Reshape", [n, _ints(c, [b, 1])])])
        keep = c.call1("Reshape", [keep, _ints(c, [b, 1, 1, t])])
    else:
        keep = c.ew(call("gt", X, 0), [mask])
        keep = c.call1("Reshape", [keep, _ints(c, [b, 1, 1 if len(mask.shape) == 2 else s, t])])
    return c.call1("Where", [keep, c.constant(np.float32(0)), c.constant(np.float32(fill))])


def _causal_mask(s: int, t: int, past: int):
    lowest = np.finfo(np.float32).min  # onnxruntime masks future keys with the lowest float, not the filter value
    return np.where(np.arange(t)[None, :] > np.arange(s)[:, None] + past, lowest, 0).astype(np.float32)


def _attend(c, q, k, v, n: int, scale, additive):
    """softmax(Q K^T * scale + additive) V with Q (B,N,S,h), K/V (B,N,T,h) -> (B, S, N*h)."""
    h = q.shape[-1]
    scale = float(scale) if scale else 1.0 / np.sqrt(h)
    scores = c.call1("MatMul", [q, c.call1("Transpose", [k], perm=[0, 1, 3, 2])])
    scores = c.ew(call("mul", X, scale), [scores])
    for a in additive:
        if a is not None:
            scores = c.ew(call("add", X, inp(1)), [scores, a])
    probs = c.call1("Softmax", [scores], axis=-1)
    return _merge_heads(c, c.call1("MatMul", [probs, v]))


def _present(c, past_k, past_v, k, v):
    if past_k is not None:
        k = c.call1("Concat", [past_k, k], axis=2)
        v = c.call1("Concat", [past_v, v], axis=2)
    return k, v


def _slice_last(c, t, start: int, end: int):
    return c.call1("Slice", [t, _ints(c, [start]), _ints(c, [end]), _ints(c, [len(t.shape) - 1])])


@handler("Attention", domain=MS)
def _attention(c):
    if c.attr("do_rotary", 0):
        c.fail("do_rotary=1 is not supported")
    if c.attr("past_present_share_buffer", 0):
        c.fail("past_present_share_buffer=1 is not supported")
    x, w = c.input(0), c.input(1)
    n = int(c.attr("num_heads"))
    b, s, _ = x.shape
    sizes = list(c.attr("qkv_hidden_sizes", [])) or [w.shape[1] // 3] * 3
    qkv = c.call1("MatMul", [x, w])
    if c.has_input(2):
        qkv = c.ew(call("add", X, inp(1)), [qkv, c.input(2)])
    edges = np.cumsum([0] + sizes)
    q, k, v = (_heads(c, _slice_last(c, qkv, int(edges[i]), int(edges[i + 1])), n) for i in range(3))
    past = c.input(4)
    if past is not None:
        pk = _reshape(c, c.call1("Slice", [past, _ints(c, [0]), _ints(c, [1]), _ints(c, [0])]), past.shape[1:])
        pv = _reshape(c, c.call1("Slice", [past, _ints(c, [1]), _ints(c, [2]), _ints(c, [0])]), past.shape[1:])
        k, v = _present(c, pk, pv, k, v)
    t = k.shape[2]
    additive = [c.input(5)]
    if c.has_input(3):
        additive.append(_padding_mask(c, c.input(3), b, s, t, float(c.attr("mask_filter_value", -10000.0))))
    if c.attr("unidirectional", 0):
        additive.append(c.constant(_causal_mask(s, t, t - s)))
    y = _attend(c, q, k, v, n, c.attr("scale"), additive)
    present = c.call1("Concat", [_reshape(c, k, (1, *k.shape)), _reshape(c, v, (1, *v.shape))], axis=0)
    return [y, present]


@handler("MultiHeadAttention", domain=MS)
def _multi_head_attention(c):
    q_in = c.input(0)
    n = int(c.attr("num_heads"))
    if len(q_in.shape) != 3 or (c.has_input(1) and len(c.input(1).shape) == 5) or (not c.has_input(1)):
        c.fail("packed QKV or KV inputs are not supported (give query, key and value)")
    k_in, v_in = c.input(1), c.input(2)
    b, s, dq = q_in.shape
    bias = c.input(3)
    if bias is not None:
        dk = k_in.shape[-1] * (k_in.shape[1] if len(k_in.shape) == 4 else 1)
        q_in = c.ew(call("add", X, inp(1)), [q_in, _slice_last(c, bias, 0, dq)])
        if len(k_in.shape) == 3:  # keys and values already (B, N, L, h) take no bias
            k_in = c.ew(call("add", X, inp(1)), [k_in, _slice_last(c, bias, dq, dq + dk)])
            v_in = c.ew(call("add", X, inp(1)), [v_in, _slice_last(c, bias, dq + dk, bias.shape[0])])
    q = _heads(c, q_in, n)
    k = _heads(c, k_in, n) if len(k_in.shape) == 3 else k_in
    v = _heads(c, v_in, n) if len(v_in.shape) == 3 else v_in
    k, v = _present(c, c.input(6), c.input(7), k, v)
    t = k.shape[2]
    additive = [c.input(5)]
    if c.has_input(4):
        additive.append(_padding_mask(c, c.input(4), b, s, t, float(c.attr("mask_filter_value", -10000.0))))
    if c.attr("unidirectional", 0):
        if t - s != (c.input(6).shape[2] if c.has_input(6) else 0):
            c.fail("unidirectional attention between different query and key lengths is not supported")
        additive.append(c.constant(_causal_mask(s, t, t - s)))
    return [_attend(c, q, k, v, n, c.attr("scale"), additive), k, v]


def _apply_rotary(c, x4, pos, cos, sin, interleaved: int, rd: int):
    """Rotate the first rd dims of x4 (B, S, N, h) at positions pos (B|1, S) with the (max, rd/2)
    caches, pairs (i, i + rd/2) or, interleaved, (2i, 2i + 1)."""
    b, s, n, h = x4.shape
    half = rd // 2
    # onnxruntime reads the caches with a row stride of rotary_embedding_dim / 2
    cos = _reshape(c, cos, (-1, half))
    sin = _reshape(c, sin, (-1, half))
    cs = c.call1("Gather", [cos, pos], axis=0)
    cs = _reshape(c, cs, (cs.shape[0], s, 1, half))  # (B|1, S, 1, rd/2)
    sn = _reshape(c, c.call1("Gather", [sin, pos], axis=0), cs.shape)
    rot = _slice_last(c, x4, 0, rd)
    if interleaved:
        pairs = _reshape(c, rot, (b, s, n, half, 2))
        x1 = _reshape(c, _slice_last(c, pairs, 0, 1), (b, s, n, half))
        x2 = _reshape(c, _slice_last(c, pairs, 1, 2), (b, s, n, half))
    else:
        x1, x2 = _slice_last(c, rot, 0, half), _slice_last(c, rot, half, rd)
    a = c.ew(call("sub", call("mul", X, inp(2)), call("mul", inp(1), inp(3))), [x1, x2, cs, sn])
    bb = c.ew(call("add", call("mul", inp(1), inp(2)), call("mul", X, inp(3))), [x1, x2, cs, sn])
    if interleaved:
        pair = (b, s, n, half, 1)
        out = _reshape(c, c.call1("Concat", [_reshape(c, a, pair), _reshape(c, bb, pair)], axis=4), (b, s, n, rd))
    else:
        out = c.call1("Concat", [a, bb], axis=3)
    if rd < h:
        out = c.call1("Concat", [out, _slice_last(c, x4, rd, h)], axis=3)
    return out


@handler("RotaryEmbedding", domain=MS)
def _rotary(c):
    x, pos, cos, sin = c.input(0), c.input(1), c.input(2), c.input(3)
    interleaved = int(c.attr("interleaved", 0))
    if len(x.shape) == 4:  # (B, N, S, h)
        b, n, s, h = x.shape
        x4 = c.call1("Transpose", [x], perm=[0, 2, 1, 3])
    else:
        b, s, d = x.shape
        n = int(c.attr("num_heads", 0)) or d // (2 * cos.shape[1])
        h = d // n
        x4 = c.call1("Reshape", [x, _ints(c, [b, s, n, h])])
    rd = int(c.attr("rotary_embedding_dim", 0)) or h
    if pos.shape in ((1,), ()):
        pos = c.ew(call("add", X, inp(1)), [_reshape(c, pos, (1, 1)), _ints(c, np.arange(s)[None])])
    out = _apply_rotary(c, x4, pos, cos, sin, interleaved, rd)
    if len(x.shape) == 4:
        return [c.call1("Transpose", [out], perm=[0, 2, 1, 3])]
    return [c.call1("Reshape", [out, _ints(c, [b, s, n * h])])]


@handler("GroupQueryAttention", domain=MS)
def _group_query_attention(c):
    """Grouped-query attention as decoders with a key/value cache export it. The new keys and values
    follow the past ones (present = past + new, total_sequence_length = past + S), which is each
    batch entry's layout when its tokens are not padded (seqlens_k = past + S - 1; batch 1 always);
    seqlens_k then masks the keys after each entry's length."""
    n, kvn = int(c.attr("num_heads")), int(c.attr("kv_num_heads"))
    q_in = c.input(0)
    b, s, d = q_in.shape
    if c.has_input(1):
        k_in, v_in = c.input(1), c.input(2)
        h = d // n
    else:  # packed (B, S, (N + 2 KVN) h)
        h = d // (n + 2 * kvn)
        q_in, k_in, v_in = (_slice_last(c, c.input(0), a, e) for a, e in
                            ((0, n * h), (n * h, (n + kvn) * h), ((n + kvn) * h, d)))
    for i, what in ((9, "position_ids"), (10, "attention_bias"), (11, "head_sink")):
        if c.has_input(i):
            c.fail(f"input {what} is not supported")
    past_k, past_v = c.input(3), c.input(4)
    p = past_k.shape[2] if past_k is not None else 0
    seqlens = _reshape(c, c.input(5), (b, 1))  # (B, 1): each entry's total length - 1
    if c.attr("do_rotary", 0):
        steps = c.constant(np.arange(s, dtype=np.int32)[None])
        pos = c.call1("Cast", [c.ew(call("add", call("sub", X, s - 1), inp(1)), [seqlens, steps])], to=7)  # int64
        inter = int(c.attr("rotary_interleaved", 0))
        q4 = _apply_rotary(c, _reshape(c, q_in, (b, s, n, h)), pos, c.input(7), c.input(8), inter, 2 * c.input(7).shape[1])
        k4 = _apply_rotary(c, _reshape(c, k_in, (b, s, kvn, h)), pos, c.input(7), c.input(8), inter, 2 * c.input(7).shape[1])
        q = c.call1("Transpose", [q4], perm=[0, 2, 1, 3])
        k = c.call1("Transpose", [k4], perm=[0, 2, 1, 3])
    else:
        q, k = _heads(c, q_in, n), _heads(c, k_in, kvn)
    v = _heads(c, v_in, kvn)
    k, v = _present(c, past_k, past_v, k, v)
    t = p + s
    group = n // kvn

    def repeat(x):  # (B, KVN, T, h) -> (B, N, T, h): query head i reads kv head i // group
        x = c.call1("Expand", [_reshape(c, x, (b, kvn, 1, t, h)), _ints(c, [b, kvn, group, t, h])])
        return _reshape(c, x, (b, n, t, h))
    scale = float(c.attr("scale", 0.0)) or 1.0 / np.sqrt(h)
    scores = c.ew(call("mul", X, scale), [c.call1("MatMul", [q, c.call1("Transpose", [repeat(k)], perm=[0, 1, 3, 2])])])
    softcap = float(c.attr("softcap", 0.0))
    if softcap > 0:
        scores = c.ew(call("mul", call("tanh", call("div", X, softcap)), softcap), [scores])
    # key j is seen by query i of entry b when j <= seqlens[b] - (S - 1) + i (and inside the local window)
    j = c.constant(np.arange(t, dtype=np.int32).reshape(1, 1, 1, t))
    i = c.constant(np.arange(s, dtype=np.int32).reshape(1, 1, s, 1))
    last = c.ew(call("add", call("sub", X, s - 1), inp(1)), [_reshape(c, c.input(5), (b, 1, 1, 1)), i])
    keep = c.ew(call("le", X, inp(1)), [j, last])
    window = int(c.attr("local_window_size", -1))
    if window > 0:
        keep = c.ew(call("and", X, call("gt", inp(1), call("sub", inp(2), window))), [keep, j, last])
    lowest = float(np.finfo(np.float32).min)
    scores = c.call1("Where", [keep, scores, c.constant(np.float32(lowest))])
    probs = c.call1("Softmax", [scores], axis=-1)
    return [_merge_heads(c, c.call1("MatMul", [probs, repeat(v)])), k, v]


# ---- quantized matmuls --------------------------------------------------------------------------------
def _unpack_bits(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    """uint8 rows -> `count` values per row, LSB first (bits 2, 4 or 8 per value)."""
    per = 8 // bits
    q = (packed[..., None].astype(np.int32) >> (bits * np.arange(per))) & (2 ** bits - 1)
    return q.reshape(packed.shape[0], -1)[:, :count]


@handler("MatMulNBits", domain=MS)
def _matmul_nbits(c):
    """Block-quantized weights, dequantized at conversion (the descriptor stores 4-bit ones as int4 with their
    blocks along K, exactly: encoding.exact_int4, and with integer zero points encoding.exact_int4_zeros; the
    rest as float where no exact encoding holds them). accuracy_level is a permission to compute less exactly:
    4 (int8 compute) puts the weight in Graph.int8_activations (the wasm backend's 4-bit GEMV may then round
    the activations to 8 bits per block, as onnxruntime does); otherwise the arithmetic is float32."""
    k, n = int(c.attr("K")), int(c.attr("N"))
    bits, bs = int(c.attr("bits", 4)), int(c.attr("block_size"))
    if bits not in (2, 4, 8):
        c.fail(f"bits={bits} (2, 4 and 8 are defined)")
    packed = c.const(1, "the quantized weights B").astype(np.uint8)
    nb = -(-k // bs)
    q = _unpack_bits(packed.reshape(n, -1), bits, nb * bs)[:, :k].astype(np.float32)
    scales = c.const(2, "the scales").astype(np.float32).reshape(n, nb)
    if c.has_input(3):
        zp = c.const(3, "the zero points")
        zp = (zp.astype(np.float32).reshape(n, nb) if zp.dtype.kind == "f"
              else _unpack_bits(zp.astype(np.uint8).reshape(n, -1), bits, nb).astype(np.float32))
    else:
        zp = np.full((n, nb), 2 ** (bits - 1), np.float32)
    block = c.const(4, "g_idx").astype(np.int64).reshape(k) if c.has_input(4) else np.arange(k) // bs
    w = ((q - zp[:, block]) * scales[:, block]).astype(np.float32)  # (N, K)
    b = c.constant(np.ascontiguousarray(w.T))
    if int(c.attr("accuracy_level", 0)) == 4:
        c.graph.int8_activations.add(b.name)
    y = c.call1("MatMul", [c.input(0), b])
    if c.has_input(5):
        y = c.ew(call("add", X, inp(1)), [y, c.input(5)])
    return [y]


def _dynamic_quantize_uint8(c, a):
    """onnxruntime's dynamic quantization of A (ONNX DynamicQuantizeLinear): -> (qa - zp, scale), the
    integer values as float32."""
    axes = list(range(len(a.shape)))
    lo = c.ew(call("min", X, 0.0), [c.op1("Reduce", [a], {"kind": "min", "axes": axes, "keepdims": 0})])
    hi = c.ew(call("max", X, 0.0), [c.op1("Reduce", [a], {"kind": "max", "axes": axes, "keepdims": 0})])
    scale = c.ew(call("div", call("sub", inp(1), X), 255.0), [lo, hi])
    zp = c.ew(call("min", call("max", call("round", call("div", call("neg", X), inp(1))), 0.0), 255.0), [lo, scale])
    qa = c.ew(call("sub", call("min", call("max", call("add", call("round", call("div", X, inp(1))), inp(2)), 0.0), 255.0),
                   inp(2)), [a, scale, zp])
    return qa, scale


def _int_operand(c, i: int, zp_index: int):
    """Integer input i minus its zero point, as float32."""
    t = c.call1("Cast", [c.input(i)], to=FLOAT)
    if c.has_input(zp_index):
        t = c.ew(call("sub", X, inp(1)), [t, c.call1("Cast", [c.input(zp_index)], to=FLOAT)])
    return t


@handler("DynamicQuantizeMatMul", domain=MS)
def _dynamic_quantize_matmul(c):
    qa, a_scale = _dynamic_quantize_uint8(c, c.input(0))
    y = integer_matmul(c, qa, c.input(1), c.input(3))
    y = c.ew(call("mul", X, call("mul", inp(1), inp(2))), [y, a_scale, c.input(2)])
    if c.has_input(4):
        y = c.ew(call("add", X, inp(1)), [y, c.input(4)])
    return [y]


@handler("MatMulIntegerToFloat", domain=MS)
def _matmul_integer_to_float(c):
    y = integer_matmul(c, _int_operand(c, 0, 4), c.input(1), c.input(5))
    y = c.ew(call("mul", X, call("mul", inp(1), inp(2))), [y, c.input(2), c.input(3)])
    if c.has_input(6):
        y = c.ew(call("add", X, inp(1)), [y, c.input(6)])
    return [y]


def _dequantize_lstm_weight(c, i: int, scale_i: int, zp_i: int, what: str):
    """A DynamicQuantizeLSTM weight (num_directions, in, 4 hidden) of int8/uint8, its scale and zero
    point per direction or per column, as the LSTM's float (num_directions, 4 hidden, in)."""
    q = c.const(i, what).astype(np.float32)
    d = q.shape[0]
    scale = c.const(scale_i, f"{what} scale").astype(np.float32).reshape(d, 1, -1)  # (D, 1, 1 | 4 hidden)
    zp = c.const(zp_i, f"{what} zero point").astype(np.float32).reshape(d, 1, -1) if c.has_input(zp_i) else 0.0
    return c.constant(np.ascontiguousarray(((q - zp) * scale).transpose(0, 2, 1)))


@handler("DynamicQuantizeLSTM", domain=MS)
def _dynamic_quantize_lstm(c):
    """An LSTM with 8-bit weights: dequantized at conversion, the LSTM runs in float32. onnxruntime
    also quantizes the input and the hidden state (to 8 bits, at every step), so its results differ
    from these, and from its own LSTM on the same weights, by that rounding (about 1 % of the output
    range); on x86 CPUs without VNNI its int8 products also saturate for weights beyond ±64."""
    w = _dequantize_lstm_weight(c, 1, 8, 9, "W")
    r = _dequantize_lstm_weight(c, 2, 10, 11, "R")
    attrs = {k: c.attr(k) for k in ("activation_alpha", "activation_beta", "activations", "clip", "direction",
                                    "hidden_size", "input_forget") if c.attr(k) is not None}
    ins = [c.input(0), w, r] + [c.input(i) for i in range(3, 8)]
    while ins and ins[-1] is None:
        ins.pop()
    return c.call("LSTM", ins, 3, **attrs)


# ---- fused ops ------------------------------------------------------------------------------------
def _trans_batch(c, t):
    """onnxruntime's transBatch: dim 0 moves next to the last dim."""
    r = len(t.shape)
    return c.call1("Transpose", [t], perm=[*range(1, r - 1), 0, r - 1])


def _trans_last(c, t):
    r = len(t.shape)
    return c.call1("Transpose", [t], perm=[*range(r - 2), r - 1, r - 2])


@handler("FusedMatMul", "TransposeMatMul", domain=MS)
def _fused_matmul(c):
    a, b = c.input(0), c.input(1)
    if c.attr("transBatchA", 0) and len(a.shape) > 2:
        a = _trans_batch(c, a)
    if c.attr("transBatchB", 0) and len(b.shape) > 2:
        b = _trans_batch(c, b)
    if c.attr("transA", 0):
        a = _trans_last(c, a) if len(a.shape) > 1 else a
    if c.attr("transB", 0):
        b = _trans_last(c, b) if len(b.shape) > 1 else b
    y = c.call1("MatMul", [a, b])
    alpha = float(c.attr("alpha", 1.0))
    return [y if alpha == 1.0 else c.ew(call("mul", X, alpha), [y])]


def _activate(c, y, name: str, params: dict):
    """The fused activation `name` with its parameters (standard ops where they exist)."""
    if name in ("Relu", "Sigmoid", "Tanh", "Softsign", "Softplus"):
        return c.call1(name, [y])
    if name in ("LeakyRelu", "Elu", "ThresholdedRelu"):
        return c.call1(name, [y], alpha=params["alpha"])
    if name == "HardSigmoid":
        return c.call1(name, [y], alpha=params["alpha"], beta=params["beta"])
    if name == "Selu":
        return c.call1(name, [y], alpha=params["alpha"], gamma=params["gamma"])
    if name == "ScaledTanh":
        return c.ew(call("mul", call("tanh", call("mul", X, params["beta"])), params["alpha"]), [y])
    if name == "Clip":
        return c.ew(call("min", call("max", X, params["min"]), params["max"]), [y])
    c.fail(f"activation {name!r} is not supported")


@handler("FusedGemm", domain=MS)
def _fused_gemm(c):
    attrs = {k: c.attr(k) for k in ("alpha", "beta", "transA", "transB") if c.attr(k) is not None}
    y = c.call1("Gemm", c.inputs(), **attrs)
    params = {"alpha": c.attr("activation_alpha"), "beta": c.attr("activation_beta"), "gamma": c.attr("activation_gamma")}
    return [_activate(c, y, c.attr("activation"), params)]


@handler("FusedConv", domain=MS)
def _fused_conv(c):
    attrs = {k: c.attr(k) for k in ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
             if c.attr(k) is not None}
    y = c.call1("Conv", [c.input(0), c.input(1), c.input(2)], **attrs)
    if c.has_input(3):  # Z: added before the activation
        y = c.ew(call("add", X, inp(1)), [y, c.input(3)])
    name = c.attr("activation")
    if not name:
        return [y]
    p = [float(v) for v in (c.attr("activation_params") or [])]
    params = {"LeakyRelu": {"alpha": p[0] if p else 0.01}, "HardSigmoid": {"alpha": p[0] if p else 0.2, "beta": p[1] if len(p) > 1 else 0.5},
              "Clip": {"min": p[0] if p else -3.4e38, "max": p[1] if len(p) > 1 else 3.4e38}}.get(name, {})
    return [_activate(c, y, name, params)]


# ---- QOperator ops (onnxruntime's quantize_static with QuantFormat.QOperator) ----------------------------
# Each is the float op between a DequantizeLinear of its 8-bit inputs and a QuantizeLinear of its
# output: simplify_elementwise makes the chain one float expression, and a contraction's weights stay
# 8-bit (encoding.exact_int8).
def _zero_point(c, i: int, like):
    """Input i (a zero point), or 0 of `like`'s type where the optional input is absent."""
    return c.input(i) if c.has_input(i) else c.constant(np.zeros((), like.dtype), dtype=like.dtype)


def _dq(c, x: int, scale: int, zp: int):
    return c.call1("DequantizeLinear", [c.input(x), c.input(scale), _zero_point(c, zp, c.input(x))])


def _q(c, y, scale: int, zp: int, like: int):
    return c.call1("QuantizeLinear", [y, c.input(scale), _zero_point(c, zp, c.input(like))])


def _channels_last(c, op_type, x, **attrs):
    """A pooling op on NCHW-ordered data; with channels_last=1, x is N...C and goes through a transpose."""
    if not c.attr("channels_last", 0):
        return c.call1(op_type, [x], **attrs)
    r = len(x.shape)
    y = c.call1(op_type, [c.call1("Transpose", [x], perm=[0, r - 1, *range(1, r - 1)])], **attrs)
    return c.call1("Transpose", [y], perm=[0, *range(2, r), 1])


@handler("QLinearAdd", "QLinearMul", domain=MS)
def _qlinear_binary(c):
    op = "Add" if c.node.op_type == "QLinearAdd" else "Mul"
    return [_q(c, c.call1(op, [_dq(c, 0, 1, 2), _dq(c, 3, 4, 5)]), 6, 7, 0)]


@handler("QLinearLeakyRelu", "QLinearSigmoid", domain=MS)
def _qlinear_unary(c):
    x = _dq(c, 0, 1, 2)
    y = c.call1("LeakyRelu", [x], alpha=float(c.attr("alpha", 0.01))) if c.node.op_type == "QLinearLeakyRelu" \
        else c.call1("Sigmoid", [x])
    return [_q(c, y, 3, 4, 0)]


@handler("QLinearGlobalAveragePool", domain=MS)
def _qlinear_global_average_pool(c):
    return [_q(c, _channels_last(c, "GlobalAveragePool", _dq(c, 0, 1, 2)), 3, 4, 0)]


@handler("QLinearAveragePool", domain=MS)
def _qlinear_average_pool(c):
    attrs = {k: c.attr(k) for k in ("auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides")
             if c.attr(k) is not None}
    return [_q(c, _channels_last(c, "AveragePool", _dq(c, 0, 1, 2), **attrs), 3, 4, 0)]


@handler("QLinearSoftmax", domain=MS)
def _qlinear_softmax(c):
    x = _dq(c, 0, 1, 2)
    r = len(x.shape)
    axis = int(c.attr("axis", -1)) % max(r, 1)
    if int(c.attr("opset", 13)) < 13:  # Softmax before opset 13: over the dims from axis on, as one
        flat = _reshape(c, x, [int(np.prod(x.shape[:axis])), int(np.prod(x.shape[axis:]))])
        y = _reshape(c, c.call1("Softmax", [flat], axis=1), list(x.shape))
    else:
        y = c.call1("Softmax", [x], axis=axis)
    return [_q(c, y, 3, 4, 0)]


@handler("QLinearConcat", domain=MS)
def _qlinear_concat(c):
    """Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input."""
    n = len(c.node.input)
    if n < 5 or (n - 2) % 3:
        c.fail(f"{n} inputs: expected Y_scale, Y_zero_point and triples of (X, X_scale, X_zero_point)")
    xs = [_dq(c, i, i + 1, i + 2) for i in range(2, n, 3)]
    y = c.call1("Concat", xs, axis=int(c.attr("axis")))
    return [c.call1("QuantizeLinear", [y, c.input(0), _zero_point(c, 1, c.input(2))])]


@handler("QGemm", domain=MS)
def _qgemm(c):
    """alpha · (A'B' + C) on dequantized A and B (b_scale per column of B' or one), C an int32 bias at scale
    a_scale · b_scale (alpha scales it too, as onnxruntime computes); quantized with y_scale / y_zero_point
    when given, float32 otherwise."""
    a = _dq(c, 0, 1, 2)
    b = c.input(3)
    trans_b = int(c.attr("transB", 0))
    b_scale = c.input(4)
    axis = 0 if trans_b else 1  # B's output columns
    bq = c.call1("DequantizeLinear", [b, b_scale, _zero_point(c, 5, b)], axis=axis)
    y = c.call1("Gemm", [a, bq], alpha=float(c.attr("alpha", 1.0)), transA=int(c.attr("transA", 0)), transB=trans_b)
    if c.has_input(6):
        alpha = float(c.attr("alpha", 1.0))
        bias = c.ew(call("mul", call("cast", "float32", X), call("mul", call("mul", inp(1), inp(2)), alpha)),
                    [c.input(6), c.input(1), b_scale])
        y = c.ew(call("add", X, inp(1)), [y, bias])
    return [_q(c, y, 7, 8, 0) if c.has_input(7) else y]
