// Constants from the weight bytes: each is raw little-endian data of its dtype, half floats (f16),
// or a fill value (docs/descriptor.md). Every backend decodes its constants here.

import type { ConstantDesc, TypedArray } from './types.js';
import { allocate, arrayTypeOf, DTYPES, isDim, product, shapeString } from './types.js';
import { WebDNNError } from './errors.js';
import { toNumber } from './json.js';
import { decodeF16 } from './float16.js';

/** Decodes one constant from the concatenated weight bytes. */
export function decodeConstant(name: string, c: ConstantDesc, weights: Uint8Array): TypedArray {
  const what = `constant '${name}'`;
  if (!c || !Array.isArray(c.shape) || !DTYPES.includes(c.dtype)) {
    throw new WebDNNError(`${what}: needs a shape and a dtype (one of ${DTYPES.join(', ')})`);
  }
  const n = product(c.shape);
  const encoding = c.encoding ?? 'raw';
  if (encoding === 'fill') {
    const out = allocate(c.dtype, n);
    out.fill(toNumber(c.value, `${what}: fill value`));
    return out;
  }
  const offset = c.offset ?? 0;
  const bytes = c.bytes ?? 0;
  if (!isDim(offset) || !isDim(bytes)) throw new WebDNNError(`${what}: "offset" and "bytes" must be non-negative integers`);
  if (offset + bytes > weights.byteLength) {
    throw new WebDNNError(`${what}: bytes [${offset}, ${offset + bytes}) lie outside the ${weights.byteLength} weight bytes`);
  }
  const data = weights.subarray(offset, offset + bytes);
  if (encoding === 'f16') {
    if (bytes !== 2 * n) throw new WebDNNError(`${what}: f16 encoding of shape ${shapeString(c.shape)} needs ${2 * n} bytes, got ${bytes}`);
    if (c.dtype !== 'float32' && c.dtype !== 'float16') throw new WebDNNError(`${what}: f16 encoding is for float tensors, not ${c.dtype}`);
    return decodeF16(data, n);
  }
  if (encoding !== 'raw') throw new WebDNNError(`${what}: unknown encoding '${String(encoding)}' (known: raw, f16, fill)`);
  // float16 constants may be stored as half floats (2 bytes each) or already widened to float32
  if (c.dtype === 'float16' && bytes === 2 * n && n > 0) return decodeF16(data, n);
  const T = arrayTypeOf(c.dtype);
  const size = T.BYTES_PER_ELEMENT;
  if (bytes !== n * size) {
    throw new WebDNNError(`${what}: raw ${c.dtype} of shape ${shapeString(c.shape)} needs ${n * size} bytes, got ${bytes}`);
  }
  const at = weights.byteOffset + offset;
  if (at % size === 0) return new T(weights.buffer as ArrayBuffer, at, n); // a view: no second copy of the weights
  const out = new T(n);
  new Uint8Array(out.buffer).set(data);
  return out;
}
