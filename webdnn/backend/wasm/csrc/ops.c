/* Pooling, softmax, LRN, reductions and the scalar math functions. */
#include "wdnn.h"

/* ---- pooling: one plane per task; the window is clipped to the input once per row and column ---- */
static inline void taps(int o, int s, int pad, int k, int d, int n, int padend, int* lo, int* hi, int* incl) {
  int b = o * s - pad;                   /* input position of tap 0 */
  int l = 0, h = k, il = 0, ih = k;
  if (d == 1) {
    if (b < 0) l = -b;
    if (b + k > n) h = n - b;
    if (b < -pad) il = -pad - b;
    if (b + k > n + padend) ih = n + padend - b;
  } else {
    while (l < k && b + l * d < 0) l++;
    while (h > l && b + (h - 1) * d >= n) h--;
    while (il < k && b + il * d < -pad) il++;
    while (ih > il && b + (ih - 1) * d >= n + padend) ih--;
  }
  *lo = l; *hi = h > l ? h : l; *incl = ih > il ? ih - il : 0;
}

static inline f32x4 load_strided(const float* q, int sw) {
  if (sw == 1) return wasm_v128_load(q);
  return wasm_i32x4_shuffle(wasm_v128_load(q), wasm_v128_load(q + 4), 0, 2, 4, 6);  /* q[0], q[2], q[4], q[6] */
}

/* Floats of the thread scratch a plane's separable pooling needs: one row of window sums or maxima over
 * every column a window reaches (padding included, 8 floats of slack for the strided loads) and the
 * inverse column counts of an average. */
static size_t pool_row_floats(const wd_pool_t* p) {
  size_t reach = (size_t)(p->OW - 1) * p->sw + (size_t)(p->kw - 1) * p->dw + 1;
  size_t wide = (size_t)p->pl + p->W;
  return (reach > wide ? reach : wide) + 8 + (size_t)p->OW + 4;
}

/* outputs [0, OW rounded down to 4) of one row: window reductions of kw taps along `row`, stride sw (1 or 2);
 * is_max and sw constant where it is inlined, so each case is its own loop; -> the first output not written */
__attribute__((always_inline)) static inline int pool_along(const float* row, float* out, int OW, int kw, const int sw,
                                                            const int is_max, f32x4 rs, const float* inv) {
  int ow = 0;
  for (; ow + 4 <= OW; ow += 4) {
    const float* q = row + (size_t)ow * sw;
    f32x4 acc = load_strided(q, sw);
    for (int j = 1; j < kw; j++) {
      f32x4 v = load_strided(q + j, sw);
      acc = is_max ? wasm_f32x4_pmax(acc, v) : wasm_f32x4_add(acc, v);
    }
    if (!is_max) acc = wasm_f32x4_mul(wasm_f32x4_mul(acc, rs), wasm_v128_load(inv + ow));
    wasm_v128_store(out + ow, acc);
  }
  return ow;
}

/* One plane, separable: per output row, its window rows reduced into one padded row (max or sum down the
 * valid rows, contiguous vectors), then each output the reduction of its kw taps along that row (vectors of
 * 4 outputs for stride 1 or 2). The max passes use pmax (one x86 instruction where max is several), which
 * drops a NaN: a plane with a NaN in a window row returns 0, and the direct way (pool_plane) lets it through. */
static int pool_separable(const wd_pool_t* p, const float* x, float* y, float* row) {
  const int W = p->W, OW = p->OW, sw = p->sw, dw = p->dw, kw = p->kw, pl = p->pl, is_max = p->is_max;
  const size_t nrow = pool_row_floats(p) - (size_t)OW - 4;
  float* inv = row + nrow;  /* averages: 1 / (columns counted) per output column */
  const f32x4 id = wasm_f32x4_splat(is_max ? -__builtin_inff() : 0.0f);
  for (size_t c = 0; c < nrow; c += 4) wasm_v128_store(row + c, id);  /* may spill into inv, filled next */
  if (!is_max)
    for (int ow = 0; ow < OW; ow++) {
      int jlo, jhi, jinc;
      taps(ow, sw, pl, kw, dw, W, p->pr, &jlo, &jhi, &jinc);
      int n = p->count_include_pad ? jinc : jhi - jlo;
      inv[ow] = n > 0 ? 1.0f / (float)n : 0.0f;
    }
  float* r = row + pl;
  for (int oh = 0; oh < p->OH; oh++) {
    int ilo, ihi, iinc;
    taps(oh, p->sh, p->pt, p->kh, p->dh, p->H, p->pb, &ilo, &ihi, &iinc);
    const float* rows = x + (ptrdiff_t)(oh * p->sh - p->pt) * W;
    const size_t step = (size_t)p->dh * W;
    int c = 0;
    f32x4 nan = wasm_f32x4_splat(0.0f);
    if (ihi <= ilo) {
      for (c = 0; c + 4 <= W; c += 4) wasm_v128_store(r + c, id);
      for (; c < W; c++) r[c] = is_max ? -__builtin_inff() : 0.0f;
    } else {  /* row by row: the first copied, each next one folded in (max, or sum) */
      const float* q = rows + (size_t)ilo * step;
      for (c = 0; c + 4 <= W; c += 4) {
        f32x4 v = wasm_v128_load(q + c);
        nan = wasm_v128_or(nan, wasm_f32x4_ne(v, v));
        wasm_v128_store(r + c, v);
      }
      for (; c < W; c++) r[c] = q[c];
      for (int i = ilo + 1; i < ihi; i++) {
        q += step;
        if (is_max) {
          for (c = 0; c + 4 <= W; c += 4) {
            f32x4 v = wasm_v128_load(q + c);
            nan = wasm_v128_or(nan, wasm_f32x4_ne(v, v));
            wasm_v128_store(r + c, wasm_f32x4_pmax(wasm_v128_load(r + c), v));
          }
          for (; c < W; c++) r[c] = wd_maxf(r[c], q[c]);
        } else {
          for (c = 0; c + 4 <= W; c += 4) wasm_v128_store(r + c, wasm_f32x4_add(wasm_v128_load(r + c), wasm_v128_load(q + c)));
          for (; c < W; c++) r[c] += q[c];
        }
      }
      if (is_max) {  /* a NaN in the window rows: the direct way lets it through */
        for (c = W & ~3; c < W; c++) nan = wasm_v128_or(nan, wasm_f32x4_ne(wasm_f32x4_splat(r[c]), wasm_f32x4_splat(r[c])));
        if (wasm_v128_any_true(nan)) return 0;
      }
    }
    /* along the row: output ow reads row[ow * sw + j * dw], j < kw (padding holds the identity) */
    float* out = y + (size_t)oh * OW;
    const int rn = p->count_include_pad ? iinc : ihi - ilo;  /* rows an average counts */
    const float rinv = rn > 0 ? 1.0f / (float)rn : 0.0f;
    const f32x4 rs = wasm_f32x4_splat(rinv);
    int ow = 0;
    if (dw == 1 && sw == 1)
      ow = is_max ? pool_along(row, out, OW, kw, 1, 1, rs, inv) : pool_along(row, out, OW, kw, 1, 0, rs, inv);
    else if (dw == 1 && sw == 2)
      ow = is_max ? pool_along(row, out, OW, kw, 2, 1, rs, inv) : pool_along(row, out, OW, kw, 2, 0, rs, inv);
    for (; ow < OW; ow++) {
      const float* q = row + (size_t)ow * sw;
      float acc = q[0];
      for (int j = 1; j < kw; j++) acc = is_max ? wd_maxf(acc, q[(size_t)j * dw]) : acc + q[(size_t)j * dw];
      out[ow] = is_max ? acc : acc * rinv * inv[ow];
    }
  }
  return 1;
}

static void pool_plane(const wd_pool_t* p, const float* x, float* y);

static void pool_task(const void* arg, int task, int tid) {
  const wd_pool_t* p = (const wd_pool_t*)arg;
  const float* x = p->x + (size_t)task * p->H * p->W;
  float* y = p->y + (size_t)task * p->OH * p->OW;
  if (pool_row_floats(p) * 4 <= (size_t)wd_scratch_bytes && pool_separable(p, x, y, wd_thread_scratch(tid))) return;
  pool_plane(p, x, y);
}

/* One plane, each output from its window directly: the window is clipped to the input once per row and column */
static void pool_plane(const wd_pool_t* p, const float* x, float* y) {
  const int W = p->W, dh = p->dh, dw = p->dw, sw = p->sw, kw = p->kw, is_max = p->is_max;
  /* output columns whose window lies inside the input: [ca, cb) */
  int ca = (p->pl + sw - 1) / sw, cb = (W - 1 - (kw - 1) * dw + p->pl) / sw + 1;
  if (W - 1 - (kw - 1) * dw + p->pl < 0) cb = 0;
  if (cb > p->OW) cb = p->OW;
  if (ca > cb) ca = cb;
  int vec = dw == 1 && (sw == 1 || sw == 2);
  for (int oh = 0; oh < p->OH; oh++) {
    int ilo, ihi, iinc;
    taps(oh, p->sh, p->pt, p->kh, dh, p->H, p->pb, &ilo, &ihi, &iinc);
    const float* rows = x + (ptrdiff_t)(oh * p->sh - p->pt) * W;
    float* out = y + (size_t)oh * p->OW;
    int ow = 0;
    for (int pass = 0; pass < 3; pass++) {
      int end = pass == 0 ? ca : pass == 1 ? cb : p->OW;
      if (pass == 1) {
        /* interior: every column tap is valid */
        float scale = 1.0f / (float)((p->count_include_pad ? iinc : ihi - ilo) * kw);
        if (vec) {
          for (; ow + 4 <= end; ow += 4) {
            const float* q = rows + ow * sw - p->pl;
            f32x4 acc = wasm_f32x4_splat(is_max ? -__builtin_inff() : 0.0f);
            for (int i = ilo; i < ihi; i++) {
              const float* r = q + (size_t)i * dh * W;
              for (int j = 0; j < kw; j++) {
                f32x4 v = load_strided(r + j, sw);
                acc = is_max ? wasm_f32x4_max(acc, v) : wasm_f32x4_add(acc, v);
              }
            }
            if (!is_max) acc = wasm_f32x4_mul(acc, wasm_f32x4_splat(scale));
            if (ihi <= ilo && !is_max) acc = wasm_f32x4_splat(0);
            wasm_v128_store(out + ow, acc);
          }
        }
        for (; ow < end; ow++) {
          const float* q = rows + ow * sw - p->pl;
          float acc = is_max ? -__builtin_inff() : 0.0f;
          for (int i = ilo; i < ihi; i++)
            for (int j = 0; j < kw; j++) {
              float v = q[(size_t)i * dh * W + j * dw];
              acc = is_max ? wd_maxf(acc, v) : acc + v;
            }
          out[ow] = is_max ? acc : (ihi > ilo ? acc * scale : 0.0f);
        }
        continue;
      }
      for (; ow < end; ow++) {
        int jlo, jhi, jinc;
        taps(ow, sw, p->pl, kw, dw, W, p->pr, &jlo, &jhi, &jinc);
        const float* q = rows + ow * sw - p->pl;
        float acc = is_max ? -__builtin_inff() : 0.0f;
        for (int i = ilo; i < ihi; i++)
          for (int j = jlo; j < jhi; j++) {
            float v = q[(size_t)i * dh * W + j * dw];
            acc = is_max ? wd_maxf(acc, v) : acc + v;
          }
        if (!is_max) {
          int cnt = p->count_include_pad ? iinc * jinc : (ihi - ilo) * (jhi - jlo);
          acc = acc / (float)(cnt > 0 ? cnt : 1);
        }
        out[ow] = acc;
      }
    }
  }
}

void wd_pool(const wd_pool_t* p) { wd_parallel(p->NC, pool_task, p); }

/* max pooling of 8-bit integers (x and y point at T despite the struct's float pointers): scalar */
#define MAXPOOL_INT(NAME, T, LOWEST)                                                                  \
  static void NAME##_task(const void* arg, int task, int tid) {                                       \
    (void)tid;                                                                                        \
    const wd_pool_t* p = (const wd_pool_t*)arg;                                                       \
    const T* x = (const T*)(const void*)p->x + (size_t)task * p->H * p->W;                             \
    T* y = (T*)(void*)p->y + (size_t)task * p->OH * p->OW;                                             \
    for (int oh = 0; oh < p->OH; oh++) {                                                              \
      int ilo, ihi, iinc;                                                                             \
      taps(oh, p->sh, p->pt, p->kh, p->dh, p->H, p->pb, &ilo, &ihi, &iinc);                           \
      for (int ow = 0; ow < p->OW; ow++) {                                                            \
        int jlo, jhi, jinc;                                                                           \
        taps(ow, p->sw, p->pl, p->kw, p->dw, p->W, p->pr, &jlo, &jhi, &jinc);                         \
        int acc = LOWEST;                                                                             \
        for (int i = ilo; i < ihi; i++)                                                               \
          for (int j = jlo; j < jhi; j++) {                                                           \
            int v = x[(ptrdiff_t)(oh * p->sh - p->pt + i * p->dh) * p->W + ow * p->sw - p->pl + j * p->dw]; \
            if (v > acc) acc = v;                                                                     \
          }                                                                                           \
        y[(size_t)oh * p->OW + ow] = (T)acc;                                                          \
      }                                                                                               \
    }                                                                                                 \
  }                                                                                                   \
  void NAME(const wd_pool_t* p) { wd_parallel(p->NC, NAME##_task, p); }
MAXPOOL_INT(wd_maxpool_u8, uint8_t, 0)
MAXPOOL_INT(wd_maxpool_i8, int8_t, -128)

/* ---- softmax over the middle axis of [outer, n, inner]: one task per outer row, SIMD exp ---- */
typedef struct { const float* x; float* y; int outer, n, inner, log; } softmax_t;

/* Probabilities below the smallest normal float are 0 (wd_exp4_nonpos; the scaled ones too: a sum of
 * several terms can push e / sum under it), so that nothing downstream multiplies subnormals. */
WD_INLINE f32x4 normal_or_zero(f32x4 y) { return wasm_v128_andnot(y, wasm_f32x4_lt(y, wasm_f32x4_splat(1.17549435e-38f))); }
WD_INLINE float normal_or_zerof(float y) { return y < 1.17549435e-38f ? 0.0f : y; }

/* a contiguous row (inner == 1): max, then e^(x - max) and its sum on four lanes, then scale */
static void softmax_row(const float* xs, float* ys, int n, int log) {
  f32x4 m4 = wasm_f32x4_splat(-__builtin_inff());
  int k = 0;
  /* pmax (one instruction) drops a NaN here, which then makes its e^(x - max) and the sum NaN: the same row */
  for (; k + 4 <= n; k += 4) m4 = wasm_f32x4_pmax(m4, wasm_v128_load(xs + k));
  float mx = wd_maxf(wd_maxf(wasm_f32x4_extract_lane(m4, 0), wasm_f32x4_extract_lane(m4, 1)),
                     wd_maxf(wasm_f32x4_extract_lane(m4, 2), wasm_f32x4_extract_lane(m4, 3)));
  for (; k < n; k++) mx = wd_maxf(mx, xs[k]);
  f32x4 mv = wasm_f32x4_splat(mx), s4 = wasm_f32x4_splat(0.0f);
  for (k = 0; k + 4 <= n; k += 4) {
    f32x4 e = wd_exp4_nonpos(wasm_f32x4_sub(wasm_v128_load(xs + k), mv));
    if (!log) wasm_v128_store(ys + k, e);
    s4 = wasm_f32x4_add(s4, e);
  }
  float s = (wasm_f32x4_extract_lane(s4, 0) + wasm_f32x4_extract_lane(s4, 1)) +
            (wasm_f32x4_extract_lane(s4, 2) + wasm_f32x4_extract_lane(s4, 3));
  for (; k < n; k++) {
    float e = wd_expf_nonpos(xs[k] - mx);
    if (!log) ys[k] = e;
    s += e;
  }
  if (log) {
    f32x4 ls = wasm_f32x4_splat(wd_logf(s));  /* (x - max) - log s: the order keeps small results exact */
    for (k = 0; k + 4 <= n; k += 4)
      wasm_v128_store(ys + k, wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(xs + k), mv), ls));
    for (; k < n; k++) ys[k] = (xs[k] - mx) - wd_logf(s);
  } else {
    f32x4 inv = wasm_f32x4_splat(1.0f / s);
    for (k = 0; k + 4 <= n; k += 4) wasm_v128_store(ys + k, normal_or_zero(wasm_f32x4_mul(wasm_v128_load(ys + k), inv)));
    for (; k < n; k++) ys[k] = normal_or_zerof(ys[k] * (1.0f / s));
  }
}

/* a strided axis (inner > 1): four inner positions at a time, each lane its own softmax */
static void softmax_strided(const float* x, float* y, int n, int inner, int log) {
  int i = 0;
  for (; i + 4 <= inner; i += 4) {
    f32x4 mx = wasm_f32x4_splat(-__builtin_inff()), s = wasm_f32x4_splat(0.0f);
    for (int k = 0; k < n; k++) mx = wasm_f32x4_pmax(mx, wasm_v128_load(x + (size_t)k * inner + i));
    for (int k = 0; k < n; k++) {
      f32x4 e = wd_exp4_nonpos(wasm_f32x4_sub(wasm_v128_load(x + (size_t)k * inner + i), mx));
      if (!log) wasm_v128_store(y + (size_t)k * inner + i, e);
      s = wasm_f32x4_add(s, e);
    }
    if (log) {
      f32x4 ls = wd_log4(s);
      for (int k = 0; k < n; k++)
        wasm_v128_store(y + (size_t)k * inner + i,
                        wasm_f32x4_sub(wasm_f32x4_sub(wasm_v128_load(x + (size_t)k * inner + i), mx), ls));
    } else {
      f32x4 inv = wasm_f32x4_div(wasm_f32x4_splat(1.0f), s);
      for (int k = 0; k < n; k++)
        wasm_v128_store(y + (size_t)k * inner + i, normal_or_zero(wasm_f32x4_mul(wasm_v128_load(y + (size_t)k * inner + i), inv)));
    }
  }
  for (; i < inner; i++) {
    float mx = -__builtin_inff(), s = 0;
    for (int k = 0; k < n; k++) mx = wd_maxf(mx, x[(size_t)k * inner + i]);
    for (int k = 0; k < n; k++) {
      float e = wd_expf_nonpos(x[(size_t)k * inner + i] - mx);
      if (!log) y[(size_t)k * inner + i] = e;
      s += e;
    }
    for (int k = 0; k < n; k++)
      y[(size_t)k * inner + i] = log ? (x[(size_t)k * inner + i] - mx) - wd_logf(s) : normal_or_zerof(y[(size_t)k * inner + i] * (1.0f / s));
  }
}

static void softmax_task(const void* arg, int o, int tid) {
  const softmax_t* p = (const softmax_t*)arg;
  size_t off = (size_t)o * p->n * p->inner;
  if (p->inner == 1) softmax_row(p->x + off, p->y + off, p->n, p->log);
  else softmax_strided(p->x + off, p->y + off, p->n, p->inner, p->log);
}

void wd_softmax(const float* x, float* y, int outer, int n, int inner, int log) {
  softmax_t p = {x, y, outer, n, inner, log};
  wd_parallel(outer, softmax_task, &p);
}

void wd_lrn(const float* x, float* y, int N, int C, int inner, int size, float alpha, float beta, float bias) {
  int lo = (size - 1) / 2, hi = size / 2;  /* ceil((size-1)/2) == size/2 */
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) {
      int c0 = c - lo < 0 ? 0 : c - lo, c1 = c + hi >= C ? C - 1 : c + hi;
      for (int i = 0; i < inner; i++) {
        double s = 0;
        for (int k = c0; k <= c1; k++) {
          double v = x[((size_t)n * C + k) * inner + i];
          s += v * v;
        }
        size_t at = ((size_t)n * C + c) * inner + i;
        y[at] = (float)(x[at] / wd_pow(bias + alpha / size * s, beta));
      }
    }
}

/* ---- sum / mean / max / min over the middle axis of [outer, n, inner], float32 ---- */
typedef struct { const float* x; float* y; int n, inner, kind; } rows_t;

static void rows_task(const void* arg, int o, int tid) {
  (void)tid;
  const rows_t* r = (const rows_t*)arg;
  const int n = r->n, inner = r->inner, kind = r->kind;
  const float* x = r->x + (size_t)o * n * inner;
  float* y = r->y + (size_t)o * inner;
  int mx = kind == WD_RED_MAX, mn = kind == WD_RED_MIN;
  if (inner == 1) {
    f32x4 a0 = wasm_f32x4_splat(mx ? -__builtin_inff() : mn ? __builtin_inff() : 0.0f), a1 = a0;
    int k = 0;
    for (; k + 8 <= n; k += 8) {
      f32x4 v0 = wasm_v128_load(x + k), v1 = wasm_v128_load(x + k + 4);
      if (mx) { a0 = wasm_f32x4_max(a0, v0); a1 = wasm_f32x4_max(a1, v1); }
      else if (mn) { a0 = wasm_f32x4_min(a0, v0); a1 = wasm_f32x4_min(a1, v1); }
      else { a0 = wasm_f32x4_add(a0, v0); a1 = wasm_f32x4_add(a1, v1); }
    }
    float l[8];
    wasm_v128_store(l, a0);
    wasm_v128_store(l + 4, a1);
    float acc = l[0];
    for (int t = 1; t < 8; t++) acc = mx ? wd_maxf(acc, l[t]) : mn ? wd_minf(acc, l[t]) : acc + l[t];
    for (; k < n; k++) acc = mx ? wd_maxf(acc, x[k]) : mn ? wd_minf(acc, x[k]) : acc + x[k];
    y[0] = kind == WD_RED_MEAN ? acc / (float)n : acc;
    return;
  }
  for (int i = 0; i < inner; i++) y[i] = x[i];
  for (int k = 1; k < n; k++) {
    const float* xr = x + (size_t)k * inner;
    int i = 0;
    for (; i + 4 <= inner; i += 4) {
      f32x4 a = wasm_v128_load(y + i), v = wasm_v128_load(xr + i);
      a = mx ? wasm_f32x4_max(a, v) : mn ? wasm_f32x4_min(a, v) : wasm_f32x4_add(a, v);
      wasm_v128_store(y + i, a);
    }
    for (; i < inner; i++) y[i] = mx ? wd_maxf(y[i], xr[i]) : mn ? wd_minf(y[i], xr[i]) : y[i] + xr[i];
  }
  if (kind == WD_RED_MEAN)
    for (int i = 0; i < inner; i++) y[i] /= (float)n;
}

void wd_reduce_rows_f32(const float* x, float* y, int outer, int n, int inner, int kind) {
  rows_t r = {x, y, n, inner, kind};
  wd_parallel(outer, rows_task, &r);
}

/* ---- reductions: an odometer over the kept axes, an inner odometer over the reduced ones ---- */
#define REDUCE_IMPL(NAME, T, CONV)                                                                     \
  void NAME(const T* x, T* y, int rank, const int32_t* shape, const uint8_t* red, int kind) {           \
    int32_t strides[8], kept[8], redd[8], nk = 0, nr = 0;                                               \
    int64_t count = 1, st = 1;                                                                          \
    for (int d = rank - 1; d >= 0; d--) { strides[d] = (int32_t)st; st *= shape[d]; }                   \
    for (int d = 0; d < rank; d++) {                                                                    \
      if (red[d]) { redd[nr++] = d; count *= shape[d]; } else kept[nk++] = d;                           \
    }                                                                                                   \
    int32_t oi[8] = {0}, ri[8];                                                                         \
    int64_t outn = 1;                                                                                   \
    for (int k = 0; k < nk; k++) outn *= shape[kept[k]];                                                \
    for (int64_t o = 0; o < outn; o++) {                                                                \
      int64_t base = 0;                                                                                 \
      for (int k = 0; k < nk; k++) base += (int64_t)oi[k] * strides[kept[k]];                           \
      double mx = -__builtin_inf();                                                                     \
      if (kind == WD_RED_LOGSUMEXP) {                                                                   \
        for (int k = 0; k < nr; k++) ri[k] = 0;                                                         \
        for (int64_t r = 0; r < count; r++) {                                                           \
          int64_t at = base;                                                                            \
          for (int k = 0; k < nr; k++) at += (int64_t)ri[k] * strides[redd[k]];                        \
          double v = (double)x[at];                                                                     \
          if (v > mx || v != v) mx = v;                                                                 \
          for (int k = nr - 1; k >= 0 && ++ri[k] == shape[redd[k]]; k--) ri[k] = 0;                     \
        }                                                                                               \
      }                                                                                                 \
      double acc = kind == WD_RED_PROD ? 1.0 : kind == WD_RED_MAX ? -__builtin_inf()                     \
                 : kind == WD_RED_MIN ? __builtin_inf() : 0.0;                                          \
      int nan = 0;                                                                                      \
      for (int k = 0; k < nr; k++) ri[k] = 0;                                                           \
      for (int64_t r = 0; r < count; r++) {                                                             \
        int64_t at = base;                                                                              \
        for (int k = 0; k < nr; k++) at += (int64_t)ri[k] * strides[redd[k]];                           \
        double v = (double)x[at];                                                                       \
        if (v != v) nan = 1;                                                                            \
        switch (kind) {                                                                                 \
          case WD_RED_MAX: acc = v > acc ? v : acc; break;                                              \
          case WD_RED_MIN: acc = v < acc ? v : acc; break;                                              \
          case WD_RED_PROD: acc *= v; break;                                                            \
          case WD_RED_SUMSQUARE: case WD_RED_L2: acc += v * v; break;                                   \
          case WD_RED_L1: acc += v < 0 ? -v : v; break;                                                 \
          case WD_RED_LOGSUMEXP: acc += wd_exp(v - mx); break;                                          \
          default: acc += v;                                                                            \
        }                                                                                               \
        for (int k = nr - 1; k >= 0 && ++ri[k] == shape[redd[k]]; k--) ri[k] = 0;                       \
      }                                                                                                 \
      if (kind == WD_RED_MEAN) acc /= (double)count;                                                    \
      else if (kind == WD_RED_L2) acc = __builtin_sqrt(acc);                                            \
      else if (kind == WD_RED_LOGSUM) acc = wd_log(acc);                                                \
      else if (kind == WD_RED_LOGSUMEXP) acc = wd_log(acc) + mx;                                        \
      if (nan && (kind == WD_RED_MAX || kind == WD_RED_MIN)) acc = __builtin_nan("");                   \
      y[o] = CONV(acc);                                                                                 \
      for (int k = nk - 1; k >= 0 && ++oi[k] == shape[kept[k]]; k--) oi[k] = 0;                         \
    }                                                                                                   \
  }
#define TO_F32(v) ((float)(v))
#define TO_I32(v) ((int32_t)__builtin_wasm_trunc_saturate_s_i32_f64(v))
REDUCE_IMPL(wd_reduce_f32, float, TO_F32)
REDUCE_IMPL(wd_reduce_i32, int32_t, TO_I32)
#define TO_BOOL(a) ((uint8_t)((a) > 0))  /* max = any, min = all; empty: false / true */
REDUCE_IMPL(wd_reduce_u8, uint8_t, TO_BOOL)

/* ---- scalar math, in double precision (results are rounded to float by the callers) ---- */
static inline double scale2(double x, int e) {  /* x * 2^e for e in [-1022, 1023] */
  union { double d; uint64_t u; } s;
  s.u = (uint64_t)(e + 1023) << 52;
  return x * s.d;
}

double wd_exp(double x) {
  if (x != x) return x;
  if (x > 709.0) return __builtin_inf();
  if (x < -745.0) return 0.0;
  double kf = __builtin_nearbyint(x * 1.4426950408889634);
  double r = x - kf * 6.93147180369123816490e-01 - kf * 1.90821492927058770002e-10;
  /* e^r on |r| <= 0.35: Taylor to r^13 (error < 1e-17) */
  double p = 1.0 / 6227020800.0;
  static const double c[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0, 1.0 / 40320.0,
                             1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0};
  for (int i = 0; i < 13; i++) p = p * r + c[i];
  int k = (int)kf;
  if (k > 1023) return scale2(scale2(p, 1023), k - 1023);
  if (k < -1022) return scale2(scale2(p, -1022), k + 1022);
  return scale2(p, k);
}

double wd_log(double x) {
  if (x != x || x < 0) return __builtin_nan("");
  if (x == 0) return -__builtin_inf();
  if (x == __builtin_inf()) return x;
  union { double d; uint64_t u; } v = {x};
  int e = (int)((v.u >> 52) & 0x7ff);
  if (e == 0) {  /* subnormal */
    v.d = x * 18014398509481984.0;  /* 2^54 */
    e = (int)((v.u >> 52) & 0x7ff) - 54;
  }
  e -= 1023;
  v.u = (v.u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;  /* m in [1, 2) */
  double m = v.d;
  if (m > 1.4142135623730951) { m *= 0.5; e++; }
  double s = (m - 1) / (m + 1), s2 = s * s, t = 0;
  for (int k = 39; k >= 1; k -= 2) t = t * s2 + 1.0 / k;
  return 2 * s * t + e * 0.6931471805599453;
}

double wd_pow(double a, double b) {
  if (b == 0) return 1.0;
  if (a != a || b != b) return __builtin_nan("");
  double bi = __builtin_trunc(b);
  if (a < 0) {
    if (bi != b) return __builtin_nan("");
    double r = wd_exp(b * wd_log(-a));
    return bi * 0.5 != __builtin_trunc(bi * 0.5) ? -r : r;
  }
  if (a == 0) return b > 0 ? 0.0 : __builtin_inf();
  return wd_exp(b * wd_log(a));
}

static double sin_poly(double r) {  /* |r| <= pi/4 */
  double r2 = r * r;
  return r * (1 + r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362880 + r2 * (-1.0 / 39916800 + r2 / 6227020800.0))))));
}
static double cos_poly(double r) {
  double r2 = r * r;
  return 1 + r2 * (-0.5 + r2 * (1.0 / 24 + r2 * (-1.0 / 720 + r2 * (1.0 / 40320 + r2 * (-1.0 / 3628800 + r2 / 479001600.0)))));
}
static double trig(double x, int cosine) {
  if (x != x || x == __builtin_inf() || x == -__builtin_inf()) return __builtin_nan("");
  double q = __builtin_nearbyint(x * 0.6366197723675814);  /* x / (pi/2) */
  double r = x - q * 1.5707963267341256 - q * 6.077100506506192e-11 - q * 2.0222662487959506e-21;
  int n = ((int64_t)q + cosine) & 3;
  switch (n) {
    case 0: return sin_poly(r);
    case 1: return cos_poly(r);
    case 2: return -sin_poly(r);
    default: return -cos_poly(r);
  }
}
double wd_sin(double x) { return trig(x, 0); }
double wd_cos(double x) { return trig(x, 1); }

double wd_tanh(double x) {
  if (x != x) return x;
  double ax = x < 0 ? -x : x;
  if (ax > 20) return x < 0 ? -1.0 : 1.0;
  double r;
  if (ax < 0.01) {
    double x2 = ax * ax;
    r = ax * (1 - x2 / 3 + 2 * x2 * x2 / 15);
  } else {
    double e = wd_exp(2 * ax);
    r = (e - 1) / (e + 1);
  }
  return x < 0 ? -r : r;
}

double wd_erf(double x) {
  if (x != x) return x;
  double ax = x < 0 ? -x : x;
  double r;
  if (ax < 2.5) {
    double x2 = x * x, term = x, sum = x;
    for (int n = 1; n < 60; n++) {
      term *= -x2 / n;
      double t = term / (2 * n + 1);
      sum += t;
      if ((t < 0 ? -t : t) < 1e-17 * (sum < 0 ? -sum : sum)) break;
    }
    return 1.1283791670955126 * sum;
  }
  double t = 1 / (1 + 0.5 * ax);
  double erfc = t * wd_exp(-ax * ax - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  r = 1 - erfc;
  return x < 0 ? -r : r;
}

double wd_fmod(double a, double b) {
  if (a != a || b != b || b == 0 || a == __builtin_inf() || a == -__builtin_inf()) return __builtin_nan("");
  if (b == __builtin_inf() || b == -__builtin_inf()) return a;
  /* exact for |a/b| < 2^53, which covers every value the tests and models produce */
  double r = a - b * __builtin_trunc(a / b);
  double ab = b < 0 ? -b : b;
  if (r != 0 && (r < 0) != (a < 0)) r += (a < 0 ? -ab : ab);
  if ((r < 0 ? -r : r) >= ab) r -= (r < 0 ? -ab : ab);
  return r == 0 ? (a < 0 ? -0.0 : 0.0) : r;
}

float wd_round_half(float x) {
  if (x != x) return x;
  union { float f; uint32_t u; } v = {x};
  uint32_t sign = v.u & 0x80000000u, ax = v.u & 0x7fffffffu;
  if (ax >= 0x477ff000u) { v.u = sign | 0x7f800000u; return v.f; } /* rounds past 65504: inf */
  if (ax < 0x38800000u) {  /* below the smallest normal half: multiples of 2^-24 */
    float a = __builtin_fabsf(x) * 16777216.0f;
    a = __builtin_rintf(a) / 16777216.0f;
    return sign ? -a : a;
  }
  uint32_t rem = ax & 0x1fffu, keep = ax & ~0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (keep & 0x2000u))) keep += 0x2000u;
  v.u = sign | keep;
  return v.f;
}

double wd_tan(double x) { return wd_sin(x) / wd_cos(x); }

double wd_atan(double x) {
  if (x != x) return x;
  int neg = x < 0, inv = 0, shift = 0;
  if (neg) x = -x;
  if (x > 1) { x = 1 / x; inv = 1; }
  if (x > 0.2679491924311227) {  /* tan(pi/12): atan x = pi/6 + atan((x√3 - 1) / (√3 + x)) */
    x = (x * 1.7320508075688772 - 1) / (1.7320508075688772 + x);
    shift = 1;
  }
  double x2 = x * x, t = 0;
  for (int k = 25; k >= 1; k -= 2) t = t * x2 + ((k & 2) ? -1.0 : 1.0) / k;
  double r = x * t;
  if (shift) r += 0.5235987755982989;
  if (inv) r = 1.5707963267948966 - r;
  return neg ? -r : r;
}
double wd_asin(double x) {
  if (x != x || x > 1 || x < -1) return __builtin_nan("");
  if (x == 1 || x == -1) return x * 1.5707963267948966;
  return wd_atan(x / __builtin_sqrt((1 - x) * (1 + x)));
}
double wd_acos(double x) {
  if (x != x || x > 1 || x < -1) return __builtin_nan("");
  return 1.5707963267948966 - wd_asin(x);
}
double wd_sinh(double x) {
  double ax = x < 0 ? -x : x;
  if (ax < 1e-3) return x * (1 + x * x / 6);
  double e = wd_exp(ax), r = 0.5 * (e - 1 / e);
  return x < 0 ? -r : r;
}
double wd_cosh(double x) {
  double e = wd_exp(x < 0 ? -x : x);
  return 0.5 * (e + 1 / e);
}
double wd_asinh(double x) {
  double ax = x < 0 ? -x : x;
  double r = ax < 1e-4 ? ax : wd_log(ax + __builtin_sqrt(ax * ax + 1));
  return x < 0 ? -r : r;
}
double wd_acosh(double x) {
  if (x != x || x < 1) return __builtin_nan("");
  return wd_log(x + __builtin_sqrt(x * x - 1));
}
double wd_atanh(double x) {
  if (x != x || x > 1 || x < -1) return __builtin_nan("");
  double ax = x < 0 ? -x : x;
  double r = ax < 1e-4 ? ax : 0.5 * wd_log((1 + ax) / (1 - ax));
  return x < 0 ? -r : r;
}
