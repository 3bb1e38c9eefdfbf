/* Products with 8-bit weights (--weights int8): C[M, N] = A[M, K] × B[K, N] where B is a constant
 * quantized at load to int8 with one scale per column (the output channel; the converter stores
 * int8 weights along that axis, so this reproduces the stored values exactly) and A is quantized
 * as the product runs, one scale per row, to as many bits as the int32 sums allow (up to 16:
 * K * 127 * qmax < 2^31), so nearly all of the error is the weights' own.
 *
 * The inner loop is i32x4.dot_i16x8_s (two products and a sum per lane, exact, the same on every
 * engine): B is kept as int8 and widened by its load (i16x8.load8x8), A as int16 pairs. It runs
 * ~1.4x the multiply-adds per second of the float GEMM with relaxed SIMD, ~1.9x without. */
#include "wdnn.h"

#define QNR 8       /* columns per sliver (two i32x4 accumulators per row) */
#define QCOLS 64    /* columns per task */
#define QROWS 32    /* rows per task */

WD_INLINE int kpairs(int K) { return (K + 1) >> 1; }

/* The relaxed-SIMD build multiplies with i32x4.relaxed_dot_i8x16_i7x16_add_s where it can: four int8
 * weights times four activations quantized to 0..127 (7 bits with a zero point, the operand's range
 * that every engine computes alike) and the lane's sum, per lane: twice the products of dot_i16x8_s
 * per instruction. See the convolutions' part below for the arithmetic. */
#ifdef __wasm_relaxed_simd__
#define Q7 1
#else
#define Q7 0
#endif
WD_INLINE int kquads(int K) { return (K + 3) >> 2; }

/* The symmetric 8-bit scale of one channel of a float weight (n values, `stride` apart): its largest
 * magnitude / 127, or 1 for a channel of whole numbers within ±127 (kept exactly, as encoding._int8
 * stores them) or of zeros; and a value in it, rounded to -127..127. */
static float channel_scale(const float* src, size_t stride, int n) {
  float peak = 0.0f;
  int whole = 1;
  for (int j = 0; j < n; j++) {
    float v = src[(size_t)j * stride];
    whole &= v == __builtin_rintf(v);
    v = v < 0 ? -v : v;
    if (v > peak) peak = v;
  }
  return peak > 0 && !(whole && peak <= 127.0f) ? peak / 127.0f : 1.0f;
}
WD_INLINE int to_q8(float v, float s) {
  int q = (int)__builtin_rintf(v / s);
  return q > 127 ? 127 : q < -127 ? -127 : q;
}

/* where value k of a sliver's / panel's channel goes: k-pairs of `width` channels, [K/2][width][2] */
WD_INLINE size_t pair_at(int k, int width) { return (size_t)(k >> 1) * width * 2 + (k & 1); }

/* where B's value (k, n) goes with relaxed SIMD: slivers of 8 columns of 4-value groups, [N/8][K/4][8][4] */
WD_INLINE size_t quad_at(int KQ, int n, int k) {
  return (size_t)(n / QNR) * KQ * QNR * 4 + (size_t)(k >> 2) * QNR * 4 + (n % QNR) * 4 + (k & 3);
}

/* B[K, N] (row-major floats) -> slivers of 8 columns, [N/8][K/2][8][2] int8 (k-pairs interleaved, zero
 * padded), then one float scale per column (padded columns 0); with relaxed SIMD [N/8][K/4][8][4] int8,
 * the scales, then each column's int32 sum of values. The sizes: emit.q8_weight_bytes. */
void wd_q8_weights(const float* b, int K, int N, int8_t* dst) {
  const int NP = (N + QNR - 1) / QNR * QNR, KP = kpairs(K), KQ = kquads(K);
  float* scales = (float*)(dst + (Q7 ? (size_t)NP * KQ * 4 : (size_t)NP * KP * 2));
  int32_t* sums = (int32_t*)(scales + NP);
  for (int n = 0; n < NP; n++) {
    float sc = n < N ? channel_scale(b + n, (size_t)N, K) : 0.0f;
    scales[n] = sc;
    if (Q7) {
      int sum = 0;
      for (int k = 0; k < 4 * KQ; k++) {
        int v = n < N && k < K ? to_q8(b[(size_t)k * N + n], sc) : 0;
        dst[quad_at(KQ, n, k)] = (int8_t)v;
        sum += v;
      }
      sums[n] = sum;
      continue;
    }
    int8_t* d = dst + (size_t)(n / QNR) * KP * QNR * 2 + (n % QNR) * 2;
    for (int k = 0; k < 2 * KP; k++) d[pair_at(k, QNR)] = (int8_t)(n < N && k < K ? to_q8(b[(size_t)k * N + n], sc) : 0);
  }
}

/* The same from B as --weights int8 stores it along its columns (axis 1): [scales f32 x N][int8 x K x N]:
 * the values as they are, no float copy. */
void wd_q8_weights_stored(const char* stored, int K, int N, int8_t* dst) {
  const int NP = (N + QNR - 1) / QNR * QNR, KP = kpairs(K), KQ = kquads(K);
  const float* in_scales = (const float*)stored;
  const int8_t* q = (const int8_t*)(stored + 4 * (size_t)N);
  float* scales = (float*)(dst + (Q7 ? (size_t)NP * KQ * 4 : (size_t)NP * KP * 2));
  int32_t* sums = (int32_t*)(scales + NP);
  for (int n = 0; n < NP; n++) {
    scales[n] = n < N ? in_scales[n] : 0.0f;
    if (Q7) {
      int sum = 0;
      for (int k = 0; k < 4 * KQ; k++) {
        int v = n < N && k < K ? q[(size_t)k * N + n] : 0;
        dst[quad_at(KQ, n, k)] = (int8_t)v;
        sum += v;
      }
      sums[n] = sum;
      continue;
    }
    int8_t* col = dst + (size_t)(n / QNR) * KP * QNR * 2 + (n % QNR) * 2;
    for (int k = 0; k < 2 * KP; k++) col[pair_at(k, QNR)] = (n < N && k < K) ? q[(size_t)k * N + n] : 0;
  }
}

/* The n values of a constant stored int4 (encoding.py: [a half or float32 scale per block of `block` values][with
 * zeros, a zero point per block, two per byte][two values per byte, the first in the low nibble]) as floats,
 * into dst; kn > 0: a B [kn, n / kn] stored in blocks along K (column by column), written back row-major. */
void wd_int4_decode(const char* stored, int n, int block, int f32_scales, int zeros, int kn, float* dst) {
  const int blocks = (n + block - 1) / block;
  const uint16_t* hs = (const uint16_t*)stored;  /* 2-byte aligned: the constant's place is */
  const float* fs = (const float*)stored;
  const uint8_t* zp = (const uint8_t*)stored + (f32_scales ? 4 : 2) * (size_t)blocks;
  const uint8_t* q = zp + (zeros ? (blocks + 1) / 2 : 0);
  const int cols = kn ? n / kn : 0;
  for (int b = 0; b < blocks; b++) {
    float s = f32_scales ? fs[b] : wd_half_to_float(hs[b]);
    int z = zeros ? (zp[b >> 1] >> ((b & 1) * 4)) & 15 : 8;
    int end = (b + 1) * block < n ? (b + 1) * block : n;
    for (int i = b * block; i < end; i++) {
      int v = (q[i >> 1] >> ((i & 1) * 4)) & 15;
      float x = (float)((zeros ? v : v ^ 8) - z) * s;
      dst[kn ? (size_t)(i % kn) * cols + i / kn : (size_t)i] = x;
    }
  }
}

typedef struct {
  const float* a; int M, K, KP; float qmax;
  int16_t* aq; float* as;   /* A quantized: [M/4][K/2][4][2] int16, and one scale per row */
  const int8_t* bq; const float* bs; int N;
  float* c; int r0;         /* the product's output, and the row of it where these M rows start */
  wd_epi_fn epi; int img;
  int KQ; int32_t* az; const int32_t* bsum;  /* relaxed SIMD: aq holds [M/4][K/4][4][4] 0..127, az the zero points */
} q8_t;

#if Q7
/* The range [min(x, 0), max(x, 0)] of n floats (a NaN makes it NaN) */
static void range0(const float* x, int n, float* lo, float* hi) {
  f32x4 l = wasm_f32x4_splat(0), h = l;
  int k = 0;
  for (; k + 4 <= n; k += 4) {
    f32x4 v = wasm_v128_load(x + k);
    l = wasm_f32x4_min(l, v);
    h = wasm_f32x4_max(h, v);
  }
  float a[4], b[4];
  wasm_v128_store(a, l);
  wasm_v128_store(b, h);
  float mn = a[0], mx = b[0];
  for (int t = 1; t < 4; t++) {
    mn = a[t] < mn || a[t] != a[t] ? a[t] : mn;
    mx = b[t] > mx || b[t] != b[t] ? b[t] : mx;
  }
  for (; k < n; k++) {
    mn = x[k] < mn || x[k] != x[k] ? x[k] : mn;
    mx = x[k] > mx || x[k] != x[k] ? x[k] : mx;
  }
  *lo = mn;
  *hi = mx;
}

/* One scale, zero point and reciprocal from a range (scale 0 for zeros or NaN: the products are 0) */
static void q7_params(float lo, float hi, float* scale, int32_t* zp, float* inv) {
  float range = hi - lo;
  if (range > 0) {
    *scale = range / 127.0f;
    *inv = 127.0f / range;
    *zp = (int32_t)__builtin_rintf(-lo * *inv);
  } else {
    *scale = *inv = 0.0f;
    *zp = 0;
  }
}

/* Rows 4p..4p+3 of A to 0..127, each with its scale and zero point, as [K/4][4 rows][4] bytes. */
static void quantize7_task(const void* arg, int panel, int tid) {
  (void)tid;
  const q8_t* g = (const q8_t*)arg;
  const int K = g->K, m0 = panel * 4;
  const float* rows[4];
  float inv[4];
  int32_t z[4];
  for (int r = 0; r < 4; r++) {
    int m = m0 + r;
    rows[r] = m < g->M ? g->a + (size_t)m * K : 0;
    float lo = 0.0f, hi = 0.0f;
    if (rows[r]) range0(rows[r], K, &lo, &hi);
    q7_params(lo, hi, &g->as[m], &z[r], &inv[r]);
    g->az[m] = z[r];
  }
  uint8_t* d = (uint8_t*)g->aq + (size_t)panel * g->KQ * 16;
  const v128_t top = wasm_u8x16_splat(127);
  for (int kq = 0; kq < g->KQ; kq++, d += 16) {
    v128_t q[4];
    for (int r = 0; r < 4; r++) {
      int k = 4 * kq;
      f32x4 v;
      if (!rows[r]) {
        q[r] = wasm_i32x4_splat(0);
        continue;
      }
      if (k + 4 <= K) {
        v = wasm_v128_load(rows[r] + k);
      } else {  /* past K: zeros (the weights there are 0) */
        float t[4] = {0, 0, 0, 0};
        for (int l = 0; k + l < K; l++) t[l] = rows[r][k + l];
        v = wasm_v128_load(t);
      }
      q[r] = wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(v, wasm_f32x4_splat(inv[r])))),
                            wasm_i32x4_splat(z[r]));
    }
    v128_t b = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(q[0], q[1]), wasm_i16x8_narrow_i32x4(q[2], q[3]));
    wasm_v128_store(d, wasm_u8x16_min(b, top));
  }
}

/* int32 sums of a panel of 4 rows ([K/4][4][4] bytes, each row's 4-value group splat) x a sliver of 8
 * columns ([K/4][8][4] bytes) over all of K. The 7-bit (0..127) operand: the columns (a7 = 0: a Conv's
 * weight rows x pixels) or the rows (a7 = 1: a MatMul's A rows x weight columns); the other is int8. */
WD_INLINE v128_t dot7(v128_t row, v128_t col, int a7, v128_t acc) {
  return a7 ? wasm_i32x4_relaxed_dot_i8x16_i7x16_add(col, row, acc) : wasm_i32x4_relaxed_dot_i8x16_i7x16_add(row, col, acc);
}
WD_INLINE void sums7(const void* ap, const void* bp, int KQ, int a7, v128_t acc[4][2]) {
  v128_t z = wasm_i32x4_splat(0), c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  const int32_t* a = (const int32_t*)ap;
  const uint8_t* b = (const uint8_t*)bp;
  for (int kq = 0; kq < KQ; kq++, a += 4, b += 32) {
    v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 16);
    v128_t x0 = wasm_i32x4_splat(a[0]), x1 = wasm_i32x4_splat(a[1]), x2 = wasm_i32x4_splat(a[2]), x3 = wasm_i32x4_splat(a[3]);
    c00 = dot7(x0, b0, a7, c00); c01 = dot7(x0, b1, a7, c01);
    c10 = dot7(x1, b0, a7, c10); c11 = dot7(x1, b1, a7, c11);
    c20 = dot7(x2, b0, a7, c20); c21 = dot7(x2, b1, a7, c21);
    c30 = dot7(x3, b0, a7, c30); c31 = dot7(x3, b1, a7, c31);
  }
  acc[0][0] = c00; acc[0][1] = c01; acc[1][0] = c10; acc[1][1] = c11;
  acc[2][0] = c20; acc[2][1] = c21; acc[3][0] = c30; acc[3][1] = c31;
}

#endif

/* Rows 4p..4p+3 of A: each row's scale from its largest magnitude, then the values as int16 pairs. */
static void quantize_task(const void* arg, int panel, int tid) {
  (void)tid;
  const q8_t* g = (const q8_t*)arg;
  const int K = g->K, m0 = panel * 4;
  const float* rows[4];
  float inv[4];
  for (int r = 0; r < 4; r++) {
    int m = m0 + r;
    rows[r] = m < g->M ? g->a + (size_t)m * K : 0;
    float peak = 0.0f;
    if (rows[r]) {
      f32x4 pk = wasm_f32x4_splat(0);
      int k = 0;
      for (; k + 4 <= K; k += 4) pk = wasm_f32x4_max(pk, wasm_f32x4_abs(wasm_v128_load(rows[r] + k)));
      float l[4];
      wasm_v128_store(l, pk);
      peak = l[0] > l[1] ? l[0] : l[1];
      peak = peak > l[2] ? peak : l[2];
      peak = peak > l[3] ? peak : l[3];
      for (; k < K; k++) {
        float v = rows[r][k] < 0 ? -rows[r][k] : rows[r][k];
        peak = v > peak ? v : peak;
      }
    }
    /* a row of zeros (or NaN) keeps scale 0: its products are 0 */
    g->as[m0 + r] = peak > 0 ? peak / g->qmax : 0.0f;
    inv[r] = peak > 0 ? g->qmax / peak : 0.0f;
  }
  int16_t* d = g->aq + (size_t)panel * g->KP * 8;
  int k = 0;
  if (rows[0] && rows[1] && rows[2] && rows[3]) {
    f32x4 i0 = wasm_f32x4_splat(inv[0]), i1 = wasm_f32x4_splat(inv[1]), i2 = wasm_f32x4_splat(inv[2]), i3 = wasm_f32x4_splat(inv[3]);
    for (; k + 4 <= K; k += 4, d += 16) {
      v128_t q0 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(rows[0] + k), i0)));
      v128_t q1 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(rows[1] + k), i1)));
      v128_t q2 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(rows[2] + k), i2)));
      v128_t q3 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(rows[3] + k), i3)));
      v128_t n01 = wasm_i16x8_narrow_i32x4(q0, q1), n23 = wasm_i16x8_narrow_i32x4(q2, q3);
      wasm_v128_store(d, wasm_i16x8_shuffle(n01, n23, 0, 1, 4, 5, 8, 9, 12, 13));
      wasm_v128_store(d + 8, wasm_i16x8_shuffle(n01, n23, 2, 3, 6, 7, 10, 11, 14, 15));
    }
  }
  int16_t* base = g->aq + (size_t)panel * g->KP * 8;
  for (; k < 2 * g->KP; k++)
    for (int r = 0; r < 4; r++) {
      float v = rows[r] && k < K ? rows[r][k] * inv[r] : 0.0f;
      base[(k >> 1) * 8 + r * 2 + (k & 1)] = (int16_t)__builtin_rintf(v);
    }
}

/* int32 sums of rows 4 rows (A: [K/2][4] int16 pairs) x one sliver of 8 columns over all of K; B is
 * int8 pairs widened by the load (b16 = 0, [K/2][8][2] int8) or int16 pairs (b16 = 1). */
WD_INLINE void sums(const int16_t* ap, const void* bv, int KP, int b16, v128_t acc[4][2]) {
  v128_t z = wasm_i32x4_splat(0), c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  const int32_t* a = (const int32_t*)ap;
  const int8_t* b8 = (const int8_t*)bv;
  const int16_t* b16p = (const int16_t*)bv;
  for (int kp = 0; kp < KP; kp++, a += 4) {
    v128_t b0, b1;
    if (b16) {
      b0 = wasm_v128_load(b16p); b1 = wasm_v128_load(b16p + 8); b16p += 16;
    } else {
      b0 = wasm_i16x8_load8x8(b8); b1 = wasm_i16x8_load8x8(b8 + 8); b8 += 16;
    }
    v128_t x0 = wasm_i32x4_splat(a[0]), x1 = wasm_i32x4_splat(a[1]), x2 = wasm_i32x4_splat(a[2]), x3 = wasm_i32x4_splat(a[3]);
    c00 = wasm_i32x4_add(c00, wasm_i32x4_dot_i16x8(b0, x0)); c01 = wasm_i32x4_add(c01, wasm_i32x4_dot_i16x8(b1, x0));
    c10 = wasm_i32x4_add(c10, wasm_i32x4_dot_i16x8(b0, x1)); c11 = wasm_i32x4_add(c11, wasm_i32x4_dot_i16x8(b1, x1));
    c20 = wasm_i32x4_add(c20, wasm_i32x4_dot_i16x8(b0, x2)); c21 = wasm_i32x4_add(c21, wasm_i32x4_dot_i16x8(b1, x2));
    c30 = wasm_i32x4_add(c30, wasm_i32x4_dot_i16x8(b0, x3)); c31 = wasm_i32x4_add(c31, wasm_i32x4_dot_i16x8(b1, x3));
  }
  acc[0][0] = c00; acc[0][1] = c01; acc[1][0] = c10; acc[1][1] = c11;
  acc[2][0] = c20; acc[2][1] = c21; acc[3][0] = c30; acc[3][1] = c31;
}

/* rows m0.. (up to 4, fewer than M - m0 stored) x columns n0..n0+w of c (leading dimension ldc):
 * sums * row scale * column scale (+ a bias per row); the sums as floats */
WD_INLINE void store_scaled(f32x4 f[4][2], float* c, int ldc, int rows, int w, const float* rs, const float* cs,
                            const float* bias) {
  f32x4 s0 = wasm_v128_load(cs), s1 = wasm_v128_load(cs + 4);
  for (int r = 0; r < rows; r++) {
    f32x4 sr = wasm_f32x4_splat(rs[r]);
    f32x4 v0 = wasm_f32x4_mul(f[r][0], wasm_f32x4_mul(s0, sr));
    f32x4 v1 = wasm_f32x4_mul(f[r][1], wasm_f32x4_mul(s1, sr));
    if (bias) {
      v0 = wasm_f32x4_add(v0, wasm_f32x4_splat(bias[r]));
      v1 = wasm_f32x4_add(v1, wasm_f32x4_splat(bias[r]));
    }
    float* q = c + (size_t)r * ldc;
    if (w == QNR) {
      wasm_v128_store(q, v0);
      wasm_v128_store(q + 4, v1);
    } else {
      float t[8];
      wasm_v128_store(t, v0);
      wasm_v128_store(t + 4, v1);
      for (int j = 0; j < w; j++) q[j] = t[j];
    }
  }
}

/* the same from int32 sums */
WD_INLINE void store_tile(v128_t acc[4][2], float* c, int ldc, int rows, int w, const float* rs, const float* cs,
                          const float* bias) {
  f32x4 f[4][2];
  for (int r = 0; r < rows; r++) {
    f[r][0] = wasm_f32x4_convert_i32x4(acc[r][0]);
    f[r][1] = wasm_f32x4_convert_i32x4(acc[r][1]);
  }
  store_scaled(f, c, ldc, rows, w, rs, cs, bias);
}

/* rows (up to 4) of A panel ap x one sliver of 8 int16 columns bp over KP k-pairs, for operands of up to
 * 13 bits (|values| <= 8191, see wd_q8_winograd): int32 sums over 16 k-pairs at a time (32 products of
 * at most 8191^2 < 2^31), added up in float; then c[r][j] = sum * rs[r] * cs[j] for j < w (ldc apart). */
void wd_q8_panel_wide(const int16_t* ap, const int16_t* bp, int KP, float* c, int ldc, int rows, int w,
                      const float* rs, const float* cs) {
  f32x4 f[4][2];
  for (int r = 0; r < 4; r++) f[r][0] = f[r][1] = wasm_f32x4_splat(0);
  for (int k0 = 0; k0 < KP; k0 += 16) {
    int kc = KP - k0 < 16 ? KP - k0 : 16;
    v128_t acc[4][2];
    sums(ap + (size_t)k0 * 8, bp + (size_t)k0 * 16, kc, 1, acc);
    for (int r = 0; r < 4; r++) {
      f[r][0] = wasm_f32x4_add(f[r][0], wasm_f32x4_convert_i32x4(acc[r][0]));
      f[r][1] = wasm_f32x4_add(f[r][1], wasm_f32x4_convert_i32x4(acc[r][1]));
    }
  }
  store_scaled(f, c, ldc, rows, w, rs, cs, 0);
}

/* One row (a decoder step) x up to 4 slivers (32 columns): each B value is read once and feeds one
 * product, so the loop streams the 8-bit weights with four independent sums per load. */
WD_INLINE void row_slivers(const q8_t* g, const int16_t* ap, int n0, int n1) {
  const int KP = g->KP;
  const int32_t* a = (const int32_t*)ap;
  const int8_t* b = g->bq + (size_t)(n0 / QNR) * KP * QNR * 2;
  const size_t ss = (size_t)KP * QNR * 2;  /* bytes from one sliver to the next */
  v128_t z = wasm_i32x4_splat(0), c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, c6 = z, c7 = z;
  for (int kp = 0; kp < KP; kp++, b += 16) {
    v128_t x = wasm_i32x4_splat(a[kp * 4]);
    c0 = wasm_i32x4_add(c0, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(b), x));
    c1 = wasm_i32x4_add(c1, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(b + 8), x));
    c2 = wasm_i32x4_add(c2, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(b + ss), x));
    c3 = wasm_i32x4_add(c3, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(b + ss + 8), x));
    c4 = wasm_i32x4_add(c4, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(b + 2 * ss), x));
    c5 = wasm_i32x4_add(c5, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(b + 2 * ss + 8), x));
    c6 = wasm_i32x4_add(c6, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(b + 3 * ss), x));
    c7 = wasm_i32x4_add(c7, wasm_i32x4_dot_i16x8(wasm_i16x8_load8x8(b + 3 * ss + 8), x));
  }
  v128_t acc[4][2] = {{c0, c1}, {c2, c3}, {c4, c5}, {c6, c7}};
  for (int s = 0; s < 4 && n0 + s * QNR < n1; s++) {
    v128_t one[4][2] = {{acc[s][0], acc[s][1]}};
    int n = n0 + s * QNR;
    store_tile(one, g->c + (size_t)g->r0 * g->N + n, g->N, 1, n1 - n < QNR ? n1 - n : QNR, g->as, g->bs + n, 0);
  }
}

#if Q7
/* sums of rows (up to 4, zero points rz) x 8 columns (sums of values csum) -> c as store_scaled does */
WD_INLINE void store_rows7(v128_t acc[4][2], float* c, int ldc, int rows, int w, const float* rs, const int32_t* rz,
                           const float* cs, const int32_t* csum) {
  f32x4 f[4][2];
  v128_t s0 = wasm_v128_load(csum), s1 = wasm_v128_load(csum + 4);
  for (int r = 0; r < rows; r++) {
    v128_t zr = wasm_i32x4_splat(rz[r]);
    f[r][0] = wasm_f32x4_convert_i32x4(wasm_i32x4_sub(acc[r][0], wasm_i32x4_mul(zr, s0)));
    f[r][1] = wasm_f32x4_convert_i32x4(wasm_i32x4_sub(acc[r][1], wasm_i32x4_mul(zr, s1)));
  }
  store_scaled(f, c, ldc, rows, w, rs, cs, 0);
}

/* One row x up to 4 slivers, as row_slivers does, with the 7-bit row (the first of its panel) */
WD_INLINE void row_slivers7(const q8_t* g, int n0, int n1) {
  const int KQ = g->KQ;
  const int32_t* a = (const int32_t*)g->aq;  /* [K/4][4 rows][4]: row 0 at every 4th word */
  const int8_t* b = g->bq + (size_t)(n0 / QNR) * KQ * QNR * 4;
  const size_t ss = (size_t)KQ * QNR * 4;
  v128_t z = wasm_i32x4_splat(0), c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, c6 = z, c7 = z;
  for (int kq = 0; kq < KQ; kq++, b += 32) {
    v128_t x = wasm_i32x4_splat(a[kq * 4]);
    c0 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load(b), x, c0);
    c1 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load(b + 16), x, c1);
    c2 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load(b + ss), x, c2);
    c3 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load(b + ss + 16), x, c3);
    c4 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load(b + 2 * ss), x, c4);
    c5 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load(b + 2 * ss + 16), x, c5);
    c6 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load(b + 3 * ss), x, c6);
    c7 = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(wasm_v128_load(b + 3 * ss + 16), x, c7);
  }
  v128_t acc[4][2] = {{c0, c1}, {c2, c3}, {c4, c5}, {c6, c7}};
  for (int s = 0; s < 4 && n0 + s * QNR < n1; s++) {
    v128_t one[4][2] = {{acc[s][0], acc[s][1]}};
    int n = n0 + s * QNR;
    store_rows7(one, g->c + (size_t)g->r0 * g->N + n, g->N, 1, n1 - n < QNR ? n1 - n : QNR, g->as, g->az, g->bs + n,
                g->bsum + n);
  }
}

static void q8_task7(const q8_t* g, int n0, int n1, int m0, int m1) {
  if (g->M == 1) {
    const int NP = (g->N + QNR - 1) / QNR * QNR;
    int n = n0;
    for (; n + 4 * QNR <= NP && n < n1; n += 4 * QNR) row_slivers7(g, n, n1);
    for (; n < n1; n += QNR) {
      v128_t acc[4][2];
      sums7(g->aq, g->bq + (size_t)(n / QNR) * g->KQ * QNR * 4, g->KQ, 1, acc);
      store_rows7(acc, g->c + (size_t)g->r0 * g->N + n, g->N, 1, n1 - n < QNR ? n1 - n : QNR, g->as, g->az, g->bs + n,
                  g->bsum + n);
    }
    if (g->epi) g->epi(g->c, g->N, g->img, g->r0, g->r0 + 1, n0, n1);
    return;
  }
  for (int m = m0; m < m1; m += 4) {
    const uint8_t* ap = (const uint8_t*)g->aq + (size_t)(m / 4) * g->KQ * 16;
    int rows = m1 - m < 4 ? m1 - m : 4;
    for (int n = n0; n < n1; n += QNR) {
      v128_t acc[4][2];
      sums7(ap, g->bq + (size_t)(n / QNR) * g->KQ * QNR * 4, g->KQ, 1, acc);
      store_rows7(acc, g->c + (size_t)(g->r0 + m) * g->N + n, g->N, rows, n1 - n < QNR ? n1 - n : QNR, g->as + m,
                  g->az + m, g->bs + n, g->bsum + n);
    }
    if (g->epi) g->epi(g->c, g->N, g->img, g->r0 + m, g->r0 + m + rows, n0, n1);
  }
}
#endif

static void q8_task(const void* arg, int task, int tid) {
  (void)tid;
  const q8_t* g = (const q8_t*)arg;
  int rb = (g->M + QROWS - 1) / QROWS;
  int cb = task / rb, r = task - cb * rb;
  int n0 = cb * QCOLS, n1 = n0 + QCOLS < g->N ? n0 + QCOLS : g->N;
  int m0 = r * QROWS, m1 = m0 + QROWS < g->M ? m0 + QROWS : g->M;
#if Q7
  q8_task7(g, n0, n1, m0, m1);
  return;
#endif
  if (g->M == 1) {
    /* slivers past the last one hold zeros up to the padded width only: read 4 at a time while they exist */
    const int NP = (g->N + QNR - 1) / QNR * QNR;
    int n = n0;
    for (; n + 4 * QNR <= NP && n < n1; n += 4 * QNR) row_slivers(g, g->aq, n, n1);
    for (; n < n1; n += QNR) {
      v128_t acc[4][2];
      sums(g->aq, g->bq + (size_t)(n / QNR) * g->KP * QNR * 2, g->KP, 0, acc);
      store_tile(acc, g->c + (size_t)g->r0 * g->N + n, g->N, 1, n1 - n < QNR ? n1 - n : QNR, g->as, g->bs + n, 0);
    }
    if (g->epi) g->epi(g->c, g->N, g->img, g->r0, g->r0 + 1, n0, n1);
    return;
  }
  for (int m = m0; m < m1; m += 4) {
    const int16_t* ap = g->aq + (size_t)(m / 4) * g->KP * 8;
    int rows = m1 - m < 4 ? m1 - m : 4;
    for (int n = n0; n < n1; n += QNR) {
      v128_t acc[4][2];
      sums(ap, g->bq + (size_t)(n / QNR) * g->KP * QNR * 2, g->KP, 0, acc);
      store_tile(acc, g->c + (size_t)(g->r0 + m) * g->N + n, g->N, rows, n1 - n < QNR ? n1 - n : QNR, g->as + m,
                 g->bs + n, 0);
    }
    if (g->epi) g->epi(g->c, g->N, g->img, g->r0 + m, g->r0 + m + rows, n0, n1);
  }
}

/* Product i of a batch: c_i = a_i (at a_off[i]) x B, then epi(c_i, N, i, ...), `chunk` rows of A at a
 * time (a multiple of 4). B as wd_q8_weights wrote it; work: emit.q8_work_bytes(min(M, chunk), K). */
void wd_q8_matmul(const float* a, const int8_t* bq, float* c, int M, int N, int K, int batch,
                  const int32_t* a_off, void* work, int chunk, wd_epi_fn epi) {
  const int KP = kpairs(K), NP = (N + QNR - 1) / QNR * QNR;
  const int rows = M < chunk ? M : chunk;
  long long room = 2147483647LL / (127LL * 2 * KP);
  q8_t g;
  g.K = K; g.KP = KP; g.N = N;
  g.qmax = room < 32767 ? (float)room : 32767.0f;
  g.aq = (int16_t*)work;
  g.as = (float*)((char*)work + (size_t)((rows + 3) / 4) * KP * 16);
  g.bq = bq; g.bs = (const float*)(bq + (size_t)NP * KP * 2);
  g.KQ = kquads(K);
  if (Q7) {  /* A: [rows/4][K/4][4][4] bytes, a scale and a zero point per row; B: the 4-value groups */
    g.as = (float*)((char*)work + (size_t)((rows + 3) / 4) * g.KQ * 16);
    g.az = (int32_t*)(g.as + (rows + 3) / 4 * 4);
    g.bs = (const float*)(bq + (size_t)NP * g.KQ * 4);
    g.bsum = (const int32_t*)(g.bs + NP);
  }
  g.epi = epi;
  for (int i = 0; i < batch; i++) {
    g.c = c + (size_t)i * M * N;
    g.img = i;
    for (int r0 = 0; r0 < M; r0 += chunk) {
      g.r0 = r0;
      g.M = M - r0 < chunk ? M - r0 : chunk;
      g.a = a + a_off[i] + (size_t)r0 * K;
#if Q7
      wd_parallel((g.M + 3) / 4, quantize7_task, &g);
#else
      wd_parallel((g.M + 3) / 4, quantize_task, &g);
#endif
      wd_parallel(((N + QCOLS - 1) / QCOLS) * ((g.M + QROWS - 1) / QROWS), q8_task, &g);
    }
  }
}

/* ---- Convolutions (group 1, any kernel, stride, padding and dilation) with 8-bit weights:
 * y[M, OH*OW] = W[M, K] x patches[K, pixels] per image, K = C*kh*kw in W's own order (c, i, j).
 * W quantized at load per output channel (axis 0, as int8 stores it) into panels of 4 rows of int16
 * pairs; the image quantized per output pixel (the largest magnitude of its patch) into slivers of 8
 * pixels of int16 k-pairs, a chunk of pixels at a time. */
/* With relaxed SIMD, the products of a convolution are i32x4.relaxed_dot_i8x16_i7x16_add_s: four
 * int8 weights times four 7-bit activations and the lane's sum, per lane, twice the products of
 * i32x4.dot_i16x8_s per instruction. Its second operand must lie in 0..127 (engines differ above),
 * so the patches are quantized per output pixel to 0..127 with a zero point: x = s (q - z), the range
 * [min(x, 0), max(x, 0)] in 127 steps (post-ReLU inputs: 7 bits over [0, max], as fine as symmetric
 * int8); y = w_scale s (sum w q - z sum w), exact in int32. The weights: panels of 4 rows of 4-value
 * groups, [M/4][K/4][4][4] int8 (zeros past K), then a float scale and the int32 sum of the row's
 * values per row; fewer bytes than emit.q8_conv_weight_bytes, the room both builds reserve. */

static void conv_w7_put(int8_t* dst, int KQ, int m, int k, int v) {
  dst[(size_t)(m / 4) * KQ * 16 + (size_t)(k >> 2) * 16 + (m % 4) * 4 + (k & 3)] = (int8_t)v;
}

/* W [M, K] (row-major floats) -> panels of 4 rows of int16 k-pairs, [M/4][K/2][4][2], then a float scale
 * per row (padded rows 0); with relaxed SIMD the 4-value groups above. The sizes: emit.q8_conv_weight_bytes. */
void wd_q8_conv_weights(const float* w, int M, int K, int16_t* dst) {
  const int MP = (M + 3) / 4 * 4, KP = kpairs(K), KQ = kquads(K);
  float* scales = Q7 ? (float*)((int8_t*)dst + (size_t)MP * KQ * 4) : (float*)(dst + (size_t)MP * KP * 2);
  int32_t* sums = (int32_t*)(scales + MP);
  for (int m = 0; m < MP; m++) {
    const float* r = w + (size_t)m * K;
    float sc = m < M ? channel_scale(r, 1, K) : 0.0f;
    scales[m] = sc;
    if (Q7) {
      int sum = 0;
      for (int k = 0; k < 4 * KQ; k++) {
        int v = m < M && k < K ? to_q8(r[k], sc) : 0;
        conv_w7_put((int8_t*)dst, KQ, m, k, v);
        sum += v;
      }
      sums[m] = sum;
      continue;
    }
    int16_t* d = dst + (size_t)(m / 4) * KP * 8 + (m % 4) * 2;
    for (int k = 0; k < 2 * KP; k++) d[pair_at(k, 4)] = (int16_t)(m < M && k < K ? to_q8(r[k], sc) : 0);
  }
}

/* The same from W as --weights int8 stores it along its output channels (axis 0): [scales f32 x M][int8 x M x K]. */
void wd_q8_conv_weights_stored(const char* stored, int M, int K, int16_t* dst) {
  const int MP = (M + 3) / 4 * 4, KP = kpairs(K), KQ = kquads(K);
  const float* in_scales = (const float*)stored;
  const int8_t* q = (const int8_t*)(stored + 4 * (size_t)M);
  float* scales = Q7 ? (float*)((int8_t*)dst + (size_t)MP * KQ * 4) : (float*)(dst + (size_t)MP * KP * 2);
  int32_t* sums = (int32_t*)(scales + MP);
  for (int m = 0; m < MP; m++) {
    scales[m] = m < M ? in_scales[m] : 0.0f;
    if (Q7) {
      int sum = 0;
      for (int k = 0; k < 4 * KQ; k++) {
        int v = m < M && k < K ? q[(size_t)m * K + k] : 0;
        conv_w7_put((int8_t*)dst, KQ, m, k, v);
        sum += v;
      }
      sums[m] = sum;
      continue;
    }
    int16_t* panel = dst + (size_t)(m / 4) * KP * 8 + (m % 4) * 2;
    for (int k = 0; k < 2 * KP; k++) panel[pair_at(k, 4)] = (m < M && k < K) ? q[(size_t)m * K + k] : 0;
  }
}

typedef struct {
  const float* x; const int16_t* wq; const float* ws; const float* bias; float* y;
  int C, HW, M, K, KP; float qmax;  /* HW: output pixels; K = C * kh * kw */
  int H, W, OW, kh, kw, sh, sw, pt, pl, dh, dw;
  int p0, np;              /* this chunk's output pixels: [p0, p0 + np) */
  int16_t* xq; float* xs;  /* the chunk quantized: [np/8][K/2][8][2] int16, and one scale per output pixel */
  int KQ; int32_t* xz; const int32_t* wsum;  /* relaxed SIMD: xq holds [np/8][K/4][8][4] 0..127, xz the zero points */
  wd_epi_fn epi; int img;
} q8c_t;

/* The patches under output pixels n0 .. n0 + w - 1 (w <= 8) as tmp[K][8] floats: zeros outside the
 * image and past w. Eight pixels of one output row read rows of the input as vectors (strides 1, 2). */
static void gather8(const q8c_t* g, int n0, int w, float* tmp) {
  const int OW = g->OW, H = g->H, W = g->W, kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw;
  int oh = n0 / OW, ow = n0 - oh * OW;
  float* d = tmp;
  if (w == QNR && ow + QNR <= OW) {
    for (int c = 0; c < g->C; c++) {
      const float* plane = g->x + (size_t)c * H * W;
      for (int i = 0; i < kh; i++) {
        int ih = oh * sh - g->pt + i * g->dh;
        const float* row = plane + (size_t)ih * W;
        for (int j = 0; j < kw; j++, d += QNR) {
          int iw0 = ow * sw - g->pl + j * g->dw;
          if (ih < 0 || ih >= H) {
            wasm_v128_store(d, wasm_f32x4_splat(0));
            wasm_v128_store(d + 4, wasm_f32x4_splat(0));
          } else if (sw == 1 && iw0 >= 0 && iw0 + 8 <= W) {
            wasm_v128_store(d, wasm_v128_load(row + iw0));
            wasm_v128_store(d + 4, wasm_v128_load(row + iw0 + 4));
          } else if (sw == 2 && iw0 >= 0 && iw0 + 16 <= W) {
            v128_t a0 = wasm_v128_load(row + iw0), a1 = wasm_v128_load(row + iw0 + 4);
            v128_t a2 = wasm_v128_load(row + iw0 + 8), a3 = wasm_v128_load(row + iw0 + 12);
            wasm_v128_store(d, wasm_i32x4_shuffle(a0, a1, 0, 2, 4, 6));
            wasm_v128_store(d + 4, wasm_i32x4_shuffle(a2, a3, 0, 2, 4, 6));
          } else {
            for (int t = 0; t < QNR; t++) {
              int iw = iw0 + t * sw;
              d[t] = iw >= 0 && iw < W ? row[iw] : 0.0f;
            }
          }
        }
      }
    }
    return;
  }
  for (int t = 0; t < QNR; t++) {  /* pixels on two output rows, or fewer than 8 */
    int n = n0 + t, toh = n / OW, tow = n - toh * OW, k = 0;
    for (int c = 0; c < g->C; c++) {
      const float* plane = g->x + (size_t)c * H * W;
      for (int i = 0; i < kh; i++) {
        int ih = toh * sh - g->pt + i * g->dh;
        for (int j = 0; j < kw; j++, k++) {
          int iw = tow * sw - g->pl + j * g->dw;
          tmp[(size_t)k * QNR + t] = t < w && ih >= 0 && ih < H && iw >= 0 && iw < W ? plane[(size_t)ih * W + iw] : 0.0f;
        }
      }
    }
  }
}

/* Eight pixels, value k of pixel j at src[k * ks + j]: each pixel's scale (its largest magnitude over
 * the K values / qmax) into scales[0..8), the values as int16 k-pairs [K/2][8][2] into d. */
void wd_q8_quantize8(const float* src, size_t ks, int K, int KP, float qmax, int16_t* d, float* scales) {
  f32x4 p0 = wasm_f32x4_splat(0), p1 = p0;
  for (int k = 0; k < K; k++) {
    p0 = wasm_f32x4_max(p0, wasm_f32x4_abs(wasm_v128_load(src + (size_t)k * ks)));
    p1 = wasm_f32x4_max(p1, wasm_f32x4_abs(wasm_v128_load(src + (size_t)k * ks + 4)));
  }
  float pk[8], inv[8];
  wasm_v128_store(pk, p0);
  wasm_v128_store(pk + 4, p1);
  for (int j = 0; j < QNR; j++) {  /* a pixel of zeros (or NaN) keeps scale 0: its products are 0 */
    scales[j] = pk[j] > 0 ? pk[j] / qmax : 0.0f;
    inv[j] = pk[j] > 0 ? qmax / pk[j] : 0.0f;
  }
  f32x4 i0 = wasm_v128_load(inv), i1 = wasm_v128_load(inv + 4);
  for (int k = 0; k < 2 * KP; k += 2, d += 16) {
    v128_t z = wasm_i32x4_splat(0), b0 = z, b1 = z;
    const float* r = src + (size_t)k * ks;
    v128_t a0 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(r), i0)));
    v128_t a1 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(r + 4), i1)));
    if (k + 1 < K) {
      b0 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(r + ks), i0)));
      b1 = wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(r + ks + 4), i1)));
    }
    v128_t ca = wasm_i16x8_narrow_i32x4(a0, a1), cb = wasm_i16x8_narrow_i32x4(b0, b1);  /* pixels 0..7 of k, k + 1 */
    wasm_v128_store(d, wasm_i16x8_shuffle(ca, cb, 0, 8, 1, 9, 2, 10, 3, 11));
    wasm_v128_store(d + 8, wasm_i16x8_shuffle(ca, cb, 4, 12, 5, 13, 6, 14, 7, 15));
  }
}

#if Q7
/* Eight pixels, value k of pixel j at src[k * ks + j], to 0..127 each with its own scale and zero point
 * (x = scales[j] (q - zps[j]); a pixel of zeros, or with a NaN, gets scale 0), as [K/4][8][4] bytes. */
static void quantize8_u7(const float* src, size_t ks, int K, int KQ, uint8_t* d, float* scales, int32_t* zps) {
  f32x4 lo0 = wasm_f32x4_splat(0), lo1 = lo0, hi0 = lo0, hi1 = lo0;
  for (int k = 0; k < K; k++) {
    f32x4 a = wasm_v128_load(src + (size_t)k * ks), b = wasm_v128_load(src + (size_t)k * ks + 4);
    lo0 = wasm_f32x4_min(lo0, a); hi0 = wasm_f32x4_max(hi0, a);
    lo1 = wasm_f32x4_min(lo1, b); hi1 = wasm_f32x4_max(hi1, b);
  }
  float lo[8], hi[8], inv[8];
  int32_t z[8];
  wasm_v128_store(lo, lo0); wasm_v128_store(lo + 4, lo1);
  wasm_v128_store(hi, hi0); wasm_v128_store(hi + 4, hi1);
  for (int j = 0; j < QNR; j++) {
    q7_params(lo[j], hi[j], &scales[j], &z[j], &inv[j]);
    zps[j] = z[j];
  }
  const f32x4 i0 = wasm_v128_load(inv), i1 = wasm_v128_load(inv + 4);
  const v128_t z0 = wasm_v128_load(z), z1 = wasm_v128_load(z + 4), top = wasm_u8x16_splat(127);
  for (int kq = 0; kq < KQ; kq++, d += 32) {
    v128_t q[2][4];
    for (int t = 0; t < 4; t++) {
      int k = 4 * kq + t;
      if (k < K) {
        const float* r = src + (size_t)k * ks;
        q[0][t] = wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(r), i0))), z0);
        q[1][t] = wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(r + 4), i1))), z1);
      } else {
        q[0][t] = q[1][t] = wasm_i32x4_splat(0);  /* the weights past K are 0 */
      }
    }
    for (int h = 0; h < 2; h++) {  /* pixels 4h .. 4h+3: [k][pixel] bytes -> [pixel][k] */
      v128_t b = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(q[h][0], q[h][1]), wasm_i16x8_narrow_i32x4(q[h][2], q[h][3]));
      b = wasm_u8x16_min(b, top);
      wasm_v128_store(d + 16 * h, wasm_i8x16_shuffle(b, b, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    }
  }
}

/* y[r][j] = w_scale[r] s[j] (sums - z[j] wsum[r]) (+ bias[r]) for rows r < rows, pixels j < w */
WD_INLINE void store_tile7(v128_t acc[4][2], float* c, int ldc, int rows, int w, const float* ws, const int32_t* wsum,
                           const float* xs, const int32_t* xz, const float* bias) {
  f32x4 f[4][2];
  v128_t z0 = wasm_v128_load(xz), z1 = wasm_v128_load(xz + 4);
  for (int r = 0; r < rows; r++) {
    v128_t sr = wasm_i32x4_splat(wsum[r]);
    f[r][0] = wasm_f32x4_convert_i32x4(wasm_i32x4_sub(acc[r][0], wasm_i32x4_mul(z0, sr)));
    f[r][1] = wasm_f32x4_convert_i32x4(wasm_i32x4_sub(acc[r][1], wasm_i32x4_mul(z1, sr)));
  }
  store_scaled(f, c, ldc, rows, w, ws, xs, bias);
}
#endif

/* the chunk's output pixels [64 t, 64 t + 64): slivers of 8. A 1x1 stride-1 unpadded convolution reads
 * 8 neighbouring pixels of each channel in place; any other gathers the patches first. */
static void conv_quantize_task(const void* arg, int t, int tid) {
  const q8c_t* g = (const q8c_t*)arg;
  const int direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && !g->pt && !g->pl && g->HW == g->H * g->W;
  float* tmp = wd_thread_scratch(tid);
  int n0 = t * QCOLS, n1 = n0 + QCOLS < g->np ? n0 + QCOLS : g->np;
  for (int s0 = n0; s0 < n1; s0 += QNR) {
    int w = n1 - s0 < QNR ? n1 - s0 : QNR;
#if Q7
    uint8_t* d7 = (uint8_t*)g->xq + (size_t)(s0 / QNR) * g->KQ * 32;
    if (w == QNR && direct) {
      quantize8_u7(g->x + g->p0 + s0, (size_t)g->H * g->W, g->K, g->KQ, d7, g->xs + s0, g->xz + s0);
    } else {
      gather8(g, g->p0 + s0, w, tmp);
      quantize8_u7(tmp, QNR, g->K, g->KQ, d7, g->xs + s0, g->xz + s0);
    }
    continue;
#endif
    int16_t* d = g->xq + (size_t)(s0 / QNR) * g->KP * 16;
    if (w == QNR && direct) {
      wd_q8_quantize8(g->x + g->p0 + s0, (size_t)g->H * g->W, g->K, g->KP, g->qmax, d, g->xs + s0);
    } else {
      gather8(g, g->p0 + s0, w, tmp);
      wd_q8_quantize8(tmp, QNR, g->K, g->KP, g->qmax, d, g->xs + s0);
    }
  }
}

static void conv_task(const void* arg, int task, int tid) {
  (void)tid;
  const q8c_t* g = (const q8c_t*)arg;
  int rb = (g->M + QROWS - 1) / QROWS;
  int cb = task / rb, r = task - cb * rb;
  int n0 = cb * QCOLS, n1 = n0 + QCOLS < g->np ? n0 + QCOLS : g->np;
  int m0 = r * QROWS, m1 = m0 + QROWS < g->M ? m0 + QROWS : g->M;
  for (int m = m0; m < m1; m += 4) {
    int rows = m1 - m < 4 ? m1 - m : 4;
#if Q7
    const int8_t* a7 = (const int8_t*)g->wq + (size_t)(m / 4) * g->KQ * 16;
    for (int n = n0; n < n1; n += QNR) {
      v128_t acc[4][2];
      sums7(a7, (const uint8_t*)g->xq + (size_t)(n / QNR) * g->KQ * 32, g->KQ, 0, acc);
      store_tile7(acc, g->y + (size_t)m * g->HW + g->p0 + n, g->HW, rows, n1 - n < QNR ? n1 - n : QNR, g->ws + m,
                  g->wsum + m, g->xs + n, g->xz + n, g->bias ? g->bias + m : 0);
    }
    if (g->epi) g->epi(g->y, g->HW, g->img, m, m + rows, g->p0 + n0, g->p0 + n1);
    continue;
#endif
    const int16_t* ap = g->wq + (size_t)(m / 4) * g->KP * 8;
    for (int n = n0; n < n1; n += QNR) {
      v128_t acc[4][2];
      sums(ap, g->xq + (size_t)(n / QNR) * g->KP * 16, g->KP, 1, acc);
      store_tile(acc, g->y + (size_t)m * g->HW + g->p0 + n, g->HW, rows, n1 - n < QNR ? n1 - n : QNR, g->ws + m,
                 g->xs + n, g->bias ? g->bias + m : 0);
    }
    if (g->epi) g->epi(g->y, g->HW, g->img, m, m + rows, g->p0 + n0, g->p0 + n1);
  }
}

void wd_q8_conv(const float* x, const int16_t* wq, const float* bias, float* y, int N, int C, int H, int W,
                int OH, int OW, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw, int M, void* work,
                int cols, wd_epi_fn epi) {
  const int HW = OH * OW, K = C * kh * kw, KP = kpairs(K), MP = (M + 3) / 4 * 4;
  const int chunk = cols < HW ? cols : HW, NP = (chunk + QNR - 1) / QNR * QNR;
  long long room = 2147483647LL / (127LL * 2 * KP);
  q8c_t g;
  g.wq = wq; g.ws = (const float*)(wq + (size_t)MP * KP * 2); g.bias = bias;
  g.C = C; g.HW = HW; g.M = M; g.K = K; g.KP = KP;
  g.H = H; g.W = W; g.OW = OW; g.kh = kh; g.kw = kw; g.sh = sh; g.sw = sw; g.pt = pt; g.pl = pl; g.dh = dh; g.dw = dw;
  g.qmax = room < 32767 ? (float)room : 32767.0f;
  g.xq = (int16_t*)work;
  g.xs = (float*)((char*)work + (size_t)NP * KP * 4);
  g.KQ = kquads(K);
  if (Q7) {  /* the 8-bit layouts: smaller than the room reserved for the int16 ones */
    g.ws = (const float*)((const int8_t*)wq + (size_t)MP * g.KQ * 4);
    g.wsum = (const int32_t*)(g.ws + MP);
    g.xs = (float*)((char*)work + (size_t)NP * g.KQ * 4);
    g.xz = (int32_t*)(g.xs + NP);
  }
  g.epi = epi;
  for (int img = 0; img < N; img++) {
    g.x = x + (size_t)img * C * H * W;
    g.y = y + (size_t)img * M * HW;
    g.img = img;
    for (g.p0 = 0; g.p0 < HW; g.p0 += chunk) {
      g.np = HW - g.p0 < chunk ? HW - g.p0 : chunk;
      wd_parallel((g.np + QCOLS - 1) / QCOLS, conv_quantize_task, &g);
      wd_parallel(((g.np + QCOLS - 1) / QCOLS) * ((M + QROWS - 1) / QROWS), conv_task, &g);
    }
  }
}
