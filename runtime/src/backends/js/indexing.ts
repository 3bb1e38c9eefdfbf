// Index maps read from a tensor: GatherElements and GatherND read where the indices point,
// ScatterElements and ScatterND write there (in update order, so the last duplicate wins or the
// reduction combines them). Negative indices count from the end; others outside the axis throw.

import type { DType, KernelDesc, TypedArray } from '../../types.js';
import { allocate, product, shapeString } from '../../types.js';
import type { KernelFactory, KernelFn } from './util.js';
import { attr, expectArity, intAttr, kernelError, offsetTable, stridesOf } from './util.js';
import { roundToHalf } from '../../float16.js';

const REDUCTIONS = ['none', 'add', 'mul', 'max', 'min'] as const;
type Reduction = (typeof REDUCTIONS)[number];

/** The element index an index value `v` names on an axis of size `n`. */
function normIndex(k: KernelDesc, v: number, n: number, what: string): number {
  if (!(v >= -n && v < n)) {
    throw kernelError(k, `index ${v} ${what} is out of range for an axis of size ${n}`);
  }
  return v < 0 ? v + n : v;
}

/** Offsets into `dataShape` of every position of `shape` (same rank), with `axis` contributing 0. */
function baseOffsets(shape: readonly number[], dataShape: readonly number[], axis: number): Int32Array {
  const st = stridesOf(dataShape);
  const maps = shape.map((n, a) => Int32Array.from({ length: n }, (_, i) => (a === axis ? 0 : i * st[a])));
  return offsetTable(shape, maps);
}

function checkAxis(k: KernelDesc, axis: number, rank: number): void {
  if (axis < 0 || axis >= rank) throw kernelError(k, `axis ${axis} out of range for rank ${rank}`);
}

function reductionAttr(k: KernelDesc): Reduction {
  const r = attr<string>(k, 'reduction', 'none') as Reduction;
  if (!REDUCTIONS.includes(r)) throw kernelError(k, `reduction ${JSON.stringify(r)} is not one of ${REDUCTIONS.join(', ')}`);
  return r;
}

/** (old, update) -> the stored value; float16 results are rounded to half precision. */
function combiner(reduction: Reduction, dtype: DType): (a: number, b: number) => number {
  const f: (a: number, b: number) => number =
    reduction === 'add' ? (a, b) => a + b
      : reduction === 'mul' ? (a, b) => a * b
        : reduction === 'max' ? (a, b) => (b > a || b !== b ? b : a)
          : reduction === 'min' ? (a, b) => (b < a || b !== b ? b : a)
            : (_a, b) => b;
  return dtype === 'float16' && (reduction === 'add' || reduction === 'mul') ? (a, b) => roundToHalf(f(a, b)) : f;
}

const gatherElements: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 2, 1);
  const dShape = ctx.info(k.inputs[0]).shape;
  const iShape = ctx.info(k.inputs[1]).shape;
  const out = ctx.info(k.outputs[0]);
  const axis = intAttr(k, 'axis');
  checkAxis(k, axis, dShape.length);
  if (iShape.length !== dShape.length || iShape.some((n, a) => a !== axis && n > dShape[a])) {
    throw kernelError(k, `indices ${shapeString(iShape)} do not fit data ${shapeString(dShape)} (axis ${axis})`);
  }
  if (product(out.shape) !== product(iShape)) throw kernelError(k, `output ${shapeString(out.shape)} should be ${shapeString(iShape)}`);
  const base = baseOffsets(iShape, dShape, axis);
  const D = dShape[axis];
  const step = stridesOf(dShape)[axis];
  return (inputs) => {
    const data = inputs[0] as TypedArray;
    const idx = inputs[1] as TypedArray;
    const y = allocate(out.dtype, base.length);
    for (let t = 0; t < base.length; t++) y[t] = data[base[t] + normIndex(k, idx[t], D, `at position ${t}`) * step];
    return [y];
  };
};

const gatherND: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 2, 1);
  const dShape = ctx.info(k.inputs[0]).shape;
  const iShape = ctx.info(k.inputs[1]).shape;
  const out = ctx.info(k.outputs[0]);
  const b = intAttr(k, 'batch_dims', 0);
  const m = iShape[iShape.length - 1];
  if (b < 0 || b >= Math.min(dShape.length, iShape.length) || !(m >= 1 && m <= dShape.length - b)) {
    throw kernelError(k, `indices ${shapeString(iShape)} with batch_dims ${b} do not fit data ${shapeString(dShape)}`);
  }
  const batches = product(dShape.slice(0, b));
  const perBatch = product(iShape.slice(b, -1));
  const inner = product(dShape.slice(b + m));
  const batchStride = product(dShape.slice(b));
  const st = stridesOf(dShape).slice(b, b + m);
  const dims = dShape.slice(b, b + m);
  if (product(out.shape) !== batches * perBatch * inner) {
    throw kernelError(k, `output ${shapeString(out.shape)} does not match data ${shapeString(dShape)} and indices ${shapeString(iShape)}`);
  }
  return (inputs) => {
    const data = inputs[0] as TypedArray;
    const idx = inputs[1] as TypedArray;
    const y = allocate(out.dtype, batches * perBatch * inner);
    let o = 0;
    let t = 0;
    for (let bi = 0; bi < batches; bi++) {
      for (let j = 0; j < perBatch; j++, t++) {
        let off = bi * batchStride;
        for (let q = 0; q < m; q++) off += normIndex(k, idx[t * m + q], dims[q], `(tuple ${t}, entry ${q})`) * st[q];
        if (inner === 1) y[o] = data[off];
        else y.set(data.subarray(off, off + inner), o);
        o += inner;
      }
    }
    return [y];
  };
};

const scatterElements: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 3, 1);
  const dShape = ctx.info(k.inputs[0]).shape;
  const iShape = ctx.info(k.inputs[1]).shape;
  const uShape = ctx.info(k.inputs[2]).shape;
  const out = ctx.info(k.outputs[0]);
  const axis = intAttr(k, 'axis');
  checkAxis(k, axis, dShape.length);
  if (iShape.length !== dShape.length || shapeString(iShape) !== shapeString(uShape) || iShape.some((n, a) => a !== axis && n > dShape[a])) {
    throw kernelError(k, `indices ${shapeString(iShape)} and updates ${shapeString(uShape)} do not fit data ${shapeString(dShape)} (axis ${axis})`);
  }
  const combine = combiner(reductionAttr(k), out.dtype);
  const base = baseOffsets(iShape, dShape, axis);
  const D = dShape[axis];
  const step = stridesOf(dShape)[axis];
  return (inputs) => {
    const y = (inputs[0] as TypedArray).slice();
    const idx = inputs[1] as TypedArray;
    const upd = inputs[2] as TypedArray;
    for (let t = 0; t < base.length; t++) {
      const p = base[t] + normIndex(k, idx[t], D, `at position ${t}`) * step;
      y[p] = combine(y[p], upd[t]);
    }
    return [y];
  };
};

const scatterND: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 3, 1);
  const dShape = ctx.info(k.inputs[0]).shape;
  const iShape = ctx.info(k.inputs[1]).shape;
  const uShape = ctx.info(k.inputs[2]).shape;
  const out = ctx.info(k.outputs[0]);
  const m = iShape[iShape.length - 1];
  const want = [...iShape.slice(0, -1), ...dShape.slice(m)];
  if (!(m >= 1 && m <= dShape.length) || shapeString(uShape) !== shapeString(want)) {
    throw kernelError(k, `indices ${shapeString(iShape)} and updates ${shapeString(uShape)} do not fit data ${shapeString(dShape)}`);
  }
  const combine = combiner(reductionAttr(k), out.dtype);
  const n = product(iShape.slice(0, -1));
  const inner = product(dShape.slice(m));
  const st = stridesOf(dShape);
  return (inputs) => {
    const y = (inputs[0] as TypedArray).slice();
    const idx = inputs[1] as TypedArray;
    const upd = inputs[2] as TypedArray;
    for (let t = 0; t < n; t++) {
      let off = 0;
      for (let q = 0; q < m; q++) off += normIndex(k, idx[t * m + q], dShape[q], `(tuple ${t}, entry ${q})`) * st[q];
      for (let e = 0; e < inner; e++) y[off + e] = combine(y[off + e], upd[t * inner + e]);
    }
    return [y];
  };
};

export const kernels = {
  GatherElements: gatherElements,
  GatherND: gatherND,
  ScatterElements: scatterElements,
  ScatterND: scatterND,
};
