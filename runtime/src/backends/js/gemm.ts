// The contraction core shared by Conv, ConvTranspose and MatMul: C[M×N] += A[M×K] · B[K×N].
// GotoBLAS-style: A is packed into 4-row panels (once, and cached when it is a weight), B is packed
// block by block (KC×NC, so a block stays in cache) into 4-column panels by a caller-supplied
// function (a plain matrix copy, or im2col for convolution), and a 4×4 register-blocked
// micro-kernel accumulates in float64 locals.

export const MR = 4;
export const NR = 4;
export const KC = 256;
export const NC = 512;

export interface PackedA {
  data: Float32Array;
  m: number;
  k: number;
  /** m rounded up to a multiple of MR */
  mPad: number;
}

/**
 * Packs the M×K matrix with element (i, p) at src[off + i*rowStride + p*colStride]. Layout: for each
 * KC block of columns, for each MR-row panel, for each p in the block, MR values (zero padded).
 */
export function packA(
  src: ArrayLike<number>,
  off: number,
  rowStride: number,
  colStride: number,
  m: number,
  k: number,
): PackedA {
  const mPad = Math.ceil(m / MR) * MR;
  const data = new Float32Array(mPad * k);
  let q = 0;
  for (let pc = 0; pc < k; pc += KC) {
    const kc = Math.min(KC, k - pc);
    for (let i0 = 0; i0 < mPad; i0 += MR) {
      for (let p = 0; p < kc; p++) {
        const col = off + (pc + p) * colStride;
        for (let r = 0; r < MR; r++) {
          const i = i0 + r;
          data[q++] = i < m ? src[col + i * rowStride] : 0;
        }
      }
    }
  }
  return { data, m, k, mPad };
}

/**
 * Fills `dst` with rows [pc, pc+kc) × columns [jc, jc+nc) of B, packed as NR-column panels:
 * for each panel, for each row p, NR values (columns past nc zero padded).
 */
export type PackB = (dst: Float32Array, pc: number, kc: number, jc: number, nc: number) => void;

/** PackB for a plain K×N matrix with element (p, j) at src[off + p*rowStride + j*colStride]. */
export function matrixPackB(src: ArrayLike<number>, off: number, rowStride: number, colStride: number): PackB {
  return (dst, pc, kc, jc, nc) => {
    let q = 0;
    for (let j0 = 0; j0 < nc; j0 += NR) {
      const w = Math.min(NR, nc - j0);
      for (let p = 0; p < kc; p++) {
        const row = off + (pc + p) * rowStride + (jc + j0) * colStride;
        if (w === NR && colStride === 1) {
          dst[q] = src[row];
          dst[q + 1] = src[row + 1];
          dst[q + 2] = src[row + 2];
          dst[q + 3] = src[row + 3];
        } else {
          for (let c = 0; c < NR; c++) dst[q + c] = c < w ? src[row + c * colStride] : 0;
        }
        q += NR;
      }
    }
  };
}

let scratchB = new Float32Array(KC * NC);
const edge = new Float64Array(MR * NR);

/**
 * C[i, j] += Σ_p A[i, p] B[p, j] for i < a.m, j < n, with C[i, j] at c[cOff + i*ldc + j].
 * Callers initialize C (zero or bias).
 */
export function gemm(a: PackedA, n: number, packB: PackB, c: Float32Array, cOff: number, ldc: number): void {
  const { m, k, mPad } = a;
  const A = a.data;
  if (scratchB.length < KC * NC) scratchB = new Float32Array(KC * NC);
  const B = scratchB;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      packB(B, pc, kc, jc, nc);
      const aBlock = pc * mPad;
      for (let i0 = 0; i0 < m; i0 += MR) {
        const ap0 = aBlock + i0 * kc;
        const fullRows = i0 + MR <= m;
        for (let j0 = 0; j0 < nc; j0 += NR) {
          let ap = ap0;
          let bp = j0 * kc;
          let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
          let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
          let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
          let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
          for (let p = 0; p < kc; p++) {
            const a0 = A[ap], a1 = A[ap + 1], a2 = A[ap + 2], a3 = A[ap + 3];
            const b0 = B[bp], b1 = B[bp + 1], b2 = B[bp + 2], b3 = B[bp + 3];
            ap += 4;
            bp += 4;
            c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
            c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
            c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
            c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
          }
          let co = cOff + i0 * ldc + jc + j0;
          if (fullRows && j0 + NR <= nc) {
            c[co] += c00; c[co + 1] += c01; c[co + 2] += c02; c[co + 3] += c03; co += ldc;
            c[co] += c10; c[co + 1] += c11; c[co + 2] += c12; c[co + 3] += c13; co += ldc;
            c[co] += c20; c[co + 1] += c21; c[co + 2] += c22; c[co + 3] += c23; co += ldc;
            c[co] += c30; c[co + 1] += c31; c[co + 2] += c32; c[co + 3] += c33;
          } else {
            edge[0] = c00; edge[1] = c01; edge[2] = c02; edge[3] = c03;
            edge[4] = c10; edge[5] = c11; edge[6] = c12; edge[7] = c13;
            edge[8] = c20; edge[9] = c21; edge[10] = c22; edge[11] = c23;
            edge[12] = c30; edge[13] = c31; edge[14] = c32; edge[15] = c33;
            const rows = Math.min(MR, m - i0);
            const cols = Math.min(NR, nc - j0);
            for (let r = 0; r < rows; r++) {
              for (let q = 0; q < cols; q++) c[co + r * ldc + q] += edge[r * NR + q];
            }
          }
        }
      }
    }
  }
}
