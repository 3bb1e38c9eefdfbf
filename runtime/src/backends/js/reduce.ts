// Reduce (every kind in docs/descriptor.md) and Softmax / LogSoftmax.

import type { TypedArray } from '../../types.js';
import { allocate, product } from '../../types.js';
import type { KernelFactory, KernelFn } from './util.js';
import { attr, expectArity, intAttr, intListAttr, kernelError, offsetTable, stridesOf } from './util.js';

const KINDS = ['sum', 'mean', 'max', 'min', 'prod', 'sumsquare', 'l1', 'l2', 'logsum', 'logsumexp'] as const;
type Kind = (typeof KINDS)[number];

const reduce: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const kind = attr<string>(k, 'kind') as Kind;
  if (!KINDS.includes(kind)) throw kernelError(k, `unknown reduce kind ${JSON.stringify(kind)} (known: ${KINDS.join(', ')})`);
  const inShape = ctx.info(k.inputs[0]).shape;
  const outInfo = ctx.info(k.outputs[0]);
  const axes = intListAttr(k, 'axes');
  for (const a of axes) {
    if (a < 0 || a >= inShape.length) throw kernelError(k, `axis ${a} out of range for rank ${inShape.length}`);
  }
  const reduced = new Set(axes);
  // output position of every input element: reduced axes contribute nothing
  const keptShape = inShape.filter((_, i) => !reduced.has(i));
  const keptStrides = stridesOf(keptShape);
  const maps: Int32Array[] = [];
  let kept = 0;
  for (let i = 0; i < inShape.length; i++) {
    const m = new Int32Array(inShape[i]);
    if (!reduced.has(i)) {
      const s = keptStrides[kept++];
      for (let j = 0; j < inShape[i]; j++) m[j] = j * s;
    }
    maps.push(m);
  }
  const outSize = product(keptShape);
  if (outSize !== product(outInfo.shape)) {
    throw kernelError(k, `output shape [${outInfo.shape}] does not match reducing [${inShape}] over axes [${axes}]`);
  }
  const target = offsetTable(inShape, maps);
  const count = product(inShape) / Math.max(1, outSize);

  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const n = x.length;
    const acc = new Float64Array(outSize);
    switch (kind) {
      case 'sum': case 'mean': case 'logsum':
        for (let i = 0; i < n; i++) acc[target[i]] += x[i];
        break;
      case 'sumsquare': case 'l2':
        for (let i = 0; i < n; i++) acc[target[i]] += x[i] * x[i];
        break;
      case 'l1':
        for (let i = 0; i < n; i++) acc[target[i]] += Math.abs(x[i]);
        break;
      case 'prod':
        acc.fill(1);
        for (let i = 0; i < n; i++) acc[target[i]] *= x[i];
        break;
      case 'max':
        acc.fill(-Infinity);
        for (let i = 0; i < n; i++) {
          const v = x[i], t = target[i];
          if (v > acc[t] || v !== v) acc[t] = v; // once NaN, nothing compares greater
        }
        break;
      case 'min':
        acc.fill(Infinity);
        for (let i = 0; i < n; i++) {
          const v = x[i], t = target[i];
          if (v < acc[t] || v !== v) acc[t] = v;
        }
        break;
      case 'logsumexp': {
        const mx = new Float64Array(outSize).fill(-Infinity);
        for (let i = 0; i < n; i++) if (x[i] > mx[target[i]]) mx[target[i]] = x[i];
        for (let i = 0; i < n; i++) {
          const m = mx[target[i]];
          acc[target[i]] += Number.isFinite(m) ? Math.exp(x[i] - m) : Math.exp(x[i]);
        }
        for (let o = 0; o < outSize; o++) {
          const m = mx[o];
          acc[o] = Number.isFinite(m) ? m + Math.log(acc[o]) : Math.log(acc[o]);
        }
        break;
      }
    }
    const y = allocate(outInfo.dtype, outSize);
    for (let o = 0; o < outSize; o++) {
      const v = acc[o];
      y[o] = kind === 'mean' ? v / count : kind === 'l2' ? Math.sqrt(v) : kind === 'logsum' ? Math.log(v) : v;
    }
    return [y];
  };
};

const softmax: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const shape = ctx.info(k.inputs[0]).shape;
  const outDtype = ctx.info(k.outputs[0]).dtype;
  const axis = intAttr(k, 'axis');
  const log = intAttr(k, 'log', 0) !== 0;
  if (axis < 0 || axis >= shape.length) throw kernelError(k, `axis ${axis} out of range for rank ${shape.length}`);
  const outer = product(shape.slice(0, axis));
  const L = shape[axis];
  const inner = product(shape.slice(axis + 1));
  return (inputs) => {
    const x = inputs[0] as TypedArray;
    const y = allocate(outDtype, x.length);
    const e = new Float64Array(L);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * L * inner + i;
        let mx = -Infinity;
        for (let j = 0; j < L; j++) {
          const v = x[base + j * inner];
          if (v > mx || v !== v) mx = v;
        }
        if (mx === -Infinity) mx = 0; // all -inf: keep the arithmetic finite where it can be
        let sum = 0;
        if (log) {
          for (let j = 0; j < L; j++) {
            const v = x[base + j * inner] - mx;
            e[j] = v;
            sum += Math.exp(v);
          }
          const ls = Math.log(sum);
          for (let j = 0; j < L; j++) y[base + j * inner] = e[j] - ls;
        } else {
          for (let j = 0; j < L; j++) {
            const v = Math.exp(x[base + j * inner] - mx);
            e[j] = v;
            sum += v;
          }
          for (let j = 0; j < L; j++) y[base + j * inner] = e[j] / sum;
        }
      }
    }
    return [y];
  };
};

export const kernels = { Reduce: reduce, Softmax: softmax };
