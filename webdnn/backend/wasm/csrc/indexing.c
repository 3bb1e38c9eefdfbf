/* Data-dependent index ops (GatherElements, GatherND, ScatterElements, ScatterND), ArgMax/ArgMin,
 * CumSum, TopK and Resize. Elements are addressed by a dtype code: WD_F32, WD_I32, WD_U8, WD_I8. */
#include "wdnn.h"

static inline double load_as(const void* p, int dtype, int64_t i) {
  switch (dtype) {
    case WD_F32: return ((const float*)p)[i];
    case WD_I32: return ((const int32_t*)p)[i];
    case WD_U8: return ((const uint8_t*)p)[i];
    default: return ((const int8_t*)p)[i];
  }
}

static inline int esize_of(int dtype) { return dtype <= WD_I32 ? 4 : 1; }

static inline int norm_index(int32_t i, int n) { return i < 0 ? i + n : i; }

/* out[i] (op)= upd[j] for one element, in the element's own arithmetic */
static void combine(void* out, int64_t i, const void* upd, int64_t j, int dtype, int red) {
  if (dtype == WD_F32) {
    float* o = (float*)out;
    float u = ((const float*)upd)[j];
    o[i] = red == WD_SCATTER_ADD ? o[i] + u : red == WD_SCATTER_MUL ? o[i] * u
         : red == WD_SCATTER_MAX ? wd_maxf(o[i], u) : red == WD_SCATTER_MIN ? wd_minf(o[i], u) : u;
    return;
  }
  int32_t a = (int32_t)load_as(out, dtype, i), u = (int32_t)load_as(upd, dtype, j), r;
  r = red == WD_SCATTER_ADD ? (int32_t)((uint32_t)a + (uint32_t)u) : red == WD_SCATTER_MUL ? (int32_t)((uint32_t)a * (uint32_t)u)
    : red == WD_SCATTER_MAX ? (a > u ? a : u) : red == WD_SCATTER_MIN ? (a < u ? a : u) : u;
  if (dtype == WD_I32) ((int32_t*)out)[i] = r;
  else if (dtype == WD_U8) ((uint8_t*)out)[i] = (uint8_t)r;
  else ((int8_t*)out)[i] = (int8_t)r;
}

/* Visits every index of `shape`; `axis_off` gets the offset of the element in a tensor of
 * `dshape` with index `idx[o]` on `axis`. */
void wd_gather_elements(void* out, const void* data, const int32_t* idx, int dtype, int rank, const int32_t* dshape,
                        const int32_t* ishape, int axis) {
  int es = esize_of(dtype);
  int64_t dst[8], n = 1;
  int32_t at[8] = {0};
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) { dst[d] = s; s *= dshape[d]; }
  for (int d = 0; d < rank; d++) n *= ishape[d];
  char* o = (char*)out;
  const char* src = (const char*)data;
  for (int64_t e = 0; e < n; e++) {
    int64_t off = 0;
    int ok = 1;
    for (int d = 0; d < rank; d++) {
      int v = d == axis ? norm_index(idx[e], dshape[d]) : at[d];
      if (v < 0 || v >= dshape[d]) ok = 0;
      off += (int64_t)v * dst[d];
    }
    if (ok) __builtin_memcpy(o + e * es, src + off * es, es);
    else __builtin_memset(o + e * es, 0, es);
    for (int d = rank - 1; d >= 0 && ++at[d] == ishape[d]; d--) at[d] = 0;
  }
}

void wd_scatter_elements(void* out, const int32_t* idx, const void* upd, int dtype, int rank, const int32_t* oshape,
                         const int32_t* ishape, int axis, int red) {
  int64_t ost[8], n = 1, s = 1;
  int32_t at[8] = {0};
  for (int d = rank - 1; d >= 0; d--) { ost[d] = s; s *= oshape[d]; }
  for (int d = 0; d < rank; d++) n *= ishape[d];
  for (int64_t e = 0; e < n; e++) {
    int64_t off = 0;
    int ok = 1;
    for (int d = 0; d < rank; d++) {
      int v = d == axis ? norm_index(idx[e], oshape[d]) : at[d];
      if (v < 0 || v >= oshape[d]) ok = 0;
      off += (int64_t)v * ost[d];
    }
    if (ok) combine(out, off, upd, e, dtype, red);
    for (int d = rank - 1; d >= 0 && ++at[d] == ishape[d]; d--) at[d] = 0;
  }
}

/* GatherND: nb batches of data (batch stride bs elements), each J index tuples of m entries
 * addressing axes of sizes dims[] and element strides strides[]; each tuple selects S elements. */
void wd_gather_nd(void* out, const void* data, const int32_t* idx, int dtype, int nb, int J, int m,
                  const int32_t* dims, const int32_t* strides, int bs, int S) {
  int es = esize_of(dtype);
  char* o = (char*)out;
  const char* src = (const char*)data;
  for (int b = 0; b < nb; b++)
    for (int j = 0; j < J; j++) {
      const int32_t* t = idx + ((int64_t)b * J + j) * m;
      int64_t off = (int64_t)b * bs;
      int ok = 1;
      for (int k = 0; k < m; k++) {
        int v = norm_index(t[k], dims[k]);
        if (v < 0 || v >= dims[k]) ok = 0;
        off += (int64_t)v * strides[k];
      }
      if (ok) __builtin_memcpy(o, src + off * es, (size_t)S * es);
      else __builtin_memset(o, 0, (size_t)S * es);
      o += (size_t)S * es;
    }
}

void wd_scatter_nd(void* out, const int32_t* idx, const void* upd, int dtype, int J, int m, const int32_t* dims,
                   const int32_t* strides, int S, int red) {
  for (int j = 0; j < J; j++) {
    const int32_t* t = idx + (int64_t)j * m;
    int64_t off = 0;
    int ok = 1;
    for (int k = 0; k < m; k++) {
      int v = norm_index(t[k], dims[k]);
      if (v < 0 || v >= dims[k]) ok = 0;
      off += (int64_t)v * strides[k];
    }
    if (!ok) continue;
    for (int e = 0; e < S; e++) combine(out, off + e, upd, (int64_t)j * S + e, dtype, red);
  }
}

/* ArgMax / ArgMin over the middle axis of [outer, n, inner]; the first NaN wins, like numpy. */
void wd_argreduce(int32_t* out, const void* x, int dtype, int outer, int n, int inner, int is_max, int last) {
  for (int o = 0; o < outer; o++)
    for (int i = 0; i < inner; i++) {
      int64_t base = (int64_t)o * n * inner + i;
      double best = load_as(x, dtype, base);
      int bi = 0;
      for (int k = 1; k < n && best == best; k++) {
        double v = load_as(x, dtype, base + (int64_t)k * inner);
        if (v != v) { best = v; bi = k; break; }
        if (is_max ? (v > best || (last && v == best)) : (v < best || (last && v == best))) { best = v; bi = k; }
      }
      out[(int64_t)o * inner + i] = bi;
    }
}

static void store_as(void* p, int dtype, int64_t i, double v) {
  switch (dtype) {
    case WD_F32: ((float*)p)[i] = (float)v; break;
    case WD_I32: ((int32_t*)p)[i] = (int32_t)(int64_t)v; break;
    case WD_U8: ((uint8_t*)p)[i] = (uint8_t)(int64_t)v; break;
    default: ((int8_t*)p)[i] = (int8_t)(int64_t)v;
  }
}

void wd_cumsum(void* y, const void* x, int dtype, int outer, int n, int inner, int prod, int exclusive, int reverse) {
  for (int o = 0; o < outer; o++)
    for (int i = 0; i < inner; i++) {
      int64_t base = (int64_t)o * n * inner + i;
      double acc = prod ? 1 : 0;
      int64_t iacc = prod ? 1 : 0;
      for (int t = 0; t < n; t++) {
        int k = reverse ? n - 1 - t : t;
        int64_t at = base + (int64_t)k * inner;
        double v = load_as(x, dtype, at);
        if (dtype == WD_F32) {
          if (exclusive) { store_as(y, dtype, at, acc); acc = prod ? acc * v : acc + v; }
          else { acc = prod ? acc * v : acc + v; store_as(y, dtype, at, acc); }
        } else {
          int64_t iv = (int64_t)v;
          if (exclusive) { store_as(y, dtype, at, (double)(int32_t)iacc); iacc = prod ? iacc * iv : iacc + iv; }
          else { iacc = prod ? iacc * iv : iacc + iv; store_as(y, dtype, at, (double)(int32_t)iacc); }
        }
      }
    }
}

/* TopK over the middle axis of [outer, n, inner]: the k first of a stable sort (largest or
 * smallest first; equal values keep the lower index first), kept sorted in the outputs. */
void wd_topk(void* vals, int32_t* idx, const void* x, int dtype, int outer, int n, int inner, int k, int largest) {
  for (int o = 0; o < outer; o++)
    for (int i = 0; i < inner; i++) {
      int64_t xb = (int64_t)o * n * inner + i, yb = (int64_t)o * k * inner + i;
      int have = 0;
      for (int e = 0; e < n; e++) {
        double v = load_as(x, dtype, xb + (int64_t)e * inner);
        /* position of v among the kept ones: after every kept value that is not worse */
        int pos = have;
        while (pos > 0) {
          double w = load_as(vals, dtype, yb + (int64_t)(pos - 1) * inner);
          int better = largest ? v > w : v < w;
          if (!better) break;
          pos--;
        }
        if (pos >= k) continue;
        int last = have < k ? have : k - 1;
        for (int t = last; t > pos; t--) {
          store_as(vals, dtype, yb + (int64_t)t * inner, load_as(vals, dtype, yb + (int64_t)(t - 1) * inner));
          idx[yb + (int64_t)t * inner] = idx[yb + (int64_t)(t - 1) * inner];
        }
        store_as(vals, dtype, yb + (int64_t)pos * inner, v);
        idx[yb + (int64_t)pos * inner] = e;
        if (have < k) have++;
      }
    }
}

/* Resize, one axis after another through two double buffers: out[j] = Σ_t weight[j][t] · in[index[j][t]].
 * A first index < 0 marks an output position outside a crop: it takes `fill`. Integer outputs round
 * half to even and saturate. */
void wd_resize(void* y, const void* x, int dtype, int out_f16, int rank, const int32_t* in_shape, const int32_t* out_shape,
               const int32_t* taps, const int32_t* const* index, const double* const* weight, double* t0, double* t1,
               double fill) {
  int32_t shape[8];
  int64_t size = 1;
  for (int d = 0; d < rank; d++) { shape[d] = in_shape[d]; size *= in_shape[d]; }
  for (int64_t e = 0; e < size; e++) t0[e] = load_as(x, dtype, e);
  double* src = t0;
  double* dst = t1;
  for (int a = 0; a < rank; a++) {
    int T = taps[a];
    if (!T) continue;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < a; d++) outer *= shape[d];
    for (int d = a + 1; d < rank; d++) inner *= shape[d];
    int nin = shape[a], nout = out_shape[a];
    for (int64_t o = 0; o < outer; o++)
      for (int j = 0; j < nout; j++) {
        double* dd = dst + (o * nout + j) * inner;
        for (int64_t e = 0; e < inner; e++) dd[e] = 0;
        for (int t = 0; t < T; t++) {
          int i = index[a][j * T + t];
          double w = weight[a][j * T + t];
          if (i < 0 || w == 0) continue;
          const double* ss = src + (o * nin + i) * inner;
          for (int64_t e = 0; e < inner; e++) dd[e] += w * ss[e];
        }
      }
    shape[a] = nout;
    double* sw = src; src = dst; dst = sw;
  }
  size = 1;
  int64_t st[8];
  for (int d = rank - 1; d >= 0; d--) { st[d] = size; size *= out_shape[d]; }
  for (int64_t e = 0; e < size; e++) {
    double v = src[e];
    for (int a = 0; a < rank; a++)
      if (taps[a] && index[a][(e / st[a]) % out_shape[a] * taps[a]] < 0) { v = fill; break; }
    if (dtype == WD_F32) ((float*)y)[e] = out_f16 ? wd_round_half((float)v) : (float)v;
    else {
      double lo = dtype == WD_I32 ? -2147483648.0 : dtype == WD_U8 ? 0 : -128;
      double hi = dtype == WD_I32 ? 2147483647.0 : dtype == WD_U8 ? 255 : 127;
      v = v != v ? 0 : __builtin_nearbyint(v);
      v = v < lo ? lo : v > hi ? hi : v;
      store_as(y, dtype, e, v);
    }
  }
}
