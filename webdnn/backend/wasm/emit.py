"""C for each kernel step of the wasm backend: one emitter per IR op type (EMIT), each returning
the body of the step's function and declaring what it needs (tables, epilogues, scratch sizes,
weight prepacking) on the Program. Shapes and offsets are constants in the C (symbolic.py renders
the sizes known only at run time). The compute kernels are here, the data-movement and indexing
ones in emit_index.py."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...errors import ConversionError
from ...encoding import quantizable
from ...ir.symbolic import Expr, is_symbolic_array, prod
from ..kernels import folded_rows, kernel_attrs
from ..memory import storage_bytes, views
from . import render as R
from .toolchain import GEMM_NC, GEMM_SCRATCH

if TYPE_CHECKING:
    from ..lowering import Step

MAX_THREADS = 16
CONVT_COLS_BYTES = 4 << 20  # a ConvTranspose's GEMM output, per chunk of input rows
# Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions: its transformed inputs and products per chunk of
# tile rows (in the temporary buffer), the transformed weights of all of a model's Winograd
# convolutions together (4x their size, kept for the model's life), and the least output it pays on
WINOGRAD_WORK_BYTES = 4 << 20
# a convolution on a small image packs its im2col matrix once for all row blocks (prepack_bytes)
PREPACK_BYTES = 4 << 20
PREPACK_THREADS = 4
# a constant B of products with M < 4 only is rewritten at load into column panels (wd_pack_b_panels),
# through a copy in the temporary buffer: up to this size
GEMV_PACK_BYTES = 8 << 20
WINOGRAD_WEIGHT_BYTES = 64 << 20
# float pooling reduces each output row's window rows into one row in the thread scratch first (ops.c): up to
# this many bytes per thread (wider planes pool each window directly)
POOL_ROW_BYTES = 256 << 10
WINOGRAD_MIN_TILES = 16
WINOGRAD_MIN_CHANNELS = 8
THREAD_STACK = 128 << 10
ALIGN = 64
CONTRACTIONS = ("Conv", "ConvTranspose", "MatMul")



def align_up(n: int, a: int = ALIGN) -> int:
    return -(-n // a) * a


def epilogue_strides(kind, out_shape, t):
    """(s_img or per-batch offsets, s_m, s_n) for reading `t` in a contraction epilogue, or None."""
    st = R.broadcast_strides(t.shape, out_shape)
    if kind == "MatMul":
        if st[-1] not in (0, 1) and out_shape[-1] != 1:
            return None
        batch = out_shape[:-2]
        if any(isinstance(d, Expr) for d in batch):  # known at run time: ("nd", dims, strides) of the batch
            return ("nd", list(batch), list(st[:-2])), st[-2], 0 if out_shape[-1] == 1 else st[-1]
        offs = [int(sum(i * s for i, s in zip(idx, st[:-2]))) for idx in np.ndindex(*batch)] if batch else [0]
        return offs, st[-2], 0 if out_shape[-1] == 1 else st[-1]
    spatial = list(out_shape[2:])
    dims, (ss,) = R.collapse(spatial, [st[2:]])
    if len(dims) > 1 or (dims and ss[0] not in (0, 1)):
        return None
    return st[0], st[1], ss[0] if dims else 0


class Program:
    def __init__(self, offsets: dict[str, int]):
        self.offsets = offsets
        self.decls: list[str] = []
        self.funcs: list[str] = []
        self.calls: list[str] = []
        self.scratch = 64
        self.temp = 0                  # bytes of one shared temporary buffer (single-threaded kernels)
        self.prep = 0                  # bytes of data derived from the constants once, at load (wd_prep)
        self.prepare: list[str] = []   # run once after the constants are in place
        self.prepare_last: list[str] = []  # ... and then these (rewrites of constants in place)
        self.uses: dict[str, int] = {}  # constant name -> number of reads by kernels
        self.gemv_uses: dict[str, int] = {}  # constant name -> reads as B of a product gemv_panels() takes
        self.panels: set[str] = set()  # constants rewritten into column panels at load
        self.sliver_uses: dict[str, int] = {}  # constant name -> reads as B of a float product gemm_slivers() takes
        self.slivers: set[str] = set()  # constants rewritten into slivers of 8 columns at load
        self.q8: dict[str, int] = {}  # constant name -> where wd_q8_weights put its 8-bit copy (in wd_prep)
        self.q8_steps = 0  # products that run on 8-bit weights
        self.q4_steps = 0  # products that multiply by 4-bit weights as stored (wd_matmul_q4)
        self.q4_a8: set = set()  # of those, the B's whose GEMV may take A in 8 bits (--weights int4 quantized them)
        self.q4_a8_steps = 0
        self.stored: dict[str, dict] = {}  # constants in memory as int8/int4 stores them -> the encoding's fields
        self.q4: dict[str, dict] = {}  # of those, the 4-bit B's that wd_matmul_q4 reads as stored
        self.steps: list[tuple[int, str]] = []  # (kernel index, label) of the kernels run() calls
        self.pre: list[str] = []  # statements the current step runs first (symbolic.SymProgram fills tables)

    symbolic = False  # sizes known at run time (symbolic.SymProgram)
    int8 = False  # products with constant float weights run on 8-bit weights (q8_weights)
    q8_exact: frozenset = frozenset()  # ... and, under any --weights, these (a quantized model's own 8-bit weights)

    def dim(self, d):
        """A size as C: a constant here (symbolic.SymProgram renders symbolic sizes)."""
        return d

    def ptr(self, t, const=False) -> str:
        if t is None:
            return "0"
        q = "const " if const else ""
        return f"(({q}{R.CTYPE[t.dtype]}*)(wd_base + {self.offsets[t.name]}))"

    def in_place(self, step: Step) -> set:
        """Names of the tensors of `step` that the memory plan put inside their whole (memory.views):
        nothing to copy for them."""
        es = lambda t: storage_bytes(t) // t.size
        return {a.name for a, b, at in views(step)
                if a.name in self.offsets and b.name in self.offsets and self.offsets[a.name] == self.offsets[b.name] + at * es(a)}

    def table(self, ctype: str, values, name: str) -> str:
        vals = ", ".join(str(int(v)) for v in values) or "0"
        self.decls.append(f"static const {ctype} {name}[] = {{{vals}}};")
        return name


def _shape4(t):
    s = t.shape
    return (s[0], s[1], 1, s[2]) if len(s) == 3 else tuple(s)


def _epilogue(p: Program, step: Step, k: int, strides=None) -> str:
    """The fused elementwise op as a C function over [m0, m1) × [n0, n1) of one image's output.
    `strides(t)` gives (s_img or per-batch offsets, s_m, s_n) of each input (default: epilogue_strides)."""
    ew, slot = step.epilogue, step.slot
    out_shape = step.op.outputs[0].shape
    strides = strides or (lambda t: epilogue_strides(step.type, out_shape, t))
    lines = [f"static void e{k}(float* y, int ldy, int img, int m0, int m1, int n0, int n1) {{"]
    reads = {}
    for i, t in enumerate(ew.inputs):
        if i == slot:
            continue
        si, sm, sn = strides(t)
        ct = R.CTYPE[t.dtype]
        if isinstance(si, tuple):  # the batch's sizes come at run time: img's offset from its index
            _, dims, sts = si
            lines.append(f"  size_t o{i} = 0;")
            lines.append("  { int r = img;")
            for d in range(len(dims) - 1, -1, -1):
                lines.append(f"    o{i} += (size_t)(r % {p.dim(dims[d])}) * {p.dim(sts[d])}; r /= {p.dim(dims[d])};")
            lines.append("  }")
            lines.append(f"  const {ct}* b{i} = {p.ptr(t, True)} + o{i};")
        elif isinstance(si, list):
            tab = p.table("int32_t", si, f"e{k}_o{i}")
            lines.append(f"  const {ct}* b{i} = {p.ptr(t, True)} + {tab}[img];")
        else:
            lines.append(f"  const {ct}* b{i} = {p.ptr(t, True)} + (size_t)img * {p.dim(si)};")
        reads[i] = (sm, sn)
    lines.append("  for (int m = m0; m < m1; m++) {")
    lines.append("    float* q = y + (size_t)m * ldy;")
    for i, (sm, sn) in reads.items():
        lines.append(f"    const {R.CTYPE[ew.inputs[i].dtype]}* r{i} = b{i} + (size_t)m * {p.dim(sm)};")
    lines.append("    int j = n0;")
    dts = [t.dtype for t in ew.inputs]
    expr = ew.attrs["expr"]
    if R.vectorizable(expr, dts, {i for i in reads if not reads[i][1]}):
        vec = R.render_vector(expr, lambda i: "wasm_v128_load(q + j)" if i == slot else
                              (f"wasm_v128_load(r{i} + j)" if reads[i][1] else f"wasm_f32x4_splat((float)r{i}[0])"))
        lines.append(f"    for (; j + 4 <= n1; j += 4) wasm_v128_store(q + j, {vec});")
    code, cls = R.render(expr, dts, lambda i: "q[j]" if i == slot else (f"r{i}[j]" if reads[i][1] else f"r{i}[0]"),
                         "float32")
    lines.append(f"    for (; j < n1; j++) q[j] = {R.store(code, cls, 'float32')};")
    lines += ["  }", "}"]
    p.funcs.append("\n".join(lines))
    return f"e{k}"


def winograd_shape(op, C: int, M: int, OH, OW) -> bool:
    """Is this Conv one that Winograd F(4x4, 3x3) takes, its sizes aside from the transformed weights'
    room (winograd_plan): a constant 3x3 kernel, stride 1, no dilation, group 1, WINOGRAD_MIN_CHANNELS in
    and out, WINOGRAD_MIN_TILES tiles of 4x4 outputs (or image sizes known at run time)?"""
    a = kernel_attrs(op)
    w = op.inputs[1]
    if (op.type != "Conv" or len(w.shape) != 4 or tuple(w.shape[2:]) != (3, 3) or tuple(a["strides"]) != (1, 1)
            or tuple(a["dilations"]) != (1, 1) or a["group"] != 1 or not w.is_constant):
        return False
    if min(C, M) < WINOGRAD_MIN_CHANNELS:
        return False
    return isinstance(OH, Expr) or isinstance(OW, Expr) or -(-OH // 4) * -(-OW // 4) >= WINOGRAD_MIN_TILES


def winograd_plan(p: Program, op, C: int, M: int, OH: int, OW: int, q8: bool = False) -> int | None:
    """Tile rows per chunk if this Conv runs as Winograd F(4x4, 3x3), else None. q8: on 8-bit weights
    (its transformed weights are int16, its working memory holds the quantized inputs too; fixed sizes)."""
    weight_bytes = q8_winograd_weight_bytes(M, C) if q8 else 36 * M * C * 4
    if not winograd_shape(op, C, M, OH, OW) or p.prep + weight_bytes > WINOGRAD_WEIGHT_BYTES:
        return None
    per_tile = q8_winograd_work_bytes(C, M, 1) if q8 else 36 * (C + M) * 4
    if isinstance(OH, Expr) or isinstance(OW, Expr):
        # image sizes known at run time: the chunk is sized in C, for widths up to the one whose
        # single row of tiles fills the working memory (wider images take the GEMM path): "sized"
        return "sized" if WINOGRAD_WORK_BYTES // per_tile - 8 >= 1 else None
    TH, TW = -(-OH // 4), -(-OW // 4)
    margin = 12 if q8 else 8  # the row of tiles padded by 4 and rounded up to 8 (q8) or 4 tiles
    return max(1, min(TH, (WINOGRAD_WORK_BYTES // per_tile - margin) // TW))


def k_conv(p: Program, step: Step, k: int):
    op = step.op
    x, w = op.inputs[0], op.inputs[1]
    b = op.inputs[2] if len(op.inputs) > 2 else None
    y = op.outputs[0]
    a = kernel_attrs(op)
    N, C, H, W = _shape4(x)
    _, M, OH, OW = _shape4(y)
    _fixed_but_batch(p, op, (C, M))
    # image sizes known at run time: the implicit-im2col GEMM only (no Winograd, no packed columns,
    # no depthwise plane copy: their working memory depends on the size)
    sized = any(isinstance(d, Expr) for d in (H, W, OH, OW))
    kh, kw = (1, w.shape[2]) if len(w.shape) == 3 else w.shape[2:]
    sh, sw = a["strides"]
    pt, pl = a["pads"][0], a["pads"][1]
    dh, dw = a["dilations"]
    g = a["group"]
    if any(R.CTYPE[t.dtype] != "float" for t in (x, w, y, b) if t is not None):  # float16 is stored as float32
        raise ConversionError(f"{op.type} {op.name!r}: the wasm backend computes float convolutions only")
    epi = _epilogue(p, step, k) if step.epilogue is not None else "0"
    out = p.ptr(step.outputs[0]) if step.epilogue is not None else p.ptr(y)
    call = "  wd_conv(&p);"
    packed = 0
    work_arg = "0, 0"
    q8 = q8_weight_of(step, p.int8, p.q8_exact, p.q4)
    rows = winograd_plan(p, op, C, M, OH, OW, q8=bool(q8))
    if q8 and rows is not None:  # Winograd F(4x4, 3x3) with 36 integer products
        TW = -(-OW // 4)
        ntp = -(-(rows * TW + 4) // 8) * 8
        p.temp = max(p.temp, q8_winograd_work_bytes(C, M, ntp))
        p.scratch = max(p.scratch, 12 * (-(-TW // 4) * 16 + 8) * 4 + 64, 36 * C * 4 + 64)
        key = w.name + "/winograd"  # its own layout: the same weight may feed a patch-gathering product too
        if key not in p.q8:
            p.q8[key] = p.prep
            p.prep = align_up(p.prep + q8_winograd_weight_bytes(M, C))
            fn, src = _q8_source(p, w, "wd_q8_winograd_weights")
            p.prepare.append(f"  {fn}({src}, {M}, {C}, (int16_t*)(wd_prep + {p.q8[key]}));")
        p.q8_steps += 1
        call = f"  wd_q8_winograd(&p, (const int16_t*)(wd_prep + {p.q8[key]}), wd_temp, {rows});"
    elif q8:
        K = C * kh * kw
        if w.name not in p.q8:
            p.q8[w.name] = p.prep
            p.prep = align_up(p.prep + q8_conv_weight_bytes(M, K))
            fn, src = _q8_source(p, w, "wd_q8_conv_weights")
            p.prepare.append(f"  {fn}({src}, {M}, {K}, (int16_t*)(wd_prep + {p.q8[w.name]}));")
        cols = q8_conv_cols(K, OH * OW)
        p.temp = max(p.temp, q8_conv_work_bytes(K, cols))
        p.scratch = max(p.scratch, 32 * K + 64)  # one sliver's patches (csrc/qgemm.c gather8)
        p.q8_steps += 1
        return (f"  wd_q8_conv({p.ptr(x, True)}, (const int16_t*)(wd_prep + {p.q8[w.name]}), "
                f"{p.ptr(b, True) if b is not None else '0'}, {out}, {N}, {C}, {H}, {W}, {OH}, {OW}, {kh}, {kw}, "
                f"{sh}, {sw}, {pt}, {pl}, {dh}, {dw}, {M}, wd_temp, {cols}, {epi});")
    elif rows == "sized":
        fit = WINOGRAD_WORK_BYTES // (36 * (C + M) * 4) - 8  # tiles per chunk; also the widest row of tiles
        p.temp = max(p.temp, 36 * (C + M) * (-(-(fit + 4) // 4) * 4) * 4)
        p.scratch = max(p.scratch, GEMM_SCRATCH, 12 * (-(-fit // 4) * 16 + 8) * 4 + 64)
        u_at = p.prep
        p.prep = align_up(p.prep + 36 * M * C * 4)
        p.prepare.append(f"  wd_winograd_weights((const float*)(wd_base + {p.offsets[w.name]}), "
                         f"(float*)(wd_prep + {u_at}), {M}, {C});")
        th, tw = f"(({p.dim(OH)} + 3) / 4)", f"(({p.dim(OW)} + 3) / 4)"
        call = (f"  if ({tw} <= {fit} && {th} * {tw} >= {WINOGRAD_MIN_TILES}) {{\n"
                f"    int rows = {fit} / {tw};\n"
                f"    wd_winograd(&p, (const float*)(wd_prep + {u_at}), (float*)wd_temp, rows < {th} ? rows : {th});\n"
                f"  }} else {{\n    wd_conv(&p);\n  }}")
    elif rows is not None:
        TW = -(-OW // 4)
        ntp = -(-(rows * TW + 4) // 4) * 4
        p.temp = max(p.temp, 36 * (C + M) * ntp * 4)
        p.scratch = max(p.scratch, GEMM_SCRATCH, 12 * (-(-TW // 4) * 16 + 8) * 4 + 64)
        u_at = p.prep
        p.prep = align_up(p.prep + 36 * M * C * 4)
        p.prepare.append(f"  wd_winograd_weights((const float*)(wd_base + {p.offsets[w.name]}), "
                         f"(float*)(wd_prep + {u_at}), {M}, {C});")
        call = f"  wd_winograd(&p, (const float*)(wd_prep + {u_at}), (float*)wd_temp, {rows});"
    elif op.type == "Conv":
        if C // g == 1 and M // g == 1 and sized:
            call = "  wd_conv_depthwise(&p);"  # no scratch: the padded plane's size is known at run time only
        elif C // g == 1 and M // g == 1:
            ph = (OH - 1) * sh + (kh - 1) * dh + 1
            pw = (OW - 1) * sw + (kw - 1) * dw + 1 + 8
            p.scratch = max(p.scratch, ph * pw * 4 + 64)
        else:
            p.scratch = max(p.scratch, GEMM_SCRATCH)
            work = 0 if sized else prepack_bytes(C // g * kh * kw, OH * OW, (kh, kw, sh, sw, pt, pl) == (1, 1, 1, 1, 0, 0)
                                                 and (OH, OW) == (H, W))
            if work:
                p.temp = max(p.temp, work)
                work_arg = f"(float*)wd_temp, {work // 4}"
            if w.is_constant and p.uses.get(w.name) == 1:
                # weights read by this kernel alone: rewrite them once into the GEMM's panel layout
                kk = C // g * kh * kw
                p.prepare += [f"  wd_pack_a((float*)(wd_base + {p.offsets[w.name]}) + {gi * (M // g) * kk}, {M // g}, {kk});"
                              for gi in range(g)]
                p.scratch = max(p.scratch, 16 * kk + 64)
                packed = 1
    else:  # ConvTranspose: a GEMM into columns (in the temporary buffer, CONVT_COLS_BYTES at most), then col2im
        p.scratch = max(p.scratch, GEMM_SCRATCH)
        pixel_bytes = (M // g) * kh * kw * 4
        if sized:  # image sizes known at run time: chunks of whole pixels, not rows
            pix = max(1, CONVT_COLS_BYTES // pixel_bytes)
        else:
            pix = max(1, min(H, CONVT_COLS_BYTES // (W * pixel_bytes))) * W
        p.temp = max(p.temp, pix * pixel_bytes)
        call = f"  wd_conv_transpose(&p, (float*)wd_temp, {pix});"
    N, H, W, OH, OW = (p.dim(d) for d in (N, H, W, OH, OW))
    return (f"  wd_conv_t p = {{{p.ptr(x, True)}, {p.ptr(w, True)}, {p.ptr(b, True) if b is not None else '0'}, {out}, "
            f"{N}, {C}, {H}, {W}, {M}, {OH}, {OW}, {kh}, {kw}, {sh}, {sw}, {pt}, {pl}, {dh}, {dw}, {g}, {epi}, {packed}, "
            f"{work_arg}}};\n"
            + call)


def _fixed_but_batch(p: Program, op, dims):
    if any(isinstance(d, Expr) for d in dims):
        raise ConversionError(f"{op.type} {op.name!r}: the wasm backend takes symbolic batch and image sizes here, "
                              f"not symbolic channels")


def prepack_bytes(K: int, N: int, direct: bool) -> int:
    """Room in the temporary buffer for a convolution's whole im2col matrix B packed ([column blocks][K]
    [GEMM_NC] floats), or 0: with few columns (a small image) the threads split the rows, and every row
    block would pack the same column block again (wd_conv then packs it once, in parallel). Only where
    up to PREPACK_THREADS threads can split the rows, and PREPACK_BYTES at most; a 1x1 stride-1
    convolution reads its input in place."""
    nb = -(-N // GEMM_NC)
    if direct or K == 0 or nb >= 4 * PREPACK_THREADS:
        return 0
    b = nb * K * GEMM_NC * 4
    return b if b <= PREPACK_BYTES else 0


def gemm_slivers(op) -> bool:
    """A MatMul of 4 rows or more, or of rows known only at run time, whose B is a float constant [K, N] shared by
    the whole batch, N a multiple of 8: its B may be rewritten at load into slivers of 8 columns
    (wd_pack_b_slivers; every reader of B must be such a product; with rows known at run time, fewer than 4
    read a column-panel copy where symbolic.SymProgram.panel_copy makes one, else the slivers). The weights of a linear layer, read as they are, put
    consecutive rows of a sliver N floats apart; as slivers the GEMM streams them (measured in Chromium,
    1 thread: [128, 512] x [512, 2048] 6.30 -> 5.80 ms, [128, 2048] x [2048, 512] 6.77 -> 5.93 ms)."""
    if op.type != "MatMul":
        return False
    a, b = op.inputs
    rows = matmul_rows(op)
    return (b.is_constant and R.CTYPE[b.dtype] == "float" and R.CTYPE[a.dtype] == "float"
            and (isinstance(rows, Expr) or rows >= 4) and int(np.prod(b.shape[:-2])) == 1
            and b.shape[-1] % 8 == 0 and b.shape[-1] > 0 and b.shape[-2] > 0)


def gemv_panels(op) -> bool:
    """A MatMul with M < 4 whose B is a float constant shared by the whole batch: its B may live in
    column panels (every reader of B must be such a product)."""
    if op.type != "MatMul":
        return False
    a, b = op.inputs
    rows = matmul_rows(op)
    return (b.is_constant and R.CTYPE[b.dtype] == "float" and not isinstance(rows, Expr) and rows < 4
            and int(np.prod(b.shape[:-2])) == 1
            and b.shape[-2] * b.shape[-1] * 4 <= GEMV_PACK_BYTES)


# 8-bit products pay where each output sums enough terms and the weights have enough output channels:
# below these, writing the outputs and quantizing the activations take longer than the float products
# (MobileNetV2's 1x1 convolutions of 16-32 channels, measured)
Q8_MIN_K = 64
Q8_MIN_CHANNELS = 32
Q8_CHUNK_ROWS = 256  # rows of A quantized at a time (the temporary buffer holds them)


def q8_weights(int8: bool, op, M) -> bool:
    """Does this MatMul run on 8-bit weights (qgemm.c)? Under --weights int8, where B is a float constant
    that int8 stores (encoding.quantizable) shared by the whole batch, K >= Q8_MIN_K, N >= Q8_MIN_CHANNELS.
    Any number of rows: a product of one row (a decoder step) streams a quarter of the float bytes."""
    b = op.inputs[1]
    return (int8 and b.is_constant and R.CTYPE[b.dtype] == "float" and b.dtype == "float32"
            and not is_symbolic_array(b.data)
            and len(b.shape) >= 2 and b.shape[-2] >= Q8_MIN_K and b.shape[-1] >= Q8_MIN_CHANNELS
            and int(np.prod(b.shape[:-2])) == 1 and quantizable(b.data, b.dtype))


def q8_conv(int8: bool, op, sized) -> bool:
    """Does this Conv run on 8-bit weights (qgemm.c)? Under --weights int8, a convolution of group 1 (any
    kernel, stride, padding and dilation; 1-D or 2-D) with fixed sizes whose float weights int8 stores, of
    Q8_MIN_K terms per output (channels x kernel) and Q8_MIN_CHANNELS output channels or more. One that
    Winograd F(4x4, 3x3) takes (winograd_shape) runs it with integer products where it has Q8_MIN_K
    input channels (else float Winograd); the others (and Winograd ones past its weight room) gather
    their patches."""
    if not int8 or op.type != "Conv" or sized:
        return False
    x, w, y = op.inputs[0], op.inputs[1], op.outputs[0]
    a = kernel_attrs(op)
    if not (w.is_constant and w.dtype == "float32" and len(w.shape) in (3, 4) and a["group"] == 1):
        return False
    K = int(np.prod(w.shape[1:]))
    OH, OW = (1, y.shape[2]) if len(y.shape) == 3 else y.shape[2:]
    if winograd_shape(op, w.shape[1], w.shape[0], OH, OW) and w.shape[1] < Q8_MIN_K:
        return False  # float Winograd: too few channels for the integer products to pay
    return K >= Q8_MIN_K and w.shape[0] >= Q8_MIN_CHANNELS and quantizable(w.data, w.dtype)


def _q8_source(p: Program, t, fn: str) -> tuple[str, str]:
    """-> (the wd_q8_*weights function, its source argument) for constant t at load: as int8 stores it
    (the _stored variant), as int4 stores it (decoded into the temporary buffer first: one weight's
    floats at a time, never all), or decoded floats."""
    at = f"(wd_base + {p.offsets[t.name]})"
    enc = p.stored.get(t.name, {})
    if enc.get("encoding") == "int8":
        return fn + "_stored", f"(const char*){at}"
    if enc.get("encoding") == "int4":  # row-major, or a B [K, N] in blocks along K (stored [N][K])
        p.temp = max(p.temp, 4 * t.size)
        kn = t.shape[0] if enc.get("axis") == 0 and len(t.shape) == 2 else 0
        p.prepare.append(f"  wd_int4_decode((const char*){at}, {t.size}, {enc['block']}, {int(enc.get('scales') == 'f32')}, "
                         f"{int(bool(enc.get('zeros')))}, {kn}, (float*)wd_temp);")
        return fn, "(const float*)wd_temp"
    return fn, f"(const float*){at}"


def q8_conv_weight_bytes(M: int, K: int) -> int:
    """The bytes wd_q8_conv_weights writes: W as panels of 4 rows of int16 k-pairs, then a float scale per row."""
    return -(-M // 4) * 4 * (-(-K // 2) * 4 + 4)


Q8_CONV_WORK_BYTES = 4 << 20  # a convolution's quantized patches, per chunk of output pixels


def q8_winograd_weight_bytes(M: int, C: int) -> int:
    """The bytes wd_q8_winograd_weights writes: per ξ of 36, W's transform as panels of 4 rows of int16
    channel pairs; then a float scale per ξ and row."""
    return 36 * q8_conv_weight_bytes(M, C)


def q8_winograd_work_bytes(C: int, M: int, ntp: int) -> int:
    """The work wd_q8_winograd needs for ntp tiles: per ξ, the transformed inputs (floats), the products
    (floats), the inputs quantized (int16 channel pairs) and a scale per tile."""
    return 36 * ntp * (4 * C + 4 * M + 4 * -(-C // 2) + 4)


def q8_conv_cols(K: int, HW: int) -> int:
    """Output pixels per chunk of wd_q8_conv: all of them, or as many (a multiple of 64) as fit
    Q8_CONV_WORK_BYTES."""
    per = q8_conv_work_bytes(K, 8) // 8
    return HW if q8_conv_work_bytes(K, HW) <= Q8_CONV_WORK_BYTES else max(64, Q8_CONV_WORK_BYTES // per // 64 * 64)


def q8_conv_work_bytes(K: int, HW: int) -> int:
    """The work wd_q8_conv needs for HW output pixels: their patches (K values each) as slivers of 8 pixels
    of int16 k-pairs, a scale per pixel."""
    return -(-HW // 8) * 8 * (-(-K // 2) * 4 + 4)


def q8_weight_bytes(K: int, N: int) -> int:
    """The bytes wd_q8_weights writes: B as slivers of 8 columns of int8 k-pairs, then a float scale per column;
    in the relaxed-SIMD build, of int8 4-value groups, then a float scale and an int32 sum per column (the
    larger of the two)."""
    np_ = -(-N // 8) * 8
    return max(np_ * -(-K // 2) * 2 + np_ * 4, np_ * -(-K // 4) * 4 + np_ * 8)


def q8_work_bytes(M: int, K: int) -> int:
    """The work wd_q8_matmul needs: A quantized (panels of 4 rows of int16 k-pairs) and its row scales."""
    return -(-M // 4) * 4 * (-(-K // 2) * 4 + 4)


def matmul_rows(op) -> int:
    """The rows of the one product a MatMul runs as: batch·M where its batch folds into the rows
    (kernels.folded_rows), else M."""
    a, b = op.inputs
    return folded_rows(a.shape, b.shape, op.outputs[0].shape) or a.shape[-2]


def _folded_strides(step: Step):
    """For a MatMul folded into one product (matmul_rows): each epilogue input's (offsets, s_m, s_n) over
    the [batch·M, N] output, or None where an input's rows are not one stride (e.g. it varies per batch
    entry but repeats over M)."""
    y = step.op.outputs[0]
    rows = list(y.shape[:-1])
    out = {}
    for i, t in enumerate(step.epilogue.inputs):
        if i == step.slot:
            continue
        e = epilogue_strides("MatMul", y.shape, t)
        st = R.broadcast_strides(t.shape, y.shape)
        dims, (ss,) = R.collapse(rows, [st[:-1]])
        if e is None or len(dims) > 1:
            return None
        out[t.name] = ([0], ss[0] if dims else 0, e[2])
    return lambda t: out[t.name]


def matmul_geometry(step: Step):
    """-> (M, K, N, batch, strides): the products a MatMul runs as (its batch folded into the rows where
    the epilogue allows; strides: the epilogue's over the folded rows, or None)."""
    op = step.op
    a, b = op.inputs
    M, K = a.shape[-2:]
    N = b.shape[-1]
    batch = op.outputs[0].shape[:-2]
    fold, strides = matmul_rows(op) != M, None
    if fold and step.epilogue is not None:
        strides = _folded_strides(step)
        fold = strides is not None
    if fold:  # one [batch·M, K] × [K, N] product
        M, batch = matmul_rows(op), ()
    return M, K, N, batch, strides


def q8_weight_of(step: Step, int8: bool, exact: frozenset = frozenset(), q4=()):
    """-> (constant name, axis of its output channels) where this step runs on 8-bit weights, else None.
    int8: under --weights int8 / int4; exact: weights of a quantized model that are 8-bit as they are
    (lower.exact_q8), which run on 8-bit products under any --weights; q4: B's that wd_matmul_q4 reads
    as stored instead (Program.q4)."""
    op = step.op
    if op.type == "Conv":
        sized = any(isinstance(d, Expr) for d in (*op.inputs[0].shape[2:], *op.outputs[0].shape[2:]))
        q8 = int8 or (len(op.inputs) > 1 and op.inputs[1].name in exact)
        return (op.inputs[1].name, 0) if q8_conv(q8, op, sized) else None
    if op.type != "MatMul" or any(R.CTYPE[t.dtype] != "float" for t in (*op.inputs, op.outputs[0])):
        return None
    M, _, _, batch, _ = matmul_geometry(step)
    if not q8_weights(int8 or op.inputs[1].name in exact, op, M) or any(isinstance(d, Expr) for d in batch):
        return None
    if isinstance(M, Expr) and int(np.prod(batch)) > 1:
        return None
    b = op.inputs[1]
    return (b.name, len(b.shape) - 1) if b.name not in q4 else None


def k_matmul(p: Program, step: Step, k: int):
    op = step.op
    a, b = op.inputs
    y = op.outputs[0]
    if any(R.CTYPE[t.dtype] != "float" for t in (a, b, y)):  # float16 is stored as float32
        raise ConversionError(f"MatMul {op.name!r}: the wasm backend multiplies float matrices only")
    M, K, N, batch, strides = matmul_geometry(step)
    sa = R.broadcast_strides(a.shape[:-2], batch)
    sb = R.broadcast_strides(b.shape[:-2], batch)
    if q8_weight_of(step, p.int8, p.q8_exact, p.q4):
        return _q8_matmul(p, step, k, M, K, N, list(np.ndindex(*batch)) if batch else [()], sa, strides)
    if b.name in p.q4:
        return _q4_matmul(p, step, k, M, K, N, batch, sa, strides)
    if any(isinstance(d, Expr) for d in batch):  # products counted at run time: offsets from the batch index
        epi = _epilogue(p, step, k, strides) if step.epilogue is not None else "0"
        p.scratch = max(p.scratch, GEMM_SCRATCH)
        ds = p.table("int32_t", batch, f"k{k}_bd")
        sas = p.table("int32_t", sa, f"k{k}_sa")
        sbs = p.table("int32_t", sb, f"k{k}_sb")
        return (f"  wd_matmul_nd({p.ptr(a, True)}, {p.ptr(b, True)}, {p.ptr(step.outputs[0])}, {p.dim(M)}, {p.dim(N)}, "
                f"{p.dim(K)}, {len(batch)}, {ds}, {sas}, {sbs}, {epi});")
    idx = list(np.ndindex(*batch)) if batch else [()]
    ao = p.table("int32_t", [sum(i * s for i, s in zip(ix, sa)) * M * K for ix in idx], f"k{k}_ao")
    epi = _epilogue(p, step, k, strides) if step.epilogue is not None else "0"
    p.scratch = max(p.scratch, GEMM_SCRATCH)
    slivers = gemm_slivers(op) and p.sliver_uses.get(b.name) == p.uses.get(b.name)
    if slivers and b.name not in p.slivers:
        p.slivers.add(b.name)
        p.temp = max(p.temp, -(-K * N // 64) + 16)
        # after every other preparation: a column-panel copy (below) is made from B as it is stored
        p.prepare_last.append(f"  wd_pack_b_slivers((float*)(wd_base + {p.offsets[b.name]}), {K}, {N}, (uint8_t*)wd_temp);")

    def big():  # the product of 4 rows or more
        if slivers:
            return (f"wd_matmul_slivers({p.ptr(a, True)}, {p.ptr(b, True)}, {p.ptr(step.outputs[0])}, {p.dim(M)}, {N}, "
                    f"{K}, {len(idx)}, {ao}, {epi});")
        bo = p.table("int32_t", [sum(i * s for i, s in zip(ix, sb)) * K * N for ix in idx], f"k{k}_bo")
        return (f"wd_matmul({p.ptr(a, True)}, {p.ptr(b, True)}, {p.ptr(step.outputs[0])}, {p.dim(M)}, {p.dim(N)}, "
                f"{p.dim(K)}, {len(idx)}, {ao}, {bo}, {epi});")
    if p.symbolic and isinstance(M, Expr) and len(idx) == 1 and p.panel_copy(b):
        # rows known at run time: a product of fewer than 4 reads a copy of B in column panels
        at = p.panel_copies[b.name]
        return (f"  if ({p.dim(M)} < 4) wd_gemv_packed({p.ptr(a, True)}, (const float*)(wd_prep + {at}), "
                f"{p.ptr(step.outputs[0])}, {p.dim(M)}, {N}, {K}, 1, {ao}, {epi});\n"
                f"  else {big()}")
    if gemv_panels(op) and p.gemv_uses.get(b.name) == p.uses.get(b.name):
        if b.name not in p.panels:
            p.panels.add(b.name)
            p.temp = max(p.temp, K * N * 4)
            p.prepare.append(f"  wd_pack_b_panels((float*)(wd_base + {p.offsets[b.name]}), {K}, {N}, (float*)wd_temp);")
        return (f"  wd_gemv_packed({p.ptr(a, True)}, {p.ptr(b, True)}, {p.ptr(step.outputs[0])}, {M}, {N}, {K}, "
                f"{len(idx)}, {ao}, {epi});")
    return f"  {big()}"


def _q4_matmul(p: Program, step: Step, k: int, M, K: int, N: int, batch, sa, strides) -> str:
    """A product with B 4-bit as its model stores it (Program.q4): wd_matmul_q4 reads the stored bytes."""
    a, b = step.op.inputs
    if any(isinstance(d, Expr) for d in batch):
        raise ConversionError(f"MatMul {step.op.name!r}: 4-bit weights under a batch of products known only at run time")
    idx = list(np.ndindex(*batch)) if batch else [()]
    ao = p.table("int32_t", [sum(i * s for i, s in zip(ix, sa)) * M * K for ix in idx] if len(idx) > 1 else [0],
                 f"k{k}_ao")
    epi = _epilogue(p, step, k, strides) if step.epilogue is not None else "0"
    # the GEMM's scratch, or A as 16-bit (8-bit) integers (even and odd k apart) with a scale and a sum per block
    # (fewer than 4 rows)
    p.scratch = max(p.scratch, GEMM_SCRATCH, (K + K // 16 + 16) * 4)
    f = p.q4[b.name]
    p.q4_steps += 1
    p.q4_a8_steps += int(b.name in p.q4_a8)
    return (f"  wd_matmul_q4({p.ptr(a, True)}, (const char*)(wd_base + {p.offsets[b.name]}), {p.ptr(step.outputs[0])}, "
            f"{p.dim(M)}, {N}, {K}, {len(idx)}, {ao}, {f['block']}, {int(f.get('scales') == 'f32')}, "
            f"{int(bool(f.get('zeros')))}, {int(b.name in p.q4_a8)}, {epi});")


def _q8_matmul(p: Program, step: Step, k: int, M, K: int, N: int, idx, sa, strides) -> str:
    """A product on 8-bit weights (q8_weights): B quantized into the prepared data at load, A in chunks
    of Q8_CHUNK_ROWS rows in the temporary buffer."""
    a, b = step.op.inputs
    ao = p.table("int32_t", [sum(i * s for i, s in zip(ix, sa)) * M * K for ix in idx] if len(idx) > 1 else [0],
                 f"k{k}_ao")
    epi = _epilogue(p, step, k, strides) if step.epilogue is not None else "0"
    if b.name not in p.q8:
        p.q8[b.name] = p.prep
        p.prep = align_up(p.prep + q8_weight_bytes(K, N))
        fn, src = _q8_source(p, b, "wd_q8_weights")
        p.prepare.append(f"  {fn}({src}, {K}, {N}, (int8_t*)(wd_prep + {p.q8[b.name]}));")
    chunk = Q8_CHUNK_ROWS if isinstance(M, Expr) else min(-(-M // 4) * 4, Q8_CHUNK_ROWS)
    p.temp = max(p.temp, q8_work_bytes(chunk, K))
    p.q8_steps += 1
    return (f"  wd_q8_matmul({p.ptr(a, True)}, (const int8_t*)(wd_prep + {p.q8[b.name]}), {p.ptr(step.outputs[0])}, "
            f"{p.dim(M)}, {N}, {K}, {len(idx)}, {ao}, wd_temp, {chunk}, {epi});")


def k_elementwise(p: Program, step: Step, k: int):
    op = step.op
    out = op.outputs[0]
    shape = list(out.shape)
    ost = R.broadcast_strides(shape, shape)
    dims, sts = R.collapse(shape, [ost] + [R.broadcast_strides(t.shape, shape) for t in op.inputs])
    if not dims:
        dims, sts = [1], [[0] for _ in sts]
    ost, ists = sts[0], sts[1:]
    dts = [t.dtype for t in op.inputs]
    expr = op.attrs["expr"]
    size = prod(dims)
    r = len(dims)
    inner = dims[-1]
    run_time = isinstance(size, Expr)  # sizes known at run time: the step computes its task split first
    # tasks: chunks of the only dim, or rows of the outer dims
    if run_time:
        outer = prod(dims[:-1])
        sz, n, o = p.dim(size), p.dim(inner), p.dim(outer)
        p.decls.append(f"static int k{k}_chunk, k{k}_rows;")
        p.pre.append(f"  if ({sz} == 0) return;")
        if r == 1:
            p.pre += [f"  {{ int c = ({n} + {4 * MAX_THREADS - 1}) / {4 * MAX_THREADS} / 4 * 4;",
                      f"    k{k}_chunk = {sz} >= 65536 ? (c > 4096 ? c : 4096) : {n}; }}"]
            chunk, ntasks = f"k{k}_chunk", f"(({n} + k{k}_chunk - 1) / k{k}_chunk)"
        else:
            p.pre += [f"  {{ int q = ({o} + {4 * MAX_THREADS - 1}) / {4 * MAX_THREADS};",
                      f"    k{k}_rows = {sz} < 65536 ? {o} : (q > 1 ? q : 1); }}"]
            rows, ntasks = f"k{k}_rows", f"(({o} + k{k}_rows - 1) / k{k}_rows)"
        inner, outer = n, o
        dims, ost, ists = [p.dim(d) for d in dims], [p.dim(v) for v in ost], [[p.dim(v) for v in st] for st in ists]
    elif r == 1:
        chunk = max(4096, -(-inner // (4 * MAX_THREADS)) // 4 * 4) if size >= 65536 else inner
        ntasks = -(-inner // chunk)
    else:
        outer = int(np.prod(dims[:-1]))
        rows = outer if size < 65536 else max(1, -(-outer // (4 * MAX_THREADS)))
        ntasks = -(-outer // rows)
    L = [f"static void k{k}_task(const void* arg, int t, int tid) {{", "  (void)arg; (void)tid;"]
    L.append(f"  {R.CTYPE[out.dtype]}* o = {p.ptr(out)};")
    for i, t in enumerate(op.inputs):
        L.append(f"  const {R.CTYPE[t.dtype]}* i{i} = {p.ptr(t, True)};")
    if r == 1:
        L.append(f"  int lo = t * {chunk}, hi = lo + {chunk} < {inner} ? lo + {chunk} : {inner};")
        L.append("  {")
        L.append("    " + f"{R.CTYPE[out.dtype]}* q = o;")
        for i in range(len(op.inputs)):
            L.append(f"    const {R.CTYPE[dts[i]]}* p{i} = i{i};")
    else:
        L.append(f"  for (int row = t * {rows}; row < (t + 1) * {rows} && row < {outer}; row++) {{")
        L.append("    int rem = row;")
        for d in range(r - 2, -1, -1):
            L.append(f"    int a{d} = rem % {dims[d]}; rem /= {dims[d]};")
        off = lambda st: " + ".join(f"(size_t)a{d} * {st[d]}" for d in range(r - 1) if st[d] != 0) or "0"
        L.append(f"    {R.CTYPE[out.dtype]}* q = o + {off(ost)};")
        for i in range(len(op.inputs)):
            L.append(f"    const {R.CTYPE[dts[i]]}* p{i} = i{i} + {off(ists[i])};")
        L.append(f"    int lo = 0, hi = {inner};")
    L.append("    int j = lo;")
    if out.dtype == "float32" and R.vectorizable(expr, dts, {i for i in range(len(dts)) if ists[i][-1] == 0}):
        vec = R.render_vector(expr, lambda i: f"wasm_v128_load(p{i} + j)" if ists[i][-1] != 0 else f"wasm_f32x4_splat((float)p{i}[0])")
        L.append(f"    for (; j + 4 <= hi; j += 4) wasm_v128_store(q + j, {vec});")
    code, cls = R.render(expr, dts, lambda i: f"p{i}[j]" if ists[i][-1] != 0 else f"p{i}[0]", out.dtype)
    L.append(f"    for (; j < hi; j++) q[j] = {R.store(code, cls, out.dtype)};")
    L += ["  }", "}"]
    p.funcs.append("\n".join(L))
    return f"  wd_parallel({ntasks}, k{k}_task, 0);"


def k_pool(p: Program, step: Step, k: int):
    op = step.op
    x, y = op.inputs[0], op.outputs[0]
    a = kernel_attrs(op)
    N, C, H, W = _shape4(x)
    _, _, OH, OW = _shape4(y)
    _fixed_but_batch(p, op, (C,))
    t, l, b_, r = a["pads"]
    fn = "wd_pool"
    if R.CTYPE[x.dtype] != "float":
        fn = {"uint8": "wd_maxpool_u8", "int8": "wd_maxpool_i8"}.get(x.dtype) if a["kind"] == "max" else None
        if fn is None:
            raise ConversionError(f"{op.type} {op.name!r}: {a['kind']} pooling of {x.dtype} is not implemented by the "
                                  f"wasm backend")
    if fn == "wd_pool":  # the thread scratch holds a row of window sums or maxima (ops.c pool_row_floats)
        if any(isinstance(d, Expr) for d in (W, OW)):
            p.scratch = max(p.scratch, GEMM_SCRATCH)
        else:
            reach = (OW - 1) * a["strides"][1] + (a["kernel"][1] - 1) * a["dilations"][1] + 1
            row = (max(reach, l + W) + 8 + OW + 4) * 4
            if row <= POOL_ROW_BYTES:
                p.scratch = max(p.scratch, row)
    H, W, OH, OW = (p.dim(d) for d in (H, W, OH, OW))
    return (f"  wd_pool_t p = {{(const float*){p.ptr(x, True)}, (float*){p.ptr(y)}, {p.dim(N * C)}, {H}, {W}, {OH}, {OW}, "
            f"{a['kernel'][0]}, {a['kernel'][1]}, {a['strides'][0]}, {a['strides'][1]}, {t}, {l}, {b_}, {r}, "
            f"{a['dilations'][0]}, {a['dilations'][1]}, {int(a['kind'] == 'max')}, {a['count_include_pad']}}};\n"
            f"  {fn}(&p);")


REDUCE_KINDS = ["sum", "mean", "max", "min", "prod", "sumsquare", "l1", "l2", "logsum", "logsumexp"]


def k_reduce(p: Program, step: Step, k: int):
    op = step.op
    x, y = op.inputs[0], op.outputs[0]
    a = kernel_attrs(op)
    shape = list(x.shape) or [1]
    if len(shape) > 8:
        raise ConversionError(f"Reduce {op.name!r}: rank {len(shape)} > 8")
    red = [int(i in a["axes"]) for i in range(len(shape))]
    if R.CTYPE[x.dtype] == "float" and a["kind"] in ("sum", "mean", "max", "min") and a["axes"] and 0 not in shape:
        ax = [i for i in range(len(shape)) if red[i] and shape[i] != 1] or [a["axes"][0]]
        if ax == list(range(ax[0], ax[-1] + 1)):  # one contiguous block of reduced axes: [outer, n, inner]
            outer, inner = prod(shape[:ax[0]]), prod(shape[ax[-1] + 1:])
            n = prod(shape[ax[0]:ax[-1] + 1])
            return (f"  wd_reduce_rows_f32({p.ptr(x, True)}, {p.ptr(y)}, {p.dim(outer)}, {p.dim(n)}, {p.dim(inner)}, "
                    f"{REDUCE_KINDS.index(a['kind'])});")
    fn = {"float": "wd_reduce_f32", "int32_t": "wd_reduce_i32", "uint8_t": "wd_reduce_u8" if x.dtype == "bool" else None
          }.get(R.CTYPE[x.dtype])
    if fn is None:
        raise ConversionError(f"Reduce {op.name!r}: {x.dtype} reductions are not implemented by the wasm backend")
    s = p.table("int32_t", shape, f"k{k}_s")
    m = p.table("uint8_t", red, f"k{k}_r")
    return f"  {fn}({p.ptr(x, True)}, {p.ptr(y)}, {len(shape)}, {s}, {m}, {REDUCE_KINDS.index(a['kind'])});"


def _float_only(op):
    if any(t.dtype not in ("float32", "float16") for t in [*op.inputs, *op.outputs] if t is not None):
        raise ConversionError(f"{op.type} {op.name!r}: the wasm backend implements it for float tensors only")


def k_softmax(p: Program, step: Step, k: int):
    op = step.op
    _float_only(op)
    x, y = op.inputs[0], op.outputs[0]
    a = kernel_attrs(op)
    s = list(x.shape)
    ax = a["axis"]
    outer, n, inner = prod(s[:ax]), s[ax], prod(s[ax + 1:])
    return f"  wd_softmax({p.ptr(x, True)}, {p.ptr(y)}, {p.dim(outer)}, {p.dim(n)}, {p.dim(inner)}, {a['log']});"


def k_lrn(p: Program, step: Step, k: int):
    op = step.op
    _float_only(op)
    x, y = op.inputs[0], op.outputs[0]
    a = kernel_attrs(op)
    s = list(x.shape)
    return (f"  wd_lrn({p.ptr(x, True)}, {p.ptr(y)}, {s[0]}, {s[1]}, {int(np.prod(s[2:]))}, {a['size']}, "
            f"{R.c_float(a['alpha'])}, {R.c_float(a['beta'])}, {R.c_float(a['bias'])});")


REC_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def k_recurrent(p, step, k):
    """The whole recurrence in one call (csrc/recurrent.c), its R packed into panels at load."""
    op = step.op
    P, R, rb, h0, c0 = (list(op.inputs) + [None] * 5)[:5]
    a = kernel_attrs(op)
    kind, G = a["kind"], REC_GATES[a["kind"]]
    N, T, _ = P.shape
    U = R.shape[0]
    if not R.is_constant:
        raise ConversionError(f"Recurrent {op.name!r}: the wasm backend needs a constant recurrent matrix")
    y, h_out = op.outputs[0], op.outputs[1]
    c_out = op.outputs[2] if kind == "LSTM" else None
    at = p.prep
    p.prep = align_up(p.prep + -(-U // 8) * 8 * G * U * 4)
    p.prepare.append(f"  wd_pack_recurrent((const float*)(wd_base + {p.offsets[R.name]}), (float*)(wd_prep + {at}), "
                     f"{U}, {G});")
    return (f"  wd_rec_t r = {{{p.ptr(P, True)}, (const float*)(wd_prep + {at}), {p.ptr(rb, True)}, {p.ptr(h0, True)}, "
            f"{p.ptr(c0, True)}, {p.ptr(y)}, {p.ptr(h_out)}, {p.ptr(c_out)}, {p.dim(N)}, {p.dim(T)}, {U}, {G}, "
            f"WD_REC_{kind}, {a['reverse']}}};\n  wd_recurrent(&r);")


from .emit_index import (k_argreduce, k_concat, k_copy, k_cumsum, k_expand, k_gather, k_gather_elements,  # noqa: E402
                         k_gather_nd, k_pad, k_resize, k_scatter_elements, k_scatter_nd, k_slice, k_split, k_topk,
                         k_transpose)

EMIT = {"Conv": k_conv, "ConvTranspose": k_conv, "MatMul": k_matmul, "Elementwise": k_elementwise, "Pool": k_pool,
        "Reduce": k_reduce, "Softmax": k_softmax, "LRN": k_lrn, "Transpose": k_transpose, "Slice": k_slice,
        "Expand": k_expand, "Pad": k_pad, "Concat": k_concat, "Split": k_split, "Gather": k_gather,
        "Reshape": k_copy, "Identity": k_copy, "GatherElements": k_gather_elements, "GatherND": k_gather_nd,
        "ScatterElements": k_scatter_elements, "ScatterND": k_scatter_nd, "ArgReduce": k_argreduce, "CumSum": k_cumsum,
        "TopK": k_topk, "Resize": k_resize, "Recurrent": k_recurrent}


