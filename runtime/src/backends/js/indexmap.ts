// Index mapping: every op here maps an output index to an input index. Most are expressed as
// per-axis offset tables run by `mapIndices`; Concat/Split/Gather copy contiguous runs.

import type { TypedArray } from '../../types.js';
import { allocate, product, shapeString } from '../../types.js';
import type { KernelFactory, KernelFn } from './util.js';
import {
  attr, broadcastMaps, expectArity, intAttr, intListAttr, kernelError, mapIndices, numAttr, stridesOf,
} from './util.js';

const reshape: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const a = ctx.info(k.inputs[0]).shape;
  const b = ctx.info(k.outputs[0]).shape;
  if (product(a) !== product(b)) throw kernelError(k, `cannot reshape ${shapeString(a)} to ${shapeString(b)}`);
  return (inputs) => [inputs[0] as TypedArray]; // same storage (the descriptor allows aliasing)
};

const identity: KernelFactory = (k): KernelFn => {
  expectArity(k, 1, 1);
  return (inputs) => [(inputs[0] as TypedArray).slice()];
};

const transpose: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const inShape = ctx.info(k.inputs[0]).shape;
  const out = ctx.info(k.outputs[0]);
  const perm = intListAttr(k, 'perm', inShape.length);
  const sorted = [...perm].sort((x, y) => x - y);
  if (!sorted.every((v, i) => v === i)) throw kernelError(k, `perm ${JSON.stringify(perm)} is not a permutation of 0..${inShape.length - 1}`);
  if (!perm.every((p, i) => inShape[p] === out.shape[i])) {
    throw kernelError(k, `output shape ${shapeString(out.shape)} is not ${shapeString(inShape)} permuted by [${perm}]`);
  }
  const strides = stridesOf(inShape);
  const maps = perm.map((p) => Int32Array.from({ length: inShape[p] }, (_, i) => i * strides[p]));
  return (inputs) => {
    const y = allocate(out.dtype, product(out.shape));
    mapIndices(inputs[0] as TypedArray, y, out.shape, maps);
    return [y];
  };
};

const expand: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const inShape = ctx.info(k.inputs[0]).shape;
  const out = ctx.info(k.outputs[0]);
  const maps = broadcastMaps(inShape, out.shape);
  if (!maps) throw kernelError(k, `${shapeString(inShape)} does not broadcast to ${shapeString(out.shape)}`);
  return (inputs) => {
    const y = allocate(out.dtype, product(out.shape));
    mapIndices(inputs[0] as TypedArray, y, out.shape, maps);
    return [y];
  };
};

const slice: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const inShape = ctx.info(k.inputs[0]).shape;
  const out = ctx.info(k.outputs[0]);
  const r = inShape.length;
  const starts = intListAttr(k, 'starts', r);
  const steps = intListAttr(k, 'steps', r, new Array<number>(r).fill(1));
  if (out.shape.length !== r) throw kernelError(k, `output rank ${out.shape.length} differs from input rank ${r}`);
  const strides = stridesOf(inShape);
  const maps = out.shape.map((n, ax) => {
    const m = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const src = starts[ax] + i * steps[ax];
      if (src < 0 || src >= inShape[ax]) {
        throw kernelError(k, `axis ${ax}: start ${starts[ax]} + ${i}*step ${steps[ax]} = ${src} is outside [0, ${inShape[ax]}) (input ${shapeString(inShape)}, output ${shapeString(out.shape)})`);
      }
      m[i] = src * strides[ax];
    }
    return m;
  });
  return (inputs) => {
    const y = allocate(out.dtype, product(out.shape));
    mapIndices(inputs[0] as TypedArray, y, out.shape, maps);
    return [y];
  };
};

const PAD_MODES = ['constant', 'reflect', 'edge'];

const pad: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, 1);
  const inShape = ctx.info(k.inputs[0]).shape;
  const out = ctx.info(k.outputs[0]);
  const r = inShape.length;
  const pads = intListAttr(k, 'pads', 2 * r);
  const mode = attr<string>(k, 'mode', 'constant');
  if (!PAD_MODES.includes(mode)) throw kernelError(k, `mode ${JSON.stringify(mode)} is not one of ${PAD_MODES.join(', ')}`);
  const value = mode === 'constant' ? numAttr(k, 'value', 0) : 0;
  const strides = stridesOf(inShape);
  const maps: Int32Array[] = [];
  for (let ax = 0; ax < r; ax++) {
    const n = inShape[ax];
    const on = n + pads[ax] + pads[ax + r];
    if (on !== out.shape[ax]) {
      throw kernelError(k, `axis ${ax}: ${n} + pads ${pads[ax]} + ${pads[ax + r]} = ${on}, but the output has ${out.shape[ax]}`);
    }
    const m = new Int32Array(on);
    for (let o = 0; o < on; o++) {
      // padding is applied first, then negative pads crop; so index relative to the whole input
      let i = o - pads[ax];
      if (i < 0 || i >= n) {
        if (mode === 'constant' || n === 0) {
          i = -1;
        } else if (mode === 'edge') {
          i = i < 0 ? 0 : n - 1;
        } else if (n === 1) {
          i = 0;
        } else {
          const period = 2 * (n - 1);
          i = ((i % period) + period) % period;
          if (i >= n) i = period - i;
        }
      }
      m[o] = i < 0 ? -1 : i * strides[ax];
    }
    maps.push(m);
  }
  return (inputs) => {
    const y = allocate(out.dtype, product(out.shape));
    mapIndices(inputs[0] as TypedArray, y, out.shape, maps, value);
    return [y];
  };
};

const concat: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, [1, Infinity], 1);
  const out = ctx.info(k.outputs[0]);
  const axis = intAttr(k, 'axis');
  const r = out.shape.length;
  if (axis < 0 || axis >= r) throw kernelError(k, `axis ${axis} out of range for rank ${r}`);
  const inner = product(out.shape.slice(axis + 1));
  const outer = product(out.shape.slice(0, axis));
  const chunks = k.inputs.map((name) => {
    const s = ctx.info(name).shape;
    if (s.length !== r || s.some((d, i) => i !== axis && d !== out.shape[i])) {
      throw kernelError(k, `input '${name}' ${shapeString(s)} does not fit output ${shapeString(out.shape)} along axis ${axis}`);
    }
    return s[axis] * inner;
  });
  const outChunk = out.shape[axis] * inner;
  if (chunks.reduce((a, b) => a + b, 0) !== outChunk) throw kernelError(k, `input sizes along axis ${axis} do not add up to ${out.shape[axis]}`);
  return (inputs) => {
    const y = allocate(out.dtype, outer * outChunk);
    let off = 0;
    inputs.forEach((x, t) => {
      const c = chunks[t];
      const src = x as TypedArray;
      for (let o = 0; o < outer; o++) y.set(src.subarray(o * c, o * c + c), o * outChunk + off);
      off += c;
    });
    return [y];
  };
};

const split: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 1, -1);
  const inShape = ctx.info(k.inputs[0]).shape;
  const axis = intAttr(k, 'axis');
  if (axis < 0 || axis >= inShape.length) throw kernelError(k, `axis ${axis} out of range for rank ${inShape.length}`);
  const sizes = intListAttr(k, 'split', k.outputs.length);
  if (sizes.reduce((a, b) => a + b, 0) !== inShape[axis]) {
    throw kernelError(k, `split sizes [${sizes}] do not add up to ${inShape[axis]} (axis ${axis} of ${shapeString(inShape)})`);
  }
  const inner = product(inShape.slice(axis + 1));
  const outer = product(inShape.slice(0, axis));
  const inChunk = inShape[axis] * inner;
  const dtypes = k.outputs.map((name) => ctx.info(name).dtype);
  return (inputs) => {
    const x = inputs[0] as TypedArray;
    let off = 0;
    return sizes.map((s, t) => {
      const c = s * inner;
      const y = allocate(dtypes[t], outer * c);
      for (let o = 0; o < outer; o++) y.set(x.subarray(o * inChunk + off, o * inChunk + off + c), o * c);
      off += c;
      return y;
    });
  };
};

const gather: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, 2, 1);
  const dShape = ctx.info(k.inputs[0]).shape;
  const iShape = ctx.info(k.inputs[1]).shape;
  const out = ctx.info(k.outputs[0]);
  const axis = intAttr(k, 'axis', 0);
  if (axis < 0 || axis >= dShape.length) throw kernelError(k, `axis ${axis} out of range for rank ${dShape.length}`);
  const expected = [...dShape.slice(0, axis), ...iShape, ...dShape.slice(axis + 1)];
  if (product(expected) !== product(out.shape)) {
    throw kernelError(k, `output ${shapeString(out.shape)} should be ${shapeString(expected)}`);
  }
  const outer = product(dShape.slice(0, axis));
  const D = dShape[axis];
  const inner = product(dShape.slice(axis + 1));
  const nIdx = product(iShape);
  return (inputs) => {
    const data = inputs[0] as TypedArray;
    const idx = inputs[1] as TypedArray;
    const y = allocate(out.dtype, outer * nIdx * inner);
    for (let t = 0; t < nIdx; t++) {
      const v = idx[t];
      if (v < -D || v >= D || !Number.isInteger(v)) {
        throw kernelError(k, `index ${v} (position ${t}) is out of range for axis ${axis} of size ${D}`);
      }
    }
    let o = 0;
    for (let a = 0; a < outer; a++) {
      for (let t = 0; t < nIdx; t++) {
        const v = idx[t];
        const src = (a * D + (v < 0 ? v + D : v)) * inner;
        if (inner === 1) y[o] = data[src];
        else y.set(data.subarray(src, src + inner), o);
        o += inner;
      }
    }
    return [y];
  };
};

export const kernels = {
  Reshape: reshape,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  Pad: pad,
  Expand: expand,
  Identity: identity,
};
