"""Attention as one kernel: softmax(epilogue(q · kᵀ)) · v without the score matrix (backend/lowering.py
finds the chain; the scale / mask Elementwise fused into the first product is applied to each score).

A workgroup takes ROWS query rows of one batch entry, a thread per row holding its query and its output
row in registers. Keys and values go through workgroup memory TK at a time (every thread loads a share);
each thread then scores its row against them and folds them into its output with the running maximum
and sum of the online softmax (flash attention):

    m' = max(m, s);  c = exp(m - m');  p = exp(s - m');  l = l·c + p;  o = o·c + p·v;  m = m'
    y = o / l after the last key

A few query rows (a decoder's one-token step) would leave most of those threads idle, so up to DECODE_ROWS
rows take the decode form instead: a workgroup per query row, its threads scoring a key each (64 keys per
chunk), the chunk's maximum and exponentials shared through workgroup memory, then each thread folding the
chunk into the output columns it owns. With a row count bound at run time, both are written and the runtime
dispatches the one whose range holds it. Past SPLIT keys (a long cache) the keys are split too, SPLIT per
workgroup (flash decoding): each writes its partial output with its running maximum and sum, and a second
kernel combines the parts of each row, rescaled to their common maximum.
"""
from __future__ import annotations

from ...ir.dtype import FLOAT_DTYPES
from .elementwise import Epilogue
from ...ir.symbolic import is_symbolic_array
from ...ir import Tensor
from .indices import Dispatch, Shader, broadcast_offset, decompose, flat_kernel, is_sym, offset, size_of, strides, u

ROWS = 64            # query rows per workgroup, a thread each
DECODE_ROWS = 16     # at most this many query rows: the decode form (a workgroup per row, a thread per key)
KEYS = 64            # the decode form's threads: keys per chunk
SPLIT = 256          # more keys than this: the decode form splits them over workgroups of SPLIT keys each
MAX_HEAD = 128       # the longest query / value row a thread keeps in registers
WORKGROUP_BYTES = 16384  # WebGPU's default maxComputeWorkgroupStorageSize
MAX_GROUPS = 65535


def _tile(d: int, dv: int) -> int:
    """Keys per tile: as many as workgroup memory holds of kᵀ's and v's columns (at most 32)."""
    tk = 32
    while tk > 1 and 4 * tk * (d + dv) > WORKGROUP_BYTES:
        tk //= 2
    return tk


def fits(a, pv) -> bool:
    """Whether the kernel takes this chain: float tensors, heads of fixed sizes it can hold in registers
    (query and key counts and the batch may be sizes bound at run time)."""
    q, kt = a.scores.inputs
    v = pv.inputs[1]
    s = a.scores.outputs[0]
    others = [t for i, t in enumerate(a.epilogue.inputs) if i != a.slot] if a.epilogue is not None else []
    if any(t.dtype not in FLOAT_DTYPES for t in [q, kt, v, s, *pv.outputs]):
        return False
    if a.epilogue is not None and a.epilogue.outputs[0].dtype not in FLOAT_DTYPES:
        return False
    d, dv = q.shape[-1], v.shape[-1]
    if is_sym(d) or is_sym(dv) or any(is_symbolic_array(t.data) for t in others if t.is_constant):
        return False
    batches = size_of(s.shape[:-2])
    return 1 <= d <= MAX_HEAD and 1 <= dv <= MAX_HEAD and (is_sym(batches) or batches <= MAX_GROUPS)


def attention(step, ctx):
    """The dispatches of one attention step, each with the size ranges it runs for (Dispatch.when): the rows
    form, or the decode form (in one pass, or split over the keys and combined)."""
    M, N = step.attention.scores.outputs[0].shape[-2:]

    def decode(conds):
        if not is_sym(N) and N <= SPLIT:
            return [(_decode(step, ctx), conds)]
        split = [(d, conds + ([(N, SPLIT + 1, None)] if is_sym(N) else [])) for d in _split_decode(step, ctx)]
        return ([(_decode(step, ctx), conds + [(N, None, SPLIT)])] if is_sym(N) else []) + split

    if not is_sym(M):
        out = decode([]) if M <= DECODE_ROWS else [(_rows(step, ctx), [])]
    else:
        out = decode([(M, None, DECODE_ROWS)]) + [(_rows(step, ctx), [(M, DECODE_ROWS + 1, None)])]
    for d, conds in out:
        d.when = conds or None
    return [d for d, _ in out]


def _parts(step, ctx, out=True):
    """What every form starts from: shapes, bindings (the output's where `out`), the batch decomposition and the
    score's value."""
    a, pv = step.attention, step.op
    q, kt = a.scores.inputs
    v = pv.inputs[1]
    y = pv.outputs[0]
    s_shape = a.scores.outputs[0].shape
    batch_shape = s_shape[:-2]
    sh = Shader(ctx.part_elems, ctx.roots)
    yb = sh.bind("y", y, write=True) if out else None
    src = a.key_source
    qb, kb, vb = sh.bind("q", q), sh.bind("kt", src), sh.bind("v", v)
    bl, bi = decompose("b", batch_shape, "z")
    base = lambda t: broadcast_offset(t.shape[:-2], bi) if t.shape[:-2] and batch_shape else "0u"  # noqa: E731
    D, N = kt.shape[-2], kt.shape[-1]
    if a.key is None:
        ko, sd, sn = f"({base(kt)}) * {u(D * N)}", N, 1
    else:  # kᵀ = Transpose(src): element [..., d, n] of kᵀ is src at the permuted strides
        perm = a.key.definition.perm(a.key, len(src.shape))
        st = strides(src.shape)
        lead = len(bi) - (len(perm) - 2)
        ko = offset([("0u" if kt.shape[k] == 1 else bi[lead + k]) for k in range(len(perm) - 2)],
                    [st[p] for p in perm[:-2]]) if batch_shape else "0u"
        sd, sn = st[perm[-2]], st[perm[-1]]
    # kᵀ[d, n] of this batch entry (after `let ko = ...`); whether it is contiguous along d (load tiles along d)
    key = (lambda d, n: f"ko + ({d}) * {u(sd)} + ({n})" + (f" * {u(sn)}" if sn != 1 else ""), sd == 1)
    score, epi = "sv", []
    if a.epilogue is not None:
        lines, text, _ = Epilogue(sh, a.epilogue, a.slot).value("si", "sv")
        epi = lines + [f"let se = f32({text});"]
        score = "se"
    dims = (s_shape[-2], s_shape[-1], q.shape[-1], v.shape[-1], size_of(batch_shape))
    return sh, (yb, qb, kb, vb), bl, base, (q, ko, key, v), score, epi, dims


def _split_decode(step, ctx) -> list:
    """The decode form over SPLIT keys per workgroup, then the kernel combining each row's parts. A part is
    DV + 2 values, the output row unnormalized, its maximum and its sum, kept as float32 bits in an int32
    tensor (exact whatever the storage precision), planned like an output of the step, dead after it."""
    a, pv = step.attention, step.op
    M, N = a.scores.outputs[0].shape[-2:]
    DV = pv.inputs[1].shape[-1]
    batches = size_of(a.scores.outputs[0].shape[:-2])
    S = (N + SPLIT - 1) // SPLIT
    W = DV + 2
    parts = Tensor(f"{pv.outputs[0].name}::attention_parts", (batches * M * S * W,), "int32")
    step.outputs.append(parts)
    first = _decode(step, ctx, parts=parts)
    sh = Shader(ctx.part_elems, ctx.roots)
    y = pv.outputs[0]
    yb = sh.bind("y", y, write=True)
    pb = sh.bind("parts", parts)
    f = lambda i: f"bitcast<f32>({pb.get(i)})"  # noqa: E731
    lines = [f"let row = gi / {u(DV)};", f"let j = gi % {u(DV)};", f"let po = row * {u(S * W)};",
             "var mx = -f_inf();",
             f"for (var s = 0u; s < {u(S)}; s = s + 1u) {{ mx = max(mx, {f(f'po + s * {u(W)} + {u(DV)}')}); }}",
             "var l = 0.0;", "var o = 0.0;",
             f"for (var s = 0u; s < {u(S)}; s = s + 1u) {{",
             f"  let ms = {f(f'po + s * {u(W)} + {u(DV)}')};",
             "  let w = select(exp(ms - mx), 0.0, ms == -f_inf());",  # a part whose keys were all masked out
             f"  l = l + {f(f'po + s * {u(W)} + {u(DV + 1)}')} * w;",
             f"  o = o + {f(f'po + s * {u(W)} + j')} * w;",
             "}",
             yb.set("gi", "o / l")]
    return [first, flat_kernel(f"{step.label}:combine", sh, batches * M * DV, lines)]


def _decode(step, ctx, parts=None):
    """The decode form: a workgroup of KEYS threads per query row. With `parts` (_split_decode), workgroup z
    takes keys [z·SPLIT, (z + 1)·SPLIT) and writes its part instead of the output row."""
    sh, (yb, qb, kb, vb), bl, base, (q, ko, (kidx, _), v), score, epi, (M, N, D, DV, batches) = _parts(step, ctx, out=parts is None)
    S = (N + SPLIT - 1) // SPLIT if parts is not None else 1
    if parts is not None:
        pb = sh.bind("parts", parts, write=True)
        span = ["let kbeg = wid.z * " + u(SPLIT) + ";", f"let kend = min(kbeg + {u(SPLIT)}, {u(N)});"]
    else:
        span = ["let kbeg = 0u;", f"let kend = {u(N)};"]
    cols = -(-DV // KEYS)  # output columns per thread: lid, lid + KEYS, ...
    fold = []
    for c in range(cols):
        j = f"lid + {u(c * KEYS)}" if c else "lid"
        guard = f"if ({j} < {u(DV)}) " if (c + 1) * KEYS > DV else ""
        fold.append(f"      {guard}{{ acc[{c}] = fma(p, {vb.get(f'vo + (n0 + kk) * {u(DV)} + {j}')}, acc[{c}]); }}")
    store = []
    if parts is not None:
        W = DV + 2
        store += [f"let po = ((b * {u(M)} + m) * {u(S)} + wid.z) * {u(W)};",
                  f"if (lid == 0u) {{ {pb.set(f'po + {u(DV)}', 'bitcast<i32>(mx)')} {pb.set(f'po + {u(DV + 1)}', 'bitcast<i32>(l)')} }}"]
    else:
        store += ["let r = 1.0 / l;", f"let yo = (b * {u(M)} + m) * {u(DV)};"]
    for c in range(cols):
        j = f"lid + {u(c * KEYS)}" if c else "lid"
        guard = f"if ({j} < {u(DV)}) " if (c + 1) * KEYS > DV else ""
        put = (pb.set(f"po + {j}", f"bitcast<i32>(acc[{c}])") if parts is not None
               else yb.set(f"yo + {j}", f"acc[{c}] * r"))
        store.append(f"{guard}{{ {put} }}")
    body = [f"@compute @workgroup_size({KEYS})",
            "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
            "  let m = wid.x;", "  let b = wid.y;",
            *("  " + ln for ln in bl),
            f"  let qo = ({base(q)}) * {u(M * D)} + m * {u(D)};",
            f"  let ko = {ko};", f"  let vo = ({base(v)}) * {u(N * DV)};",
            f"  for (var d = lid; d < {u(D)}; d = d + {u(KEYS)}) {{ q_row[d] = {qb.get('qo + d')}; }}",
            f"  var acc: array<f32, {cols}>;",
            "  var mx = -f_inf();", "  var l = 0.0;",
            *("  " + ln for ln in span),
            f"  for (var n0 = kbeg; n0 < kend; n0 = n0 + {u(KEYS)}) {{",
            "    workgroupBarrier();",  # q_row written; the last chunk's scores and weights read
            "    let n = n0 + lid;", f"    let nc = min(n, {u(N - 1)});",
            "    var sv = 0.0;",
            f"    for (var d = 0u; d < {u(D)}; d = d + 1u) {{ sv = fma(q_row[d], {kb.get(kidx('d', 'nc'))}, sv); }}",
            f"    let si = (b * {u(M)} + m) * {u(N)} + nc;",
            *("    " + ln for ln in epi),
            f"    let s = select(-f_inf(), {score}, n < kend);",
            "    chunk_s[lid] = s;",
            "    workgroupBarrier();",
            f"    let cnt = min({u(KEYS)}, kend - n0);",
            "    var cm = -f_inf();",
            "    for (var kk = 0u; kk < cnt; kk = kk + 1u) { cm = max(cm, chunk_s[kk]); }",
            "    let mn = max(mx, cm);",
            "    let dead = mn == -f_inf();",  # every score so far masked out: nothing to weigh yet
            "    let c = select(exp(mx - mn), 1.0, dead);",
            "    chunk_p[lid] = select(exp(s - mn), 0.0, dead);",
            "    workgroupBarrier();",
            "    l = l * c;",
            *(f"    acc[{c}] = acc[{c}] * c;" for c in range(cols)),
            "    for (var kk = 0u; kk < cnt; kk = kk + 1u) {",
            "      let p = chunk_p[kk];", "      l = l + p;",
            *fold,
            "    }",
            "    mx = mn;",
            "  }",
            *("  " + ln for ln in store),
            "}"]
    sh.helpers.append(f"var<workgroup> q_row: array<f32, {D}>;\nvar<workgroup> chunk_s: array<f32, {KEYS}>;\n"
                      f"var<workgroup> chunk_p: array<f32, {KEYS}>;")
    return Dispatch(step.label, sh.code("\n".join(body)), sh.binding_list(), (M, batches, S),
                    workgroup_bytes=4 * (D + 2 * KEYS), invocations=KEYS)


def _rows(step, ctx):
    """The rows form. Heads whose sizes are multiples of 4 are read as vec4s: the query row, the tiles and the
    output row (a dot product per 4 values); the tiles and the query are then CT (f16 where the runtime's header
    says HALF: each 4-value dot product in f16, the score summed in f32), the output row and the softmax state
    f32. Other heads: a value at a time, in f32."""
    sh, (yb, qb, kb, vb), bl, base, (q, ko, (kidx, along_d), v), score, epi, (M, N, D, DV, batches) = _parts(step, ctx)
    TK = _tile(D, DV)
    w = 4 if D % 4 == 0 and DV % 4 == 0 else 1
    Dw, DVw = D // w, DV // w
    k_val, v_val = (f"select(0.0, {kb.get(kidx('d', f'min(n, {u(N - 1)})'))}, n < {u(N)})",
                    f"select(0.0, {vb.get(f'vo + min(n, {u(N - 1)}) * {u(DV)} + e % {u(DV)}')}, n < {u(N)})")
    if w == 4:
        q_load = ["let e = qo + 4u * d;",
                  f"qr[d] = vec4<CT>(vec4<f32>({qb.get('e')}, {qb.get('e + 1u')}, {qb.get('e + 2u')}, {qb.get('e + 3u')}));"]
        put_k = f"kt_tile[kk * {u(Dw)} + d / 4u][d % 4u] = CT({k_val});"
        put_v = f"v_tile[e / 4u][e % 4u] = CT({v_val});"
        dot = f"sv = sv + f32(dot(qr[d], kt_tile[kk * {u(Dw)} + d]));"
        pv = f"acc[j] = fma(vec4<f32>(p), vec4<f32>(v_tile[kk * {u(DVw)} + j]), acc[j] * c);"
        put_y = ["let o = acc[j] * r;", *(yb.set(f"yo + 4u * j + {c}u", f"o.{comp}") for c, comp in enumerate("xyzw"))]
        types = ("vec4<CT>", "vec4<f32>")
    else:  # kᵀ's tile as stored, [d][kk]
        q_load = [f"qr[d] = {qb.get('qo + d')};"]
        put_k = f"kt_tile[d * {u(TK)} + kk] = {k_val};"
        put_v = f"v_tile[e] = {v_val};"
        dot = f"sv = fma(qr[d], kt_tile[d * {u(TK)} + kk], sv);"
        pv = f"acc[j] = fma(p, v_tile[kk * {u(DV)} + j], acc[j] * c);"
        put_y = [yb.set("yo + j", "acc[j] * r")]
        types = ("f32", "f32")
    body = [f"@compute @workgroup_size({ROWS})",
            "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
            "  let b = wid.y;", f"  let m = wid.x * {u(ROWS)} + lid;", f"  let live = m < {u(M)};",
            *("  " + ln for ln in bl),
            f"  let qo = ({base(q)}) * {u(M * D)} + min(m, {u(M - 1)}) * {u(D)};",
            f"  let ko = {ko};", f"  let vo = ({base(v)}) * {u(N * DV)};",
            f"  var qr: array<{types[0]}, {Dw}>;",
            f"  for (var d = 0u; d < {u(Dw)}; d = d + 1u) {{", *("    " + ln for ln in q_load), "  }",
            f"  var acc: array<{types[1]}, {DVw}>;",
            "  var mx = -f_inf();", "  var l = 0.0;",
            f"  for (var n0 = 0u; n0 < {u(N)}; n0 = n0 + {u(TK)}) {{",
            "    workgroupBarrier();",
            f"    for (var e = lid; e < {u(D * TK)}; e = e + {u(ROWS)}) {{",  # kᵀ[d, n0 + kk]: along n, as stored
            *([f"      let d = e % {u(D)};", f"      let kk = e / {u(D)};"] if along_d else  # consecutive threads: consecutive addresses
              [f"      let d = e / {u(TK)};", f"      let kk = e % {u(TK)};"]), "      let n = n0 + kk;",
            f"      {put_k}",
            "    }",
            f"    for (var e = lid; e < {u(TK * DV)}; e = e + {u(ROWS)}) {{",
            f"      let n = n0 + e / {u(DV)};",
            f"      {put_v}",
            "    }",
            "    workgroupBarrier();",
            "    if (live) {",  # no `continue` around the barriers: they stay in uniform control flow
            f"      let cnt = min({u(TK)}, {u(N)} - n0);",
            "      for (var kk = 0u; kk < cnt; kk = kk + 1u) {",
            "        var sv = 0.0;",
            f"        for (var d = 0u; d < {u(Dw)}; d = d + 1u) {{ {dot} }}",
            f"        let si = (b * {u(M)} + m) * {u(N)} + n0 + kk;",
            *("        " + ln for ln in epi),
            f"        let mn = max(mx, {score});",
            "        if (mn == -f_inf()) { continue; }",
            "        let c = exp(mx - mn);", f"        let p = exp({score} - mn);",
            "        l = l * c + p;",
            f"        for (var j = 0u; j < {u(DVw)}; j = j + 1u) {{ {pv} }}",
            "        mx = mn;",
            "      }",
            "    }",
            "  }",
            "  if (!live) { return; }",
            "  let r = 1.0 / l;",
            f"  let yo = (b * {u(M)} + m) * {u(DV)};",
            f"  for (var j = 0u; j < {u(DVw)}; j = j + 1u) {{", *("    " + ln for ln in put_y), "  }",
            "}"]
    tile_type = "vec4<CT>" if w == 4 else "f32"
    sh.helpers.append(f"var<workgroup> kt_tile: array<{tile_type}, {TK * Dw}>;\n"
                      f"var<workgroup> v_tile: array<{tile_type}, {TK * DVw}>;")
    groups = ((M + ROWS - 1) // ROWS, batches, 1)
    return Dispatch(step.label, sh.code("\n".join(body)), sh.binding_list(), groups,
                    workgroup_bytes=4 * TK * (D + DV), invocations=ROWS)
