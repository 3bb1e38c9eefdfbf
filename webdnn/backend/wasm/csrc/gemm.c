/* Contractions: a packed GEMM with a register-blocked SIMD micro-kernel (WD_MR rows × WD_NR
 * columns of accumulators), used by Conv (implicit im2col: B is packed straight from the image)
 * and MatMul; a depthwise convolution; ConvTranspose. Each calls the model's fused epilogue on
 * output blocks while they are still in cache. */
#include "wdnn.h"

typedef struct {
  const float* a; int lda;      /* A[m*lda + k], or (a_trans) A[k*lda + m], or (a_packed) panels of 4 rows: [K][4] */
  int a_packed, a_trans;
  const float* b; int ldb;      /* matrix B[k*ldb + n] when x == 0 */
  const float* x;               /* else: B is the im2col of image x (channels of this group) */
  int H, W, OW, kh, kw, sh, sw, pt, pl, dh, dw;
  const float* bias;            /* per row m, or 0 */
  float* c; int ldc;            /* C[m*ldc + n] */
  int M, N, K;
  int mb, mc;                   /* M split into mb blocks of mc rows (for threads) */
  wd_epi_fn epi; float* y_epi; int img, m_off;
  float* work; int work_floats; /* room for all of B packed, [N blocks][K][NCP] (or 0) */
  const float* bpk;             /* B packed there once, when several row blocks share each column block */
  const float* bpan;            /* or B packed at load in slivers of WD_NR columns, [N/WD_NR][K][WD_NR] (wd_pack_b_slivers) */
  int ncb;                      /* columns per task when B is in slivers (else WD_NC) */
  const struct q4_s* q4;        /* or B as 4-bit values in blocks along K (wd_matmul_q4), unpacked block by block */
} gemm_t;

/* B [K, N] as 4-bit values in blocks of `block` along K, as a quantized model stores them (MatMulNBits;
 * encoding.py int4 with axis 0): column n's K values are nibbles n*K .. n*K + K - 1, two per byte, the first
 * in the low nibble; value = (nibble - zero) x scale of its block (blocks [N][K / block]). Symmetric weights
 * are two's-complement nibbles: flipping bit 3 gives nibble + 8 against a zero of 8. */
typedef struct q4_s {
  const uint8_t* vals;
  const uint16_t* hscales; const float* fscales;  /* one of them: half or float scales */
  const uint8_t* zeros;                           /* a zero point per block, two per byte; 0: symmetric */
  int block;
} q4_t;

WD_INLINE float q4_scale(const q4_t* q, size_t b) { return q->fscales ? q->fscales[b] : wd_half_to_float(q->hscales[b]); }
WD_INLINE float q4_zero(const q4_t* q, size_t b) { return q->zeros ? (float)((q->zeros[b >> 1] >> ((b & 1) * 4)) & 15) : 8.0f; }

/* 16 values of a column from 8 bytes: the nibbles of even k in lo0 (k 0, 2, 4, 6), lo1 (8 .. 14), of odd k in hi0, hi1 */
WD_INLINE void q4_nibbles16(const uint8_t* p, int sym, f32x4* lo0, f32x4* lo1, f32x4* hi0, f32x4* hi1) {
  v128_t v = wasm_v128_load64_zero(p);
  if (sym) v = wasm_v128_xor(v, wasm_i8x16_splat((int8_t)0x88));
  v128_t lo = wasm_u16x8_extend_low_u8x16(wasm_v128_and(v, wasm_i8x16_splat(15)));
  v128_t hi = wasm_u16x8_extend_low_u8x16(wasm_u8x16_shr(v, 4));
  *lo0 = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_low_u16x8(lo));
  *lo1 = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_high_u16x8(lo));
  *hi0 = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_low_u16x8(hi));
  *hi1 = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_high_u16x8(hi));
}

/* rows k0 .. k0 + kc of columns n0 .. n0 + nc of a 4-bit B, decoded into slivers of WD_NR columns, [nc/8][kc][8]
 * (columns past N zero): what the micro-kernel reads. k0 and kc are whole blocks' worth of 16 (the block divides K). */
static void q4_slivers(const q4_t* q, float* dst, int N, int K, int k0, int kc, int n0, int nc) {
  const int sym = q->zeros == 0, per = K / q->block;
  for (int s = 0; s < (nc + WD_NR - 1) / WD_NR; s++) {
    float* d = dst + (size_t)s * kc * WD_NR;
    for (int c = 0; c < WD_NR; c++) {
      int n = n0 + s * WD_NR + c;
      if (n >= N || n >= n0 + nc) {
        for (int k = 0; k < kc; k++) d[k * WD_NR + c] = 0.0f;
        continue;
      }
      const uint8_t* col = q->vals + ((size_t)n * K + k0) / 2;
      for (int k = 0; k < kc; k += 16) {
        size_t b = (size_t)n * per + (size_t)(k0 + k) / q->block;
        f32x4 sc = wasm_f32x4_splat(q4_scale(q, b)), z = wasm_f32x4_splat(q4_zero(q, b));
        f32x4 lo0, lo1, hi0, hi1;
        q4_nibbles16(col + k / 2, sym, &lo0, &lo1, &hi0, &hi1);
        float e[8], o[8];
        wasm_v128_store(e, wasm_f32x4_mul(wasm_f32x4_sub(lo0, z), sc));
        wasm_v128_store(e + 4, wasm_f32x4_mul(wasm_f32x4_sub(lo1, z), sc));
        wasm_v128_store(o, wasm_f32x4_mul(wasm_f32x4_sub(hi0, z), sc));
        wasm_v128_store(o + 4, wasm_f32x4_mul(wasm_f32x4_sub(hi1, z), sc));
        float* r = d + (size_t)k * WD_NR + c;
        for (int i = 0; i < 8; i++) { r[2 * i * WD_NR] = e[i]; r[(2 * i + 1) * WD_NR] = o[i]; }
      }
    }
  }
}

/* a 4×4 transpose of four vectors: c[j] lane i = q[i] lane j */
#define WD_TRANSPOSE4(q0, q1, q2, q3, c)                                                      \
  do {                                                                                         \
    f32x4 t0 = wasm_i32x4_shuffle(q0, q1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(q2, q3, 0, 4, 1, 5); \
    f32x4 t2 = wasm_i32x4_shuffle(q0, q1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(q2, q3, 2, 6, 3, 7); \
    c[0] = wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5); c[1] = wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7); \
    c[2] = wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5); c[3] = wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7); \
  } while (0)

#define NCP WD_NC  /* packed block width (a multiple of WD_NR) */

/* Rewrites A[M, K] (row-major) in place as panels of 4 rows, [K][4] each; a last panel of mr < 4
 * rows becomes [K][mr]. The micro-kernel then reads A as one contiguous stream. */
void wd_pack_a(float* a, int M, int K) {
  float* tmp = wd_thread_scratch(0);
  for (int m = 0; m < M; m += 4) {
    int mr = M - m < 4 ? M - m : 4;
    float* panel = a + (size_t)m * K;
    __builtin_memcpy(tmp, panel, (size_t)mr * K * 4);
    for (int k = 0; k < K; k++)
      for (int i = 0; i < mr; i++) panel[k * mr + i] = tmp[(size_t)i * K + k];
  }
}

static inline void copy_floats(float* d, const float* s, int n) {
  int t = 0;
  for (; t + 4 <= n; t += 4) wasm_v128_store(d + t, wasm_v128_load(s + t));
  for (; t < n; t++) d[t] = s[t];
}
static inline void zero_floats(float* d, int n) {
  int t = 0;
  for (; t + 4 <= n; t += 4) wasm_v128_store(d + t, wasm_f32x4_splat(0));
  for (; t < n; t++) d[t] = 0;
}

/* Pack B[k0:k0+kc, n0:n0+nc] row-major into dst[kc][NCP], zero-filling columns nc..(nc rounded up to 8). */
static void pack_b(const gemm_t* g, float* dst, int k0, int kc, int n0, int nc) {
  int ncr = (nc + WD_NR - 1) / WD_NR * WD_NR;
  if (!g->x) {
    for (int k = 0; k < kc; k++) {
      float* d = dst + k * NCP;
      copy_floats(d, g->b + (size_t)(k0 + k) * g->ldb + n0, nc);
      for (int j = nc; j < ncr; j++) d[j] = 0;
    }
    return;
  }
  const int khw = g->kh * g->kw, H = g->H, W = g->W, OW = g->OW, sw = g->sw;
  int ch = k0 / khw, r = k0 - ch * khw, i = r / g->kw, j = r - i * g->kw;
  for (int k = 0; k < kc; k++) {
    const float* plane = g->x + (size_t)ch * H * W;
    float* d = dst + k * NCP;
    int oh = n0 / OW, ow = n0 - oh * OW, n = 0;
    while (n < nc) {
      int seg = OW - ow;
      if (seg > nc - n) seg = nc - n;
      int ih = oh * g->sh - g->pt + i * g->dh;
      if (ih < 0 || ih >= H) {
        zero_floats(d + n, seg);
      } else {
        const float* row = plane + (size_t)ih * W;
        int iw0 = ow * sw - g->pl + j * g->dw;
        if (sw == 1) {
          int lo = iw0 < 0 ? -iw0 : 0;              /* first t with iw >= 0 */
          int hi = W - iw0;                          /* first t with iw >= W */
          if (lo > seg) lo = seg;
          if (hi > seg) hi = seg;
          if (hi < lo) hi = lo;
          for (int t = 0; t < lo; t++) d[n + t] = 0;
          copy_floats(d + n + lo, row + iw0 + lo, hi - lo);
          for (int t = hi; t < seg; t++) d[n + t] = 0;
        } else {
          for (int t = 0; t < seg; t++) {
            int iw = iw0 + t * sw;
            d[n + t] = (iw >= 0 && iw < W) ? row[iw] : 0.0f;
          }
        }
      }
      n += seg;
      ow = 0;
      oh++;
    }
    for (int t = nc; t < ncr; t++) d[t] = 0;
    if (++j == g->kw) { j = 0; if (++i == g->kh) { i = 0; ch++; } }
  }
}

/* C[mr rows, nc columns] (+)= Ap[kc][4] × B[kc rows (stride bs), nc (rounded up to 8) columns], the slivers of 8
 * columns ss floats apart (8 in a row-major B; K * 8 in slivers).
 * Rows past mr are computed from zero (or repeated) A values and not stored. first: start from the
 * bias (or 0) instead of C. */
static void kernel4(const float* ap, int mr, int kc, const float* bp, int bs, size_t ss, int nc, float* c, int ldc,
                    int first, const float* bias) {
  for (int j = 0; j < nc; j += WD_NR) {
    f32x4 c00, c01, c10, c11, c20, c21, c30, c31;
    int full = nc - j >= WD_NR && mr == 4;
    float tmp[4][WD_NR];
    if (first) {
      f32x4 z = wasm_f32x4_splat(0);
      c00 = c01 = bias ? wasm_f32x4_splat(bias[0]) : z;
      c10 = c11 = bias && mr > 1 ? wasm_f32x4_splat(bias[1]) : z;
      c20 = c21 = bias && mr > 2 ? wasm_f32x4_splat(bias[2]) : z;
      c30 = c31 = bias && mr > 3 ? wasm_f32x4_splat(bias[3]) : z;
    } else if (full) {
      c00 = wasm_v128_load(c + j); c01 = wasm_v128_load(c + j + 4);
      c10 = wasm_v128_load(c + ldc + j); c11 = wasm_v128_load(c + ldc + j + 4);
      c20 = wasm_v128_load(c + 2 * ldc + j); c21 = wasm_v128_load(c + 2 * ldc + j + 4);
      c30 = wasm_v128_load(c + 3 * ldc + j); c31 = wasm_v128_load(c + 3 * ldc + j + 4);
    } else {
      int w = nc - j < WD_NR ? nc - j : WD_NR;
      for (int r = 0; r < 4; r++)
        for (int t = 0; t < WD_NR; t++) tmp[r][t] = (r < mr && t < w) ? c[r * ldc + j + t] : 0.0f;
      c00 = wasm_v128_load(tmp[0]); c01 = wasm_v128_load(tmp[0] + 4);
      c10 = wasm_v128_load(tmp[1]); c11 = wasm_v128_load(tmp[1] + 4);
      c20 = wasm_v128_load(tmp[2]); c21 = wasm_v128_load(tmp[2] + 4);
      c30 = wasm_v128_load(tmp[3]); c31 = wasm_v128_load(tmp[3] + 4);
    }
    const float* b = bp + (size_t)(j / WD_NR) * ss;
    const float* a = ap;
    for (int k = 0; k < kc; k++) {
      f32x4 b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
      b += bs;
      f32x4 x0 = wasm_v128_load32_splat(a), x1 = wasm_v128_load32_splat(a + 1);
      f32x4 x2 = wasm_v128_load32_splat(a + 2), x3 = wasm_v128_load32_splat(a + 3);
      a += 4;
      c00 = WD_MADD(c00, x0, b0);
      c01 = WD_MADD(c01, x0, b1);
      c10 = WD_MADD(c10, x1, b0);
      c11 = WD_MADD(c11, x1, b1);
      c20 = WD_MADD(c20, x2, b0);
      c21 = WD_MADD(c21, x2, b1);
      c30 = WD_MADD(c30, x3, b0);
      c31 = WD_MADD(c31, x3, b1);
    }
    if (full) {
      wasm_v128_store(c + j, c00); wasm_v128_store(c + j + 4, c01);
      wasm_v128_store(c + ldc + j, c10); wasm_v128_store(c + ldc + j + 4, c11);
      wasm_v128_store(c + 2 * ldc + j, c20); wasm_v128_store(c + 2 * ldc + j + 4, c21);
      wasm_v128_store(c + 3 * ldc + j, c30); wasm_v128_store(c + 3 * ldc + j + 4, c31);
    } else {
      int w = nc - j < WD_NR ? nc - j : WD_NR;
      wasm_v128_store(tmp[0], c00); wasm_v128_store(tmp[0] + 4, c01);
      wasm_v128_store(tmp[1], c10); wasm_v128_store(tmp[1] + 4, c11);
      wasm_v128_store(tmp[2], c20); wasm_v128_store(tmp[2] + 4, c21);
      wasm_v128_store(tmp[3], c30); wasm_v128_store(tmp[3] + 4, c31);
      for (int r = 0; r < mr; r++)
        for (int t = 0; t < w; t++) c[r * ldc + j + t] = tmp[r][t];
    }
  }
}

static void gemm_task(const void* arg, int task, int tid) {
  const gemm_t* g = (const gemm_t*)arg;
  int nbi = task / g->mb, mbi = task - nbi * g->mb;
  const int ncb = g->bpan ? g->ncb : WD_NC;
  int n0 = nbi * ncb, nc = g->N - n0 < ncb ? g->N - n0 : ncb;
  int m0 = mbi * g->mc, m1 = m0 + g->mc < g->M ? m0 + g->mc : g->M;
  float* bp = wd_thread_scratch(tid);
  float* abuf = bp + WD_KC * NCP;  /* one A panel [kc][4] when A is not packed already */
  /* a matrix B whose block spans whole slivers is read in place, unless its rows are 4 KiB apart or
   * more: then every row of a sliver is on its own page and power-of-two strides alias in the caches
   * (a [128, 512] x [512, 2048] product: 9.8 -> 8.0 ms packed) */
  int direct = !g->x && nc % WD_NR == 0 && g->ldb < 1024;
  int K = g->K;
  for (int k0 = 0; k0 < K || k0 == 0; k0 += WD_KC) {
    int kc = K - k0 < WD_KC ? K - k0 : WD_KC;
    int last = k0 + WD_KC >= K;
    const float* b = bp;
    int bs = NCP;
    size_t ss = WD_NR;
    if (g->bpan) {
      b = g->bpan + (size_t)n0 * K + (size_t)k0 * WD_NR;
      bs = WD_NR;
      ss = (size_t)K * WD_NR;
    } else if (g->q4) {
      if (kc > 0) q4_slivers(g->q4, bp, g->N, K, k0, kc, n0, nc);
      bs = WD_NR;
      ss = (size_t)kc * WD_NR;
    } else if (g->bpk) {
      b = g->bpk + ((size_t)nbi * K + k0) * NCP;
    } else if (direct) {
      b = g->b + (size_t)k0 * g->ldb + n0;
      bs = g->ldb;
    } else if (kc > 0) {
      pack_b(g, bp, k0, kc, n0, nc);
    }
    for (int m = m0; m < m1; m += 4) {
      int mr = m1 - m < 4 ? m1 - m : 4;
      const float* ap;
      if (g->a_packed && (mr == 4 || g->M - m < 4)) {
        int pr = g->M - m < 4 ? g->M - m : 4;  /* rows of this panel as packed */
        ap = g->a + (size_t)m * K + (size_t)k0 * pr;
        if (pr < 4) {
          for (int k = 0; k < kc; k++)
            for (int i = 0; i < 4; i++) abuf[k * 4 + i] = i < pr ? ap[k * pr + i] : 0.0f;
          ap = abuf;
        }
      } else if (g->a_trans) {  /* a panel's 4 rows at one k are 4 neighbouring floats */
        const float* src = g->a + (size_t)k0 * g->lda + m;
        if (mr == 4)
          for (int k = 0; k < kc; k++) wasm_v128_store(abuf + k * 4, wasm_v128_load(src + (size_t)k * g->lda));
        else
          for (int k = 0; k < kc; k++)
            for (int i = 0; i < 4; i++) abuf[k * 4 + i] = i < mr ? src[(size_t)k * g->lda + i] : 0.0f;
        ap = abuf;
      } else {
        const float* src = g->a + (size_t)m * g->lda + k0;
        int k = 0;
        if (mr == 4) { /* 4 rows × 4 k at a time */
          const float *r0 = src, *r1 = src + g->lda, *r2 = src + 2 * (size_t)g->lda, *r3 = src + 3 * (size_t)g->lda;
          for (; k + 4 <= kc; k += 4) {
            f32x4 q0 = wasm_v128_load(r0 + k), q1 = wasm_v128_load(r1 + k), q2 = wasm_v128_load(r2 + k), q3 = wasm_v128_load(r3 + k), t[4];
            WD_TRANSPOSE4(q0, q1, q2, q3, t);
            for (int i = 0; i < 4; i++) wasm_v128_store(abuf + (k + i) * 4, t[i]);
          }
        }
        for (; k < kc; k++)
          for (int i = 0; i < 4; i++) abuf[k * 4 + i] = i < mr ? src[(size_t)i * g->lda + k] : 0.0f;
        ap = abuf;
      }
      kernel4(ap, mr, kc, b, bs, ss, nc, g->c + (size_t)m * g->ldc + n0, g->ldc, k0 == 0, g->bias ? g->bias + m : 0);
      if (last && g->epi) g->epi(g->y_epi, g->ldc, g->img, g->m_off + m, g->m_off + m + mr, n0, n0 + nc);
    }
    if (kc <= 0) break;
  }
}

/* one [kc][NCP] block of B (column block t / kb, row block t % kb) into g->work */
static void prepack_task(const void* arg, int t, int tid) {
  (void)tid;
  const gemm_t* g = (const gemm_t*)arg;
  int kb = (g->K + WD_KC - 1) / WD_KC, nbi = t / kb, k0 = (t - nbi * kb) * WD_KC;
  int n0 = nbi * WD_NC, nc = g->N - n0 < WD_NC ? g->N - n0 : WD_NC;
  int kc = g->K - k0 < WD_KC ? g->K - k0 : WD_KC;
  pack_b(g, g->work + ((size_t)nbi * g->K + k0) * NCP, k0, kc, n0, nc);
}

static void gemm_run(gemm_t* g) {
  const int ncb = g->bpan ? g->ncb : WD_NC;
  int nb = (g->N + ncb - 1) / ncb;
  int mb = 1;
  if (wd_nthreads > 1 && nb < 4 * wd_nthreads) {
    mb = (4 * wd_nthreads + nb - 1) / nb;
    int most = (g->M + 15) / 16;
    if (mb > most) mb = most;
    if (mb < 1) mb = 1;
  }
  int mc = (g->M + mb - 1) / mb;
  mc = (mc + 3) / 4 * 4;
  g->mc = mc;
  g->mb = (g->M + mc - 1) / mc;
  /* several row blocks per column block (few columns: a small image): each task would pack the same
   * im2col block again, so all of B is packed once first, in parallel, and every task reads it */
  int kb = (g->K + WD_KC - 1) / WD_KC;
  if (g->mb > 1 && g->x && g->K > 0 && g->work && (size_t)nb * g->K * NCP <= (size_t)g->work_floats) {
    wd_parallel(nb * kb, prepack_task, g);
    g->bpk = g->work;
  }
  wd_parallel(nb * g->mb, gemm_task, g);
}

/* ---- depthwise convolution (group == C == M): one plane per task, from a zero-padded copy ---- */
typedef struct { const wd_conv_t* p; int PH, PW; } dw_t;

/* 3×3 depthwise, stride 1 or 2, no dilation, straight from the input: a row outside the input
 * reads a zero row; columns whose window leaves the input are computed one by one. */
static void dw3x3_plane(const wd_conv_t* p, const float* x, float* y, const float* w, float bias, const float* zero) {
  const int H = p->H, W = p->W, OH = p->OH, OW = p->OW, sh = p->sh, sw = p->sw, pt = p->pt, pl = p->pl;
  f32x4 w0 = wasm_f32x4_splat(w[0]), w1 = wasm_f32x4_splat(w[1]), w2 = wasm_f32x4_splat(w[2]);
  f32x4 w3 = wasm_f32x4_splat(w[3]), w4 = wasm_f32x4_splat(w[4]), w5 = wasm_f32x4_splat(w[5]);
  f32x4 w6 = wasm_f32x4_splat(w[6]), w7 = wasm_f32x4_splat(w[7]), w8 = wasm_f32x4_splat(w[8]);
  f32x4 vb = wasm_f32x4_splat(bias);
  /* interior columns: ow with ow*sw - pl >= 0 and (ow+3)*sw - pl + 2 <= W - 1 for a vector of 4 */
  int ca = (pl + sw - 1) / sw;
  for (int oh = 0; oh < OH; oh++) {
    int ih = oh * sh - pt;
    const float* r0 = ih >= 0 && ih < H ? x + (size_t)ih * W : zero;
    const float* r1 = ih + 1 >= 0 && ih + 1 < H ? x + (size_t)(ih + 1) * W : zero;
    const float* r2 = ih + 2 >= 0 && ih + 2 < H ? x + (size_t)(ih + 2) * W : zero;
    float* out = y + (size_t)oh * OW;
    int ow = 0;
    for (; ow < OW; ow++) {
      int iw = ow * sw - pl;
      if (ow >= ca && (ow + 3) * sw - pl + 2 <= W - 1) break;
      float s = bias;
      for (int j = 0; j < 3; j++) {
        if (iw + j < 0 || iw + j >= W) continue;
        s += w[j] * r0[iw + j] + w[3 + j] * r1[iw + j] + w[6 + j] * r2[iw + j];
      }
      out[ow] = s;
    }
    if (sw == 1) {
      for (; ow + 4 <= OW && ow + 3 - pl + 2 <= W - 1; ow += 4) {
        int iw = ow - pl;
        f32x4 acc = vb;
        acc = WD_MADD(acc, w0, wasm_v128_load(r0 + iw));
        acc = WD_MADD(acc, w1, wasm_v128_load(r0 + iw + 1));
        acc = WD_MADD(acc, w2, wasm_v128_load(r0 + iw + 2));
        acc = WD_MADD(acc, w3, wasm_v128_load(r1 + iw));
        acc = WD_MADD(acc, w4, wasm_v128_load(r1 + iw + 1));
        acc = WD_MADD(acc, w5, wasm_v128_load(r1 + iw + 2));
        acc = WD_MADD(acc, w6, wasm_v128_load(r2 + iw));
        acc = WD_MADD(acc, w7, wasm_v128_load(r2 + iw + 1));
        acc = WD_MADD(acc, w8, wasm_v128_load(r2 + iw + 2));
        wasm_v128_store(out + ow, acc);
      }
    } else {
      /* reads 12 floats per row from iw; those past the window are loaded but unused */
      for (; ow + 4 <= OW && (ow + 3) * 2 - pl + 2 <= W - 1; ow += 4) {
        int iw = ow * 2 - pl;
        const float* rr[3] = {r0 + iw, r1 + iw, r2 + iw};
        f32x4 acc = vb;
        for (int i = 0; i < 3; i++) {
          f32x4 a0 = wasm_v128_load(rr[i]), a1 = wasm_v128_load(rr[i] + 4), a2 = wasm_v128_load(rr[i] + 8);
          f32x4 e = wasm_i32x4_shuffle(a0, a1, 0, 2, 4, 6), o = wasm_i32x4_shuffle(a0, a1, 1, 3, 5, 7);
          f32x4 e2 = wasm_i32x4_shuffle(e, a2, 1, 2, 3, 4);
          f32x4 wa = i == 0 ? w0 : i == 1 ? w3 : w6, wb = i == 0 ? w1 : i == 1 ? w4 : w7, wc = i == 0 ? w2 : i == 1 ? w5 : w8;
          acc = WD_MADD(acc, wa, e);
          acc = WD_MADD(acc, wb, o);
          acc = WD_MADD(acc, wc, e2);
        }
        wasm_v128_store(out + ow, acc);
      }
    }
    for (; ow < OW; ow++) {
      int iw = ow * sw - pl;
      float s = bias;
      for (int j = 0; j < 3; j++) {
        if (iw + j < 0 || iw + j >= W) continue;
        s += w[j] * r0[iw + j] + w[3 + j] * r1[iw + j] + w[6 + j] * r2[iw + j];
      }
      out[ow] = s;
    }
  }
}

/* Stores the first n lanes of v (all four when n >= 4): the lanes past a plane's row belong to the next
 * row or to another thread's plane */
static inline void store_first(float* p, f32x4 v, int n) {
  if (n >= 4) {
    wasm_v128_store(p, v);
    return;
  }
  p[0] = wasm_f32x4_extract_lane(v, 0);
  if (n > 1) p[1] = wasm_f32x4_extract_lane(v, 1);
  if (n > 2) p[2] = wasm_f32x4_extract_lane(v, 2);
}

static void dw_task(const void* arg, int task, int tid) {
  const dw_t* d = (const dw_t*)arg;
  const wd_conv_t* p = d->p;
  int img = task / p->C, ch = task - img * p->C;
  int H = p->H, W = p->W, PH = d->PH, PW = d->PW, OH = p->OH, OW = p->OW;
  const float* x = p->x + ((size_t)img * p->C + ch) * H * W;
  float* y = p->y + ((size_t)img * p->M + ch) * OH * OW;
  const float* w = p->w + (size_t)ch * p->kh * p->kw;
  float bias = p->bias ? p->bias[ch] : 0.0f;
  float* pad = wd_thread_scratch(tid);
  const int sh = p->sh, sw = p->sw, dh = p->dh, dw = p->dw, kh = p->kh, kw = p->kw;
  if (kh == 3 && kw == 3 && dh == 1 && dw == 1 && (sw == 1 || sw == 2)) {
    zero_floats(pad, W + 16);
    dw3x3_plane(p, x, y, w, bias, pad);
  } else {
    /* any other window: from a zero-padded copy of the plane, rows [-pt, PH-pt), columns [-pl, PW-pl) */
    for (int r = 0; r < PH; r++) {
      float* dst = pad + (size_t)r * PW;
      int ih = r - p->pt;
      if (ih < 0 || ih >= H) {
        zero_floats(dst, PW);
        continue;
      }
      int lo = p->pl < PW ? p->pl : PW, hi = p->pl + W < PW ? p->pl + W : PW;
      zero_floats(dst, lo);
      copy_floats(dst + lo, x + (size_t)ih * W + (lo - p->pl), hi - lo);
      if (hi < PW) zero_floats(dst + hi, PW - hi);
    }
    for (int oh = 0; oh < OH; oh++) {
      const float* row = pad + (size_t)oh * sh * PW;
      float* out = y + (size_t)oh * OW;
      int ow = 0;
      /* four outputs per step on the padded rows (PW has 8 floats of slack for the last loads):
       * stride 1 loads the window's columns directly, stride 2 takes the even lanes of two loads */
      if (sw == 1) {
        for (; ow + 8 <= OW; ow += 8) {
          f32x4 a0 = wasm_f32x4_splat(bias), a1 = a0;
          for (int i = 0; i < kh; i++) {
            const float* q = row + (size_t)i * dh * PW + ow;
            for (int j = 0; j < kw; j++) {
              f32x4 wv = wasm_f32x4_splat(w[i * kw + j]);
              a0 = WD_MADD(a0, wv, wasm_v128_load(q + j * dw));
              a1 = WD_MADD(a1, wv, wasm_v128_load(q + j * dw + 4));
            }
          }
          wasm_v128_store(out + ow, a0);
          wasm_v128_store(out + ow + 4, a1);
        }
        /* then vectors of 4, the last one partly past OW (a small plane, 7×7 or 14×14, would
         * otherwise be mostly scalar): its loads stay inside the row's slack */
        for (; ow < OW; ow += 4) {
          f32x4 acc = wasm_f32x4_splat(bias);
          for (int i = 0; i < kh; i++) {
            const float* q = row + (size_t)i * dh * PW + ow;
            for (int j = 0; j < kw; j++) acc = WD_MADD(acc, wasm_f32x4_splat(w[i * kw + j]), wasm_v128_load(q + j * dw));
          }
          store_first(out + ow, acc, OW - ow);
        }
      } else if (sw == 2) {
        for (; ow < OW; ow += 4) {
          f32x4 acc = wasm_f32x4_splat(bias);
          for (int i = 0; i < kh; i++) {
            const float* q = row + (size_t)i * dh * PW + ow * 2;
            for (int j = 0; j < kw; j++) {
              f32x4 lo = wasm_v128_load(q + j * dw), hi = wasm_v128_load(q + j * dw + 4);
              acc = WD_MADD(acc, wasm_f32x4_splat(w[i * kw + j]), wasm_i32x4_shuffle(lo, hi, 0, 2, 4, 6));
            }
          }
          store_first(out + ow, acc, OW - ow);
        }
      }
      for (; ow < OW; ow++) {
        const float* q = row + ow * sw;
        float s = bias;
        for (int i = 0; i < kh; i++)
          for (int j = 0; j < kw; j++) s += w[i * kw + j] * q[(size_t)i * dh * PW + j * dw];
        out[ow] = s;
      }
    }
  }
  if (p->epi) p->epi(p->y + (size_t)img * p->M * OH * OW, OH * OW, img, ch, ch + 1, 0, OH * OW);
}

/* Any depthwise window straight from the input, no scratch (image sizes known at run time): per output
 * row only the kernel rows inside the input; columns whose windows lie inside the input four at a time
 * (strides 1 and 2), the others one by one with their columns checked. */
static void dw_direct_task(const void* arg, int task, int tid) {
  (void)tid;
  const wd_conv_t* p = (const wd_conv_t*)arg;
  int img = task / p->C, ch = task - img * p->C;
  const int H = p->H, W = p->W, OH = p->OH, OW = p->OW, kh = p->kh, kw = p->kw;
  const int sh = p->sh, sw = p->sw, dh = p->dh, dw = p->dw, pt = p->pt, pl = p->pl;
  const float* x = p->x + ((size_t)img * p->C + ch) * H * W;
  float* y = p->y + ((size_t)img * p->M + ch) * OH * OW;
  const float* w = p->w + (size_t)ch * kh * kw;
  const float bias = p->bias ? p->bias[ch] : 0.0f;
  /* a vector of 4 outputs from ow reads columns ow*sw - pl .. ow*sw - pl + span: all inside the input
   * where ow >= ca and that last one < W (stride 2 loads 8 columns per tap, the odd ones unused) */
  const int ca = (pl + sw - 1) / sw, span = (kw - 1) * dw + (sw == 2 ? 7 : 3);
  for (int oh = 0; oh < OH; oh++) {
    const int ih0 = oh * sh - pt;
    int i0 = 0, i1 = kh;  /* kernel rows inside the input */
    while (i0 < kh && ih0 + i0 * dh < 0) i0++;
    while (i1 > i0 && ih0 + (i1 - 1) * dh >= H) i1--;
    float* out = y + (size_t)oh * OW;
    int ow = 0;
    for (;;) {
      int iw = ow * sw - pl;
      if (ow >= OW) break;
      if (ow >= ca && (sw == 1 || sw == 2) && iw + span <= W - 1 && ow + 4 <= OW) {
        f32x4 acc = wasm_f32x4_splat(bias);
        for (int i = i0; i < i1; i++) {
          const float* row = x + (size_t)(ih0 + i * dh) * W + iw;
          for (int j = 0; j < kw; j++) {
            f32x4 v;
            if (sw == 1) {
              v = wasm_v128_load(row + j * dw);
            } else {
              f32x4 lo = wasm_v128_load(row + j * dw), hi = wasm_v128_load(row + j * dw + 4);
              v = wasm_i32x4_shuffle(lo, hi, 0, 2, 4, 6);
            }
            acc = WD_MADD(acc, wasm_f32x4_splat(w[i * kw + j]), v);
          }
        }
        wasm_v128_store(out + ow, acc);
        ow += 4;
        continue;
      }
      float s = bias;
      for (int i = i0; i < i1; i++) {
        const float* row = x + (size_t)(ih0 + i * dh) * W;
        for (int j = 0; j < kw; j++) {
          int c = iw + j * dw;
          if (c >= 0 && c < W) s += w[i * kw + j] * row[c];
        }
      }
      out[ow++] = s;
    }
  }
  if (p->epi) p->epi(p->y + (size_t)img * p->M * OH * OW, OH * OW, img, ch, ch + 1, 0, OH * OW);
}

void wd_conv_depthwise(const wd_conv_t* p) { wd_parallel(p->N * p->C, dw_direct_task, p); }

void wd_conv(const wd_conv_t* p) {
  int Cg = p->C / p->group, Mg = p->M / p->group;
  int N = p->OH * p->OW, K = Cg * p->kh * p->kw;
  if (Cg == 1 && Mg == 1) {
    dw_t d = {p, (p->OH - 1) * p->sh + (p->kh - 1) * p->dh + 1, (p->OW - 1) * p->sw + (p->kw - 1) * p->dw + 1 + 8};
    wd_parallel(p->N * p->C, dw_task, &d);
    return;
  }
  int direct = p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 &&
               p->OH == p->H && p->OW == p->W;
  for (int img = 0; img < p->N; img++) {
    for (int gi = 0; gi < p->group; gi++) {
      gemm_t g = {0};
      g.a = p->w + (size_t)gi * Mg * K;
      g.lda = K;
      g.a_packed = p->packed;
      const float* x = p->x + ((size_t)img * p->C + (size_t)gi * Cg) * p->H * p->W;
      if (direct) {
        g.b = x;
        g.ldb = N;
      } else {
        g.x = x;
        g.H = p->H; g.W = p->W; g.OW = p->OW; g.kh = p->kh; g.kw = p->kw; g.sh = p->sh; g.sw = p->sw;
        g.pt = p->pt; g.pl = p->pl; g.dh = p->dh; g.dw = p->dw;
      }
      g.bias = p->bias ? p->bias + gi * Mg : 0;
      float* yimg = p->y + (size_t)img * p->M * N;
      g.c = yimg + (size_t)gi * Mg * N;
      g.ldc = N;
      g.M = Mg; g.N = N; g.K = K;
      g.epi = p->epi; g.y_epi = yimg; g.img = img; g.m_off = gi * Mg;
      g.work = p->work; g.work_floats = p->work_floats;
      gemm_run(&g);
    }
  }
}

/* Few rows (a fully connected layer on one image, a recurrent step): each task takes a range of
 * columns and keeps 32 of them in registers across the whole of K, reading B row by row; the packed
 * GEMM would compute 4 rows and pack B for one. Columns are split so that every thread has some.
 * A constant B read only by such products is rewritten at load into panels of 32 columns ([K][32]
 * each, the last [K][N % 32]; wd_pack_b_panels): each block then streams one contiguous run of
 * memory, where row-major rows 4 KiB or more apart alias in the caches (a recurrent step's
 * [256] x [256, 1024]: 31 -> 20 us). */
typedef struct { const float* a; const float* b; float* c; int M, N, K, cols, packed; wd_epi_fn epi; int img; } gemv_t;
#define GEMV_COLS 512
#define GEMV_PANEL 32

void wd_pack_b_panels(float* b, int K, int N, float* tmp) {
  __builtin_memcpy(tmp, b, (size_t)K * N * 4);
  float* d = b;
  for (int n0 = 0; n0 < N; n0 += GEMV_PANEL) {
    int w = N - n0 < GEMV_PANEL ? N - n0 : GEMV_PANEL;
    for (int k = 0; k < K; k++, d += w) copy_floats(d, tmp + (size_t)k * N + n0, w);
  }
}

static void gemv_task(const void* arg, int t, int tid) {
  (void)tid;
  const gemv_t* g = (const gemv_t*)arg;
  const int N = g->N, K = g->K;
  int n0 = t * g->cols, n1 = n0 + g->cols < N ? n0 + g->cols : N;
  /* where column j's value at row k is: base(j) + k * stride(j) */
  const int jp = g->packed ? N / GEMV_PANEL * GEMV_PANEL : N;  /* first column of the partial panel */
  for (int m = 0; m < g->M; m++) {
    float* c = g->c + (size_t)m * N;
    const float* a = g->a + (size_t)m * K;
    int j = n0;
    for (; j + 32 <= n1; j += 32) {
      f32x4 z = wasm_f32x4_splat(0), c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, c6 = z, c7 = z;
      const float* br = g->packed ? g->b + (size_t)j * K : g->b + j;
      const int bs = g->packed ? GEMV_PANEL : N;
      for (int k = 0; k < K; k++, br += bs) {
        f32x4 av = wasm_v128_load32_splat(a + k);
        c0 = WD_MADD(c0, av, wasm_v128_load(br));
        c1 = WD_MADD(c1, av, wasm_v128_load(br + 4));
        c2 = WD_MADD(c2, av, wasm_v128_load(br + 8));
        c3 = WD_MADD(c3, av, wasm_v128_load(br + 12));
        c4 = WD_MADD(c4, av, wasm_v128_load(br + 16));
        c5 = WD_MADD(c5, av, wasm_v128_load(br + 20));
        c6 = WD_MADD(c6, av, wasm_v128_load(br + 24));
        c7 = WD_MADD(c7, av, wasm_v128_load(br + 28));
      }
      wasm_v128_store(c + j, c0); wasm_v128_store(c + j + 4, c1);
      wasm_v128_store(c + j + 8, c2); wasm_v128_store(c + j + 12, c3);
      wasm_v128_store(c + j + 16, c4); wasm_v128_store(c + j + 20, c5);
      wasm_v128_store(c + j + 24, c6); wasm_v128_store(c + j + 28, c7);
    }
    /* the rest lies in the partial panel when packed (tasks start on a panel boundary) */
    const float* tail = g->packed ? g->b + (size_t)jp * K - jp : g->b;
    const int ts = g->packed ? N - jp : N;
    for (; j + 4 <= n1; j += 4) {
      f32x4 c0 = wasm_f32x4_splat(0);
      const float* br = tail + j;
      for (int k = 0; k < K; k++, br += ts) c0 = WD_MADD(c0, wasm_v128_load32_splat(a + k), wasm_v128_load(br));
      wasm_v128_store(c + j, c0);
    }
    for (; j < n1; j++) {
      float s = 0.0f;
      for (int k = 0; k < K; k++) s += a[k] * tail[(size_t)k * ts + j];
      c[j] = s;
    }
  }
  if (g->epi) g->epi(g->c, N, g->img, 0, g->M, n0, n1);
}

/* Columns per task: a multiple of 32, at most GEMV_COLS, and as many tasks as a whole number per thread
 * (1536 columns on 2 threads: 4 tasks of 384, not 3 of 512, of which one thread would run two). */
static int gemv_cols(int N) {
  int tasks = (N + GEMV_COLS - 1) / GEMV_COLS;
  tasks = (tasks + wd_nthreads - 1) / wd_nthreads * wd_nthreads;
  int cols = ((N + tasks - 1) / tasks + 31) / 32 * 32;
  return cols < 32 ? 32 : cols;
}

/* wd_matmul for M < 4 with B in panels (wd_pack_b_panels) and shared by every product of the batch. */
void wd_gemv_packed(const float* a, const float* b, float* c, int M, int N, int K, int batch,
                    const int32_t* a_off, wd_epi_fn epi) {
  int cols = gemv_cols(N);
  for (int i = 0; i < batch; i++) {
    gemv_t g = {a + a_off[i], b, c + (size_t)i * M * N, M, N, K, cols, 1, epi, i};
    wd_parallel((N + cols - 1) / cols, gemv_task, &g);
  }
}

/* Rewrites B[K, N] (row-major, N a multiple of WD_NR) in place as slivers of WD_NR columns, [N/WD_NR][K][WD_NR]:
 * the micro-kernel then streams each sliver as one contiguous run instead of reading K rows ldb apart
 * (two rows per 4 KiB page or fewer: a TLB miss every step or two down a sliver). In place: B seen as a
 * K x (N/WD_NR) matrix of WD_NR-float units is transposed by following each permutation cycle, with one
 * bit per unit in `seen` (K * N / WD_NR / 8 bytes, rounded up), so no copy of B is needed. */
void wd_pack_b_slivers(float* b, int K, int N, uint8_t* seen) {
  const size_t R = (size_t)K, C = (size_t)(N / WD_NR), n = R * C;
  __builtin_memset(seen, 0, (n + 7) / 8);
  for (size_t start = 0; start < n; start++) {
    if (seen[start >> 3] >> (start & 7) & 1) continue;
    f32x4 v0 = wasm_v128_load(b + start * WD_NR), v1 = wasm_v128_load(b + start * WD_NR + 4);
    size_t i = start;
    do {  /* the unit now carried (from position i = k * C + s) belongs at s * R + k */
      size_t j = (i % C) * R + i / C;
      float* d = b + j * WD_NR;
      f32x4 t0 = wasm_v128_load(d), t1 = wasm_v128_load(d + 4);
      wasm_v128_store(d, v0); wasm_v128_store(d + 4, v1);
      v0 = t0; v1 = t1;
      seen[j >> 3] |= (uint8_t)(1u << (j & 7));
      i = j;
    } while (i != start);
  }
}

/* columns per task on B in slivers: with nothing to pack, wider blocks pack each panel of A fewer times
 * (measured 1-2 % over 128 on [128, 512] x [512, 2048] and [197, 192] x [192, 768]) */
#define SLIVER_NC 256
/* wd_matmul with B in slivers (wd_pack_b_slivers), shared by every product of the batch (the converter
 * takes it for products of 4 rows or more; fewer take the GEMV's column panels). */
void wd_matmul_slivers(const float* a, const float* b, float* c, int M, int N, int K, int batch, const int32_t* a_off,
                       wd_epi_fn epi) {
  for (int i = 0; i < batch; i++) {
    gemm_t g = {0};
    g.a = a + a_off[i]; g.lda = K;
    g.bpan = b; g.ldb = N; g.ncb = SLIVER_NC;
    g.c = c + (size_t)i * M * N; g.ldc = N;
    g.M = M; g.N = N; g.K = K;
    g.epi = epi; g.y_epi = g.c; g.img = i; g.m_off = 0;
    gemm_run(&g);
  }
}

/* Product i of a batch: c_i = a_i b_i (then epi(c_i, N, i, ...)). */
static void matmul_one(const float* a, const float* b, float* c, int M, int N, int K, int i, wd_epi_fn epi) {
  if (M < 4) {
    int cols = gemv_cols(N);
    gemv_t g = {a, b, c, M, N, K, cols, 0, epi, i};
    wd_parallel((N + cols - 1) / cols, gemv_task, &g);
    return;
  }
  gemm_t g = {0};
  g.a = a; g.lda = K;
  g.b = b; g.ldb = N;
  g.c = c; g.ldc = N;
  g.M = M; g.N = N; g.K = K;
  g.epi = epi; g.y_epi = g.c; g.img = i; g.m_off = 0;
  gemm_run(&g);
}

void wd_matmul(const float* a, const float* b, float* c, int M, int N, int K, int batch,
               const int32_t* a_off, const int32_t* b_off, wd_epi_fn epi) {
  for (int i = 0; i < batch; i++) matmul_one(a + a_off[i], b + b_off[i], c + (size_t)i * M * N, M, N, K, i, epi);
}

void wd_matmul_nd(const float* a, const float* b, float* c, int M, int N, int K, int rank, const int32_t* dims,
                  const int32_t* sa, const int32_t* sb, wd_epi_fn epi) {
  int batch = 1;
  for (int d = 0; d < rank; d++) batch *= dims[d];
  for (int i = 0; i < batch; i++) {
    size_t ao = 0, bo = 0;
    for (int d = rank - 1, r = i; d >= 0; d--) {
      int ix = r % dims[d];
      r /= dims[d];
      ao += (size_t)ix * sa[d];
      bo += (size_t)ix * sb[d];
    }
    matmul_one(a + ao * M * K, b + bo * K * N, c + (size_t)i * M * N, M, N, K, i, epi);
  }
}

/* ---- ConvTranspose: a GEMM, then col2im ----
 * For a chunk of input rows, cols[pixel][m, i, j] = sum over c of x[c][pixel] * w[c][m, i, j] (one GEMM:
 * A is x read transposed, B the weights as they are); then each output plane adds its taps from cols
 * (one plane per task: no two tasks write the same plane). */
typedef struct { const wd_conv_t* p; const float* cols; int img, gi, p0, p1; } col2im_t;

/* output channel mm of the group: adds the columns of input pixels [p0, p1) (row-major over the plane) to
 * the outputs they reach; the first chunk starts from the bias, the last one runs the epilogue */
static void col2im_task(const void* arg, int mm, int tid) {
  (void)tid;
  const col2im_t* c = (const col2im_t*)arg;
  const wd_conv_t* p = c->p;
  int Mg = p->M / p->group, m = c->gi * Mg + mm, taps = p->kh * p->kw, ncols = Mg * taps, W = p->W;
  float* y = p->y + ((size_t)c->img * p->M + m) * p->OH * p->OW;
  if (c->p0 == 0) {
    float b = p->bias ? p->bias[m] : 0.0f;
    for (int t = 0; t < p->OH * p->OW; t++) y[t] = b;
  }
  for (int ih = c->p0 / W; ih <= (c->p1 - 1) / W; ih++) {
    int iw0 = ih * W < c->p0 ? c->p0 - ih * W : 0, iw1 = (ih + 1) * W > c->p1 ? c->p1 - ih * W : W;
    for (int i = 0; i < p->kh; i++) {
      int oh = ih * p->sh - p->pt + i * p->dh;
      if (oh < 0 || oh >= p->OH) continue;
      float* yr = y + (size_t)oh * p->OW;
      const float* cr = c->cols + (size_t)(ih * W - c->p0) * ncols + mm * taps + i * p->kw;
      for (int j = 0; j < p->kw; j++) {
        int ow = iw0 * p->sw + j * p->dw - p->pl;
        for (int iw = iw0; iw < iw1; iw++, ow += p->sw)
          if (ow >= 0 && ow < p->OW) yr[ow] += cr[(size_t)iw * ncols + j];
      }
    }
  }
  if (c->p1 == p->H * W && p->epi)
    p->epi(p->y + (size_t)c->img * p->M * p->OH * p->OW, p->OH * p->OW, c->img, m, m + 1, 0, p->OH * p->OW);
}

void wd_conv_transpose(const wd_conv_t* p, float* cols, int pix) {
  int Cg = p->C / p->group, Mg = p->M / p->group, ncols = Mg * p->kh * p->kw, HW = p->H * p->W;
  for (int img = 0; img < p->N; img++)
    for (int gi = 0; gi < p->group; gi++)
      for (int p0 = 0; p0 < HW; p0 += pix) {
        int p1 = p0 + pix < HW ? p0 + pix : HW;
        gemm_t g = {0};
        g.a = p->x + ((size_t)img * p->C + (size_t)gi * Cg) * HW + p0;
        g.lda = HW;
        g.a_trans = 1;
        g.b = p->w + (size_t)gi * Cg * ncols;
        g.ldb = ncols;
        g.c = cols; g.ldc = ncols;
        g.M = p1 - p0; g.N = ncols; g.K = Cg;
        gemm_run(&g);
        col2im_t c = {p, cols, img, gi, p0, p1};
        wd_parallel(Mg, col2im_task, &c);
      }
}

/* ---- Winograd F(4×4, 3×3) for 3×3 stride-1 convolutions (Lavin and Gray, "Fast Algorithms for
 * Convolutional Neural Networks", by Toom-Cook interpolation): a 6×6 input tile d and a 3×3 filter g meet in a 6×6 transformed
 * domain, Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, so a convolution becomes 36 independent products over the
 * channels, U[ξ][M, C] × V[ξ][C, tiles]: 4× fewer multiplications than the direct product. U is
 * computed once at load (36/9 the weights' size); V and the products live in the temporary buffer,
 * a chunk of tile rows at a time. Transforms run on 4 tiles at once (one per SIMD lane). */

/* The interpolation points are 0, 1, -1, -2, 1/2 (and infinity) rather than the usual 0, ±1, ±2:
 * smaller transform entries, about 2.4x less float32 rounding error (measured on random 256-channel
 * tiles: 1.9e-6 against 4.5e-6 of the largest output; the direct sum is ~2e-7). Every entry of Bᵀ
 * and Aᵀ is exact in binary; G's thirds and fifteenths are applied in double at load. */
#define WD_F4(x) wasm_f32x4_splat(x)
/* Bᵀ applied to six vectors: r[k] = sum over i of Bᵀ[k][i] d[i] */
#define WINO_BT(d, r)                                                                          \
  do {                                                                                         \
    f32x4 s4 = wasm_f32x4_add(d[4], d[0]);                                                     \
    r[0] = wasm_f32x4_add(wasm_f32x4_add(s4, wasm_f32x4_mul(WD_F4(1.5f), wasm_f32x4_sub(d[3], d[1]))), \
                          wasm_f32x4_mul(WD_F4(-2.0f), d[2]));                                 \
    r[1] = wasm_f32x4_add(wasm_f32x4_sub(d[4], d[1]),                                          \
                          wasm_f32x4_add(wasm_f32x4_mul(WD_F4(0.5f), d[2]), wasm_f32x4_mul(WD_F4(2.5f), d[3]))); \
    r[2] = wasm_f32x4_add(wasm_f32x4_add(d[4], d[1]),                                          \
                          wasm_f32x4_add(wasm_f32x4_mul(WD_F4(-2.5f), d[2]), wasm_f32x4_mul(WD_F4(0.5f), d[3]))); \
    r[3] = wasm_f32x4_add(wasm_f32x4_sub(d[4], d[2]), wasm_f32x4_mul(WD_F4(0.5f), wasm_f32x4_sub(d[1], d[3]))); \
    r[4] = wasm_f32x4_add(wasm_f32x4_sub(d[4], d[2]), wasm_f32x4_mul(WD_F4(2.0f), wasm_f32x4_sub(d[3], d[1]))); \
    r[5] = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(d[5], d[1]), wasm_f32x4_mul(WD_F4(-1.5f), d[2])), \
                          wasm_f32x4_add(wasm_f32x4_mul(WD_F4(-2.0f), d[3]), wasm_f32x4_mul(WD_F4(1.5f), d[4]))); \
  } while (0)

/* Aᵀ applied to six vectors: o[i] = sum over k of Aᵀ[i][k] s[k] */
#define WINO_AT(s, o)                                                                          \
  do {                                                                                         \
    f32x4 p12 = wasm_f32x4_add(s[1], s[2]), m12 = wasm_f32x4_sub(s[1], s[2]);                  \
    o[0] = wasm_f32x4_add(wasm_f32x4_add(s[0], p12), wasm_f32x4_add(s[3], s[4]));              \
    o[1] = wasm_f32x4_add(m12, wasm_f32x4_add(wasm_f32x4_mul(WD_F4(-2.0f), s[3]), wasm_f32x4_mul(WD_F4(0.5f), s[4]))); \
    o[2] = wasm_f32x4_add(p12, wasm_f32x4_add(wasm_f32x4_mul(WD_F4(4.0f), s[3]), wasm_f32x4_mul(WD_F4(0.25f), s[4]))); \
    o[3] = wasm_f32x4_add(wasm_f32x4_add(m12, s[5]),                                           \
                          wasm_f32x4_add(wasm_f32x4_mul(WD_F4(-8.0f), s[3]), wasm_f32x4_mul(WD_F4(0.125f), s[4]))); \
  } while (0)


/* u[ξ] = (G g Gᵀ)[ξ] for each filter g = w[m][c] (3×3), written straight into the GEMM's packed
 * layout (each ξ's [M, C] matrix as panels of 4 rows, [C][4], as wd_pack_a): one task per panel,
 * the panel's 4 filters of a channel in two double-precision SIMD pairs, a block of channels transformed into the
 * thread's scratch and then copied out one ξ at a time (contiguous stores). Runs once, at load. */
typedef struct { const float* w; float* u; int M, C; } wino_w_t;
#define WINO_CB 64

static const double G[6][3] = {{1, 0, 0}, {1.0 / 3, 1.0 / 3, 1.0 / 3}, {-1.0 / 3, 1.0 / 3, -1.0 / 3},
                               {1.0 / 15, -2.0 / 15, 4.0 / 15}, {-16.0 / 15, -8.0 / 15, -4.0 / 15}, {0, 0, 1}};

static void wino_weights_task(const void* arg, int panel, int tid) {
  const wino_w_t* q = (const wino_w_t*)arg;
  const int M = q->M, C = q->C, m0 = panel * 4, mr = M - m0 < 4 ? M - m0 : 4;
  f32x4* tmp = (f32x4*)wd_thread_scratch(tid); /* [WINO_CB][36] */
  for (int c0 = 0; c0 < C; c0 += WINO_CB) {
    int cb = C - c0 < WINO_CB ? C - c0 : WINO_CB;
    for (int c = 0; c < cb; c++) {
      /* in double (one rounding per value), rows 0-1 and 2-3 of the panel in two f64x2 halves */
      v128_t g[2][9], t[6][3];
      for (int e = 0; e < 9; e++) {
        double v[4];
        for (int i = 0; i < 4; i++) v[i] = i < mr ? q->w[((size_t)(m0 + i) * C + c0 + c) * 9 + e] : 0.0;
        g[0][e] = wasm_v128_load(v);
        g[1][e] = wasm_v128_load(v + 2);
      }
      v128_t half[2][36];
      for (int h = 0; h < 2; h++) {
        for (int i = 0; i < 6; i++)
          for (int j = 0; j < 3; j++)
            t[i][j] = wasm_f64x2_add(wasm_f64x2_add(wasm_f64x2_mul(wasm_f64x2_splat(G[i][0]), g[h][j]),
                                                    wasm_f64x2_mul(wasm_f64x2_splat(G[i][1]), g[h][3 + j])),
                                     wasm_f64x2_mul(wasm_f64x2_splat(G[i][2]), g[h][6 + j]));
        for (int i = 0; i < 6; i++)
          for (int j = 0; j < 6; j++)
            half[h][i * 6 + j] = wasm_f32x4_demote_f64x2_zero(wasm_f64x2_add(
                wasm_f64x2_add(wasm_f64x2_mul(t[i][0], wasm_f64x2_splat(G[j][0])), wasm_f64x2_mul(t[i][1], wasm_f64x2_splat(G[j][1]))),
                wasm_f64x2_mul(t[i][2], wasm_f64x2_splat(G[j][2]))));
      }
      for (int k = 0; k < 36; k++) tmp[c * 36 + k] = wasm_i32x4_shuffle(half[0][k], half[1][k], 0, 1, 4, 5);
    }
    for (int xi = 0; xi < 36; xi++) {
      float* dst = q->u + (size_t)xi * M * C + (size_t)m0 * C + (size_t)c0 * mr;
      if (mr == 4) {
        for (int c = 0; c < cb; c++) wasm_v128_store(dst + c * 4, tmp[c * 36 + xi]);
      } else {
        for (int c = 0; c < cb; c++) {
          float v[4];
          wasm_v128_store(v, tmp[c * 36 + xi]);
          for (int i = 0; i < mr; i++) dst[c * mr + i] = v[i];
        }
      }
    }
  }
}

void wd_winograd_weights(const float* w, float* u, int M, int C) {
  wino_w_t q = {w, u, M, C};
  wd_parallel((M + 3) / 4, wino_weights_task, &q);
}

typedef struct {
  const wd_conv_t* p; const float* u; float* v; float* mm;
  int img, TW, th0, th1, ntp, per;
  gemm_t g;
} wino_t;

/* V[ξ][c][tiles of the chunk] for one channel c */
static void wino_in_task(const void* arg, int c, int tid) {
  const wino_t* q = (const wino_t*)arg;
  const wd_conv_t* p = q->p;
  const int H = p->H, W = p->W, TW = q->TW, WB = (TW + 3) / 4 * 16 + 8, C = p->C, ntp = q->ntp;
  const float* x = p->x + ((size_t)q->img * C + c) * H * W;
  float* rows = wd_thread_scratch(tid); /* 6 input rows, columns from -pl, zero outside the image */
  float* t = rows + 6 * WB;             /* Bᵀ applied down the columns */
  int lo = p->pl < WB ? p->pl : WB, hi = p->pl + W < WB ? p->pl + W : WB;
  for (int th = q->th0; th < q->th1; th++) {
    for (int r = 0; r < 6; r++) {
      float* d = rows + r * WB;
      int ih = 4 * th - p->pt + r;
      if (ih < 0 || ih >= H) {
        zero_floats(d, WB);
        continue;
      }
      zero_floats(d, lo);
      copy_floats(d + lo, x + (size_t)ih * W + (lo - p->pl), hi - lo);
      if (hi < WB) zero_floats(d + hi, WB - hi);
    }
    for (int col = 0; col < WB; col += 4) {
      f32x4 d[6], r[6];
      for (int i = 0; i < 6; i++) d[i] = wasm_v128_load(rows + i * WB + col);
      WINO_BT(d, r);
      for (int k = 0; k < 6; k++) wasm_v128_store(t + k * WB + col, r[k]);
    }
    for (int tw = 0; tw < TW; tw += 4) {
      /* lanes are tiles tw..tw+3; stores past the row's last tile land on the next row's tiles
       * (written after, by this task) or in the row padding (ntp) */
      float* dst = q->v + (size_t)c * ntp + (size_t)(th - q->th0) * TW + tw;
      for (int k = 0; k < 6; k++) {
        const float* s = t + k * WB + 4 * tw;
        f32x4 q0 = wasm_v128_load(s), q1 = wasm_v128_load(s + 4), q2 = wasm_v128_load(s + 8);
        f32x4 q3 = wasm_v128_load(s + 12), q4 = wasm_v128_load(s + 16);
        f32x4 col[6], r[6];
        WD_TRANSPOSE4(q0, q1, q2, q3, col);
        f32x4 a = wasm_i32x4_shuffle(q1, q2, 0, 1, 4, 5), b = wasm_i32x4_shuffle(q3, q4, 0, 1, 4, 5);
        col[4] = wasm_i32x4_shuffle(a, b, 0, 2, 4, 6);
        col[5] = wasm_i32x4_shuffle(a, b, 1, 3, 5, 7);
        WINO_BT(col, r);
        for (int l = 0; l < 6; l++) wasm_v128_store(dst + (size_t)(k * 6 + l) * C * ntp, r[l]);
      }
    }
  }
}

static void wino_gemm_task(const void* arg, int t, int tid) {
  const wino_t* q = (const wino_t*)arg;
  int xi = t / q->per;
  gemm_t g = q->g;
  g.a = q->u + (size_t)xi * g.M * g.K;
  g.b = q->v + (size_t)xi * g.K * q->ntp;
  g.c = q->mm + (size_t)xi * g.M * q->ntp;
  gemm_task(&g, t - xi * q->per, tid);
}

/* output plane m over the chunk's tile rows: Y = Aᵀ Mξ A + bias, then the epilogue */
static void wino_out_task(const void* arg, int m, int tid) {
  (void)tid;
  const wino_t* q = (const wino_t*)arg;
  const wd_conv_t* p = q->p;
  const int OH = p->OH, OW = p->OW, TW = q->TW, M = p->M, ntp = q->ntp;
  f32x4 bias = wasm_f32x4_splat(p->bias ? p->bias[m] : 0.0f);
  float* y = p->y + ((size_t)q->img * M + m) * OH * OW;
  for (int th = q->th0; th < q->th1; th++)
    for (int tw = 0; tw < TW; tw += 4) {
      const float* s = q->mm + (size_t)m * ntp + (size_t)(th - q->th0) * TW + tw;
      f32x4 b[6][4];
      for (int k = 0; k < 6; k++) {
        f32x4 row[6];
        for (int l = 0; l < 6; l++) row[l] = wasm_v128_load(s + (size_t)(k * 6 + l) * M * ntp);
        WINO_AT(row, b[k]);
      }
      for (int i = 0; i < 4; i++) {
        int oh = 4 * th + i;
        if (oh >= OH) break;
        f32x4 o[4], col[6], out[4];
        for (int j = 0; j < 4; j++) {
          for (int k = 0; k < 6; k++) col[k] = b[k][j];
          f32x4 r[4];
          WINO_AT(col, r);
          o[j] = wasm_f32x4_add(r[i], bias);
        }
        WD_TRANSPOSE4(o[0], o[1], o[2], o[3], out);
        float* yr = y + (size_t)oh * OW;
        for (int L = 0; L < 4 && tw + L < TW; L++) {
          int ow = 4 * (tw + L);
          if (ow + 4 <= OW) {
            wasm_v128_store(yr + ow, out[L]);
          } else {
            float tmp[4];
            wasm_v128_store(tmp, out[L]);
            for (int j = 0; ow + j < OW; j++) yr[ow + j] = tmp[j];
          }
        }
      }
    }
  if (p->epi) {
    int r1 = 4 * q->th1 < OH ? 4 * q->th1 : OH;
    p->epi(p->y + (size_t)q->img * M * OH * OW, OH * OW, q->img, m, m + 1, 4 * q->th0 * OW, r1 * OW);
  }
}

void wd_winograd(const wd_conv_t* p, const float* u, float* work, int rows) {
  const int C = p->C, M = p->M, TH = (p->OH + 3) / 4, TW = (p->OW + 3) / 4;
  const int ntp = (rows * TW + 4 + 3) / 4 * 4;
  for (int img = 0; img < p->N; img++)
    for (int th0 = 0; th0 < TH; th0 += rows) {
      wino_t q = {0};
      q.p = p; q.u = u; q.v = work; q.mm = work + (size_t)36 * C * ntp;
      q.img = img; q.TW = TW; q.th0 = th0; q.th1 = th0 + rows < TH ? th0 + rows : TH; q.ntp = ntp;
      int nt = (q.th1 - th0) * TW;
      wd_parallel(C, wino_in_task, &q);
      q.g.a_packed = 1; q.g.lda = C; q.g.ldb = ntp; q.g.ldc = ntp;
      q.g.M = M; q.g.N = nt; q.g.K = C;
      q.g.mb = 1; q.g.mc = (M + 3) / 4 * 4;
      q.per = (nt + WD_NC - 1) / WD_NC;
      wd_parallel(36 * q.per, wino_gemm_task, &q);
      wd_parallel(M, wino_out_task, &q);
    }
}

/* ---- Winograd F(4×4, 3×3) on 8-bit weights (--weights int8): the same transforms, the 36 products in
 * integers. U = G g Gᵀ of the int8 weights (in double) is quantized per (ξ, output channel) and the
 * transformed inputs V per (ξ, tile), both to 13 bits (|q| <= 8191): the transformed domain mixes
 * the 9 weights of a filter, and 8 bits there would add several times the int8 weights' own error;
 * at 13 bits it adds about a sixth of it. wd_q8_panel_wide sums 32 channels in int32 at a time. */
#define WINO_Q 8191.0f

typedef struct { const float* w; const char* stored; int16_t* u; int M, C, MP, KP; } wino_q8w_t;

/* output channels 4p..4p+3: each one's 36 transformed filters over all channels (in the thread's
 * scratch, 36 * C floats), a scale per ξ, then int16 k-pairs into panel p of every ξ */
static void wino_q8_weights_task(const void* arg, int panel, int tid) {
  const wino_q8w_t* q = (const wino_q8w_t*)arg;
  const int C = q->C, KP = q->KP;
  float* u = wd_thread_scratch(tid);
  float* scales = (float*)(q->u + (size_t)36 * q->MP * KP * 2);
  for (int r = 0; r < 4; r++) {
    int m = panel * 4 + r;
    for (int c = 0; c < C; c++) {
      double g[9], t[6][3];
      for (int e = 0; e < 9; e++) {
        size_t at = ((size_t)m * C + c) * 9 + e;
        if (m >= q->M) g[e] = 0;
        else if (q->stored) g[e] = (double)((const int8_t*)(q->stored + 4 * (size_t)q->M))[at] * ((const float*)q->stored)[m];
        else g[e] = q->w[at];
      }
      for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
      for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) u[(i * 6 + j) * C + c] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
    }
    for (int xi = 0; xi < 36; xi++) {
      const float* row = u + (size_t)xi * C;
      float peak = 0.0f;
      for (int c = 0; c < C; c++) peak = __builtin_fabsf(row[c]) > peak ? __builtin_fabsf(row[c]) : peak;
      float sc = peak > 0 ? peak / WINO_Q : 0.0f, inv = peak > 0 ? WINO_Q / peak : 0.0f;
      scales[(size_t)xi * q->MP + m] = sc;
      int16_t* d = q->u + (size_t)xi * q->MP * KP * 2 + (size_t)panel * KP * 8 + r * 2;
      for (int k = 0; k < 2 * KP; k++) d[(size_t)(k >> 1) * 8 + (k & 1)] = (int16_t)(k < C ? __builtin_rintf(row[k] * inv) : 0);
    }
  }
}

/* w: the float weights [M][C][3][3], or stored: as --weights int8 stores them (axis 0). u: for each ξ, panels
 * of 4 output channels of int16 channel pairs [M/4][C/2][4][2]; then the scales [36][M rounded up to 4]. */
static void wino_q8_weights(const float* w, const char* stored, int M, int C, int16_t* u) {
  wino_q8w_t q = {w, stored, u, M, C, (M + 3) / 4 * 4, (C + 1) / 2};
  wd_parallel((M + 3) / 4, wino_q8_weights_task, &q);
}
void wd_q8_winograd_weights(const float* w, int M, int C, int16_t* u) { wino_q8_weights(w, 0, M, C, u); }
void wd_q8_winograd_weights_stored(const char* stored, int M, int C, int16_t* u) { wino_q8_weights(0, stored, M, C, u); }

typedef struct { const wino_t* q; const int16_t* u; int16_t* vq; float* vs; int nt, groups, rb, cb, MP, KP; } wino_q8_t;

/* ξ = t / groups: tiles [64 g, 64 g + 64) of V[ξ] as slivers of 8 tiles of int16 channel pairs, a scale per tile */
static void wino_q8_quantize_task(const void* arg, int t, int tid) {
  (void)tid;
  const wino_q8_t* z = (const wino_q8_t*)arg;
  const int C = z->q->p->C, ntp = z->q->ntp, xi = t / z->groups, n0 = (t - xi * z->groups) * 64;
  const float* v = z->q->v + (size_t)xi * C * ntp;
  int16_t* vq = z->vq + (size_t)xi * ntp * z->KP * 2;
  for (int n = n0; n < n0 + 64 && n < z->nt; n += 8)
    wd_q8_quantize8(v + n, ntp, C, z->KP, WINO_Q, vq + (size_t)(n / 8) * z->KP * 16, z->vs + (size_t)xi * ntp + n);
}

/* ξ, a block of 32 output channels and one of 64 tiles: Mξ = Uξ × Vξ into q->mm */
static void wino_q8_gemm_task(const void* arg, int t, int tid) {
  (void)tid;
  const wino_q8_t* z = (const wino_q8_t*)arg;
  const int M = z->q->p->M, ntp = z->q->ntp, KP = z->KP, per = z->rb * z->cb;
  int xi = t / per, b = t - xi * per, cb = b / z->rb, rb = b - cb * z->rb;
  int m0 = rb * 32, m1 = m0 + 32 < M ? m0 + 32 : M, n0 = cb * 64, n1 = n0 + 64 < z->nt ? n0 + 64 : z->nt;
  const int16_t* u = z->u + (size_t)xi * z->MP * KP * 2;
  const float* us = (const float*)(z->u + (size_t)36 * z->MP * KP * 2) + (size_t)xi * z->MP;
  const int16_t* vq = z->vq + (size_t)xi * ntp * KP * 2;
  float* mm = z->q->mm + (size_t)xi * M * ntp;
  for (int m = m0; m < m1; m += 4)
    for (int n = n0; n < n1; n += 8)
      wd_q8_panel_wide(u + (size_t)(m / 4) * KP * 8, vq + (size_t)(n / 8) * KP * 16, KP, mm + (size_t)m * ntp + n, ntp,
                       m1 - m < 4 ? m1 - m : 4, n1 - n < 8 ? n1 - n : 8, us + m, z->vs + (size_t)xi * ntp + n);
}

void wd_q8_winograd(const wd_conv_t* p, const int16_t* u, void* work, int rows) {
  const int C = p->C, M = p->M, TH = (p->OH + 3) / 4, TW = (p->OW + 3) / 4;
  const int ntp = (rows * TW + 4 + 7) / 8 * 8, KP = (C + 1) / 2;
  float* v = (float*)work;
  wino_q8_t z;
  z.u = u; z.MP = (M + 3) / 4 * 4; z.KP = KP;
  z.vq = (int16_t*)(v + (size_t)36 * (C + M) * ntp);
  z.vs = (float*)(z.vq + (size_t)36 * ntp * KP * 2);
  for (int img = 0; img < p->N; img++)
    for (int th0 = 0; th0 < TH; th0 += rows) {
      wino_t q = {0};
      q.p = p; q.v = v; q.mm = v + (size_t)36 * C * ntp;
      q.img = img; q.TW = TW; q.th0 = th0; q.th1 = th0 + rows < TH ? th0 + rows : TH; q.ntp = ntp;
      z.q = &q;
      z.nt = (q.th1 - th0) * TW;
      z.groups = (z.nt + 63) / 64; z.cb = z.groups; z.rb = (M + 31) / 32;
      wd_parallel(C, wino_in_task, &q);
      wd_parallel(36 * z.groups, wino_q8_quantize_task, &z);
      wd_parallel(36 * z.rb * z.cb, wino_q8_gemm_task, &z);
      wd_parallel(M, wino_out_task, &q);
    }
}

/* ---- products with 4-bit weights (q4_t): B stays 4-bit in memory ---- */
typedef struct { const float* a; const q4_t* q; float* c; int M, N, K, cols; wd_epi_fn epi; int img, a8; } q4v_t;

/* One row of A for the 4-bit GEMV: per block of `blk` values, a scale (its largest magnitude / 32767) and the
 * values as 16-bit integers of it, the even k apart from the odd ones (the nibbles' order: ev[i] = a[2i],
 * od[i] = a[2i + 1]), and their sum per block (the zero points' share). 16 bits keep A within 1/65534 of each
 * block's largest value: float-product accuracy, at integer dot-product speed. */
static void q4_gemv_prep(const float* a, int K, int blk, int16_t* ev, int16_t* od, float* ascale, float* asum) {
  for (int b = 0; b < K / blk; b++) {
    const float* x = a + (size_t)b * blk;
    f32x4 mx = wasm_f32x4_splat(0.0f);
    for (int k = 0; k < blk; k += 4) mx = wasm_f32x4_max(mx, wasm_f32x4_abs(wasm_v128_load(x + k)));
    float peak = wasm_f32x4_extract_lane(mx, 0);
    for (int l = 1; l < 4; l++) {
      float v = l == 1 ? wasm_f32x4_extract_lane(mx, 1) : l == 2 ? wasm_f32x4_extract_lane(mx, 2) : wasm_f32x4_extract_lane(mx, 3);
      peak = v > peak ? v : peak;
    }
    float scale = peak > 0.0f ? peak / 32767.0f : 0.0f, inv = peak > 0.0f ? 32767.0f / peak : 0.0f;
    ascale[b] = scale;
    const f32x4 vi = wasm_f32x4_splat(inv);
    v128_t sum = wasm_i32x4_splat(0);
    for (int k = 0; k < blk; k += 16) {
      /* 16 values -> 8 even, 8 odd, as int16 */
      f32x4 p0 = wasm_v128_load(x + k), p1 = wasm_v128_load(x + k + 4), p2 = wasm_v128_load(x + k + 8), p3 = wasm_v128_load(x + k + 12);
      f32x4 e0 = wasm_i32x4_shuffle(p0, p1, 0, 2, 4, 6), o0 = wasm_i32x4_shuffle(p0, p1, 1, 3, 5, 7);
      f32x4 e1 = wasm_i32x4_shuffle(p2, p3, 0, 2, 4, 6), o1 = wasm_i32x4_shuffle(p2, p3, 1, 3, 5, 7);
      v128_t ie0 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(e0, vi)));
      v128_t ie1 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(e1, vi)));
      v128_t io0 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(o0, vi)));
      v128_t io1 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(o1, vi)));
      sum = wasm_i32x4_add(sum, wasm_i32x4_add(wasm_i32x4_add(ie0, ie1), wasm_i32x4_add(io0, io1)));
      wasm_v128_store(ev + (size_t)(b * blk + k) / 2, wasm_i16x8_narrow_i32x4(ie0, ie1));
      wasm_v128_store(od + (size_t)(b * blk + k) / 2, wasm_i16x8_narrow_i32x4(io0, io1));
    }
    asum[b] = (float)(wasm_i32x4_extract_lane(sum, 0) + wasm_i32x4_extract_lane(sum, 1) + wasm_i32x4_extract_lane(sum, 2) +
                      wasm_i32x4_extract_lane(sum, 3));
  }
}

/* a column's 16 nibbles (8 bytes at p: k, k+1 in byte k/2) times A's 16-bit values there: 32-bit partial sums */
WD_INLINE v128_t q4_dot16(const uint8_t* p, int sym, v128_t e, v128_t o) {
  v128_t v = wasm_v128_load64_zero(p);
  if (sym) v = wasm_v128_xor(v, wasm_i8x16_splat((int8_t)0x88));
  v128_t lo = wasm_u16x8_extend_low_u8x16(wasm_v128_and(v, wasm_i8x16_splat(15)));
  v128_t hi = wasm_u16x8_extend_low_u8x16(wasm_u8x16_shr(v, 4));
  return wasm_i32x4_add(wasm_i32x4_dot_i16x8(lo, e), wasm_i32x4_dot_i16x8(hi, o));
}

/* the same for 32 nibbles (16 bytes) */
WD_INLINE v128_t q4_dot32(const uint8_t* p, int sym, v128_t e0, v128_t e1, v128_t o0, v128_t o1) {
  v128_t v = wasm_v128_load(p);
  if (sym) v = wasm_v128_xor(v, wasm_i8x16_splat((int8_t)0x88));
  v128_t lo = wasm_v128_and(v, wasm_i8x16_splat(15)), hi = wasm_u8x16_shr(v, 4);
  v128_t d = wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_u16x8_extend_low_u8x16(lo), e0),
                            wasm_i32x4_dot_i16x8(wasm_u16x8_extend_high_u8x16(lo), e1));
  return wasm_i32x4_add(d, wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_u16x8_extend_low_u8x16(hi), o0),
                                          wasm_i32x4_dot_i16x8(wasm_u16x8_extend_high_u8x16(hi), o1)));
}

/* 4 half floats -> float32: the bits moved into float32's places, times 2^112 (the exponents' bias apart; right for
 * subnormal halves too; a scale is finite) */
WD_INLINE f32x4 q4_halves4(const uint16_t* h) {
  v128_t v = wasm_u32x4_extend_low_u16x8(wasm_v128_load64_zero(h));
  v128_t mag = wasm_i32x4_shl(wasm_v128_and(v, wasm_i32x4_splat(0x7fff)), 13);
  f32x4 f = wasm_f32x4_mul(mag, wasm_f32x4_splat(5.192296858534828e+33f));
  return wasm_v128_or(f, wasm_i32x4_shl(wasm_v128_and(v, wasm_i32x4_splat(0x8000)), 16));
}

/* 4 blocks' scales from b (q->hscales or fscales) */
WD_INLINE f32x4 q4_scales4(const q4_t* q, size_t b) {
  return q->fscales ? wasm_v128_load(q->fscales + b) : q4_halves4(q->hscales + b);
}

/* column's integer dot products with A over one block (32-bit lanes to add) */
WD_INLINE void q4_block_dots(const uint8_t* c0, const uint8_t* c1, const int16_t* ev, const int16_t* od, int k, int blk,
                             int sym, v128_t* d0, v128_t* d1) {
  v128_t x0 = wasm_i32x4_splat(0), x1 = x0;
  if (blk % 32 == 0) {
    for (int j = k; j < k + blk; j += 32) {
      const v128_t e0 = wasm_v128_load(ev + j / 2), e1 = wasm_v128_load(ev + j / 2 + 8);
      const v128_t o0 = wasm_v128_load(od + j / 2), o1 = wasm_v128_load(od + j / 2 + 8);
      x0 = wasm_i32x4_add(x0, q4_dot32(c0 + j / 2, sym, e0, e1, o0, o1));
      x1 = wasm_i32x4_add(x1, q4_dot32(c1 + j / 2, sym, e0, e1, o0, o1));
    }
  } else {
    for (int j = k; j < k + blk; j += 16) {
      const v128_t e = wasm_v128_load(ev + j / 2), o = wasm_v128_load(od + j / 2);
      x0 = wasm_i32x4_add(x0, q4_dot16(c0 + j / 2, sym, e, o));
      x1 = wasm_i32x4_add(x1, q4_dot16(c1 + j / 2, sym, e, o));
    }
  }
  *d0 = x0; *d1 = x1;
}


#ifdef __wasm_relaxed_simd__
/* A row as 8-bit integers per block (scale: the block's largest magnitude / 127), even k apart from odd ones
 * (ev[i] = a[2i], od[i] = a[2i + 1]), and their sum per block: the 8-bit operand of the relaxed dot product,
 * whose 7-bit operand is the nibbles (0..15) */
static void q4_gemv_prep8(const float* a, int K, int blk, int8_t* ev, int8_t* od, float* ascale, float* asum) {
  for (int b = 0; b < K / blk; b++) {
    const float* x = a + (size_t)b * blk;
    f32x4 mx = wasm_f32x4_splat(0.0f);
    for (int k = 0; k < blk; k += 4) mx = wasm_f32x4_max(mx, wasm_f32x4_abs(wasm_v128_load(x + k)));
    mx = wasm_f32x4_max(mx, wasm_i32x4_shuffle(mx, mx, 2, 3, 0, 1));
    mx = wasm_f32x4_max(mx, wasm_i32x4_shuffle(mx, mx, 1, 0, 3, 2));
    float peak = wasm_f32x4_extract_lane(mx, 0);
    ascale[b] = peak > 0.0f ? peak / 127.0f : 0.0f;
    const f32x4 vi = wasm_f32x4_splat(peak > 0.0f ? 127.0f / peak : 0.0f);
    v128_t sum = wasm_i32x4_splat(0);
    for (int k = 0; k < blk; k += 16) {
      f32x4 p0 = wasm_v128_load(x + k), p1 = wasm_v128_load(x + k + 4), p2 = wasm_v128_load(x + k + 8), p3 = wasm_v128_load(x + k + 12);
      v128_t e0 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_i32x4_shuffle(p0, p1, 0, 2, 4, 6), vi)));
      v128_t e1 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_i32x4_shuffle(p2, p3, 0, 2, 4, 6), vi)));
      v128_t o0 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_i32x4_shuffle(p0, p1, 1, 3, 5, 7), vi)));
      v128_t o1 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_i32x4_shuffle(p2, p3, 1, 3, 5, 7), vi)));
      sum = wasm_i32x4_add(sum, wasm_i32x4_add(wasm_i32x4_add(e0, e1), wasm_i32x4_add(o0, o1)));
      v128_t e16 = wasm_i16x8_narrow_i32x4(e0, e1), o16 = wasm_i16x8_narrow_i32x4(o0, o1);
      wasm_v128_store64_lane(ev + (size_t)(b * blk + k) / 2, wasm_i8x16_narrow_i16x8(e16, e16), 0);
      wasm_v128_store64_lane(od + (size_t)(b * blk + k) / 2, wasm_i8x16_narrow_i16x8(o16, o16), 0);
    }
    asum[b] = (float)(wasm_i32x4_extract_lane(sum, 0) + wasm_i32x4_extract_lane(sum, 1) +
                      wasm_i32x4_extract_lane(sum, 2) + wasm_i32x4_extract_lane(sum, 3));
  }
}

/* one block's relaxed dot products of two columns with A's 8-bit values: 32 nibbles per 16-byte load (16 from
 * 8 bytes for a block of 16: the loads' upper halves are zero nibbles) */
WD_INLINE void q4_block_dots8(const uint8_t* c0, const uint8_t* c1, const int8_t* ev, const int8_t* od, int k, int blk,
                              int sym, v128_t* d0, v128_t* d1) {
  v128_t x0 = wasm_i32x4_splat(0), x1 = x0;
  const v128_t low = wasm_i8x16_splat(15), flip = wasm_i8x16_splat((int8_t)0x88);
  for (int j = k; j < k + blk; j += 32) {
    const int whole = j + 32 <= k + blk;
    v128_t v0 = whole ? wasm_v128_load(c0 + j / 2) : wasm_v128_load64_zero(c0 + j / 2);
    v128_t v1 = whole ? wasm_v128_load(c1 + j / 2) : wasm_v128_load64_zero(c1 + j / 2);
    if (sym) {
      v0 = wasm_v128_xor(v0, flip);
      v1 = wasm_v128_xor(v1, flip);
      if (!whole) { v0 = wasm_i64x2_replace_lane(v0, 1, 0); v1 = wasm_i64x2_replace_lane(v1, 1, 0); }
    }
    const v128_t e = wasm_v128_load(ev + j / 2), o = wasm_v128_load(od + j / 2);
    x0 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(e, wasm_v128_and(v0, low), x0);
    x0 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(o, wasm_u8x16_shr(v0, 4), x0);
    x1 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(e, wasm_v128_and(v1, low), x1);
    x1 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(o, wasm_u8x16_shr(v1, 4), x1);
  }
  *d0 = x0; *d1 = x1;
}

#define Q4_A8 1
#else
#define Q4_A8 0
#endif

/* one block's integer dot products of two columns with A: 8-bit A (a8, the relaxed-SIMD build) or 16-bit */
WD_INLINE void q4_dots(int a8, const uint8_t* c0, const uint8_t* c1, const char* ev, const char* od, int k, int blk,
                       int sym, v128_t* d0, v128_t* d1) {
#if Q4_A8
  if (a8) {
    q4_block_dots8(c0, c1, (const int8_t*)ev, (const int8_t*)od, k, blk, sym, d0, d1);
    return;
  }
#endif
  q4_block_dots(c0, c1, (const int16_t*)ev, (const int16_t*)od, k, blk, sym, d0, d1);
}

WD_INLINE int32_t q4_hsum(v128_t d) {
  return wasm_i32x4_extract_lane(d, 0) + wasm_i32x4_extract_lane(d, 1) + wasm_i32x4_extract_lane(d, 2) +
         wasm_i32x4_extract_lane(d, 3);
}

WD_INLINE float q4_hsumf(f32x4 v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

/* M < 4 rows: per row, A as integers per block (q4_gemv_prep: 16 bits; q4_gemv_prep8: 8, where g->a8 and the
 * build has relaxed SIMD); per column and block, the integer dot product of nibbles and A (no value of either
 * converted to float), then scale_w x scale_a x (dot - zero x sum(A)), the scales of 4 blocks at a time */
static void q4_gemv_task(const void* arg, int t, int tid) {
  const q4v_t* g = (const q4v_t*)arg;
  const q4_t* q = g->q;
  const int N = g->N, K = g->K, blk = q->block, per = K / blk, sym = q->zeros == 0, per4 = per & ~3;
  const int a8 = Q4_A8 && g->a8;
  int n0 = t * g->cols, n1 = n0 + g->cols < N ? n0 + g->cols : N;
  /* A's even k, its odd k (K / 2 values each, of 1 or 2 bytes), a scale and a sum per block; 16 bytes past the
   * 8-bit values: a block of 16 loads 16 bytes of A from its 8 */
  char* ev = (char*)wd_thread_scratch(tid);
  char* od = ev + (a8 ? K / 2 : K);
  float* ascale = (float*)(od + (a8 ? K / 2 + 16 : K));
  float* asum = ascale + per;
  for (int m = 0; m < g->M; m++) {
#if Q4_A8
    if (a8) q4_gemv_prep8(g->a + (size_t)m * K, K, blk, (int8_t*)ev, (int8_t*)od, ascale, asum);
    else
#endif
      q4_gemv_prep(g->a + (size_t)m * K, K, blk, (int16_t*)ev, (int16_t*)od, ascale, asum);
    float* c = g->c + (size_t)m * N;
    /* two columns at a time (each of A's vectors loaded once for both) */
    for (int n = n0; n < n1; n += 2) {
      const int two = n + 1 < n1;
      const uint8_t* c0 = q->vals + (size_t)n * K / 2;
      const uint8_t* c1 = two ? c0 + K / 2 : c0;
      const size_t s0 = (size_t)n * per, s1 = two ? s0 + per : s0;
      f32x4 acc0 = wasm_f32x4_splat(0.0f), acc1 = acc0, cor0 = acc0, cor1 = acc0;
      v128_t d0, d1;
      for (int b = 0; b < per4; b += 4) {
        const f32x4 as = wasm_v128_load(ascale + b), am = wasm_v128_load(asum + b);
        const f32x4 sc0 = wasm_f32x4_mul(q4_scales4(q, s0 + b), as), sc1 = wasm_f32x4_mul(q4_scales4(q, s1 + b), as);
        f32x4 z0 = wasm_f32x4_splat(8.0f), z1 = z0;
        if (!sym) {
          z0 = wasm_f32x4_make(q4_zero(q, s0 + b), q4_zero(q, s0 + b + 1), q4_zero(q, s0 + b + 2), q4_zero(q, s0 + b + 3));
          z1 = wasm_f32x4_make(q4_zero(q, s1 + b), q4_zero(q, s1 + b + 1), q4_zero(q, s1 + b + 2), q4_zero(q, s1 + b + 3));
        }
        cor0 = WD_MADD(cor0, sc0, wasm_f32x4_mul(z0, am));
        cor1 = WD_MADD(cor1, sc1, wasm_f32x4_mul(z1, am));
#define Q4_BLOCK(i)                                                                                   \
  q4_dots(a8, c0, c1, ev, od, (b + i) * blk, blk, sym, &d0, &d1);                                     \
  acc0 = WD_MADD(acc0, wasm_f32x4_convert_i32x4(d0), wasm_i32x4_shuffle(sc0, sc0, i, i, i, i));       \
  acc1 = WD_MADD(acc1, wasm_f32x4_convert_i32x4(d1), wasm_i32x4_shuffle(sc1, sc1, i, i, i, i));
        Q4_BLOCK(0) Q4_BLOCK(1) Q4_BLOCK(2) Q4_BLOCK(3)
#undef Q4_BLOCK
      }
      float r0 = q4_hsumf(wasm_f32x4_sub(acc0, cor0)), r1 = q4_hsumf(wasm_f32x4_sub(acc1, cor1));
      for (int b = per4; b < per; b++) {  /* blocks past the last 4 */
        q4_dots(a8, c0, c1, ev, od, b * blk, blk, sym, &d0, &d1);
        r0 += q4_scale(q, s0 + b) * ascale[b] * ((float)q4_hsum(d0) - q4_zero(q, s0 + b) * asum[b]);
        r1 += q4_scale(q, s1 + b) * ascale[b] * ((float)q4_hsum(d1) - q4_zero(q, s1 + b) * asum[b]);
      }
      c[n] = r0;
      if (two) c[n + 1] = r1;
    }
  }
  if (g->epi) g->epi(g->c, N, g->img, 0, g->M, n0, n1);
}

/* c_i = a_i B for each product i of the batch (rows at a + a_off[i]), B 4-bit (q4_t: vals, scales, zeros as
 * encoding.py stores them; f32_scales: float scales, else half): fewer than 4 rows by q4_gemv_task, more by
 * the GEMM with B decoded chunk by chunk into slivers in each task's scratch. a8: the GEMV may take A in 8 bits
 * per block (the relaxed-SIMD build does: 8-bit x 4-bit dot products), else 16. */
void wd_matmul_q4(const float* a, const char* stored, float* c, int M, int N, int K, int batch, const int32_t* a_off,
                  int block, int f32_scales, int zeros, int a8, wd_epi_fn epi) {
  size_t blocks = (size_t)N * K / block, head = blocks * (f32_scales ? 4 : 2);
  q4_t q = {0};
  if (f32_scales) q.fscales = (const float*)stored; else q.hscales = (const uint16_t*)stored;
  if (zeros) q.zeros = (const uint8_t*)stored + head;
  q.vals = (const uint8_t*)stored + head + (zeros ? (blocks + 1) / 2 : 0);
  q.block = block;
  for (int i = 0; i < batch; i++) {
    if (M < 4) {
      int cols = gemv_cols(N);
      q4v_t g = {a + a_off[i], &q, c + (size_t)i * M * N, M, N, K, cols, epi, i, a8};
      wd_parallel((N + cols - 1) / cols, q4_gemv_task, &g);
      continue;
    }
    gemm_t g = {0};
    g.a = a + a_off[i]; g.lda = K;
    g.q4 = &q; g.ldb = N;
    g.c = c + (size_t)i * M * N; g.ldc = N;
    g.M = M; g.N = N; g.K = K;
    g.epi = epi; g.y_epi = g.c; g.img = i; g.m_off = 0;
    gemm_run(&g);
  }
}
