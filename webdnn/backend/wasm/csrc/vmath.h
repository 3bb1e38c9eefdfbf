/* float32 exp, log, tanh and erf on four lanes (SIMD128), for fused epilogues, elementwise kernels
 * and softmax. Polynomials fitted to these ranges (least squares on Chebyshev nodes, checked in
 * float32): each is within a few ulp, far inside the wasm tolerance (1e-4 relative). Special values
 * follow C: exp(-inf) = 0, exp(inf) = inf, log(0) = -inf, log(x < 0) = NaN, NaN stays NaN. The
 * scalar forms are lane 0 of the same code, so a loop's tail agrees with its vector body. */
#ifndef WDNN_VMATH_H
#define WDNN_VMATH_H
#include <wasm_simd128.h>

#define WD_V4 static inline __attribute__((always_inline)) v128_t
#define WD_SPLAT(c) wasm_f32x4_splat(c)

/* c0 + x (c1 + x (c2 + ...)), the coefficients as literals */
#ifdef __wasm_relaxed_simd__
#define WD_FMA_(acc, x, c) wasm_f32x4_relaxed_madd((acc), (x), WD_SPLAT(c))
#else
#define WD_FMA_(acc, x, c) wasm_f32x4_add(wasm_f32x4_mul((acc), (x)), WD_SPLAT(c))
#endif
/* clamps with pmin/pmax (one instruction each; NaN does not propagate through them: callers restore it) */
#define WD_CLAMP(x, lo, hi) wasm_f32x4_pmin(wasm_f32x4_pmax((x), WD_SPLAT(lo)), WD_SPLAT(hi))
#define WD_KEEP_NAN(x, y) wasm_v128_bitselect((x), (y), wasm_f32x4_ne((x), (x)))
#define WD_POLY5(x, c0, c1, c2, c3, c4) WD_FMA_(WD_FMA_(WD_FMA_(WD_FMA_(WD_SPLAT(c4), x, c3), x, c2), x, c1), x, c0)
#define WD_POLY6(x, c0, c1, c2, c3, c4, c5) WD_FMA_(WD_POLY5(x, c1, c2, c3, c4, c5), x, c0)
#define WD_POLY7(x, c0, c1, c2, c3, c4, c5, c6) WD_FMA_(WD_POLY6(x, c1, c2, c3, c4, c5, c6), x, c0)
#define WD_POLY10(x, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9) \
  WD_FMA_(WD_FMA_(WD_FMA_(WD_POLY7(x, c3, c4, c5, c6, c7, c8, c9), x, c2), x, c1), x, c0)

/* p * 2^n for n an integer in [-150, 128] given as its int32 lanes, as the product of two normal
 * powers (no overflow, and results down to the smallest subnormal) */
WD_V4 wd_scale2i4(v128_t p, v128_t ni) {
  v128_t n1 = wasm_i32x4_shr(ni, 1), n2 = wasm_i32x4_sub(ni, n1);
  v128_t s1 = wasm_i32x4_shl(wasm_i32x4_add(n1, wasm_i32x4_splat(127)), 23);
  v128_t s2 = wasm_i32x4_shl(wasm_i32x4_add(n2, wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(wasm_f32x4_mul(p, s1), s2);
}

/* e^x = 2^n e^r, n = round(x / ln 2), |r| <= ln 2 / 2; e^r = 1 + r + r^2 P(r): -> e^r for x (clamped by the
 * caller), and in *ni the lanes of n as int32 */
WD_V4 wd_exp4_reduced(v128_t xc, v128_t* ni) {
  /* n = round(x / ln 2) by adding 1.5 * 2^23: the low bits of the sum are n (round to nearest even) */
  v128_t t = wasm_f32x4_add(wasm_f32x4_mul(xc, WD_SPLAT(1.44269504088896341f)), WD_SPLAT(12582912.0f));
  v128_t n = wasm_f32x4_sub(t, WD_SPLAT(12582912.0f));
  *ni = wasm_i32x4_sub(t, wasm_i32x4_splat(0x4b400000));
  v128_t r = wasm_f32x4_sub(wasm_f32x4_sub(xc, wasm_f32x4_mul(n, WD_SPLAT(0.693145751953125f))),
                            wasm_f32x4_mul(n, WD_SPLAT(1.428606765330187e-06f)));
  v128_t q = WD_POLY6(r, 0.5f, 0.16666667163372040f, 0.041666466742753983f, 0.0083332983776927f,
                      0.0013933646259829402f, 0.00019899275503121316f);
  return wasm_f32x4_add(wasm_f32x4_add(WD_SPLAT(1.0f), r), wasm_f32x4_mul(wasm_f32x4_mul(r, r), q));
}

WD_V4 wd_exp4(v128_t x) {
  v128_t ni, p = wd_exp4_reduced(WD_CLAMP(x, -104.0f, 88.72284f), &ni);
  v128_t y = wd_scale2i4(p, ni);
  return WD_KEEP_NAN(x, wasm_v128_bitselect(WD_SPLAT(__builtin_inff()), y, wasm_f32x4_gt(x, WD_SPLAT(88.72284f))));
}

/* e^x for x <= 0 (softmax's x - max), or 0 where that is below the smallest normal float (x < -87.3; an
 * error under 1.3e-38): masked attention scores (-100, -1e4, the lowest float) would make subnormal
 * probabilities, and an x86 CPU multiplies subnormals (computing them, then in the next MatMul) about a
 * hundred times slower than normal floats (wasm keeps subnormals: no flush-to-zero mode). With x <= 0 the
 * result is at most 1 and 2^n a normal power: no overflow clamp, one scaling, no special-value selects
 * (NaN comes through the arithmetic): about half the work of wd_exp4. Not for x > 0. */
WD_V4 wd_exp4_nonpos(v128_t x) {
  v128_t tiny = wasm_f32x4_lt(x, WD_SPLAT(-87.3f));
  v128_t ni, p = wd_exp4_reduced(wasm_f32x4_pmax(x, WD_SPLAT(-87.3f)), &ni);  /* pmax(a, b): a < b ? b : a, a NaN stays */
  /* 2^n, n in [-126, 0]: the biased exponent n + 127 in place */
  v128_t s = wasm_i32x4_shl(wasm_i32x4_add(ni, wasm_i32x4_splat(127)), 23);
  return wasm_v128_andnot(wasm_f32x4_mul(p, s), tiny);
}

/* 1 / (1 + e^-x) from e = e^-|x| <= 1 (wd_exp4_nonpos): 1 / (1 + e) for x >= 0, e / (1 + e) below; no
 * overflow to clamp, and a NaN x stays NaN. About two thirds of the work of 1 / (1 + wd_exp4(-x)). */
WD_V4 wd_sigmoid4(v128_t x) {
  v128_t e = wd_exp4_nonpos(wasm_f32x4_neg(wasm_f32x4_abs(x)));
  return wasm_f32x4_div(wasm_v128_bitselect(WD_SPLAT(1.0f), e, wasm_f32x4_ge(x, WD_SPLAT(0.0f))),
                        wasm_f32x4_add(WD_SPLAT(1.0f), e));
}

/* log x = e ln 2 + 2 atanh(s), x = 2^e m, m in [sqrt(1/2), sqrt(2)), s = (m - 1) / (m + 1), |s| < 0.172 */
WD_V4 wd_log4(v128_t x) {
  v128_t sub = wasm_f32x4_lt(x, WD_SPLAT(1.17549435e-38f));  /* subnormals (and <= 0) scaled by 2^23 */
  v128_t xs = wasm_v128_bitselect(wasm_f32x4_mul(x, WD_SPLAT(8388608.0f)), x, sub);
  v128_t bits = xs;
  v128_t e = wasm_i32x4_sub(wasm_v128_and(wasm_u32x4_shr(bits, 23), wasm_i32x4_splat(0xff)),
                            wasm_i32x4_splat(127));
  e = wasm_i32x4_sub(e, wasm_v128_and(sub, wasm_i32x4_splat(23)));
  v128_t m = wasm_v128_or(wasm_v128_and(bits, wasm_i32x4_splat(0x007fffff)), wasm_i32x4_splat(0x3f800000));
  v128_t big = wasm_f32x4_gt(m, WD_SPLAT(1.41421356f));
  m = wasm_v128_bitselect(wasm_f32x4_mul(m, WD_SPLAT(0.5f)), m, big);
  v128_t ef = wasm_f32x4_convert_i32x4(wasm_i32x4_sub(e, big));  /* big is -1 where true */
  v128_t s = wasm_f32x4_div(wasm_f32x4_sub(m, WD_SPLAT(1.0f)), wasm_f32x4_add(m, WD_SPLAT(1.0f)));
  v128_t s2 = wasm_f32x4_mul(s, s);
  v128_t r = wasm_f32x4_mul(s, WD_POLY5(s2, 2.0f, 2.0f / 3, 2.0f / 5, 2.0f / 7, 2.0f / 9));
  r = wasm_f32x4_add(wasm_f32x4_add(r, wasm_f32x4_mul(ef, WD_SPLAT(1.428606765330187e-06f))),
                     wasm_f32x4_mul(ef, WD_SPLAT(0.693145751953125f)));
  r = wasm_v128_bitselect(WD_SPLAT(-__builtin_inff()), r, wasm_f32x4_eq(x, WD_SPLAT(0.0f)));
  r = wasm_v128_bitselect(x, r, wasm_f32x4_eq(x, WD_SPLAT(__builtin_inff())));
  return wasm_v128_bitselect(WD_SPLAT(__builtin_nanf("")), r, wasm_v128_or(wasm_f32x4_lt(x, WD_SPLAT(0.0f)),
                                                                             wasm_f32x4_ne(x, x)));
}

/* tanh x = x P(x^2) / Q(x^2) with x clamped to [-7.9, 7.9] (within 3e-7 of +-1 beyond): one rational
 * (degrees 6 and 5 in x^2, fitted by weighted least squares; within 5e-7 relative in float32) */
WD_V4 wd_tanh4(v128_t x) {
  v128_t xc = WD_CLAMP(x, -7.9f, 7.9f);
  v128_t u = wasm_f32x4_mul(xc, xc);
  v128_t p = WD_POLY7(u, 0.9999999403953552f, -0.15893474221229553f, 0.031658511608839035f, 0.007514297962188721f,
                      0.0001716740953270346f, 4.5426239125845314e-07f, -3.78588244087652e-10f);
  v128_t q = WD_POLY6(u, 1.0f, 0.17439766228199005f, -0.0435398668050766f, 0.023713761940598488f,
                      0.0014255506685003638f, 1.2564758435473777e-05f);
  return WD_KEEP_NAN(x, wasm_f32x4_div(wasm_f32x4_mul(xc, p), q));
}

/* erf x = x P(x^2) / Q(x^2) with x clamped to [-4, 4] (erf is +-1 in float32 beyond): one rational
 * (degrees 6 and 4 in x^2, fitted by weighted least squares; within 5e-7 relative in float32) and no
 * branch, so a fused GELU costs a division and ten multiply-adds per four lanes */
WD_V4 wd_erf4(v128_t x) {
  v128_t xc = WD_CLAMP(x, -4.0f, 4.0f);
  v128_t u = wasm_f32x4_mul(xc, xc);
  v128_t p = WD_POLY7(u, 1.1283788681030273f, 0.21033510565757751f, 0.05194910243153572f, 0.004132875241339207f,
                      0.00015118134615477175f, -1.9648725810839096e-06f, 1.9157230468636044e-08f);
  v128_t q = WD_POLY5(u, 1.0f, 0.5197340250015259f, 0.11929958313703537f, 0.015235825441777706f,
                      0.0010573901236057281f);
  return WD_KEEP_NAN(x, wasm_f32x4_div(wasm_f32x4_mul(xc, p), q));
}

#define WD_LANE0(f, x) wasm_f32x4_extract_lane(f(wasm_f32x4_splat(x)), 0)

#undef WD_V4
#endif
