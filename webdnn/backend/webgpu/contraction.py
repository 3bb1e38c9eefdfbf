"""Contractions: MatMul and Conv as one tiled GEMM kernel (workgroup memory tiles, a register
block per thread, vec4 loads where the layout allows), a specialized depthwise conv, and a
direct ConvTranspose. Every one applies its fused Elementwise epilogue where it stores.

GEMM view of each op, per batch b (the dispatch's z):
    MatMul:  A = a[b] [M, K], B = b[b] [K, N], out[b] [M, N]
    Conv:    b = group, A = W[g] [M/g, C/g·kh·kw], B = im2col(X)[g] [C/g·kh·kw, N·OH·OW]
"""
from __future__ import annotations

from dataclasses import dataclass

from ...encoding import stored_bytes
from .elementwise import Epilogue
from ...ir import Tensor
from ..kernels import folded_rows
from .indices import Dispatch, Shader, broadcast_offset, decompose, flat_kernel, is_sym, si, size_of, u
from .pool import nchw


@dataclass(frozen=True)
class Tile:
    tm: int   # rows of the output tile (M)
    tn: int   # columns (N), a multiple of 4 * rn / 4
    tk: int   # depth of one K step
    rm: int   # rows per thread
    rn: int   # columns per thread (4 or 8: whole vec4s)

    @property
    def threads(self) -> int:
        return (self.tm // self.rm) * (self.tn // self.rn)

    @property
    def workgroup_bytes(self) -> int:
        return 4 * self.tk * (self.tm + self.tn)


TILES = {
    "large": Tile(128, 128, 8, 8, 8),
    "medium": Tile(64, 64, 16, 4, 4),
    "small": Tile(32, 32, 16, 2, 4),
    "thin": Tile(4, 256, 8, 1, 4),
}
TARGET_GROUPS = 192  # enough workgroups to fill a large GPU


def pick_tile(M, N, batches) -> Tile:
    if any(is_sym(d) for d in (M, N, batches)):  # sizes known only at run time: one tile for all of them
        return TILES["thin"] if not is_sym(M) and M <= 4 else TILES["medium"]
    if M <= 4:
        return TILES["thin"]

    def groups(t):
        return -(-M // t.tm) * -(-N // t.tn) * batches
    for name in ("large", "medium"):
        if groups(TILES[name]) >= TARGET_GROUPS:
            return TILES[name]
    return TILES["small"]


SPLIT_MIN_K = 512     # split K only when each part still has this much depth
MAX_SPLIT = 16


def pick_split(tile: Tile, M: int, N: int, K: int, batches: int) -> int:
    """How many parts K is split into: a layer with few output tiles and a deep K (late layers of
    a CNN at batch 1) computes partial sums in parallel and adds them in a second kernel."""
    groups = -(-M // tile.tm) * -(-N // tile.tn) * batches
    if groups >= TARGET_GROUPS // 2 or K < 2 * SPLIT_MIN_K:
        return 1
    return max(1, min(MAX_SPLIT, -(-TARGET_GROUPS // groups), K // SPLIT_MIN_K))


def gemm(name, ctx, step, tile: Tile, M: int, N: int, K: int, batches: int, loads, store, split: int | None = None):
    """The tiled kernel (and, with K split, the kernel adding the partial sums).

    loads(sh) binds the operands in `sh` and returns two WGSL function definitions:
        fn load_a(b: u32, m: u32, k: u32) -> vec4<f32>   // A[m, k..k+3], zero outside [M, K]
        fn load_b(b: u32, k: u32, n: u32) -> vec4<f32>   // B[k, n..n+3], zero outside [K, N]
    store(sh) binds the output (and the epilogue's inputs) in `sh` and returns the body lines of
    `fn store(b, m, n: u32, v: f32)`, called for every output element inside [M, N]."""
    t = tile
    if split is None:
        split = 1 if any(is_sym(d) for d in (M, N, K, batches)) else pick_split(t, M, N, K, batches)
    if split == 1:
        ks = K
    else:
        ks = -(-(-(-K // split)) // t.tk) * t.tk        # K per part, whole K steps
        split = -(-K // ks)
    wx = t.tn // t.rn
    nv = t.rn // 4           # vec4s per thread row
    a_units = t.tm * t.tk // 4
    b_units = t.tk * t.tn // 4
    T = t.threads
    a4 = t.rm % 4 == 0      # As as vec4s: a thread's rows are read 4 at a time
    sh = Shader(ctx.part_elems, ctx.roots)
    out = []

    def put_a(k: str, m: str, v: str) -> str:
        i = f"({k}) * {u(t.tm)} + {m}"
        return f"As[({i}) / 4u][({i}) % 4u] = {v};" if a4 else f"As[{i}] = {v};"
    if split > 1:
        partial = Tensor(f"{step.outputs[0].name}::partial_sums", (split * batches * M * N,), "float32")
        step.outputs.append(partial)  # planned like an output of the step, dead after it
        pb = sh.bind("ps", partial, write=True)
        sh.helpers.append("var<private> part_s: u32;\nfn store(b: u32, m: u32, n: u32, v: f32) {\n"
                          f"  {pb.set(f'((part_s * {u(batches)} + b) * {u(M)} + m) * {u(N)} + n', 'v')}\n}}")
    else:
        sh.helpers.append("fn store(b: u32, m: u32, n: u32, v: f32) {\n" + "\n".join("  " + ln for ln in store(sh)) + "\n}")
    load_a, load_b, *col = loads(sh)
    # a B loader with a column prologue: prep_b(b, n) -> BCol once per column group, out of the
    # K loop (im2col's division of the column index), load_bc(col, k) inside it
    prep = bool(col)
    lines = [f"let s = wid.z / {u(batches)};", f"let b = wid.z % {u(batches)};" if split > 1 else "let b = wid.z;",
             f"let m0 = wid.y * {u(t.tm)};", f"let n0 = wid.x * {u(t.tn)};",
             f"let tx = lid % {u(wx)};", f"let ty = lid / {u(wx)};",
             f"let kbeg = s * {u(ks)};", f"let kend = min(kbeg + {u(ks)}, {u(K)});"]
    if split > 1:
        lines.append("part_s = s;")
    for r in range(t.rm):
        for c in range(nv):
            lines.append(f"var acc{r}_{c} = vec4<f32>(0.0);")
    if a_units % T == 0 and b_units % T == 0:
        # the next K step's operands are loaded into registers while this one is computed
        na, nb = a_units // T, b_units // T
        for i in range(na):
            lines += [f"let am{i} = (lid + {u(i * T)}) / {u(t.tk // 4)};", f"let ak{i} = ((lid + {u(i * T)}) % {u(t.tk // 4)}) * 4u;",
                      f"var pa{i} = load_a(b, m0 + am{i}, kbeg + ak{i});"]
        for i in range(nb):
            lines += [f"let bk{i} = (lid + {u(i * T)}) / {u(t.tn // 4)};", f"let bn{i} = ((lid + {u(i * T)}) % {u(t.tn // 4)}) * 4u;",
                      *([f"let cb{i} = prep_b(b, n0 + bn{i});", f"var pb{i} = load_bc(cb{i}, kbeg + bk{i});"] if prep
                        else [f"var pb{i} = load_b(b, kbeg + bk{i}, n0 + bn{i});"])]
        lines.append(f"for (var k0 = kbeg; k0 < kend; k0 = k0 + {u(t.tk)}) {{")
        for i in range(na):
            lines += ["  " + put_a(f"ak{i} + {u(j)}", f"am{i}", f"CT(pa{i}.{c})") for j, c in enumerate("xyzw")]
        for i in range(nb):
            lines.append(f"  Bs[bk{i} * {u(t.tn // 4)} + bn{i} / 4u] = vec4<CT>(pb{i});")
        lines += ["  workgroupBarrier();", f"  let kn = k0 + {u(t.tk)};", "  if (kn < kend) {"]
        lines += [f"    pa{i} = load_a(b, m0 + am{i}, kn + ak{i});" for i in range(na)]
        lines += [f"    pb{i} = load_bc(cb{i}, kn + bk{i});" if prep else f"    pb{i} = load_b(b, kn + bk{i}, n0 + bn{i});"
                  for i in range(nb)]
        lines += ["  }", f"  for (var kk = 0u; kk < {u(t.tk)}; kk = kk + 1u) {{"]
    else:
        lines += [
            f"for (var k0 = kbeg; k0 < kend; k0 = k0 + {u(t.tk)}) {{",
            f"  for (var e = lid; e < {u(a_units)}; e = e + {u(T)}) {{",
            f"    let am = e / {u(t.tk // 4)};", f"    let ak = (e % {u(t.tk // 4)}) * 4u;",
            "    let av = load_a(b, m0 + am, k0 + ak);",
            *("    " + put_a(f"ak + {u(j)}", "am", f"CT(av.{c})") for j, c in enumerate("xyzw")),
            "  }",
            f"  for (var e = lid; e < {u(b_units)}; e = e + {u(T)}) {{",
            f"    let bk = e / {u(t.tn // 4)};", f"    let bn = (e % {u(t.tn // 4)}) * 4u;",
            f"    Bs[bk * {u(t.tn // 4)} + bn / 4u] = vec4<CT>("
            + ("load_bc(prep_b(b, n0 + bn), k0 + bk));" if prep else "load_b(b, k0 + bk, n0 + bn));"),
            "  }",
            "  workgroupBarrier();",
            f"  for (var kk = 0u; kk < {u(t.tk)}; kk = kk + 1u) {{",
        ]
    # The K step's products: in f32 into the accumulators, or (HALF: --precision f16 on a device with
    # shader-f16) in f16 within the step, added to the f32 accumulators once per step. HALF and CT (the
    # tiles' type) are constants of the runtime's header, so a device compiles only one of the branches.
    step_loop = lines.pop()  # the kk loop's head, written once in each branch
    fetch = [f"let b{c} = Bs[kk * {u(t.tn // 4)} + tx * {u(nv)} + {u(c)}];" for c in range(nv)]
    fetch += [f"let av{q} = As[kk * {u(t.tm // 4)} + ty * {u(t.rm // 4)} + {u(q)}];" for q in range(t.rm // 4 if a4 else 0)]
    fetch += [f"let a{r} = av{r // 4}[{r % 4}];" if a4 else f"let a{r} = As[kk * {u(t.tm)} + ty * {u(t.rm)} + {u(r)}];"
              for r in range(t.rm)]
    regs = [(r, c) for r in range(t.rm) for c in range(nv)]
    lines += ["  if (HALF) {", *(f"    var h{r}_{c} = vec4<CT>(0.0);" for r, c in regs), "  " + step_loop,
              *("      " + ln for ln in fetch),
              *(f"      h{r}_{c} = fma(vec4<CT>(a{r}), b{c}, h{r}_{c});" for r, c in regs), "    }",
              *(f"    acc{r}_{c} = acc{r}_{c} + vec4<f32>(h{r}_{c});" for r, c in regs),
              "  } else {", "  " + step_loop, *("      " + ln for ln in fetch),
              *(f"      acc{r}_{c} = fma(vec4<f32>(f32(a{r})), vec4<f32>(b{c}), acc{r}_{c});" for r, c in regs),
              "    }", "  }", "  workgroupBarrier();", "}"]
    for r in range(t.rm):
        lines.append(f"{{ let m = m0 + ty * {u(t.rm)} + {u(r)};")
        lines.append(f"  if (m < {u(M)}) {{")
        for c in range(nv):
            for j, comp in enumerate("xyzw"):
                lines.append(f"    {{ let n = n0 + (tx * {u(nv)} + {u(c)}) * 4u + {u(j)}; "
                             f"if (n < {u(N)}) {{ store(b, m, n, acc{r}_{c}.{comp}); }} }}")
        lines += ["  }", "}"]
    sh.helpers += [f"var<workgroup> As: array<vec4<CT>, {t.tk * t.tm // 4}>;" if a4 else
                   f"var<workgroup> As: array<CT, {t.tk * t.tm}>;",
                   f"var<workgroup> Bs: array<vec4<CT>, {t.tk * t.tn // 4}>;", load_a, load_b, *col]
    body = "\n".join([f"@compute @workgroup_size({T})",
                      "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
                      *("  " + ln for ln in lines), "}"])
    groups = ((N + t.tn - 1) // t.tn, (M + t.tm - 1) // t.tm, batches * split)
    out.append(Dispatch(name, sh.code(body), sh.binding_list(), groups, workgroup_bytes=t.workgroup_bytes, invocations=T))
    if split > 1:
        rs = Shader(ctx.part_elems, ctx.roots)
        pr = rs.bind("ps", partial)
        rs.helpers.append("fn store(b: u32, m: u32, n: u32, v: f32) {\n" + "\n".join("  " + ln for ln in store(rs)) + "\n}")
        total = batches * M * N
        lines = [f"let b = gi / {u(M * N)};", f"let m = (gi / {u(N)}) % {u(M)};", f"let n = gi % {u(N)};",
                 "var v = 0.0;",
                 f"for (var s = 0u; s < {u(split)}; s = s + 1u) {{ v = v + {pr.get(f's * {u(total)} + gi')}; }}",
                 "store(b, m, n, v);"]
        out.append(flat_kernel(f"{name}:sum", rs, total, lines))
    return out


GEMV_ROWS = 4      # products of at most this many rows take the gemv kernel
GEMV_COLS = 16     # its threads across the columns, 4 columns each (64 columns per workgroup)
GEMV_SLICES = 16   # its threads across K, 4 rows of B each per step


def gemv(name, ctx, step, M, N: int, K: int, batches, loads, store) -> list:
    """A product of a few rows (a decoder's one-token step): no tiles and no barriers in the K loop. A
    workgroup takes 64 columns; its 256 threads are 16 groups of 4 columns times 16 slices of K, each slice
    reading 4 rows of B (4 vec4 loads, coalesced along the columns) and the 4 matching values of each row of A
    per step; the slices' sums are added in workgroup memory, row by row, by the first slice. The same
    loaders as gemm (packed weights unpacked where loaded), the same store (the epilogue). M may be bound at
    run time (at most GEMV_ROWS: Dispatch.when), the rows past it being zeros that are not stored."""
    sh = Shader(ctx.part_elems, ctx.roots)
    sh.helpers.append("fn store(b: u32, m: u32, n: u32, v: f32) {\n" + "\n".join("  " + ln for ln in store(sh)) + "\n}")
    load_a, load_b, *_ = loads(sh)
    R = GEMV_ROWS if is_sym(M) else M
    step_k = 4 * GEMV_SLICES
    lines = ["let b = wid.y;", f"let tx = lid % {u(GEMV_COLS)};", f"let ty = lid / {u(GEMV_COLS)};",
             f"let n = wid.x * {u(4 * GEMV_COLS)} + tx * 4u;",
             *(f"var acc{r} = vec4<f32>(0.0);" for r in range(R)),
             f"for (var k = ty * 4u; k < {u(K)}; k = k + {u(step_k)}) {{",
             *(f"  let b{j} = load_b(b, k + {j}u, n);" for j in range(4))]
    for r in range(R):
        lines += [f"  let a{r} = load_a(b, {r}u, k);",
                  f"  acc{r} = fma(vec4<f32>(a{r}.x), b0, fma(vec4<f32>(a{r}.y), b1, "
                  f"fma(vec4<f32>(a{r}.z), b2, fma(vec4<f32>(a{r}.w), b3, acc{r}))));"]
    lines.append("}")
    for r in range(R):
        lines += [f"part[lid] = acc{r};", "workgroupBarrier();",
                  f"if (ty == 0u{f' && {r}u < {u(M)}' if is_sym(M) else ''}) {{",
                  "  var s = part[tx];",
                  f"  for (var t = 1u; t < {u(GEMV_SLICES)}; t = t + 1u) {{ s = s + part[t * {u(GEMV_COLS)} + tx]; }}",
                  *(f"  if (n + {j}u < {u(N)}) {{ store(b, {r}u, n + {j}u, s.{c}); }}" for j, c in enumerate("xyzw")),
                  "}", "workgroupBarrier();"]
    threads = GEMV_COLS * GEMV_SLICES
    sh.helpers += [f"var<workgroup> part: array<vec4<f32>, {threads}>;", load_a, load_b]
    body = "\n".join([f"@compute @workgroup_size({threads})",
                      "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
                      *("  " + ln for ln in lines), "}"])
    groups = (-(-N // (4 * GEMV_COLS)), batches, 1)
    return [Dispatch(name, sh.code(body), sh.binding_list(), groups, workgroup_bytes=16 * threads, invocations=threads)]


def _vec4_loader(fn: str, args: str, bounds: str, vec_ok: bool, getter, index: str, scalar_index) -> str:
    """A loader returning 4 consecutive elements along its last argument: one vec4 load when the
    layout allows it, else 4 bounds-checked scalar loads."""
    if vec_ok:
        return (f"fn {fn}({args}) -> vec4<f32> {{\n  if ({bounds('0u')}) {{ return vec4<f32>(0.0); }}\n"
                f"  return {getter(index)};\n}}")
    out = [f"fn {fn}({args}) -> vec4<f32> {{", "  var r = vec4<f32>(0.0);"]
    for j in range(4):
        out.append(f"  if (!({bounds(u(j))})) {{ r[{j}] = {scalar_index(u(j))}; }}")
    out += ["  return r;", "}"]
    return "\n".join(out)


def _store_lines(step, sh, flat: str, value: str) -> list[str]:
    sh.bind("y", step.outputs[0], write=True)
    if step.epilogue is not None:
        return Epilogue(sh, step.epilogue, step.slot).store(flat, value)
    return [f"y_set({flat}, {value});"]


def matmul(step, ctx):
    op = step.op
    a, bt = op.inputs
    y = op.outputs[0]
    M, K, N = a.shape[-2], a.shape[-1], bt.shape[-1]
    batch_shape = y.shape[:-2]
    batches = size_of(batch_shape)
    rows = folded_rows(a.shape, bt.shape, y.shape)
    if rows:
        # B shared by the batch, A not broadcast: one [batch·M, K] × [K, N] product (a Linear on NHWC
        # activations or on attention windows), tiled over all its rows; the output's flat index is the same
        M, batch_shape, batches = rows, (), 1
    epi_inputs = {t.name for t in step.inputs[2:]}
    a_vec = K % 4 == 0 and a.name not in epi_inputs
    b_vec = N % 4 == 0 and bt.name not in epi_inputs

    packed = ctx.encoded.get(bt.name)

    def loads(sh):
        ab = sh.bind("a", a, vec4=a_vec)
        if packed:
            return _packed_loads(sh, ab, a, bt, M, K, N, a_vec, batch_shape, packed)
        bb = sh.bind("bm", bt, vec4=b_vec)
        bl, bi = decompose("b", batch_shape, "z")
        a_base = broadcast_offset(a.shape[:-2], bi) if a.shape[:-2] and batch_shape else "0u"
        b_base = broadcast_offset(bt.shape[:-2], bi) if bt.shape[:-2] and batch_shape else "0u"
        pre_a = "".join(f"  {ln}\n" for ln in bl) + f"  let base = ({a_base}) * {u(M * K)};\n"
        pre_b = "".join(f"  {ln}\n" for ln in bl) + f"  let base = ({b_base}) * {u(K * N)};\n"
        load_a = _vec4_loader("load_a", "b: u32, m: u32, k: u32", lambda j: f"m >= {u(M)} || k + {j} >= {u(K)}", a_vec,
                              lambda i: f"a_get4(({i}) / 4u)", f"base + m * {u(K)} + k",
                              lambda j: ab.get(f"base + m * {u(K)} + k + {j}"))
        load_b = _vec4_loader("load_b", "b: u32, k: u32, n: u32", lambda j: f"k >= {u(K)} || n + {j} >= {u(N)}", b_vec,
                              lambda i: f"bm_get4(({i}) / 4u)", f"base + k * {u(N)} + n",
                              lambda j: bb.get(f"base + k * {u(N)} + n + {j}"))
        return load_a.replace("{\n", "{\n" + pre_a, 1), load_b.replace("{\n", "{\n" + pre_b, 1)

    def store(sh):
        return _store_lines(step, sh, f"b * {u(M * N)} + m * {u(N)} + n", "v")

    if is_sym(M) and not is_sym(N):
        # rows known only at run time: gemv for a few rows (a decoder's one-token step), the medium tile for
        # more; the runtime dispatches the one whose row range holds M (Dispatch.when)
        few = gemv(op.name, ctx, step, M, N, K, batches, loads, store)
        medium = gemm(op.name, ctx, step, TILES["medium"], M, N, K, batches, loads, store)
        for d in few:
            d.when = (M, None, GEMV_ROWS)
        for d in medium:
            d.when = (M, GEMV_ROWS + 1, None)
        return few + medium
    if not is_sym(M) and M <= GEMV_ROWS and not is_sym(N) and (is_sym(batches) or batches <= 65535):
        return gemv(op.name, ctx, step, M, N, K, batches, loads, store)
    return gemm(op.name, ctx, step, pick_tile(M, N, batches), M, N, K, batches, loads, store)


def _unpackers(sh, var: str, t, fields: dict, scales: int) -> None:
    """WGSL helpers reading constant `t` bound as its encoding stores it (ctx.encoded): `{var}_q(e, c)`, element
    e (row-major) times its scale (int8: scale c, one of `scales` float32s before the values; int4: its
    block's half float). Elements e..e+3 (e % 4 == 0) from one word: int8 `{var}_raw4(e)` without their
    scales, int4 `{var}_q4(e)` times their block's."""
    n = t.size
    sh.bind_packed(var, t, stored_bytes(t.shape, fields))
    if fields["encoding"] == "int8":
        # byte e of the values is byte (e % 4) of word `scales` + e / 4; sign-extended by an arithmetic shift
        sh.helpers.append(
            f"fn {var}_q(e: u32, c: u32) -> f32 {{\n  let w = {var}_get({u(scales)} + e / 4u);\n"
            f"  return f32(bitcast<i32>(w << (24u - 8u * (e % 4u))) >> 24u) * bitcast<f32>({var}_get(c));\n}}\n"
            f"fn {var}_raw4(e: u32) -> vec4<f32> {{\n  let w = {var}_get({u(scales)} + e / 4u);\n"
            f"  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w << 24u, w << 16u, w << 8u, w)) >> vec4<u32>(24u));\n}}")
        return
    blk, at = fields["block"], 2 * -(-n // fields["block"])  # the values' first byte
    # element e: nibble (e % 2) of byte at + e / 2, sign-extended; its scale: half (bi % 2) of word bi / 2,
    # bi = e / block. Four from e % 4 == 0: 2 bytes of one word (their first byte is even), one block
    sh.helpers.append(
        f"fn {var}_scale(e: u32) -> f32 {{ let bi = e / {u(blk)}; return unpack2x16float({var}_get(bi / 2u))[bi % 2u]; }}\n"
        f"fn {var}_q(e: u32, c: u32) -> f32 {{\n  let byte = {u(at)} + e / 2u;\n"
        f"  let bit = (byte % 4u) * 8u + (e % 2u) * 4u;\n"
        f"  return f32(bitcast<i32>({var}_get(byte / 4u) << (28u - bit)) >> 28u) * {var}_scale(e);\n}}\n"
        f"fn {var}_q4(e: u32) -> vec4<f32> {{\n  let byte = {u(at)} + e / 2u;\n"
        f"  let w = {var}_get(byte / 4u) >> ((byte % 4u) * 8u);\n"
        f"  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w << 28u, w << 24u, w << 20u, w << 16u)) >> vec4<u32>(28u))"
        f" * {var}_scale(e);\n}}")


def _kn_unpacker(sh, var: str, t, fields: dict) -> None:
    """`{var}_kn(k, n) -> f32`: element [k, n] of a MatMul's B [K, N] stored int4 in blocks along K (a model's own
    4-bit weights, encoding "axis": 0: element n*K + k of the stored order): (nibble - zero) x its block's scale,
    the scales half or float32, a zero point per block or (symmetric) two's-complement nibbles."""
    K, N = t.shape
    blk = fields["block"]
    blocks = N * K // blk
    f32 = fields.get("scales") == "f32"
    head = blocks * (4 if f32 else 2)
    zeros = bool(fields.get("zeros"))
    vals = head + (-(-blocks // 2) if zeros else 0)  # byte where the values start
    sh.bind_packed(var, t, stored_bytes(t.shape, fields))
    scale = (f"bitcast<f32>({var}_get(bi))" if f32 else f"unpack2x16float({var}_get(bi / 2u))[bi % 2u]")
    if zeros:
        value = (f"  let zb = {u(head)} + bi / 2u;\n"
                 f"  let z = ({var}_get(zb / 4u) >> ((zb % 4u) * 8u + (bi % 2u) * 4u)) & 15u;\n"
                 f"  return (f32(q) - f32(z)) * {scale};")
    else:
        value = f"  return f32(bitcast<i32>(q << 28u) >> 28u) * {scale};"
    sh.helpers.append(
        f"fn {var}_kn(k: u32, n: u32) -> f32 {{\n  let e = n * {u(K)} + k;\n  let bi = e / {u(blk)};\n"
        f"  let byte = {u(vals)} + e / 2u;\n  let q = ({var}_get(byte / 4u) >> ((byte % 4u) * 8u + (e % 2u) * 4u)) & 15u;\n"
        f"{value}\n}}")


def _four_at_once(fields: dict, run: int) -> bool:
    """Can 4 consecutive elements of a run of `run` (a row) be read from one word with one scale?"""
    return run % 4 == 0 and (fields["encoding"] == "int8" or fields["block"] % 4 == 0)


def _packed_loads(sh, ab, a, bt, M: int, K: int, N: int, a_vec: bool, batch_shape, fields: dict):
    """Loaders for a product whose B is bound as its encoding stores it (ctx.encoded), unpacked where it
    is loaded: int8 along the columns (a scale per column), int4 in blocks (row-major, or along K)."""
    bl, bi = decompose("b", batch_shape, "z")
    a_base = broadcast_offset(a.shape[:-2], bi) if a.shape[:-2] and batch_shape else "0u"
    pre_a = "".join(f"  {ln}\n" for ln in bl) + f"  let base = ({a_base}) * {u(M * K)};\n"
    load_a = _vec4_loader("load_a", "b: u32, m: u32, k: u32", lambda j: f"m >= {u(M)} || k + {j} >= {u(K)}", a_vec,
                          lambda i: f"a_get4(({i}) / 4u)", f"base + m * {u(K)} + k",
                          lambda j: ab.get(f"base + m * {u(K)} + k + {j}"))
    if fields.get("axis") == 0:  # a model's own 4-bit weights, blocks along K: 4 columns, 4 blocks
        _kn_unpacker(sh, "bm", bt, fields)
        body = "  var r = vec4<f32>(0.0);\n" + "".join(
            f"  if (n + {j}u < {u(N)}) {{ r[{j}] = bm_kn(k, n + {j}u); }}\n" for j in range(4)) + "  return r;"
        load_b = (f"fn load_b(b: u32, k: u32, n: u32) -> vec4<f32> {{\n  if (k >= {u(K)} || n >= {u(N)}) "
                  f"{{ return vec4<f32>(0.0); }}\n{body}\n}}")
        return load_a.replace("{\n", "{\n" + pre_a, 1), load_b
    _unpackers(sh, "bm", bt, fields, N)
    if _four_at_once(fields, N):
        e = f"k * {u(N)} + n"
        body = (f"  return bm_raw4({e}) * vec4<f32>(bitcast<f32>(bm_get(n)), bitcast<f32>(bm_get(n + 1u)), "
                f"bitcast<f32>(bm_get(n + 2u)), bitcast<f32>(bm_get(n + 3u)));"  # the 4 columns' scales
                if fields["encoding"] == "int8" else f"  return bm_q4({e});")
    else:
        body = "  var r = vec4<f32>(0.0);\n" + "".join(
            f"  if (n + {j}u < {u(N)}) {{ r[{j}] = bm_q(k * {u(N)} + n + {j}u, n + {j}u); }}\n" for j in range(4)) + "  return r;"
    load_b = (f"fn load_b(b: u32, k: u32, n: u32) -> vec4<f32> {{\n  if (k >= {u(K)} || n >= {u(N)}) "
              f"{{ return vec4<f32>(0.0); }}\n{body}\n}}")
    return load_a.replace("{\n", "{\n" + pre_a, 1), load_b


def conv(step, ctx):
    op = step.op
    x, w = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    at = step.attrs
    N_, C, H, W = nchw(x.shape)
    M = w.shape[0]
    _, _, OH, OW = nchw(op.outputs[0].shape)
    g = at["group"]
    Cg, Mg = C // g, M // g
    if Cg == 1 and g > 1:
        return [depthwise(step, ctx)]
    kh, kw = (w.shape[2], w.shape[3]) if len(w.shape) == 4 else (1, w.shape[2])
    sh_, sw = at["strides"]
    dh, dw = at["dilations"]
    pt, pl = at["pads"][0], at["pads"][1]
    K = Cg * kh * kw
    P = N_ * OH * OW
    epi_inputs = {t.name for t in step.inputs[3:]} if bias is not None else {t.name for t in step.inputs[2:]}
    pointwise = kh == kw == 1 and sh_ == sw == 1 and at["pads"] == [0, 0, 0, 0] and OH == H and OW == W
    a_vec = K % 4 == 0 and w.name not in epi_inputs
    b_vec = pointwise and (OH * OW) % 4 == 0 and x.name not in epi_inputs

    packed = ctx.encoded.get(w.name)

    def loads(sh):
        xb = sh.bind("x", x, vec4=b_vec)
        if packed:  # W bound as its encoding stores it: int8 with a scale per output channel (row), int4 in blocks
            _unpackers(sh, "w", w, packed, M)
            row, e = f"b * {u(Mg)} + m", f"(b * {u(Mg)} + m) * {u(K)} + k"
            if _four_at_once(packed, K):
                body = (f"  return w_raw4({e}) * bitcast<f32>(w_get({row}));" if packed["encoding"] == "int8"
                        else f"  return w_q4({e});")
            else:
                body = "  var r = vec4<f32>(0.0);\n" + "".join(
                    f"  if (k + {j}u < {u(K)}) {{ r[{j}] = w_q({e} + {j}u, {row}); }}\n" for j in range(4)) + "  return r;"
            load_a = (f"fn load_a(b: u32, m: u32, k: u32) -> vec4<f32> {{\n  if (m >= {u(Mg)} || k >= {u(K)}) "
                      f"{{ return vec4<f32>(0.0); }}\n{body}\n}}")
        else:
            wb = sh.bind("w", w, vec4=a_vec)
            load_a = _vec4_loader("load_a", "b: u32, m: u32, k: u32", lambda j: f"m >= {u(Mg)} || k + {j} >= {u(K)}",
                                  a_vec, lambda i: f"w_get4(({i}) / 4u)", f"(b * {u(Mg)} + m) * {u(K)} + k",
                                  lambda j: wb.get(f"(b * {u(Mg)} + m) * {u(K)} + k + {j}"))
        if pointwise:
            # B[k, p] = X[n, g*Cg + k, q]: 4 consecutive p are contiguous when OH*OW % 4 == 0
            def idx(j):
                pj = f"p + {j}" if j != "0u" else "p"
                return f"(({pj}) / {u(OH * OW)} * {u(C)} + b * {u(Cg)} + k) * {u(OH * OW)} + ({pj}) % {u(OH * OW)}"
            load_b = _vec4_loader("load_b", "b: u32, k: u32, p: u32", lambda j: f"k >= {u(K)} || p + {j} >= {u(P)}",
                                  b_vec, lambda i: f"x_get4(({i}) / 4u)", idx("0u"), lambda j: xb.get(idx(j)))
            return load_a, load_b
        # im2col with the column's (n, oh, ow) worked out once: BCol holds, for 4 consecutive
        # columns p..p+3, the input offset of (n, group) and the window's top-left corner
        pl_, (n, oh, ow) = decompose("q", (N_, OH, OW), "s")
        prep = ["struct BCol { base: vec4<u32>, h0: vec4<i32>, w0: vec4<i32> }",
                "fn prep_b(b: u32, p: u32) -> BCol {", "  var c: BCol;",
                "  for (var t = 0u; t < 4u; t = t + 1u) {", "    let q = p + t;",
                *("    " + ln for ln in pl_),
                f"    let inside = q < {u(P)};",
                f"    c.base[t] = ({n} * {u(C)} + b * {u(Cg)}) * {u(H * W)};",
                f"    c.h0[t] = select(-{si(kh * dh + H + 1)}, i32({oh} * {u(sh_)}) - {pt}i, inside);",
                f"    c.w0[t] = i32({ow} * {u(sw)}) - {pl}i;",
                "  }", "  return c;", "}"]
        kl, (c, i, j) = decompose("k", (Cg, kh, kw), "r")
        last = x.size - 1 if is_sym(x.size) else max(x.size, 1) - 1
        get = [xb.get(f"min(off.{comp}, {u(last)})") for comp in "xyzw"]
        load = ["fn load_bc(col: BCol, k: u32) -> vec4<f32> {",
                f"  if (k >= {u(K)}) {{ return vec4<f32>(0.0); }}",
                *("  " + ln for ln in kl),
                f"  let ih = col.h0 + vec4<i32>(i32({i} * {u(dh)}));",
                f"  let iw = col.w0 + vec4<i32>(i32({j} * {u(dw)}));",
                f"  let ok = (ih >= vec4<i32>(0i)) & (ih < vec4<i32>({si(H)})) & (iw >= vec4<i32>(0i)) & (iw < vec4<i32>({si(W)}));",
                f"  let off = col.base + vec4<u32>({c} * {u(H * W)}) + vec4<u32>(max(ih, vec4<i32>(0i))) * {u(W)}"
                f" + vec4<u32>(max(iw, vec4<i32>(0i)));",
                f"  return select(vec4<f32>(0.0), vec4<f32>({', '.join(get)}), ok);", "}"]
        return load_a, "", "\n".join(prep), "\n".join(load)

    def store(sh):
        value = "v"
        if bias is not None:
            value = f"v + {sh.bind('bias', bias).get(f'b * {u(Mg)} + m')}"
        flat = f"((n / {u(OH * OW)}) * {u(M)} + b * {u(Mg)} + m) * {u(OH * OW)} + n % {u(OH * OW)}"
        return [f"let o = {flat};", f"let r = {value};"] + _store_lines(step, sh, "o", "r")

    return gemm(op.name, ctx, step, pick_tile(Mg, P, g), Mg, P, K, g, loads, store)


def depthwise(step, ctx):
    """Grouped conv with one input channel per group: a thread per output, the window in a loop."""
    op = step.op
    x, w = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    at = step.attrs
    N_, C, H, W = nchw(x.shape)
    M = w.shape[0]
    _, _, OH, OW = nchw(op.outputs[0].shape)
    mult = M // C
    kh, kw = (w.shape[2], w.shape[3]) if len(w.shape) == 4 else (1, w.shape[2])
    sh_, sw = at["strides"]
    dh, dw = at["dilations"]
    pt, pl = at["pads"][0], at["pads"][1]
    out = step.outputs[0]
    sh = Shader(ctx.part_elems, ctx.roots)
    sh.bind("y", out, write=True)
    xb = sh.bind("x", x)
    wb = sh.bind("w", w)
    bb = sh.bind("bias", bias) if bias is not None else None
    lines, (n, m, oh, ow) = decompose("gi", (N_, M, OH, OW), "o")
    lines += [f"let base = ({n} * {u(C)} + {m} / {u(mult)}) * {u(H * W)};" if mult != 1 else
              f"let base = ({n} * {u(C)} + {m}) * {u(H * W)};",
              f"let h0 = i32({oh} * {u(sh_)}) - {pt}i;", f"let w0 = i32({ow} * {u(sw)}) - {pl}i;",
              "var acc = " + (f"{bb.get(m)};" if bb is not None else "0.0;")]
    for i in range(kh):
        lines.append(f"{{ let ih = h0 + {i * dh}i; if (ih >= 0i && ih < {si(H)}) {{")
        for j in range(kw):
            lines.append(f"  {{ let iw = w0 + {j * dw}i; if (iw >= 0i && iw < {si(W)}) {{ "
                         f"acc = fma({xb.get(f'base + u32(ih) * {u(W)} + u32(iw)')}, {wb.get(f'{m} * {u(kh * kw)} + {u(i * kw + j)}')}, acc); }} }}")
        lines.append("} }")
    lines += _store_lines(step, sh, "gi", "acc")
    return flat_kernel(op.name, sh, out.size, lines)


def conv_transpose(step, ctx):
    """Gather form: each output element sums the input positions that scatter into it."""
    op = step.op
    x, w = op.inputs[0], op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    at = step.attrs
    N_, C, H, W = nchw(x.shape)
    _, M, OH, OW = nchw(op.outputs[0].shape)
    g = at["group"]
    Cg, Mg = C // g, M // g
    kh, kw = (w.shape[2], w.shape[3]) if len(w.shape) == 4 else (1, w.shape[2])
    sh_, sw = at["strides"]
    dh, dw = at["dilations"]
    pt, pl = at["pads"][0], at["pads"][1]
    out = step.outputs[0]
    sh = Shader(ctx.part_elems, ctx.roots)
    sh.bind("y", out, write=True)
    xb = sh.bind("x", x)
    wb = sh.bind("w", w)
    bb = sh.bind("bias", bias) if bias is not None else None
    lines, (n, m, oh, ow) = decompose("gi", (N_, M, OH, OW), "o")
    lines += [f"let grp = {m} / {u(Mg)};", f"let mm = {m} % {u(Mg)};",
              "var acc = " + (f"{bb.get(m)};" if bb is not None else "0.0;"),
              f"for (var i = 0u; i < {u(kh)}; i = i + 1u) {{",
              f"  let th = i32({oh}) + {pt}i - i32(i * {u(dh)});",
              f"  if (th < 0i || th % {sh_}i != 0i) {{ continue; }}",
              f"  let ih = u32(th / {sh_}i);", f"  if (ih >= {u(H)}) {{ continue; }}",
              f"  for (var j = 0u; j < {u(kw)}; j = j + 1u) {{",
              f"    let tw = i32({ow}) + {pl}i - i32(j * {u(dw)});",
              f"    if (tw < 0i || tw % {sw}i != 0i) {{ continue; }}",
              f"    let iw = u32(tw / {sw}i);", f"    if (iw >= {u(W)}) {{ continue; }}",
              f"    for (var c = 0u; c < {u(Cg)}; c = c + 1u) {{",
              f"      let ci = grp * {u(Cg)} + c;",
              f"      acc = fma({xb.get(f'(({n} * {u(C)} + ci) * {u(H)} + ih) * {u(W)} + iw')}, "
              f"{wb.get(f'((ci * {u(Mg)} + mm) * {u(kh)} + i) * {u(kw)} + j')}, acc);",
              "    }", "  }", "}"]
    lines += _store_lines(step, sh, "gi", "acc")
    return [flat_kernel(op.name, sh, out.size, lines)]
