// Test helpers: write small descriptor directories (format version 2: model.json + graph_js.json +
// weights, every file listed with its real size and CRC-32, computed by zlib, not by the runtime) and run them through the built runtime.
// Kept outside test/ so the test runner does not count it as a test file.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import * as WebDNN from '../dist/webdnn.mjs';

export { WebDNN };

const created = [];
process.on('exit', () => {
  for (const d of created) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'webdnn-test-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(d);
  return d;
}

export function crc32Hex(bytes) {
  return (zlib.crc32(bytes) >>> 0).toString(16).padStart(8, '0');
}

const STORAGE = {
  float32: Float32Array,
  float16: Float32Array,
  int32: Int32Array,
  int64: Int32Array, // raw int64 weights are written as int32 (docs/descriptor.md)
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

/** IEEE half bits of x (round to nearest even), independent of the runtime's converter. */
export function toHalfBits(x) {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x);
  const b = dv.getUint32(0);
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const v = Math.abs(x);
  if (v >= 65520) return sign | 0x7c00;
  if (v < 2 ** -14) {
    // subnormal: multiple of 2^-24, round half to even
    const q = v / 2 ** -24;
    let r = Math.round(q);
    if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12 && Math.trunc(q) % 2 === 0) r = Math.trunc(q);
    return sign | r;
  }
  const e = Math.floor(Math.log2(v));
  const m = v / 2 ** e - 1; // [0, 1)
  const q = m * 1024;
  let r = Math.round(q);
  if (q - Math.floor(q) === 0.5 && Math.floor(q) % 2 === 0) r = Math.floor(q);
  let he = e + 15;
  if (r === 1024) {
    r = 0;
    he++;
  }
  if (he >= 31) return sign | 0x7c00;
  return sign | (he << 10) | r;
}

/**
 * Writes a descriptor directory and returns its path.
 *  spec.inputs / spec.outputs: [{name, shape, dtype}]
 *  spec.tensors: extra intermediate tensors {name: {shape, dtype}} (inputs/outputs are added)
 *  spec.constants: {name: {shape, dtype, data, encoding?: 'raw'|'f16'|'fill', value?}}; or {shape, dtype,
 *    encoding, payload: Uint8Array, ...fields} for bytes written as given (int8, int4, damaged data)
 *  spec.kernels: kernel list
 *  spec.chunkSize: split the weight bytes into files of at most this many bytes
 *  spec.model / spec.graph: fields merged over the generated model.json / graph_js.json
 */
export function writeDescriptor(spec, dir = tempDir()) {
  const tensors = {};
  for (const t of [...spec.inputs, ...spec.outputs]) tensors[t.name] = { shape: t.shape, dtype: t.dtype };
  Object.assign(tensors, spec.tensors ?? {});

  const parts = [];
  let offset = 0;
  const constants = {};
  for (const [name, c] of Object.entries(spec.constants ?? {})) {
    const encoding = c.encoding ?? 'raw';
    const entry = { shape: c.shape, dtype: c.dtype, encoding, offset: 0, bytes: 0 };
    if (c.payload) {
      Object.assign(entry, c.fields ?? {});
      offset = Math.ceil(offset / 8) * 8;
      entry.offset = offset;
      entry.bytes = c.payload.byteLength;
      parts.push([offset, c.payload]);
      offset += c.payload.byteLength;
    } else if (encoding === 'fill') {
      entry.value = c.value;
    } else {
      let bytes;
      if (encoding === 'f16' || c.rawHalf) {
        const h = Uint16Array.from(c.data, toHalfBits);
        bytes = new Uint8Array(h.buffer);
      } else {
        const T = STORAGE[c.dtype];
        bytes = new Uint8Array(T.from(c.data, Number).buffer);
      }
      offset = Math.ceil(offset / 8) * 8;
      entry.offset = offset;
      entry.bytes = bytes.byteLength;
      parts.push([offset, bytes]);
      offset += bytes.byteLength;
    }
    constants[name] = entry;
  }
  const all = new Uint8Array(offset);
  for (const [o, b] of parts) all.set(b, o);

  const chunkSize = spec.chunkSize ?? 16 * 1024 * 1024;
  const weights = [];
  for (let o = 0, i = 0; o < all.byteLength; o += chunkSize, i++) {
    const chunk = all.subarray(o, Math.min(all.byteLength, o + chunkSize));
    const file = `weights_${i}.bin`;
    fs.writeFileSync(path.join(dir, file), chunk);
    weights.push({ file, bytes: chunk.byteLength, crc32: crc32Hex(chunk) });
  }

  const graph = {
    format: 'webdnn-graph',
    version: 1,
    backend: 'js',
    inputs: spec.inputs.map((t) => t.name),
    outputs: spec.outputs.map((t) => t.name),
    tensors,
    constants,
    kernels: spec.kernels,
    ...(spec.graph ?? {}),
  };
  const graphBytes = Buffer.from(JSON.stringify(graph));
  fs.writeFileSync(path.join(dir, 'graph_js.json'), graphBytes);
  const model = {
    format: 'webdnn-descriptor',
    version: 2,
    converter: 'test',
    inputs: spec.inputs,
    outputs: spec.outputs,
    backends: { js: { graph: 'graph_js.json', weights: weights.map((_, i) => i) } },
    weights,
    // every file a backend loads besides the weight chunks, with size and checksum (format version 2)
    files: [{ file: 'graph_js.json', bytes: graphBytes.byteLength, crc32: crc32Hex(graphBytes) }],
    ...(spec.model ?? {}),
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(model));
  return dir;
}

/**
 * After a test edits files of a descriptor: recomputes "bytes" and "crc32" of every model.json
 * "weights" and "files" entry whose file exists (a re-sealed descriptor: consistent, not intact).
 */
export function updateChecksums(dir) {
  const file = path.join(dir, 'model.json');
  const model = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const e of [...(model.weights ?? []), ...(model.files ?? [])]) {
    const p = path.join(dir, e.file);
    if (!fs.existsSync(p)) continue;
    const bytes = fs.readFileSync(p);
    e.bytes = bytes.byteLength;
    e.crc32 = crc32Hex(bytes);
  }
  fs.writeFileSync(file, JSON.stringify(model));
  return model;
}

/**
 * One-kernel model. `inputs`: [{shape, dtype='float32', data, const?: true, encoding?}] (named
 * in0, in1 …; const ones become constants; {absent: true} gives ""), `outputs`: [{shape, dtype}].
 * Returns the outputs (an array of typed arrays) of one run.
 */
export async function runKernel(op, attrs, inputs, outputs) {
  const spec = { inputs: [], outputs: [], constants: {}, kernels: [] };
  const names = [];
  const feeds = {};
  inputs.forEach((t, i) => {
    if (t.absent) {
      names.push('');
      return;
    }
    const name = `in${i}`;
    names.push(name);
    const dtype = t.dtype ?? 'float32';
    if (t.const) spec.constants[name] = { shape: t.shape, dtype, data: t.data, encoding: t.encoding, value: t.value };
    else {
      spec.inputs.push({ name, shape: t.shape, dtype });
      feeds[name] = t.data;
    }
  });
  spec.outputs = outputs.map((t, i) => ({ name: `out${i}`, shape: t.shape, dtype: t.dtype ?? 'float32' }));
  spec.kernels.push({ op, name: `${op.toLowerCase()}0`, inputs: names, outputs: spec.outputs.map((t) => t.name), attrs, free: [] });
  const dir = writeDescriptor(spec);
  const runner = await WebDNN.load(dir);
  const res = await runner.run(feeds);
  return spec.outputs.map((t) => res[t.name]);
}

/** Deterministic pseudo-random floats in [-1, 1). */
export function randomArray(n, seed = 1) {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export function assertClose(actual, expected, { rtol = 1e-4, atol = 1e-5, msg = '' } = {}) {
  assert.equal(actual.length, expected.length, `${msg} length: got ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = Number(actual[i]);
    const e = Number(expected[i]);
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${msg} [${i}]: got ${a}, expected NaN`);
      continue;
    }
    if (!Number.isFinite(e)) {
      assert.equal(a, e, `${msg} [${i}]: got ${a}, expected ${e}`);
      continue;
    }
    const tol = atol + rtol * Math.abs(e);
    if (!(Math.abs(a - e) <= tol)) {
      assert.fail(`${msg} [${i}]: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${tol})`);
    }
  }
}

export function prod(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/** y = x * w + b over [4] with w, b as constants: a model that needs its weights ([1,1,1,1] gives [11,22,33,44]). */
export function affineSpec(extra = {}) {
  return {
    inputs: [{ name: 'x', shape: [4], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [4], dtype: 'float32' }],
    constants: {
      w: { shape: [4], dtype: 'float32', data: [1, 2, 3, 4] },
      b: { shape: [4], dtype: 'float32', data: [10, 20, 30, 40] },
    },
    kernels: [{ op: 'Elementwise', name: 'affine', inputs: ['x', 'w', 'b'], outputs: ['y'],
      attrs: { expr: ['add', ['mul', ['in', 0], ['in', 1]], ['in', 2]], dtype: 'float32' } }],
    ...extra,
  };
}
