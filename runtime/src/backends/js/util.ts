// Helpers shared by the js kernels: the kernel interface, shapes and strides, the one index-mapping
// loop every data-movement op uses, and float16 conversion.

import { WebDNNError } from '../../errors.js';
import type { DType, KernelDesc, TypedArray } from '../../types.js';
import { shapeString } from '../../types.js';
import { toNumber } from '../../json.js';

export interface TensorInfo {
  shape: number[];
  dtype: DType;
}

/** What a kernel factory may look at while preparing (all static). */
export interface PrepareContext {
  /** Shape and dtype of a tensor or constant; throws for an unknown name. */
  info(name: string): TensorInfo;
  /** The decoded value of a constant, or undefined when `name` is not a constant. */
  constant(name: string): TypedArray | undefined;
}

/** A prepared kernel: takes its inputs (null for an absent optional one), returns its outputs. */
export type KernelFn = (inputs: (TypedArray | null)[]) => TypedArray[];

export type KernelFactory = (k: KernelDesc, ctx: PrepareContext) => KernelFn;

export function kernelLabel(k: KernelDesc): string {
  return k.name ? `'${k.name}' (${k.op})` : `(${k.op})`;
}

/** Error thrown while preparing a kernel; the message names the kernel. */
export function kernelError(k: KernelDesc, msg: string): Error {
  return new WebDNNError(`kernel ${kernelLabel(k)}: ${msg}`);
}

export function attr<T = unknown>(k: KernelDesc, name: string, fallback?: T): T {
  const v = k.attrs ? k.attrs[name] : undefined;
  if (v === undefined) {
    if (fallback === undefined) throw kernelError(k, `missing attribute '${name}'`);
    return fallback;
  }
  return v as T;
}

export function intListAttr(k: KernelDesc, name: string, length?: number, fallback?: number[]): number[] {
  const v = attr<unknown>(k, name, fallback);
  if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) {
    throw kernelError(k, `attribute '${name}' must be a list of integers, got ${JSON.stringify(v)}`);
  }
  if (length !== undefined && v.length !== length) {
    throw kernelError(k, `attribute '${name}' must have ${length} entries, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

export function intAttr(k: KernelDesc, name: string, fallback?: number): number {
  const v = attr<unknown>(k, name, fallback);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (!Number.isInteger(v)) throw kernelError(k, `attribute '${name}' must be an integer, got ${JSON.stringify(v)}`);
  return v as number;
}

export function numAttr(k: KernelDesc, name: string, fallback?: number): number {
  return toNumber(attr<unknown>(k, name, fallback), `kernel ${kernelLabel(k)}: attribute '${name}'`);
}

export function expectArity(k: KernelDesc, nIn: number | [number, number], nOut: number): void {
  const [lo, hi] = typeof nIn === 'number' ? [nIn, nIn] : nIn;
  if (k.inputs.length < lo || k.inputs.length > hi) {
    throw kernelError(k, `expects ${lo === hi ? lo : `${lo}..${hi}`} inputs, got ${k.inputs.length}`);
  }
  if (nOut >= 0 && k.outputs.length !== nOut) {
    throw kernelError(k, `expects ${nOut} output(s), got ${k.outputs.length}`);
  }
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** A rank-3 `[N, C, W]` tensor read as `[N, C, 1, W]` (the descriptor's 2-D form of 1-D conv/pool). */
export function as4D(k: KernelDesc, shape: readonly number[], what: string): [number, number, number, number] {
  if (shape.length === 4) return [shape[0], shape[1], shape[2], shape[3]];
  if (shape.length === 3) return [shape[0], shape[1], 1, shape[2]];
  throw kernelError(k, `${what} must have rank 3 or 4, got shape ${shapeString(shape)}`);
}

/**
 * Per-axis offset tables for reading an input of `inShape` broadcast (numpy rules, right-aligned)
 * to `outShape`: map[k][i] is the input offset contributed by output index i on axis k.
 */
export function broadcastMaps(inShape: readonly number[], outShape: readonly number[]): Int32Array[] | null {
  const r = outShape.length;
  if (inShape.length > r) return null;
  const inStrides = stridesOf(inShape);
  const lead = r - inShape.length;
  const maps: Int32Array[] = [];
  for (let k = 0; k < r; k++) {
    const n = outShape[k];
    const m = new Int32Array(n);
    if (k >= lead) {
      const d = inShape[k - lead];
      if (d !== 1) {
        if (d !== n) return null;
        const s = inStrides[k - lead];
        for (let i = 0; i < n; i++) m[i] = i * s;
      }
    }
    maps.push(m);
  }
  return maps;
}

/**
 * The index-mapping loop: out[o] = src[Σ_k maps[k][o_k]] over every output index o, or `fill`
 * where any map entry is negative (a padded position).
 */
export function mapIndices(
  src: TypedArray,
  out: TypedArray,
  outShape: readonly number[],
  maps: readonly Int32Array[],
  fill = 0,
): void {
  const r = outShape.length;
  const size = out.length;
  if (size === 0) return;
  if (r === 0) {
    out[0] = src[0];
    return;
  }
  const L = outShape[r - 1];
  const last = maps[r - 1];
  // a contiguous, unpadded innermost map lets whole rows be block-copied
  let contiguous = last[0] >= 0;
  for (let j = 1; j < L && contiguous; j++) if (last[j] !== last[0] + j) contiguous = false;
  const first = last[0];
  const idx = new Int32Array(Math.max(r - 1, 1));
  const rows = size / L;
  let o = 0;
  for (let t = 0; t < rows; t++) {
    let base = 0;
    let padded = false;
    for (let k = 0; k < r - 1; k++) {
      const v = maps[k][idx[k]];
      if (v < 0) padded = true;
      base += v;
    }
    if (padded) {
      out.fill(fill, o, o + L);
    } else if (contiguous) {
      out.set(src.subarray(base + first, base + first + L), o);
    } else {
      for (let j = 0; j < L; j++) {
        const v = last[j];
        out[o + j] = v < 0 ? fill : src[base + v];
      }
    }
    o += L;
    for (let k = r - 2; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
}

/** The flat source offset of every output element under `maps` (no padding allowed). */
export function offsetTable(outShape: readonly number[], maps: readonly Int32Array[]): Int32Array {
  let size = 1;
  for (const d of outShape) size *= d;
  const table = new Int32Array(size);
  const r = outShape.length;
  if (size === 0 || r === 0) return table;
  const L = outShape[r - 1];
  const last = maps[r - 1];
  const idx = new Int32Array(Math.max(r - 1, 1));
  let o = 0;
  for (let t = 0; t < size / L; t++) {
    let base = 0;
    for (let k = 0; k < r - 1; k++) base += maps[k][idx[k]];
    for (let j = 0; j < L; j++) table[o++] = base + last[j];
    for (let k = r - 2; k >= 0; k--) {
      if (++idx[k] < outShape[k]) break;
      idx[k] = 0;
    }
  }
  return table;
}
