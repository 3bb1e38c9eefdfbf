// Shared types: the descriptor format (docs/descriptor.md) and the typed arrays that hold tensors.

import type { HostSection } from './host.js';

/** IR dtypes as written in a descriptor. */
export type DType = 'float32' | 'float16' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';

/** The typed arrays the runtime stores tensors in (see `arrayTypeOf`). */
export type TypedArray = Float32Array | Int32Array | Int8Array | Uint8Array;

/** Anything `set()` accepts: a typed array, a plain array or any array-like of numbers. */
export type ArrayLikeInput = ArrayLike<number> | ArrayLike<boolean> | BigInt64Array;

export interface TensorSpec {
  name: string;
  /** A string dim (only in outputs of host steps) is data-dependent: known after each run. */
  shape: (number | string)[];
  dtype: DType;
  layout?: string;
}

export interface WeightChunk {
  file: string;
  bytes: number;
  /** IEEE CRC-32 of the whole file, 8 lowercase hex digits. */
  crc32: string;
}

export interface BackendEntry {
  /** The backend's graph file, relative to the descriptor directory. */
  graph: string;
  /** Indices into `ModelDescriptor.weights`, concatenated in this order. */
  weights: number[];
  [key: string]: unknown;
}

/** Contents of `model.json`. */
export interface ModelDescriptor {
  format: 'webdnn-descriptor';
  version: number;
  converter?: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  backends: { [name: string]: BackendEntry };
  weights: WeightChunk[];
  source?: { [key: string]: unknown };
  stats?: { [key: string]: unknown };
  /** Ops with data-dependent output shapes, run on the CPU after the backend (runtime/src/host.ts). */
  host?: HostSection;
}

export type Encoding = 'raw' | 'f16' | 'fill';

export interface ConstantDesc {
  shape: number[];
  dtype: DType;
  encoding: Encoding;
  offset: number;
  bytes: number;
  /** For `fill`: the value of every element. */
  value?: number | string | boolean;
}

export interface KernelDesc {
  op: string;
  name?: string;
  inputs: string[];
  outputs: string[];
  attrs?: { [key: string]: unknown };
  free?: string[];
}

/** Contents of `graph_js.json` (the js backend's graph file). */
export interface GraphDescriptor {
  format: 'webdnn-graph';
  version: number;
  backend: string;
  inputs: string[];
  outputs: string[];
  tensors: { [name: string]: { shape: number[]; dtype: DType } };
  constants: { [name: string]: ConstantDesc };
  kernels: KernelDesc[];
}

export const DTYPES: readonly DType[] = ['float32', 'float16', 'int8', 'uint8', 'int32', 'int64', 'bool'];

type TypedArrayConstructor =
  | Float32ArrayConstructor
  | Int32ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor;

/** The typed array class a dtype is stored in. */
export function arrayTypeOf(dtype: DType): TypedArrayConstructor {
  switch (dtype) {
    case 'float32':
    case 'float16':
      return Float32Array;
    case 'int32':
    case 'int64':
      return Int32Array;
    case 'int8':
      return Int8Array;
    case 'uint8':
    case 'bool':
      return Uint8Array;
    default:
      throw new Error(`unknown dtype '${String(dtype)}' (known: ${DTYPES.join(', ')})`);
  }
}

export function allocate(dtype: DType, size: number): TypedArray {
  return new (arrayTypeOf(dtype))(size);
}

export function product(shape: readonly (number | string)[]): number {
  let n = 1;
  for (const d of shape) n *= typeof d === 'number' ? d : 0;
  return n;
}

export function shapeString(shape: readonly (number | string)[]): string {
  return `[${shape.join(',')}]`;
}
