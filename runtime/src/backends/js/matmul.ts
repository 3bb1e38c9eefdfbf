// MatMul: batched A[..., M, K] · B[..., K, N] with numpy broadcasting of the batch dims.
// Large float products go through the packed GEMM; few rows (a fully-connected layer at batch 1)
// or few columns use row/dot loops that stream B once, which is what bounds them.

import type { TypedArray } from '../../types.js';
import { allocate, product, shapeString } from '../../types.js';
import type { PackedA } from './gemm.js';
import { gemm, matrixPackB, MR, NR, packA } from './gemm.js';
import type { KernelFactory, KernelFn } from './util.js';
import { broadcastMaps, expectArity, kernelError, offsetTable } from './util.js';

const matmul: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 2, 1);
  const aShape = ctx.info(k.inputs[0]).shape;
  const bShape = ctx.info(k.inputs[1]).shape;
  const outInfo = ctx.info(k.outputs[0]);
  const oShape = outInfo.shape;
  if (aShape.length < 2 || bShape.length < 2 || oShape.length < 2) {
    throw kernelError(k, `inputs must have rank >= 2, got ${shapeString(aShape)} and ${shapeString(bShape)}`);
  }
  const M = aShape[aShape.length - 2];
  const K = aShape[aShape.length - 1];
  const N = bShape[bShape.length - 1];
  const batchShape = oShape.slice(0, -2);
  const aMaps = broadcastMaps(aShape.slice(0, -2), batchShape);
  const bMaps = broadcastMaps(bShape.slice(0, -2), batchShape);
  if (bShape[bShape.length - 2] !== K || oShape[oShape.length - 2] !== M || oShape[oShape.length - 1] !== N || !aMaps || !bMaps) {
    throw kernelError(k, `shapes ${shapeString(aShape)} · ${shapeString(bShape)} do not give ${shapeString(oShape)}`);
  }
  const batches = product(batchShape);
  const aBatch = offsetTable(batchShape, aMaps); // index of A's matrix for each output batch
  const bBatch = offsetTable(batchShape, bMaps);
  const MK = M * K, KN = K * N, MN = M * N;
  const useGemm = outInfo.dtype === 'float32' || outInfo.dtype === 'float16' ? M >= MR && N >= NR : false;
  const aConst = ctx.constant(k.inputs[0]);
  const aPacks = new Map<number, PackedA>(); // packed constant A, per A-batch
  const acc = new Float64Array(N);

  return (inputs) => {
    const a = inputs[0] as TypedArray;
    const b = inputs[1] as TypedArray;
    const out = allocate(outInfo.dtype, batches * MN);
    for (let t = 0; t < batches; t++) {
      const ao = aBatch[t] * MK, bo = bBatch[t] * KN, oo = t * MN;
      if (useGemm) {
        let pa = aConst ? aPacks.get(aBatch[t]) : undefined;
        if (!pa) {
          pa = packA(a, ao, K, 1, M, K);
          if (aConst) aPacks.set(aBatch[t], pa);
        }
        gemm(pa, N, matrixPackB(b, bo, N, 1), out as Float32Array, oo, N);
      } else if (N < NR) {
        // few columns: one dot product per output
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let p = 0; p < K; p++) s += a[ao + i * K + p] * b[bo + p * N + j];
            out[oo + i * N + j] = s;
          }
        }
      } else {
        // few rows: accumulate each output row over B's rows, four at a time
        for (let i = 0; i < M; i++) {
          acc.fill(0);
          const ar = ao + i * K;
          let p = 0;
          for (; p + 4 <= K; p += 4) {
            const a0 = a[ar + p], a1 = a[ar + p + 1], a2 = a[ar + p + 2], a3 = a[ar + p + 3];
            const r0 = bo + p * N, r1 = r0 + N, r2 = r1 + N, r3 = r2 + N;
            for (let j = 0; j < N; j++) acc[j] += a0 * b[r0 + j] + a1 * b[r1 + j] + a2 * b[r2 + j] + a3 * b[r3 + j];
          }
          for (; p < K; p++) {
            const a0 = a[ar + p];
            const r0 = bo + p * N;
            for (let j = 0; j < N; j++) acc[j] += a0 * b[r0 + j];
          }
          for (let j = 0; j < N; j++) out[oo + i * N + j] = acc[j];
        }
      }
    }
    return [out];
  };
};

export const kernels = { MatMul: matmul };
