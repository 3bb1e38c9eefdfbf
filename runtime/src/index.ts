// Public API of the WebDNN descriptor runner. The script-tag build exposes it as the global `WebDNN`.

export { load, DESCRIPTOR_VERSION, DEFAULT_BACKEND_ORDER } from './load.js';
export type { LoadOptions, DescriptorSource, BackendName } from './load.js';
export type { FileEvent, FileBytes } from './files.js';
export { clearCache } from './cache.js';
export { Runner, TensorView } from './runner.js';
export { WebDNNError } from './errors.js';
export type { NamedInputs } from './runner.js';
export * as Math from './math.js';
export * as Image from './image.js';
export type {
  ArrayLikeInput,
  BackendEntry,
  ConstantDesc,
  DType,
  Encoding,
  FileEntry,
  GraphDescriptor,
  KernelDesc,
  ModelDescriptor,
  TensorSpec,
  TypedArray,
  WeightChunk,
} from './types.js';
export type { ImageArrayOptions, ImageSource, ImageDataLike, ColorOrder, DataOrder } from './image.js';

/** Version of this runtime. */
export const version = '0.1.0';
