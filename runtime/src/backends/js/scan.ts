// Ops over independent lines along one axis: ArgReduce (argmax/argmin), CumSum (running sum or
// product) and TopK. A line is (outer, inner) fixed with the axis index running, stride `inner`.

import type { KernelDesc, TypedArray } from '../../types.js';
import { allocate, product, shapeString } from '../../types.js';
import type { KernelFactory, KernelFn } from './util.js';
import { attr, expectArity, intAttr, kernelError } from './util.js';
import { roundToHalf } from '../../float16.js';

/** [outer, size, inner] of `shape` around `axis`. */
function lines(k: KernelDesc, shape: readonly number[], axis: number): [number, number, number] {
  if (axis < 0 || axis >= shape.length) throw kernelError(k, `axis ${axis} out of range for rank ${shape.length}`);
  return [product(shape.slice(0, axis)), shape[axis], product(shape.slice(axis + 1))];
}

const argReduce: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const shape = ctx.info(k.inputs[0]).shape;
  const out = ctx.info(k.outputs[0]);
  const kind = attr<string>(k, 'kind');
  if (kind !== 'argmax' && kind !== 'argmin') throw kernelError(k, `kind ${JSON.stringify(kind)} is not argmax or argmin`);
  const [outer, D, inner] = lines(k, shape, intAttr(k, 'axis'));
  const last = intAttr(k, 'select_last_index', 0) !== 0;
  if (D === 0) throw kernelError(k, `cannot take ${kind} over an empty axis of ${shapeString(shape)}`);
  if (product(out.shape) !== outer * inner) throw kernelError(k, `output ${shapeString(out.shape)} does not fit input ${shapeString(shape)}`);
  const sign = kind === 'argmax' ? 1 : -1;
  // NaN counts as the extreme value (the first one wins, or the last with select_last_index)
  const better = (v: number, best: number): boolean => {
    if (best !== best) return last && v !== v;
    if (v !== v) return true;
    return last ? sign * v >= sign * best : sign * v > sign * best;
  };
  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const y = allocate(out.dtype, outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * D * inner + i;
        let best = x[base];
        let at = 0;
        for (let d = 1; d < D; d++) {
          const v = x[base + d * inner];
          if (better(v, best)) {
            best = v;
            at = d;
          }
        }
        y[o * inner + i] = at;
      }
    }
    return [y];
  };
};

const cumSum: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const shape = ctx.info(k.inputs[0]).shape;
  const out = ctx.info(k.outputs[0]);
  const kind = attr<string>(k, 'kind', 'sum');
  if (kind !== 'sum' && kind !== 'prod') throw kernelError(k, `kind ${JSON.stringify(kind)} is not sum or prod`);
  const [outer, D, inner] = lines(k, shape, intAttr(k, 'axis'));
  const exclusive = intAttr(k, 'exclusive', 0) !== 0;
  const reverse = intAttr(k, 'reverse', 0) !== 0;
  const prod = kind === 'prod';
  const half = out.dtype === 'float16';
  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const y = allocate(out.dtype, x.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * D * inner + i;
        let acc = prod ? 1 : 0;
        for (let s = 0; s < D; s++) {
          const p = base + (reverse ? D - 1 - s : s) * inner;
          const v = x[p];
          if (exclusive) y[p] = half ? roundToHalf(acc) : acc;
          acc = prod ? acc * v : acc + v;
          if (!exclusive) y[p] = half ? roundToHalf(acc) : acc;
        }
      }
    }
    return [y];
  };
};

const topK: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 2);
  const shape = ctx.info(k.inputs[0]).shape;
  const vals = ctx.info(k.outputs[0]);
  const inds = ctx.info(k.outputs[1]);
  const [outer, D, inner] = lines(k, shape, intAttr(k, 'axis'));
  const K = intAttr(k, 'k');
  if (K < 0 || K > D) throw kernelError(k, `k = ${K} must be in [0, ${D}]`);
  if (product(vals.shape) !== outer * K * inner || product(inds.shape) !== outer * K * inner) {
    throw kernelError(k, `outputs ${shapeString(vals.shape)}, ${shapeString(inds.shape)} do not fit input ${shapeString(shape)} with k = ${K}`);
  }
  const sign = intAttr(k, 'largest', 1) !== 0 ? -1 : 1;
  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const v = allocate(vals.dtype, outer * K * inner);
    const ix = allocate(inds.dtype, outer * K * inner);
    const line = new Float64Array(D);
    const order = new Int32Array(D);
    // largest (or smallest) first, NaN last, equal values by index
    const cmp = (a: number, b: number): number => {
      const p = line[a], q = line[b];
      if (p !== q) {
        if (p !== p) return 1;
        if (q !== q) return -1;
        return sign * (p - q) < 0 ? -1 : 1;
      }
      return a - b;
    };
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * D * inner + i;
        for (let d = 0; d < D; d++) {
          line[d] = x[base + d * inner];
          order[d] = d;
        }
        order.sort(cmp);
        const ob = o * K * inner + i;
        for (let j = 0; j < K; j++) {
          v[ob + j * inner] = line[order[j]];
          ix[ob + j * inner] = order[j];
        }
      }
    }
    return [v, ix];
  };
};

export const kernels = {
  ArgReduce: argReduce,
  CumSum: cumSum,
  TopK: topK,
};
