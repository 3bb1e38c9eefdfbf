/* Recurrent: a simple RNN, LSTM or GRU over a whole sequence (ir/ops/recurrent.py). Per step, every
 * task takes a few panels of 8 units: it multiplies h_{t-1} by the panel's columns (all G gates of
 * its 8 units, packed by wd_pack_recurrent so one panel is one contiguous block) and applies the
 * cell to those units right away, four units per vector. One job per step: h_t is written into Y,
 * which the next step reads (no task writes what another still reads: h_{t-1} is a different row). */
#include "wdnn.h"

#define UNITS 8  /* units per panel: two vectors of 4 per gate */

/* R [U, G*U] (gates side by side) -> panels of 8 units: panel q holds, for every row k, the columns
 * of units 8q .. 8q+7 as [s = 0, 1][gate][4 units] (zeros past U). out: ceil(U/8)*8*G*U floats. */
void wd_pack_recurrent(const float* r, float* out, int U, int G) {
  int panels = (U + UNITS - 1) / UNITS;
  for (int q = 0; q < panels; q++)
    for (int k = 0; k < U; k++)
      for (int s = 0; s < 2; s++)
        for (int g = 0; g < G; g++)
          for (int l = 0; l < 4; l++) {
            int j = q * UNITS + s * 4 + l;
            *out++ = j < U ? r[(size_t)k * G * U + (size_t)g * U + j] : 0.0f;
          }
}

typedef struct { const wd_rec_t* a; int t, prev, per_task, panels; } rec_step_t;

WD_INLINE v128_t sig4(v128_t x) {
  return wasm_f32x4_div(wasm_f32x4_splat(1.0f), wasm_f32x4_add(wasm_f32x4_splat(1.0f), wd_exp4(wasm_f32x4_neg(x))));
}

/* 4 floats from x (only `valid` of them inside the tensor; the rest read as 0) */
WD_INLINE v128_t load4(const float* x, int valid) {
  if (valid >= 4) return wasm_v128_load(x);
  float t[4] = {0, 0, 0, 0};
  for (int l = 0; l < valid; l++) t[l] = x[l];
  return wasm_v128_load(t);
}

WD_INLINE void store4(float* x, v128_t v, int valid) {
  if (valid >= 4) { wasm_v128_store(x, v); return; }
  float t[4];
  wasm_v128_store(t, v);
  for (int l = 0; l < valid; l++) x[l] = t[l];
}

/* acc[0 .. cols) = h · (one panel: U rows of cols vectors), or zeros without h */
__attribute__((always_inline)) static inline void panel_dot(const float* w, const float* h, int U, v128_t* acc,
                                                            const int cols) {
  v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
  if (h) {
    for (int k = 0; k < U; k++, w += cols * 4) {
      v128_t hk = wasm_f32x4_splat(h[k]);
      s0 = WD_MADD(s0, hk, wasm_v128_load(w));
      s1 = WD_MADD(s1, hk, wasm_v128_load(w + 4));
      if (cols > 2) {
        s2 = WD_MADD(s2, hk, wasm_v128_load(w + 8));
        s3 = WD_MADD(s3, hk, wasm_v128_load(w + 12));
        s4 = WD_MADD(s4, hk, wasm_v128_load(w + 16));
        s5 = WD_MADD(s5, hk, wasm_v128_load(w + 20));
      }
      if (cols > 6) {
        s6 = WD_MADD(s6, hk, wasm_v128_load(w + 24));
        s7 = WD_MADD(s7, hk, wasm_v128_load(w + 28));
      }
    }
  }
  acc[0] = s0; acc[1] = s1;
  if (cols > 2) { acc[2] = s2; acc[3] = s3; acc[4] = s4; acc[5] = s5; }
  if (cols > 6) { acc[6] = s6; acc[7] = s7; }
}

static void rec_task(const void* arg, int task, int tid) {
  (void)tid;
  const rec_step_t* st = (const rec_step_t*)arg;
  const wd_rec_t* a = st->a;
  const int U = a->U, G = a->G, T = a->T, cols = 2 * G;  /* vectors per panel row */
  int q0 = task * st->per_task, q1 = q0 + st->per_task < st->panels ? q0 + st->per_task : st->panels;
  for (int n = 0; n < a->N; n++) {
    /* h_{t-1}: the previous step's row of Y, or h0 (zeros when absent) at the first step */
    const float* hp = st->prev >= 0 ? a->y + ((size_t)n * T + st->prev) * U : (a->h0 ? a->h0 + (size_t)n * U : 0);
    const float* p = a->p + ((size_t)n * T + st->t) * G * U;
    float* y = a->y + ((size_t)n * T + st->t) * U;
    float* c = a->c_out ? a->c_out + (size_t)n * U : 0;
    for (int q = q0; q < q1; q++) {
      v128_t acc[8];  /* 2 * G vectors, G <= 4 */
      const float* w = a->r + (size_t)q * U * cols * 4;
      /* the column count as a constant: the accumulators stay in registers */
      switch (G) {
        case 4: panel_dot(w, hp, U, acc, 8); break;
        case 3: panel_dot(w, hp, U, acc, 6); break;
        default: panel_dot(w, hp, U, acc, 2); break;
      }
      for (int s = 0; s < 2; s++) {
        int j = q * UNITS + s * 4, valid = U - j;
        if (valid <= 0) break;
        v128_t* z = acc + s * G;  /* the gates of units j .. j+3 */
        if (a->rb) for (int g = 0; g < G; g++) z[g] = wasm_f32x4_add(z[g], load4(a->rb + (size_t)g * U + j, valid));
        v128_t h;
        if (a->kind == WD_REC_RNN) {
          h = wd_tanh4(wasm_f32x4_add(load4(p + j, valid), z[0]));
        } else if (a->kind == WD_REC_LSTM) {
          v128_t i = sig4(wasm_f32x4_add(load4(p + j, valid), z[0]));
          v128_t f = sig4(wasm_f32x4_add(load4(p + U + j, valid), z[1]));
          v128_t g = wd_tanh4(wasm_f32x4_add(load4(p + 2 * U + j, valid), z[2]));
          v128_t o = sig4(wasm_f32x4_add(load4(p + 3 * U + j, valid), z[3]));
          v128_t cn = wasm_f32x4_add(wasm_f32x4_mul(f, load4(c + j, valid)), wasm_f32x4_mul(i, g));
          store4(c + j, cn, valid);
          h = wasm_f32x4_mul(o, wd_tanh4(cn));
        } else {  /* GRU, linear_before_reset: h~ = tanh(x_h + r * (h R_h + rb_h)) */
          v128_t zg = sig4(wasm_f32x4_add(load4(p + j, valid), z[0]));
          v128_t rg = sig4(wasm_f32x4_add(load4(p + U + j, valid), z[1]));
          v128_t cand = wd_tanh4(wasm_f32x4_add(load4(p + 2 * U + j, valid), wasm_f32x4_mul(rg, z[2])));
          v128_t hprev = hp ? load4(hp + j, valid) : wasm_f32x4_splat(0.0f);
          h = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_splat(1.0f), zg), cand), wasm_f32x4_mul(zg, hprev));
        }
        store4(y + j, h, valid);
      }
    }
  }
}

void wd_recurrent(const wd_rec_t* a) {
  const int U = a->U, T = a->T;
  if (a->c_out) {  /* the cell state lives in cT, updated in place (each unit by one task) */
    for (int n = 0; n < a->N; n++)
      for (int j = 0; j < U; j++) a->c_out[(size_t)n * U + j] = a->c0 ? a->c0[(size_t)n * U + j] : 0.0f;
  }
  int panels = (U + UNITS - 1) / UNITS;
  /* one stretch of panels per thread: the caller claims task 0 as it publishes the job and a
   * spinning helper the next, so each thread keeps reading the same part of R step after step (a
   * 256-unit LSTM's R is 1 MiB: in halves it stays in two cores' L2 caches) */
  int per = (panels + wd_nthreads - 1) / wd_nthreads;
  if (per < 1) per = 1;
  rec_step_t st = {a, 0, -1, per, panels};
  for (int s = 0; s < T; s++) {
    st.t = a->reverse ? T - 1 - s : s;
    st.prev = s == 0 ? -1 : (a->reverse ? st.t + 1 : st.t - 1);
    wd_parallel((panels + per - 1) / per, rec_task, &st);
  }
  for (int n = 0; n < a->N; n++) {
    if (T == 0) {
      for (int j = 0; j < U; j++) a->h_out[(size_t)n * U + j] = a->h0 ? a->h0[(size_t)n * U + j] : 0.0f;
    } else {
      int last = a->reverse ? 0 : T - 1;
      __builtin_memcpy(a->h_out + (size_t)n * U, a->y + ((size_t)n * T + last) * U, (size_t)U * 4);
    }
  }
}
