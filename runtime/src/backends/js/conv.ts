// Conv and ConvTranspose. Conv is a GEMM per (image, group): weights [M/g × C/g·kh·kw] times the
// im2col matrix, which is packed straight into the GEMM's B panels (never materialized whole).
// Groups with fewer than 4 output channels (depthwise) use direct loops instead. ConvTranspose is a
// GEMM (Wᵀ · X) into a column buffer followed by a scatter-add (col2im), tiled over input rows.

import type { KernelDesc, TypedArray } from '../../types.js';
import { product, shapeString } from '../../types.js';
import type { PackB, PackedA } from './gemm.js';
import { gemm, matrixPackB, MR, NR, packA } from './gemm.js';
import type { KernelFactory, KernelFn, PrepareContext } from './util.js';
import { as4D, expectArity, intAttr, intListAttr, kernelError } from './util.js';

interface ConvGeometry {
  N: number; C: number; H: number; W: number;
  M: number; OH: number; OW: number;
  kh: number; kw: number;
  sh: number; sw: number; pt: number; pl: number; dh: number; dw: number;
  group: number; Cg: number; Mg: number;
}

function readAttrs(k: KernelDesc) {
  const [sh, sw] = intListAttr(k, 'strides', 2, [1, 1]);
  const pads = intListAttr(k, 'pads', 4, [0, 0, 0, 0]);
  const [dh, dw] = intListAttr(k, 'dilations', 2, [1, 1]);
  const group = intAttr(k, 'group', 1);
  if (sh < 1 || sw < 1 || dh < 1 || dw < 1 || group < 1) {
    throw kernelError(k, `strides, dilations and group must be positive (strides [${sh},${sw}], dilations [${dh},${dw}], group ${group})`);
  }
  return { sh, sw, pt: pads[0], pl: pads[1], dh, dw, group };
}

function biasOf(k: KernelDesc, ctx: PrepareContext, M: number): boolean {
  if (k.inputs.length < 3 || k.inputs[2] === '') return false;
  const b = ctx.info(k.inputs[2]).shape;
  if (product(b) !== M) throw kernelError(k, `bias has shape ${shapeString(b)}, expected [${M}]`);
  return true;
}

function fillBias(y: Float32Array, bias: TypedArray | null, n: number, M: number, plane: number): void {
  if (!bias) return;
  for (let b = 0; b < n; b++) {
    for (let m = 0; m < M; m++) {
      const o = (b * M + m) * plane;
      y.fill(bias[m], o, o + plane);
    }
  }
}

// ---------------- Conv ----------------

const conv: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, [2, 3], 1);
  const [N, C, H, W] = as4D(k, ctx.info(k.inputs[0]).shape, 'input X');
  const wShape = ctx.info(k.inputs[1]).shape;
  const [M, Cg, kh, kw] = as4D(k, wShape, 'weight W');
  const [N2, M2, OH, OW] = as4D(k, ctx.info(k.outputs[0]).shape, 'output');
  const a = readAttrs(k);
  if (C !== Cg * a.group || M % a.group !== 0 || N2 !== N || M2 !== M) {
    throw kernelError(k, `inconsistent shapes: X [${N},${C},${H},${W}], W ${shapeString(wShape)}, output [${N2},${M2},${OH},${OW}], group ${a.group}`);
  }
  const g: ConvGeometry = { N, C, H, W, M, OH, OW, kh, kw, ...a, Cg, Mg: M / a.group };
  const hasBias = biasOf(k, ctx, M);
  const wConst = ctx.constant(k.inputs[1]);
  return g.Mg < MR ? convDirect(g, hasBias) : convGemm(g, wConst);
};

function convGemm(g: ConvGeometry, wConst: TypedArray | undefined): KernelFn {
  const { N, C, H, W, M, OH, OW, kh, kw, sh, sw, pt, pl, dh, dw, group, Cg, Mg } = g;
  const K = Cg * kh * kw;
  const HW = H * W;
  const OHW = OH * OW;
  const packWeights = (w: ArrayLike<number>): PackedA[] => {
    const packs: PackedA[] = [];
    for (let gi = 0; gi < group; gi++) packs.push(packA(w, gi * Mg * K, K, 1, Mg, K));
    return packs;
  };
  const cached = wConst ? packWeights(wConst) : null;

  const pointwise = kh === 1 && kw === 1 && sh === 1 && sw === 1 && pt === 0 && pl === 0 && OH === H && OW === W;
  // im2col tables: row p = (c, ki, kj) → input offset and (dy, dx); column j = (oh, ow) → top-left corner
  const rowOff = new Int32Array(K), rowH = new Int32Array(K), rowW = new Int32Array(K);
  const colH = new Int32Array(OHW), colW = new Int32Array(OHW), colOff = new Int32Array(OHW);
  if (!pointwise) {
    for (let p = 0; p < K; p++) {
      const c = Math.floor(p / (kh * kw));
      const ki = Math.floor(p / kw) % kh;
      const kj = p % kw;
      rowH[p] = ki * dh;
      rowW[p] = kj * dw;
      rowOff[p] = c * HW + ki * dh * W + kj * dw;
    }
    for (let j = 0; j < OHW; j++) {
      const oh = Math.floor(j / OW);
      const ow = j % OW;
      colH[j] = oh * sh - pt;
      colW[j] = ow * sw - pl;
      colOff[j] = colH[j] * W + colW[j];
    }
  }
  const im2col = (x: TypedArray, xoff: number): PackB => (dst, pc, kc, jc, nc) => {
    let q = 0;
    for (let j0 = 0; j0 < nc; j0 += NR) {
      const w = Math.min(NR, nc - j0);
      const jb = jc + j0;
      for (let p = pc; p < pc + kc; p++) {
        const ro = xoff + rowOff[p], rh = rowH[p], rw = rowW[p];
        for (let c = 0; c < NR; c++) {
          let v = 0;
          if (c < w) {
            const j = jb + c;
            const ih = colH[j] + rh, iw = colW[j] + rw;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W) v = x[ro + colOff[j]];
          }
          dst[q++] = v;
        }
      }
    }
  };

  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const packs = cached ?? packWeights(inputs[1] as TypedArray);
    const y = new Float32Array(N * M * OHW);
    fillBias(y, inputs[2] ?? null, N, M, OHW);
    for (let n = 0; n < N; n++) {
      for (let gi = 0; gi < group; gi++) {
        const xoff = (n * C + gi * Cg) * HW;
        const packB = pointwise ? matrixPackB(x, xoff, HW, 1) : im2col(x, xoff);
        gemm(packs[gi], OHW, packB, y, (n * M + gi * Mg) * OHW, OHW);
      }
    }
    return [y];
  };
}

function convDirect(g: ConvGeometry, hasBias: boolean): KernelFn {
  const { N, C, H, W, M, OH, OW, kh, kw, sh, sw, pt, pl, dh, dw, group, Cg, Mg } = g;
  const HW = H * W;
  const OHW = OH * OW;
  // valid output columns for each kernel column: 0 <= ow*sw - pl + kj*dw < W
  const owLo = new Int32Array(kw), owHi = new Int32Array(kw);
  for (let kj = 0; kj < kw; kj++) {
    const shift = kj * dw - pl;
    owLo[kj] = Math.max(0, Math.ceil(-shift / sw));
    owHi[kj] = Math.min(OW, Math.floor((W - 1 - shift) / sw) + 1);
  }
  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const wt = inputs[1] as TypedArray;
    const y = new Float32Array(N * M * OHW);
    if (hasBias) fillBias(y, inputs[2], N, M, OHW);
    for (let n = 0; n < N; n++) {
      for (let oc = 0; oc < M; oc++) {
        const gi = Math.floor(oc / Mg);
        const yo = (n * M + oc) * OHW;
        for (let c = 0; c < Cg; c++) {
          const xo = (n * C + gi * Cg + c) * HW;
          for (let ki = 0; ki < kh; ki++) {
            for (let kj = 0; kj < kw; kj++) {
              const wv = wt[((oc * Cg + c) * kh + ki) * kw + kj];
              const lo = owLo[kj], hi = owHi[kj];
              const shift = kj * dw - pl;
              for (let oh = 0; oh < OH; oh++) {
                const ih = oh * sh - pt + ki * dh;
                if (ih < 0 || ih >= H) continue;
                const xr = xo + ih * W + shift;
                const yr = yo + oh * OW;
                for (let ow = lo; ow < hi; ow++) y[yr + ow] += wv * x[xr + ow * sw];
              }
            }
          }
        }
      }
    }
    return [y];
  };
}

// ---------------- ConvTranspose ----------------

const COL_BUDGET = 1 << 21; // floats in the column buffer of one tile

const convTranspose: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, [2, 3], 1);
  const [N, C, H, W] = as4D(k, ctx.info(k.inputs[0]).shape, 'input X');
  const wShape = ctx.info(k.inputs[1]).shape;
  const [C2, Mg, kh, kw] = as4D(k, wShape, 'weight W');
  const [N2, M, OH, OW] = as4D(k, ctx.info(k.outputs[0]).shape, 'output');
  const { sh, sw, pt, pl, dh, dw, group } = readAttrs(k);
  if (C2 !== C || C % group !== 0 || M !== Mg * group || N2 !== N) {
    throw kernelError(k, `inconsistent shapes: X [${N},${C},${H},${W}], W ${shapeString(wShape)}, output [${N2},${M},${OH},${OW}], group ${group}`);
  }
  biasOf(k, ctx, M);
  const Cg = C / group;
  const R = Mg * kh * kw; // rows of Wᵀ: (m, ki, kj)
  const HW = H * W;
  const OHW = OH * OW;
  const packWeights = (w: ArrayLike<number>): PackedA[] => {
    const packs: PackedA[] = [];
    for (let gi = 0; gi < group; gi++) packs.push(packA(w, gi * Cg * R, 1, R, R, Cg));
    return packs;
  };
  const wConst = ctx.constant(k.inputs[1]);
  const cached = wConst ? packWeights(wConst) : null;
  const tileRows = Math.max(1, Math.min(H, Math.floor(COL_BUDGET / Math.max(1, R * W))));
  // valid input columns for each kernel column: 0 <= iw*sw - pl + kj*dw < OW
  const iwLo = new Int32Array(kw), iwHi = new Int32Array(kw);
  for (let kj = 0; kj < kw; kj++) {
    const shift = kj * dw - pl;
    iwLo[kj] = Math.max(0, Math.ceil(-shift / sw));
    iwHi[kj] = Math.min(W, Math.floor((OW - 1 - shift) / sw) + 1);
  }

  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const packs = cached ?? packWeights(inputs[1] as TypedArray);
    const y = new Float32Array(N * M * OHW);
    fillBias(y, inputs[2] ?? null, N, M, OHW);
    const col = new Float32Array(R * tileRows * W);
    for (let n = 0; n < N; n++) {
      for (let gi = 0; gi < group; gi++) {
        for (let ih0 = 0; ih0 < H; ih0 += tileRows) {
          const rows = Math.min(tileRows, H - ih0);
          const tn = rows * W;
          col.fill(0, 0, R * tn);
          gemm(packs[gi], tn, matrixPackB(x, (n * C + gi * Cg) * HW + ih0 * W, HW, 1), col, 0, tn);
          // col2im: scatter-add every (m, ki, kj, ih, iw) to its output position
          for (let r = 0; r < R; r++) {
            const m = Math.floor(r / (kh * kw));
            const ki = Math.floor(r / kw) % kh;
            const kj = r % kw;
            const yo = (n * M + gi * Mg + m) * OHW;
            const lo = iwLo[kj], hi = iwHi[kj];
            const shift = kj * dw - pl;
            for (let t = 0; t < rows; t++) {
              const oh = (ih0 + t) * sh - pt + ki * dh;
              if (oh < 0 || oh >= OH) continue;
              const cr = r * tn + t * W;
              const yr = yo + oh * OW + shift;
              for (let iw = lo; iw < hi; iw++) y[yr + iw * sw] += col[cr + iw];
            }
          }
        }
      }
    }
    return [y];
  };
};

export const kernels = { Conv: conv, ConvTranspose: convTranspose };
