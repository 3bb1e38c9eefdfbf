// Pool (max / avg, with count_include_pad) and LRN.

import { allocate, product } from '../../types.js';
import type { TypedArray } from '../../types.js';
import type { KernelFactory, KernelFn } from './util.js';
import { as4D, attr, expectArity, intAttr, intListAttr, kernelError, numAttr } from './util.js';

const pool: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const kind = attr<string>(k, 'kind');
  if (kind !== 'max' && kind !== 'avg') throw kernelError(k, `attribute 'kind' must be 'max' or 'avg', got ${JSON.stringify(kind)}`);
  const [N, C, H, W] = as4D(k, ctx.info(k.inputs[0]).shape, 'input X');
  const outInfo = ctx.info(k.outputs[0]);
  const [N2, C2, OH, OW] = as4D(k, outInfo.shape, 'output');
  if (N2 !== N || C2 !== C) throw kernelError(k, `output [${N2},${C2},${OH},${OW}] does not match input [${N},${C},${H},${W}]`);
  const [kh, kw] = intListAttr(k, 'kernel', 2);
  const [sh, sw] = intListAttr(k, 'strides', 2, [1, 1]);
  const [pt, pl, pb, pr] = intListAttr(k, 'pads', 4, [0, 0, 0, 0]);
  const [dh, dw] = intListAttr(k, 'dilations', 2, [1, 1]);
  const includePad = intAttr(k, 'count_include_pad', 0) !== 0;
  const isMax = kind === 'max';

  // Per output row / column: the valid window taps and, for count_include_pad, the taps inside the padded extent.
  const taps = (O: number, s: number, p: number, d: number, kn: number, I: number, pEnd: number) => {
    const first = new Int32Array(O * kn); // input index of each tap, -1 when outside the input
    const padded = new Int32Array(O);
    for (let o = 0; o < O; o++) {
      let cnt = 0;
      for (let i = 0; i < kn; i++) {
        const x = o * s - p + i * d;
        first[o * kn + i] = x >= 0 && x < I ? x : -1;
        if (x >= -p && x < I + pEnd) cnt++;
      }
      padded[o] = cnt;
    }
    return { idx: first, padded };
  };
  const th = taps(OH, sh, pt, dh, kh, H, pb);
  const tw = taps(OW, sw, pl, dw, kw, W, pr);

  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const y = allocate(outInfo.dtype, N * C * OH * OW);
    let o = 0;
    for (let plane = 0; plane < N * C; plane++) {
      const xo = plane * H * W;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let acc = isMax ? -Infinity : 0;
          let count = 0;
          for (let i = 0; i < kh; i++) {
            const ih = th.idx[oh * kh + i];
            if (ih < 0) continue;
            const row = xo + ih * W;
            for (let j = 0; j < kw; j++) {
              const iw = tw.idx[ow * kw + j];
              if (iw < 0) continue;
              const v = x[row + iw];
              if (isMax) {
                if (v > acc || v !== v) acc = v;
              } else {
                acc += v;
              }
              count++;
            }
          }
          if (isMax) {
            y[o++] = acc;
          } else {
            const div = includePad ? th.padded[oh] * tw.padded[ow] : count;
            y[o++] = div > 0 ? acc / div : 0;
          }
        }
      }
    }
    return [y];
  };
};

const lrn: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const shape = ctx.info(k.inputs[0]).shape;
  if (shape.length < 2) throw kernelError(k, 'input must have rank >= 2');
  const size = intAttr(k, 'size');
  const alpha = numAttr(k, 'alpha', 0.0001);
  const beta = numAttr(k, 'beta', 0.75);
  const bias = numAttr(k, 'bias', 1);
  const outDtype = ctx.info(k.outputs[0]).dtype;
  const N = shape[0], C = shape[1];
  const S = product(shape.slice(2));
  const before = Math.floor((size - 1) / 2);
  const after = Math.ceil((size - 1) / 2);
  const scale = alpha / size;
  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const y = allocate(outDtype, x.length);
    const sq = new Float64Array(S);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        sq.fill(0);
        const lo = Math.max(0, c - before), hi = Math.min(C - 1, c + after);
        for (let cc = lo; cc <= hi; cc++) {
          const o = (n * C + cc) * S;
          for (let s = 0; s < S; s++) sq[s] += x[o + s] * x[o + s];
        }
        const o = (n * C + c) * S;
        for (let s = 0; s < S; s++) y[o + s] = x[o + s] / Math.pow(bias + scale * sq[s], beta);
      }
    }
    return [y];
  };
};

export const kernels = { Pool: pool, LRN: lrn };
