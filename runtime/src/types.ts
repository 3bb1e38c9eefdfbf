// Shared types: the descriptor format (docs/descriptor.md) and the typed arrays that hold tensors.

import type { HostSection } from './host.js';
import { WebDNNError } from './errors.js';

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
  /**
   * The shape with its symbolic sizes (e.g. ["batch", "seq"]) where a backend of the descriptor takes
   * other sizes than `shape` (the sizes the fixed backends were built for, and the default).
   */
  dims?: (number | string)[];
  dtype: DType;
  layout?: string;
}

/** An entry of model.json "weights" or "files": a plain file name in the descriptor directory, its size and checksum. */
export interface FileEntry {
  file: string;
  /** Size of the whole file in bytes. */
  bytes: number;
  /** IEEE CRC-32 of the whole file, 8 hex digits (written lowercase). */
  crc32: string;
}

/** An entry of model.json "weights". */
export type WeightChunk = FileEntry;

export interface BackendEntry {
  /** The backend's graph file: a plain file name in the descriptor directory, listed in "files". */
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
  /** Every other file a backend loads (graph files, the wasm modules), with size and checksum. */
  files: FileEntry[];
  source?: { [key: string]: unknown };
  stats?: { [key: string]: unknown };
  /** Ops with data-dependent output shapes, run on the CPU after the backend (runtime/src/host.ts). */
  host?: HostSection;
}

export type Encoding = 'raw' | 'f16' | 'int8' | 'int4' | 'fill';

export interface ConstantDesc {
  shape: number[];
  dtype: DType;
  encoding: Encoding;
  offset: number;
  bytes: number;
  /** For `fill`: the value of every element. */
  value?: number | string | boolean;
  /** For `int8`: the axis with one scale per slice. For `int4` (optional): the axis its blocks run along
   *  (values stored in the order of the tensor with that axis moved last). */
  axis?: number;
  /** For `int4`: the number of consecutive values per scale. */
  block?: number;
  /** For `int4`: how the scales are stored, half floats (default) or `f32`. */
  scales?: 'f16' | 'f32';
  /** For `int4`: a zero point per block (values 0..15 less it) instead of values -8..7. */
  zeros?: boolean;
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
  /** A dim may be an expression of symbolic sizes (js graphs; "symbols" gives their defaults). */
  tensors: { [name: string]: { shape: (number | string)[]; dtype: DType } };
  constants: { [name: string]: ConstantDesc };
  kernels: KernelDesc[];
  /** Symbolic sizes and the values they take when no input binds them (the fixed backends' shapes). */
  symbols?: { [name: string]: number };
  /** The sizes a symbol may take, [low, high] (converted with --input-shape seq=1..512). */
  ranges?: { [name: string]: [number, number] };
  /** Integer constants computed from symbolic sizes (a shape computation's result), bound per run. */
  sizes?: { [name: string]: { shape: number[]; dtype: DType; values: (number | string)[] } };
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
      throw new WebDNNError(`unknown dtype '${String(dtype)}' (known: ${DTYPES.join(', ')})`);
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

/** `table[key]` when it is the table's own entry: a descriptor's names must not reach Object.prototype ("constructor" …). */
export function own<T>(table: { [key: string]: T } | undefined | null, key: string): T | undefined {
  return table && Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

/** A JSON object (not an array, not null). */
export const isObject = (v: unknown): v is { [k: string]: unknown } => !!v && typeof v === 'object' && !Array.isArray(v);

/** A dimension: a non-negative safe integer. */
export const isDim = (d: unknown): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0;

export const isDType = (d: unknown): d is DType => typeof d === 'string' && (DTYPES as readonly string[]).includes(d);
