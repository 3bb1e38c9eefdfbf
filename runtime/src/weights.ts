// Constants from the weight bytes: each is raw little-endian data of its dtype, half floats (f16),
// 8-bit values with a scale per channel (int8), 4-bit values with a scale per block (int4), or a
// fill value (docs/descriptor.md). Every backend decodes its constants here.

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
  if (encoding === 'int8' || encoding === 'int4') {
    if (c.dtype !== 'float32') throw new WebDNNError(`${what}: ${encoding} encoding is for float32 tensors, not ${c.dtype}`);
    return encoding === 'int8' ? decodeInt8(what, c, data, n) : decodeInt4(what, c, data, n);
  }
  if (encoding !== 'raw') throw new WebDNNError(`${what}: unknown encoding '${String(encoding)}' (known: raw, f16, int8, int4, fill)`);
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

/** The stored bytes of a constant that a backend's kernels read as stored (its graph's "encoded": int8's
 *  scales and values, int4's block scales and nibbles), checked against what the graph says they read. */
export function storedConstant(file: string, name: string, c: ConstantDesc,
                               want: { encoding: string; axis?: number; block?: number; scales?: string; zeros?: boolean },
                               weights: Uint8Array): Uint8Array {
  const shape = Array.isArray(c?.shape) ? c.shape : [];
  const n = product(shape);
  let bytes = -1;
  if (want?.encoding === 'int8' && c?.encoding === 'int8' && c.axis === want.axis && Number.isInteger(want.axis) &&
      (want.axis as number) >= 0 && (want.axis as number) < shape.length) {
    bytes = 4 * shape[want.axis as number] + n;
  } else if (want?.encoding === 'int4' && c?.encoding === 'int4' && c.block === want.block && Number.isInteger(want.block) &&
             (want.block as number) > 0 && c.axis === want.axis && c.scales === want.scales && !!c.zeros === !!want.zeros) {
    // [scales: half or float per block][zero points: two per byte][values: two per byte]
    const blocks = Math.ceil(n / (want.block as number));
    bytes = (want.scales === 'f32' ? 4 : 2) * blocks + (want.zeros ? Math.ceil(blocks / 2) : 0) + Math.ceil(n / 2);
  }
  if (bytes < 0) {
    const how = (e: unknown, axis: unknown, block: unknown) =>
      e === 'int4' ? `int4 in blocks of ${String(block)}${axis === undefined ? '' : ` along axis ${String(axis)}`}`
        : `${String(e)} along axis ${String(axis)}`;
    throw new WebDNNError(`${file}: constant '${name}' is read as ${how(want?.encoding, want?.axis, want?.block)}` +
                          `${want?.zeros ? ' with zero points' : ''}, but stored as ${how(c?.encoding, c?.axis, c?.block)}` +
                          `${c?.zeros ? ' with zero points' : ''}`);
  }
  if (!isDim(c.offset) || c.bytes !== bytes || c.offset + bytes > weights.byteLength) {
    throw new WebDNNError(`${file}: constant '${name}': ${want.encoding} of shape [${shape.join(', ')}] needs ${bytes} bytes ` +
                          `inside the weights, got ${String(c.bytes)} at ${String(c.offset)}`);
  }
  return weights.subarray(c.offset, c.offset + bytes);
}

// int8: [scales float32 × shape[axis]][values int8 × n], value × scale of its slice along axis
function decodeInt8(what: string, c: ConstantDesc, data: Uint8Array, n: number): Float32Array {
  const axis = c.axis;
  if (!Number.isInteger(axis) || (axis as number) < 0 || (axis as number) >= c.shape.length) {
    throw new WebDNNError(`${what}: int8 encoding needs an "axis" of the shape ${shapeString(c.shape)}`);
  }
  const channels = c.shape[axis as number] as number;
  if (data.byteLength !== 4 * channels + n) {
    throw new WebDNNError(`${what}: int8 encoding of shape ${shapeString(c.shape)} needs ${4 * channels + n} bytes, got ${data.byteLength}`);
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const scales = new Float32Array(channels);
  for (let i = 0; i < channels; i++) scales[i] = view.getFloat32(4 * i, true);
  const inner = product(c.shape.slice((axis as number) + 1) as number[]);
  const out = new Float32Array(n);
  const q = new Int8Array(data.buffer, data.byteOffset + 4 * channels, n);
  for (let i = 0; i < n; i++) out[i] = q[i] * scales[Math.floor(i / inner) % channels];
  return out;
}

// int4: [scales float16 (or float32: "scales": "f32") × blocks][two values per byte, low nibble first, -8..7 as
// 0..15]; with "zeros": true, [scales][a zero point per block, two per byte][values 0..15], each value less its
// block's zero point; with "axis", the values are in the order of the tensor with that axis moved last
function decodeInt4(what: string, c: ConstantDesc, data: Uint8Array, n: number): Float32Array {
  const block = c.block;
  if (!Number.isInteger(block) || (block as number) < 2 || (block as number) % 2) {
    throw new WebDNNError(`${what}: int4 encoding needs an even "block" size`);
  }
  if (c.scales !== undefined && c.scales !== 'f16' && c.scales !== 'f32') {
    throw new WebDNNError(`${what}: int4 "scales" must be "f16" or "f32", not ${JSON.stringify(c.scales)}`);
  }
  const axis = c.axis;
  if (axis !== undefined && (!Number.isInteger(axis) || axis < 0 || axis >= c.shape.length)) {
    throw new WebDNNError(`${what}: int4 "axis" must be an axis of the shape ${shapeString(c.shape)}`);
  }
  if (c.zeros !== undefined && c.zeros !== true) {
    throw new WebDNNError(`${what}: int4 "zeros" must be true or absent, not ${JSON.stringify(c.zeros)}`);
  }
  const blocks = Math.ceil(n / (block as number));
  const scaleBytes = c.scales === 'f32' ? 4 : 2;
  const zeroBytes = c.zeros ? Math.ceil(blocks / 2) : 0;
  const need = scaleBytes * blocks + zeroBytes + Math.ceil(n / 2);
  if (data.byteLength !== need) {
    throw new WebDNNError(`${what}: int4 encoding of shape ${shapeString(c.shape)} needs ${need} bytes, got ${data.byteLength}`);
  }
  let scales: Float32Array;
  if (scaleBytes === 4) {
    const view = new DataView(data.buffer, data.byteOffset, 4 * blocks);
    scales = new Float32Array(blocks);
    for (let i = 0; i < blocks; i++) scales[i] = view.getFloat32(4 * i, true);
  } else {
    scales = decodeF16(data.subarray(0, 2 * blocks), blocks);
  }
  const zeros = data.subarray(scaleBytes * blocks, scaleBytes * blocks + zeroBytes);
  const packed = data.subarray(scaleBytes * blocks + zeroBytes);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const nibble = (packed[i >> 1] >> ((i & 1) << 2)) & 15;
    const b = Math.floor(i / (block as number));
    const q = c.zeros ? nibble - ((zeros[b >> 1] >> ((b & 1) << 2)) & 15) : nibble > 7 ? nibble - 16 : nibble;
    values[i] = q * scales[b];
  }
  if (axis === undefined || axis === c.shape.length - 1) return values;
  // stored as [outer, inner, shape[axis]] (axis moved last): back to [outer, shape[axis], inner]
  const len = c.shape[axis];
  const inner = product(c.shape.slice(axis + 1) as number[]);
  const outer = n / (len * inner || 1);
  const out = new Float32Array(n);
  for (let o = 0; o < outer; o++)
    for (let j = 0; j < inner; j++)
      for (let a = 0; a < len; a++) out[(o * len + a) * inner + j] = values[(o * inner + j) * len + a];
  return out;
}
