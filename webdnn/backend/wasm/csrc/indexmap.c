/* Index mapping: every output element is one input element, or a fill value. wd_map runs Transpose,
 * Slice, Pad and Expand through per-axis offset tables; wd_gather is Gather along one axis (Concat and
 * Split are row copies, wd_copy2d in runtime.c). */
#include "wdnn.h"

void wd_map(void* dst, const void* src, int esize, int rank, const int32_t* shape, const int32_t* const* maps,
            const void* fill) {
  int64_t size = 1;
  for (int d = 0; d < rank; d++) size *= shape[d];
  if (size == 0) return;
  if (rank == 0) {
    __builtin_memcpy(dst, src, esize);
    return;
  }
  int L = shape[rank - 1];
  const int32_t* last = maps[rank - 1];
  int contiguous = last[0] >= 0;
  for (int j = 1; j < L && contiguous; j++) contiguous = last[j] == last[0] + j;
  int32_t idx[8] = {0};
  int64_t rows = size / L;
  char* out = (char*)dst;
  const char* s = (const char*)src;
  for (int64_t t = 0; t < rows; t++) {
    int64_t base = 0;
    int padded = 0;
    for (int k = 0; k < rank - 1; k++) {
      int32_t v = maps[k][idx[k]];
      if (v < 0) padded = 1;
      base += v;
    }
    if (padded) {
      for (int j = 0; j < L; j++) __builtin_memcpy(out + (size_t)j * esize, fill, esize);
    } else if (contiguous) {
      __builtin_memcpy(out, s + (base + last[0]) * esize, (size_t)L * esize);
    } else if (esize == 4) {
      const int32_t* s4 = (const int32_t*)s + base;
      int32_t* o4 = (int32_t*)out;
      int32_t f = *(const int32_t*)fill;
      for (int j = 0; j < L; j++) o4[j] = last[j] < 0 ? f : s4[last[j]];
    } else {
      const uint8_t* s1 = (const uint8_t*)s + base;
      uint8_t f = *(const uint8_t*)fill;
      for (int j = 0; j < L; j++) out[j] = last[j] < 0 ? f : s1[last[j]];
    }
    out += (size_t)L * esize;
    for (int k = rank - 2; k >= 0 && ++idx[k] == shape[k]; k--) idx[k] = 0;
  }
}

void wd_map_strided(void* dst, const void* src, int esize, int rank, const int32_t* shape, const int32_t* strides,
                    int32_t base) {
  int64_t size = 1;
  for (int d = 0; d < rank; d++) size *= shape[d];
  if (size == 0) return;
  char* out = (char*)dst;
  const char* s = (const char*)src;
  if (rank == 0) {
    __builtin_memcpy(out, s + (int64_t)base * esize, esize);
    return;
  }
  int L = shape[rank - 1];
  int32_t st = strides[rank - 1];
  int32_t idx[8] = {0};
  int64_t rows = size / L;
  for (int64_t t = 0; t < rows; t++) {
    int64_t at = base;
    for (int k = 0; k < rank - 1; k++) at += (int64_t)idx[k] * strides[k];
    if (st == 1) {
      __builtin_memcpy(out, s + at * esize, (size_t)L * esize);
    } else if (esize == 4) {
      const int32_t* s4 = (const int32_t*)s + at;
      int32_t* o4 = (int32_t*)out;
      for (int j = 0; j < L; j++) o4[j] = s4[(int64_t)j * st];
    } else {
      const uint8_t* s1 = (const uint8_t*)s + at;
      for (int j = 0; j < L; j++) out[j] = s1[(int64_t)j * st];
    }
    out += (size_t)L * esize;
    for (int k = rank - 2; k >= 0 && ++idx[k] == shape[k]; k--) idx[k] = 0;
  }
}

void wd_gather(void* out, const void* data, const int32_t* idx, int esize, int outer, int n, int inner, int k) {
  char* o = (char*)out;
  const char* d = (const char*)data;
  size_t row = (size_t)inner * esize;
  for (int a = 0; a < outer; a++)
    for (int i = 0; i < k; i++) {
      int j = idx[i] < 0 ? idx[i] + n : idx[i];
      if (j < 0 || j >= n) __builtin_memset(o, 0, row);
      else __builtin_memcpy(o, d + ((size_t)a * n + j) * row, row);
      o += row;
    }
}
