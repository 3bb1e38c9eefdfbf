// Resize as a separable weighted gather. The converter precomputes, per axis, `taps` input
// positions and weights for every output position (docs/descriptor.md); this kernel only applies
// them one axis after another. Pure gathers (one tap of weight 1 everywhere, e.g. nearest) copy
// elements unchanged through the shared index-mapping loop.

import type { DType, TypedArray } from '../../types.js';
import { allocate, product, shapeString } from '../../types.js';
import type { KernelFactory, KernelFn } from './util.js';
import { attr, expectArity, kernelError, mapIndices, numAttr, stridesOf } from './util.js';
import { roundToHalf } from '../../float16.js';
import { roundHalfEven } from './elementwise.js';

const INT_RANGE: { [d: string]: [number, number] } = {
  int8: [-128, 127], uint8: [0, 255], int32: [-2147483648, 2147483647], int64: [-2147483648, 2147483647],
};

/** Stores a weighted sum into the output dtype: integers round half to even and saturate. */
function storer(dtype: DType): (v: number) => number {
  if (dtype === 'float16') return roundToHalf;
  if (dtype === 'bool') return (v) => (v !== 0 ? 1 : 0);
  const range = INT_RANGE[dtype];
  if (!range) return (v) => v;
  const [lo, hi] = range;
  return (v) => (v !== v ? 0 : Math.min(hi, Math.max(lo, roundHalfEven(v))));
}

interface AxisTaps {
  axis: number;
  taps: number;
  index: Int32Array;
  weight: Float64Array;
}

const resize: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const inShape = ctx.info(k.inputs[0]).shape;
  const out = ctx.info(k.outputs[0]);
  const r = inShape.length;
  if (out.shape.length !== r) throw kernelError(k, `output ${shapeString(out.shape)} has another rank than input ${shapeString(inShape)}`);
  const tapsAttr = attr<number[]>(k, 'taps');
  const indexAttr = attr<number[][]>(k, 'index');
  const weightAttr = attr<unknown[][]>(k, 'weight');
  if (![tapsAttr, indexAttr, weightAttr].every((a) => Array.isArray(a) && a.length === r)) {
    throw kernelError(k, `attributes 'taps', 'index' and 'weight' need one entry per axis (${r})`);
  }
  const fill = numAttr(k, 'extrapolation_value', 0);
  const axes: AxisTaps[] = [];
  const outside: (Uint8Array | null)[] = [];
  for (let a = 0; a < r; a++) {
    const T = tapsAttr[a];
    const n = out.shape[a];
    if (T === 0) {
      if (n !== inShape[a]) throw kernelError(k, `axis ${a} has no taps but resizes ${inShape[a]} to ${n}`);
      outside.push(null);
      continue;
    }
    const index = indexAttr[a];
    const weight = weightAttr[a];
    if (!Number.isInteger(T) || T < 0 || !Array.isArray(index) || !Array.isArray(weight) || index.length !== n * T || weight.length !== n * T) {
      throw kernelError(k, `axis ${a}: ${n} outputs with ${T} taps need ${n * T} indices and weights`);
    }
    const ia = Int32Array.from(index);
    const wa = Float64Array.from(weight, (w) => Number(w));
    let mask: Uint8Array | null = null;
    for (let j = 0; j < n; j++) {
      for (let t = 0; t < T; t++) {
        const i = ia[j * T + t];
        if (i >= inShape[a] || (i < 0 && ia[j * T] >= 0)) throw kernelError(k, `axis ${a}: index ${i} is outside [0, ${inShape[a]})`);
      }
      if (ia[j * T] < 0) (mask ??= new Uint8Array(n))[j] = 1;
    }
    outside.push(mask);
    axes.push({ axis: a, taps: T, index: ia, weight: wa });
  }

  // one tap of weight 1 on every axis: a pure gather through mapIndices
  if (axes.every((t) => t.taps === 1 && t.weight.every((w, j) => w === 1 || t.index[j] < 0))) {
    const st = stridesOf(inShape);
    const maps = out.shape.map((n, a) => {
      const t = axes.find((x) => x.axis === a);
      return Int32Array.from({ length: n }, (_, j) => (t ? (t.index[j] < 0 ? -1 : t.index[j] * st[a]) : j * st[a]));
    });
    return (inputs) => {
      const y = allocate(out.dtype, product(out.shape));
      mapIndices(inputs[0] as TypedArray, y, out.shape, maps, fill);
      return [y];
    };
  }

  const store = storer(out.dtype);
  return (inputs) => {
    let src: ArrayLike<number> = inputs[0] as TypedArray;
    const shape = [...inShape];
    for (const { axis, taps: T, index, weight } of axes) {
      const outer = product(shape.slice(0, axis));
      const inner = product(shape.slice(axis + 1));
      const nIn = shape[axis];
      const nOut = out.shape[axis];
      const dst = new Float64Array(outer * nOut * inner);
      for (let o = 0; o < outer; o++) {
        for (let j = 0; j < nOut; j++) {
          const d = (o * nOut + j) * inner;
          for (let t = 0; t < T; t++) {
            const i = index[j * T + t];
            const w = weight[j * T + t];
            if (i < 0 || w === 0) continue;
            const s = (o * nIn + i) * inner;
            for (let e = 0; e < inner; e++) dst[d + e] += w * src[s + e];
          }
        }
      }
      src = dst;
      shape[axis] = nOut;
    }
    const size = product(out.shape);
    const y = allocate(out.dtype, size);
    for (let p = 0; p < size; p++) y[p] = store(src[p]);
    if (outside.some((m) => m !== null)) {
      // positions outside a tf_crop_and_resize crop on any axis take extrapolation_value
      const st = stridesOf(out.shape);
      const v = store(fill);
      for (let p = 0; p < size; p++) {
        for (let a = 0; a < r; a++) {
          const m = outside[a];
          if (m !== null && m[Math.floor(p / st[a]) % out.shape[a]]) {
            y[p] = v;
            break;
          }
        }
      }
    }
    return [y];
  };
};

export const kernels = {
  Resize: resize,
};
