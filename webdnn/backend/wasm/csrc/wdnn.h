/* The wasm backend's kernel library: declarations shared by the library (compiled once, cached)
 * and the per-model code the converter generates (compiled per model). Freestanding: no libc. */
#ifndef WDNN_H
#define WDNN_H
#include <stdint.h>
#include <stddef.h>
#include <wasm_simd128.h>
#include "vmath.h"

#define WD_EXPORT(name) __attribute__((export_name(#name))) 
#define WD_INLINE static inline __attribute__((always_inline))
typedef float f32;
typedef v128_t f32x4;

/* ---- threads: a task pool over shared memory ------------------------------------------- */
typedef void (*wd_task_fn)(const void* arg, int task, int tid);
extern int wd_nthreads;
/* Runs fn(arg, t, tid) for t in [0, n) on every thread (the caller is thread 0); returns when all are done. */
void wd_parallel(int n, wd_task_fn fn, const void* arg);
/* run() and wd_step() bracket their kernels with these: helper threads keep polling for jobs in between */
void wd_run_begin(void);
void wd_run_end(void);
/* Per-thread scratch memory (packing buffers), set up by the model's init. */
extern char* wd_scratch;
extern int wd_scratch_bytes;
WD_INLINE float* wd_thread_scratch(int tid) { return (float*)(wd_scratch + (size_t)tid * wd_scratch_bytes); }

/* ---- contraction with a fused epilogue -------------------------------------------------- */
/* Called on each finished output block: rows [m0, m1) and columns [n0, n1) of the [M, N] output
 * `y` of image (or batch entry) `img`, leading dimension ldy. It rewrites the block in place. */
typedef void (*wd_epi_fn)(float* y, int ldy, int img, int m0, int m1, int n0, int n1);

typedef struct {
  const float* x; const float* w; const float* bias; float* y;
  int N, C, H, W, M, OH, OW, kh, kw, sh, sw, pt, pl, dh, dw, group;
  wd_epi_fn epi;
  int packed;  /* w was rewritten by wd_pack_a (per group) */
  float* work; int work_floats;  /* where an image's packed columns may go when threads split the rows (or 0) */
} wd_conv_t;
void wd_conv(const wd_conv_t* p);            /* Conv: depthwise kernel or packed GEMM (implicit im2col) */
void wd_conv_depthwise(const wd_conv_t* p);  /* depthwise Conv without scratch (any image size) */
/* ConvTranspose: a GEMM into cols (pix input pixels at a time: pix * M/group * kh * kw floats), then col2im */
void wd_conv_transpose(const wd_conv_t* p, float* cols, int pix);
/* 3×3 stride-1 Conv (group 1) by Winograd F(4×4, 3×3): u holds the weights transformed by
 * wd_winograd_weights (36 * M * C floats, at load); work holds 36 * (C + M) * ntp floats, where
 * ntp = rows * ceil(OW / 4) + 4 rounded up to a multiple of 4 (rows: tile rows per chunk). */
void wd_winograd_weights(const float* w, float* u, int M, int C);
void wd_winograd(const wd_conv_t* p, const float* u, float* work, int rows);
/* The same on 8-bit weights: u from wd_q8_winograd_weights (_stored: from int8 as stored, axis 0) into
 * emit.q8_winograd_weight_bytes(M, C) bytes at load; work: emit.q8_winograd_work_bytes(C, M, ntp) bytes
 * with ntp = rows * ceil(OW / 4) + 4 rounded up to a multiple of 8. */
void wd_q8_winograd_weights(const float* w, int M, int C, int16_t* u);
void wd_q8_winograd_weights_stored(const char* stored, int M, int C, int16_t* u);
void wd_q8_winograd(const wd_conv_t* p, const int16_t* u, void* work, int rows);
/* Rewrites a row-major [M, K] weight matrix in place into the GEMM's packed panels (once, at load). */
void wd_pack_a(float* a, int M, int K);
/* Batched matrix product: for each b < batch, C_b[M,N] = A_b[M,K] × B_b[K,N] with element offsets
 * a_off[b], b_off[b], c_off[b] (from the broadcast), then epi(c_b, N, b, ...). */
void wd_matmul(const float* a, const float* b, float* c, int M, int N, int K, int batch,
               const int32_t* a_off, const int32_t* b_off, wd_epi_fn epi);
/* B rewritten at load into slivers of WD_NR columns (N % WD_NR == 0; seen: K * N / 64 bytes, rounded up),
 * then products of M >= 4 rows on it */
void wd_pack_b_slivers(float* b, int K, int N, uint8_t* seen);
void wd_matmul_slivers(const float* a, const float* b, float* c, int M, int N, int K, int batch, const int32_t* a_off,
                       wd_epi_fn epi);
/* The same for M < 4 with a B shared by the whole batch and rewritten at load into panels of 32
 * columns (wd_pack_b_panels, in place; tmp: K * N floats). */
/* wd_matmul over a batch given by its dims, in row-major order: product i takes A and B at the element
 * offsets sum_d ix_d * sa[d] * M*K and sum_d ix_d * sb[d] * K*N (sizes known only at run time). */
void wd_matmul_nd(const float* a, const float* b, float* c, int M, int N, int K, int rank, const int32_t* dims,
                  const int32_t* sa, const int32_t* sb, wd_epi_fn epi);
void wd_pack_b_panels(float* b, int K, int N, float* tmp);
void wd_gemv_packed(const float* a, const float* b, float* c, int M, int N, int K, int batch,
                    const int32_t* a_off, wd_epi_fn epi);
/* Products with 8-bit weights (qgemm.c): a constant B[K, N] quantized at load into emit.q8_weight_bytes(K, N)
 * bytes, then C_b = A_b x B for each b < batch (A_b at a_off[b]; A quantized per row as it runs, `chunk`
 * rows at a time, into work: emit.q8_work_bytes(min(M, chunk), K) bytes), epi(c_b, N, b, ...) on each
 * finished block. */
void wd_q8_weights(const float* b, int K, int N, int8_t* dst);
void wd_q8_weights_stored(const char* stored, int K, int N, int8_t* dst);  /* from int8 as stored (axis 1) */
void wd_int4_decode(const char* stored, int n, int block, int f32_scales, int zeros, int kn, float* dst);  /* int4 -> floats */
void wd_matmul_q4(const float* a, const char* stored, float* c, int M, int N, int K, int batch, const int32_t* a_off,
                  int block, int f32_scales, int zeros, int a8, wd_epi_fn epi);   /* B 4-bit in blocks along K, as stored */

/* an IEEE half (its bits) as a float */
WD_INLINE float wd_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
  if (exp == 0) {
    float f = (float)man * (1.0f / 16777216.0f);  /* zero or subnormal: man x 2^-24 */
    return sign ? -f : f;
  }
  bits = exp == 31 ? sign | 0x7f800000u | (man << 13) : sign | ((exp + 112) << 23) | (man << 13);
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}
void wd_q8_matmul(const float* a, const int8_t* bq, float* c, int M, int N, int K, int batch,
                  const int32_t* a_off, void* work, int chunk, wd_epi_fn epi);
/* Conv of group 1 (any kernel, stride, padding, dilation) with 8-bit weights: W [M, K = C*kh*kw] quantized
 * at load into emit.q8_conv_weight_bytes(M, K) bytes; per image, y = W x patches (+ bias per channel), the
 * patches quantized per output pixel, `cols` pixels at a time (a multiple of 64), into work
 * (emit.q8_conv_work_bytes(K, min(cols, OH * OW)) bytes; the threads' scratch holds 8 pixels' patches,
 * 32 K bytes); epi(y_img, OH * OW, img, ...) on each block. */
void wd_q8_conv_weights(const float* w, int M, int K, int16_t* dst);
/* 8 columns (value k of column j at src[k * ks + j]) quantized each to its own scale (largest magnitude / qmax),
 * as int16 k-pairs [K/2][8][2]; and a panel of up to 4 rows x 8 such columns of operands of up to 13 bits,
 * scaled into floats (qgemm.c) */
void wd_q8_quantize8(const float* src, size_t ks, int K, int KP, float qmax, int16_t* d, float* scales);
void wd_q8_panel_wide(const int16_t* ap, const int16_t* bp, int KP, float* c, int ldc, int rows, int w,
                      const float* rs, const float* cs);
void wd_q8_conv_weights_stored(const char* stored, int M, int K, int16_t* dst);  /* from int8 as stored (axis 0) */
void wd_q8_conv(const float* x, const int16_t* wq, const float* bias, float* y, int N, int C, int H, int W,
                int OH, int OW, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw, int M, void* work,
                int cols, wd_epi_fn epi);
/* acc + a * b: one fused multiply-add with relaxed SIMD (where the CPU has FMA), else a multiply and
 * an add (rounded twice). */
#ifdef __wasm_relaxed_simd__
#define WD_MADD(acc, a, b) wasm_f32x4_relaxed_madd((a), (b), (acc))
#else
#define WD_MADD(acc, a, b) wasm_f32x4_add((acc), wasm_f32x4_mul((a), (b)))
#endif
#define WD_MR 4
#define WD_NR 8
/* WD_KC, WD_NC (the GEMM's cache blocking) come from toolchain.py as -D flags, which also sizes
 * the per-thread scratch from them */
#if !defined(WD_KC) || !defined(WD_NC)
#error "WD_KC and WD_NC are set by the compiler flags (webdnn/backend/wasm/toolchain.py)"
#endif

/* ---- other kernel families -------------------------------------------------------------- */
typedef struct {
  const float* x; float* y;
  int NC, H, W, OH, OW, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
  int is_max, count_include_pad;
} wd_pool_t;
void wd_pool(const wd_pool_t* p);
void wd_maxpool_u8(const wd_pool_t* p);
void wd_maxpool_i8(const wd_pool_t* p);
void wd_softmax(const float* x, float* y, int outer, int n, int inner, int log);
void wd_lrn(const float* x, float* y, int N, int C, int inner, int size, float alpha, float beta, float bias);
/* Reduce over the axes whose flag is set; shape has `rank` dims (rank <= 8). kind: see WD_RED_*. */
enum { WD_RED_SUM, WD_RED_MEAN, WD_RED_MAX, WD_RED_MIN, WD_RED_PROD, WD_RED_SUMSQUARE, WD_RED_L1, WD_RED_L2,
       WD_RED_LOGSUM, WD_RED_LOGSUMEXP };
/* sum, mean, max or min over the middle axis of [outer, n, inner] (float32, SIMD) */
void wd_reduce_rows_f32(const float* x, float* y, int outer, int n, int inner, int kind);
void wd_reduce_f32(const float* x, float* y, int rank, const int32_t* shape, const uint8_t* red, int kind);
void wd_reduce_i32(const int32_t* x, int32_t* y, int rank, const int32_t* shape, const uint8_t* red, int kind);
void wd_reduce_u8(const uint8_t* x, uint8_t* y, int rank, const int32_t* shape, const uint8_t* red, int kind);
/* Index mapping (indexmap.c): out[o] = src[sum_k maps[k][o_k]] for every output index o, or *fill
 * where an entry is negative (padding). esize is 1 or 4 bytes. */
void wd_map(void* dst, const void* src, int esize, int rank, const int32_t* shape, const int32_t* const* maps,
            const void* fill);
/* Gather along an axis: data viewed as [outer, n, inner], indices (int32) of count k. */
void wd_gather(void* out, const void* data, const int32_t* idx, int esize, int outer, int n, int inner, int k);
/* out[i] = in[base + sum_k i_k * strides[k]] over `shape` (element offsets): wd_map without tables. */
void wd_map_strided(void* dst, const void* src, int esize, int rank, const int32_t* shape, const int32_t* strides,
                    int32_t base);
/* Offsets for n storage groups of size[g] bytes, live over kernels first[g]..last[g]: largest first, each in
 * the smallest gap left by the groups it overlaps in time, aligned to `align`. order and tmp hold n and 2n
 * entries of scratch. Returns the bytes the arena needs. */
uint32_t wd_plan_arena(int n, const uint32_t* size, const int32_t* first, const int32_t* last, uint32_t* off,
                       int32_t* order, uint32_t* tmp, uint32_t align);
void wd_copy(void* dst, const void* src, size_t bytes);

/* ---- data-dependent index ops, arg reductions, scans, top-k, resize (indexing.c) -------- */
enum { WD_F32, WD_I32, WD_U8, WD_I8 };  /* element kinds by storage */
enum { WD_SCATTER_NONE, WD_SCATTER_ADD, WD_SCATTER_MUL, WD_SCATTER_MAX, WD_SCATTER_MIN };
void wd_gather_elements(void* out, const void* data, const int32_t* idx, int dtype, int rank, const int32_t* dshape,
                        const int32_t* ishape, int axis);
void wd_scatter_elements(void* out, const int32_t* idx, const void* upd, int dtype, int rank, const int32_t* oshape,
                         const int32_t* ishape, int axis, int red);
void wd_gather_nd(void* out, const void* data, const int32_t* idx, int dtype, int nb, int J, int m,
                  const int32_t* dims, const int32_t* strides, int bs, int S);
void wd_scatter_nd(void* out, const int32_t* idx, const void* upd, int dtype, int J, int m, const int32_t* dims,
                   const int32_t* strides, int S, int red);
void wd_argreduce(int32_t* out, const void* x, int dtype, int outer, int n, int inner, int is_max, int last);
void wd_cumsum(void* y, const void* x, int dtype, int outer, int n, int inner, int prod, int exclusive, int reverse);
void wd_topk(void* vals, int32_t* idx, const void* x, int dtype, int outer, int n, int inner, int k, int largest);
void wd_resize(void* y, const void* x, int dtype, int out_f16, int rank, const int32_t* in_shape, const int32_t* out_shape,
               const int32_t* taps, const int32_t* const* index, const double* const* weight, double* t0, double* t1,
               double fill);
void wd_copy2d(void* dst, int dst_stride, const void* src, int src_stride, int rows, int row_bytes);

/* Recurrent (recurrent.c): P [N, T, G*U] projections, r packed by wd_pack_recurrent, rb [G*U] (GRU) or 0,
 * h0/c0 [N, U] or 0; writes y [N, T, U], h_out [N, U] and (LSTM) c_out [N, U]. */
enum { WD_REC_RNN, WD_REC_LSTM, WD_REC_GRU };
typedef struct {
  const float* p; const float* r; const float* rb; const float* h0; const float* c0;
  float* y; float* h_out; float* c_out;
  int N, T, U, G, kind, reverse;
} wd_rec_t;
void wd_pack_recurrent(const float* r, float* out, int U, int G);
void wd_recurrent(const wd_rec_t* a);

/* ---- scalar math (no libc in a freestanding wasm module) ------------------------------- */
double wd_exp(double x);
double wd_log(double x);
double wd_pow(double a, double b);
double wd_sin(double x);
double wd_cos(double x);
double wd_tanh(double x);
double wd_erf(double x);
double wd_tan(double x);
double wd_atan(double x);
double wd_asin(double x);
double wd_acos(double x);
double wd_sinh(double x);
double wd_cosh(double x);
double wd_asinh(double x);
double wd_acosh(double x);
double wd_atanh(double x);
double wd_fmod(double a, double b);
float wd_round_half(float x);  /* nearest float16 value, as a float */

WD_INLINE float wd_maxf(float a, float b) { return __builtin_wasm_max_f32(a, b); }
WD_INLINE float wd_minf(float a, float b) { return __builtin_wasm_min_f32(a, b); }
WD_INLINE float wd_signf(float a) { return a > 0 ? 1.0f : a < 0 ? -1.0f : a; }
WD_INLINE int32_t wd_signi(int32_t a) { return a > 0 ? 1 : a < 0 ? -1 : 0; }
WD_INLINE int32_t wd_absi(int32_t a) { return a < 0 ? -a : a; }
WD_INLINE int32_t wd_maxi(int32_t a, int32_t b) { return a > b ? a : b; }
WD_INLINE int32_t wd_mini(int32_t a, int32_t b) { return a < b ? a : b; }
/* integer division and remainder truncated toward zero; x/0 gives 0 instead of trapping */
WD_INLINE int32_t wd_idivi(int32_t a, int32_t b) { return b == 0 ? 0 : (b == -1 ? (int32_t)(0u - (uint32_t)a) : a / b); }
WD_INLINE int32_t wd_imodi(int32_t a, int32_t b) { return (b == 0 || b == -1) ? 0 : a % b; }
WD_INLINE float wd_idivf(float a, float b) { return __builtin_truncf(a / b); }
WD_INLINE float wd_imodf(float a, float b) { return (float)wd_fmod(a, b); }
WD_INLINE int32_t wd_powi(int32_t a, int32_t b) {
  if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  int32_t r = 1;
  while (b) { if (b & 1) r = (int32_t)((uint32_t)r * (uint32_t)a); a = (int32_t)((uint32_t)a * (uint32_t)a); b >>= 1; }
  return r;
}
WD_INLINE float wd_expf(float x) { return WD_LANE0(wd_exp4, x); }
WD_INLINE float wd_expf_nonpos(float x) { return WD_LANE0(wd_exp4_nonpos, x); }
WD_INLINE float wd_sigmoidf(float x) { return WD_LANE0(wd_sigmoid4, x); }
WD_INLINE float wd_logf(float x) { return WD_LANE0(wd_log4, x); }
WD_INLINE float wd_powf(float a, float b) { return (float)wd_pow(a, b); }
WD_INLINE float wd_sinf(float x) { return (float)wd_sin(x); }
WD_INLINE float wd_cosf(float x) { return (float)wd_cos(x); }
WD_INLINE float wd_tanhf(float x) { return WD_LANE0(wd_tanh4, x); }
WD_INLINE float wd_erff(float x) { return WD_LANE0(wd_erf4, x); }
WD_INLINE float wd_tanf(float x) { return (float)wd_tan(x); }
WD_INLINE float wd_atanf(float x) { return (float)wd_atan(x); }
WD_INLINE float wd_asinf(float x) { return (float)wd_asin(x); }
WD_INLINE float wd_acosf(float x) { return (float)wd_acos(x); }
WD_INLINE float wd_sinhf(float x) { return (float)wd_sinh(x); }
WD_INLINE float wd_coshf(float x) { return (float)wd_cosh(x); }
WD_INLINE float wd_asinhf(float x) { return (float)wd_asinh(x); }
WD_INLINE float wd_acoshf(float x) { return (float)wd_acosh(x); }
WD_INLINE float wd_atanhf(float x) { return (float)wd_atanh(x); }
/* logical shifts on the unsigned value; counts past the width give 0 */
/* a count outside [0, 32) shifts every bit out; right shifts are arithmetic (unsigned values are
 * non-negative here, so that is their logical shift too); the store narrows to the dtype */
WD_INLINE int32_t wd_shl(int32_t a, int32_t b) { return (uint32_t)b >= 32 ? 0 : (int32_t)((uint32_t)a << b); }
WD_INLINE int32_t wd_shr(int32_t a, int32_t b) { return (uint32_t)b >= 32 ? (a < 0 ? -1 : 0) : a >> b; }
/* float -> integer conversions saturate (NaN gives 0) instead of trapping */
WD_INLINE int32_t wd_f2i(float x) { return __builtin_wasm_trunc_saturate_s_i32_f32(x); }

#endif
