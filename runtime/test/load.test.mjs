import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { affineSpec, writeDescriptor, tempDir, crc32Hex, randomArray, assertClose, updateChecksums, toHalfBits, WebDNN } from '../testlib/descriptor.mjs';

const readJSON = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));
const writeJSON = (p, v) => fs.writeFileSync(p, JSON.stringify(v));

async function expectAffineWorks(runner) {
  const { y } = await runner.run({ x: [1, 1, 1, 1] });
  assert.deepEqual(Array.from(y), [11, 22, 33, 44]);
}

test('loads a directory path and runs', async () => {
  const runner = await WebDNN.load(writeDescriptor(affineSpec()));
  assert.equal(runner.backendName, 'js');
  await expectAffineWorks(runner);
});

test('loads a file: URL and a path with a trailing slash', async () => {
  const dir = writeDescriptor(affineSpec());
  await expectAffineWorks(await WebDNN.load(pathToFileURL(dir).href));
  await expectAffineWorks(await WebDNN.load(dir + '/'));
});

test('rejects an unknown descriptor version, naming both versions', async () => {
  assert.equal(WebDNN.DESCRIPTOR_VERSION, 2);
  const newer = writeDescriptor(affineSpec({ model: { version: 3 } }));
  await assert.rejects(WebDNN.load(newer), (e) => {
    assert.ok(e instanceof WebDNN.WebDNNError);
    assert.match(e.message, /descriptor version 3 is not supported: this runtime reads version 2 \(update the runtime/);
    return true;
  });
  // a version 1 descriptor (no "files", optional checksums) must be converted again
  const older = writeDescriptor(affineSpec({ model: { version: 1 } }));
  await assert.rejects(WebDNN.load(older), /descriptor version 1 is not supported: this runtime reads version 2 \(convert the model again/);
});

test('rejects a directory that is not a webdnn descriptor', async () => {
  const dir = writeDescriptor(affineSpec({ model: { format: 'something-else' } }));
  await assert.rejects(WebDNN.load(dir), /"format" is "something-else", expected "webdnn-descriptor"/);
  await assert.rejects(WebDNN.load(path.join(dir, 'missing')), /cannot read .*model\.json/);
});

test('a truncated weight chunk fails with its size', async () => {
  const dir = writeDescriptor(affineSpec());
  const file = path.join(dir, 'weights_0.bin');
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, bytes.subarray(0, bytes.length - 5));
  await assert.rejects(WebDNN.load(dir), new RegExp(`weights_0\\.bin: expected ${bytes.length} bytes, got ${bytes.length - 5} \\(truncated or corrupted download\\)`));
});

test('a corrupted weight chunk fails the CRC-32 check naming file, expected and actual', async () => {
  const dir = writeDescriptor(affineSpec());
  const file = path.join(dir, 'weights_0.bin');
  const bytes = new Uint8Array(fs.readFileSync(file));
  const expected = crc32Hex(bytes);
  bytes[3] ^= 0x40;
  fs.writeFileSync(file, bytes);
  const actual = crc32Hex(bytes);
  await assert.rejects(WebDNN.load(dir), new RegExp(`weights_0\\.bin: CRC-32 mismatch: expected ${expected}, got ${actual}`));
});

test('the CRC-32 in model.json is compared case-insensitively and must match zlib', async () => {
  const dir = writeDescriptor(affineSpec());
  const m = readJSON(path.join(dir, 'model.json'));
  m.weights[0].crc32 = m.weights[0].crc32.toUpperCase();
  writeJSON(path.join(dir, 'model.json'), m);
  await expectAffineWorks(await WebDNN.load(dir));
});

test('all backends unavailable: one error listing every backend and why', async () => {
  const dir = writeDescriptor(affineSpec());
  await assert.rejects(WebDNN.load(dir, { backendOrder: ['webgpu', 'warp-drive', 'wasm'] }), (e) => {
    assert.match(e.message, /no backend could be loaded/);
    assert.match(e.message, /webgpu: not available in this environment/);
    assert.match(e.message, /warp-drive: unknown backend \(this runtime has: webgpu, webgl, wasm, js\)/);
    assert.match(e.message, /wasm: (not available|not in the descriptor)/);
    return true;
  });
  const other = writeDescriptor(affineSpec({ model: { backends: { webgl: { graph: 'graph_webgl.json', weights: [0] } } } }));
  await assert.rejects(WebDNN.load(other, { backendOrder: ['js'] }), /js: not in the descriptor \(it has: webgl\)/);
});

test('falls back past absent or unknown backends to the next one', async () => {
  const dir = writeDescriptor(affineSpec());
  for (const order of [['webgpu', 'js'], ['nonsense', 'js'], ['webgl', 'wasm', 'js']]) {
    const runner = await WebDNN.load(dir, { backendOrder: order });
    assert.equal(runner.backendName, 'js', order.join(','));
    await expectAffineWorks(runner);
  }
});

test("'webgl' has no WebGL2 in Node: skipped in an order, named with its reason when nothing else loads", async () => {
  const dir = writeDescriptor(affineSpec());
  const runner = await WebDNN.load(dir, { backendOrder: ['webgl', 'js'] });
  assert.equal(runner.backendName, 'js');
  await assert.rejects(WebDNN.load(dir, { backendOrder: 'webgl' }), (e) => {
    assert.ok(e instanceof WebDNN.WebDNNError);
    assert.match(e.message, /no backend could be loaded \(backendOrder: webgl\)/);
    assert.match(e.message, /webgl: not available in this environment: no WebGL2 in this environment/);
    return true;
  });
});

test('a backend that fails to load is reported with its reason', async () => {
  const dir = writeDescriptor(affineSpec());
  fs.rmSync(path.join(dir, 'graph_js.json'));
  await assert.rejects(WebDNN.load(dir, { backendOrder: ['webgpu', 'js'] }), (e) => {
    assert.match(e.message, /webgpu: not available/);
    assert.match(e.message, /js: cannot read .*graph_js\.json/);
    return true;
  });
});

test('unsupported kernel ops are all listed at once', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [2], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2], dtype: 'float32' }],
    tensors: { h: { shape: [2], dtype: 'float32' }, g: { shape: [2], dtype: 'float32' } },
    kernels: [
      { op: 'Frobnicate', name: 'f1', inputs: ['x'], outputs: ['h'] },
      { op: 'Quux', name: 'q1', inputs: ['h'], outputs: ['g'] },
      { op: 'Frobnicate', name: 'f2', inputs: ['g'], outputs: ['y'] },
    ],
  });
  await assert.rejects(WebDNN.load(dir), /does not implement Frobnicate \(kernels 'f1', 'f2'\); Quux \(kernel 'q1'\)/);
});

test('weights split over several chunks, progress reported in bytes up to the total', async () => {
  const n = 1000;
  const w = randomArray(n, 3);
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [n], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [n], dtype: 'float32' }],
    constants: { w: { shape: [n], dtype: 'float32', data: w } },
    kernels: [{ op: 'Elementwise', name: 'm', inputs: ['x', 'w'], outputs: ['y'], attrs: { expr: ['mul', ['in', 0], ['in', 1]], dtype: 'float32' } }],
    chunkSize: 1024,
  });
  const m = readJSON(path.join(dir, 'model.json'));
  assert.equal(m.weights.length, 4);
  const calls = [];
  const runner = await WebDNN.load(dir, { progressCallback: (loaded, total) => calls.push([loaded, total]) });
  assert.ok(calls.length >= 2);
  assert.ok(calls.every(([, t]) => t === 4000));
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i][0] >= calls[i - 1][0]);
  assert.deepEqual(calls[calls.length - 1], [4000, 4000]);
  const { y } = await runner.run({ x: new Float32Array(n).fill(2) });
  assertClose(y, Array.from(w, (v) => 2 * v));
});

test('weightDirectory points at weights stored elsewhere', async () => {
  const dir = writeDescriptor(affineSpec());
  const elsewhere = tempDir();
  fs.renameSync(path.join(dir, 'weights_0.bin'), path.join(elsewhere, 'weights_0.bin'));
  await assert.rejects(WebDNN.load(dir), /cannot read .*weights_0\.bin/);
  await expectAffineWorks(await WebDNN.load(dir, { weightDirectory: elsewhere }));
});

test('constant encodings: raw, f16, fill, float16 stored as halves, int64 as int32, bool', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [4], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [4], dtype: 'float32' }],
    constants: {
      a: { shape: [4], dtype: 'float32', data: [0.5, -1.25, 2048, 3.0], encoding: 'f16' },
      b: { shape: [4], dtype: 'float32', encoding: 'fill', value: 0.25 },
      c: { shape: [4], dtype: 'float16', data: [1, 2, 0.5, -4], rawHalf: true },
      d: { shape: [4], dtype: 'int64', data: [1, -2, 3, 100000] },
      e: { shape: [4], dtype: 'bool', data: [1, 0, 1, 0] },
      f: { shape: [4], dtype: 'float32', encoding: 'fill', value: 'NaN' },
    },
    kernels: [{ op: 'Elementwise', name: 'sum', inputs: ['x', 'a', 'b', 'c', 'd', 'e', 'f'], outputs: ['y'],
      attrs: { expr: ['add', ['add', ['add', ['in', 0], ['in', 1]], ['add', ['in', 2], ['in', 3]]],
        ['add', ['add', ['in', 4], ['in', 5]], ['mul', ['isnan', ['in', 6]], ['const', 1000]]]], dtype: 'float32' } }],
  });
  const runner = await WebDNN.load(dir);
  const { y } = await runner.run({ x: [0, 0, 0, 0] });
  assert.deepEqual(Array.from(y), [0.5 + 0.25 + 1 + 1 + 1 + 1000, -1.25 + 0.25 + 2 - 2 + 1000, 2048 + 0.25 + 0.5 + 3 + 1 + 1000, 3 + 0.25 - 4 + 100000 + 1000]);
});

test('int8 (a scale per slice along an axis) and int4 (a float16 scale per block) encodings', async () => {
  // int8, shape [2, 3], axis 1: scales [0.5, 1, 2] then values [1, -2, 3, 127, 0, -127]
  const int8 = new Uint8Array(12 + 6);
  new DataView(int8.buffer).setFloat32(0, 0.5, true);
  new DataView(int8.buffer).setFloat32(4, 1, true);
  new DataView(int8.buffer).setFloat32(8, 2, true);
  int8.set(Int8Array.from([1, -2, 3, 127, 0, -127]).map((v) => v & 255), 12);
  // int4, 5 values in blocks of 4: scales [0.5, 2] (float16), values [1, -8, 7, -1 | 3] as nibbles
  const nib = [1, -8, 7, -1, 3].map((v) => v & 15);
  const int4 = Uint8Array.from([...new Uint8Array(Uint16Array.from([toHalfBits(0.5), toHalfBits(2)]).buffer),
    nib[0] | (nib[1] << 4), nib[2] | (nib[3] << 4), nib[4]]);
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [1], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2, 3], dtype: 'float32' }, { name: 'z', shape: [5], dtype: 'float32' }],
    constants: {
      a: { shape: [2, 3], dtype: 'float32', encoding: 'int8', fields: { axis: 1 }, payload: int8 },
      b: { shape: [5], dtype: 'float32', encoding: 'int4', fields: { block: 4 }, payload: int4 },
    },
    kernels: [
      { op: 'Elementwise', name: 'ya', inputs: ['x', 'a'], outputs: ['y'], attrs: { expr: ['add', ['in', 0], ['in', 1]], dtype: 'float32' } },
      { op: 'Elementwise', name: 'zb', inputs: ['x', 'b'], outputs: ['z'], attrs: { expr: ['add', ['in', 0], ['in', 1]], dtype: 'float32' } },
    ],
  });
  const runner = await WebDNN.load(dir);
  const out = await runner.run({ x: [0] });
  assert.deepEqual(Array.from(out.y), [0.5, -2, 6, 63.5, 0, -254]);
  assert.deepEqual(Array.from(out.z), [0.5, -4, 3.5, -0.5, 6]);
  // a payload of the wrong size is refused, naming the constant and the sizes
  const bad = writeDescriptor({
    inputs: [{ name: 'x', shape: [1], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2, 3], dtype: 'float32' }],
    constants: { a: { shape: [2, 3], dtype: 'float32', encoding: 'int8', fields: { axis: 1 }, payload: int8.subarray(0, 17) } },
    kernels: [{ op: 'Elementwise', name: 'ya', inputs: ['x', 'a'], outputs: ['y'], attrs: { expr: ['add', ['in', 0], ['in', 1]], dtype: 'float32' } }],
  });
  await assert.rejects(WebDNN.load(bad), /constant 'a': int8 encoding of shape \[2,3\] needs 18 bytes, got 17/);
});

test('int4 with a zero point per block ("zeros": true)', async () => {
  // 5 values in blocks of 2 (3 blocks): scales [0.5, 2, 1] (float16), zero points [8, 0, 15] two per byte,
  // values [0, 15 | 3, 1 | 15] as unsigned nibbles: (v - zp) * scale = [-4, 3.5 | 6, 2 | 0]
  const zp = [8, 0, 15];
  const nib = [0, 15, 3, 1, 15];
  const payload = Uint8Array.from([
    ...new Uint8Array(Uint16Array.from([toHalfBits(0.5), toHalfBits(2), toHalfBits(1)]).buffer),
    zp[0] | (zp[1] << 4), zp[2],
    nib[0] | (nib[1] << 4), nib[2] | (nib[3] << 4), nib[4]]);
  const spec = (bytes, fields) => ({
    inputs: [{ name: 'x', shape: [1], dtype: 'float32' }],
    outputs: [{ name: 'z', shape: [5], dtype: 'float32' }],
    constants: { b: { shape: [5], dtype: 'float32', encoding: 'int4', fields, payload: bytes } },
    kernels: [{ op: 'Elementwise', name: 'zb', inputs: ['x', 'b'], outputs: ['z'], attrs: { expr: ['add', ['in', 0], ['in', 1]], dtype: 'float32' } }],
  });
  const runner = await WebDNN.load(writeDescriptor(spec(payload, { block: 2, zeros: true })));
  assert.deepEqual(Array.from((await runner.run({ x: [0] })).z), [-4, 3.5, 6, 2, 0]);
  // without its zero-point bytes the payload is refused; "zeros" must be true
  await assert.rejects(WebDNN.load(writeDescriptor(spec(payload.subarray(0, 9), { block: 2, zeros: true }))),
                       /int4 encoding of shape \[5\] needs 11 bytes, got 9/);
  await assert.rejects(WebDNN.load(writeDescriptor(spec(payload, { block: 2, zeros: 1 }))), /int4 "zeros" must be true or absent/);
});

test("Python's NaN / Infinity JSON tokens are accepted", async () => {
  const dir = writeDescriptor(affineSpec());
  const g = path.join(dir, 'graph_js.json');
  const graph = readJSON(g);
  graph.kernels[0].attrs.expr = ['min', ['add', ['in', 0], ['const', '@INF@']], ['const', '@NAN@']];
  fs.writeFileSync(g, JSON.stringify(graph).replace('"@INF@"', 'Infinity').replace('"@NAN@"', 'NaN'));
  assert.match(fs.readFileSync(g, 'utf8'), /,Infinity\]/);
  updateChecksums(dir);
  const runner = await WebDNN.load(dir);
  const { y } = await runner.run({ x: [1, 2, 3, 4] });
  assert.ok(Array.from(y).every(Number.isNaN));
});

test('a chain of kernels frees intermediates and a bad free list is caught', async () => {
  const spec = {
    inputs: [{ name: 'x', shape: [3], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [3], dtype: 'float32' }],
    tensors: { h: { shape: [3], dtype: 'float32' } },
    kernels: [
      { op: 'Elementwise', name: 'double', inputs: ['x'], outputs: ['h'], attrs: { expr: ['mul', ['in', 0], ['const', 2]], dtype: 'float32' }, free: ['x'] },
      { op: 'Elementwise', name: 'inc', inputs: ['h'], outputs: ['y'], attrs: { expr: ['add', ['in', 0], ['const', 1]], dtype: 'float32' }, free: ['h'] },
    ],
  };
  const runner = await WebDNN.load(writeDescriptor(spec));
  assert.deepEqual(Array.from((await runner.run({ x: [1, 2, 3] })).y), [3, 5, 7]);
  assert.deepEqual(Array.from((await runner.run({ x: [0, 0, 1] })).y), [1, 1, 3]);
  spec.kernels[0].free = ['h'];
  const bad = await WebDNN.load(writeDescriptor(spec));
  await assert.rejects(bad.run({ x: [1, 2, 3] }), /kernel 'inc' \(Elementwise\): input 'h' is not available/);
});

function serve(dir, { truncate } = {}) {
  const server = http.createServer((req, res) => {
    const file = path.join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (!file.startsWith(dir) || !fs.existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    let body = fs.readFileSync(file);
    if (truncate && file.endsWith('.bin')) body = body.subarray(0, body.length - truncate);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    // two writes so the body arrives in more than one piece
    res.write(body.subarray(0, body.length >> 1));
    res.end(body.subarray(body.length >> 1));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('loads over http with fetch, with progress', async () => {
  const dir = writeDescriptor(affineSpec());
  const server = await serve(dir);
  try {
    const url = `http://127.0.0.1:${server.address().port}/`;
    const calls = [];
    const runner = await WebDNN.load(url, { progressCallback: (l, t) => calls.push([l, t]) });
    await expectAffineWorks(runner);
    assert.deepEqual(calls[calls.length - 1], [32, 32]);
    await assert.rejects(WebDNN.load(url + 'nope'), /HTTP 404/);
  } finally {
    server.close();
  }
});

test('a truncated http download is caught by the size check', async () => {
  const dir = writeDescriptor(affineSpec());
  const server = await serve(dir, { truncate: 8 });
  try {
    await assert.rejects(WebDNN.load(`http://127.0.0.1:${server.address().port}`), /weights_0\.bin: expected 32 bytes, got 24/);
  } finally {
    server.close();
  }
});

test('a constant at an offset that is not a multiple of its element size is still decoded', async () => {
  const dir = writeDescriptor(affineSpec());
  const file = path.join(dir, 'weights_0.bin');
  const old = fs.readFileSync(file);
  const shifted = Buffer.concat([Buffer.from([0xaa, 0xbb]), old]);
  fs.writeFileSync(file, shifted);
  const m = readJSON(path.join(dir, 'model.json'));
  m.weights[0] = { file: 'weights_0.bin', bytes: shifted.length, crc32: crc32Hex(shifted) };
  writeJSON(path.join(dir, 'model.json'), m);
  const g = readJSON(path.join(dir, 'graph_js.json'));
  for (const c of Object.values(g.constants)) c.offset += 2;
  writeJSON(path.join(dir, 'graph_js.json'), g);
  updateChecksums(dir);
  await expectAffineWorks(await WebDNN.load(dir));
});

test('the default order skips webgpu on a software adapter; naming webgpu uses it', async () => {
  assert.deepEqual([...WebDNN.DEFAULT_BACKEND_ORDER], ['webgpu', 'webgl', 'wasm', 'js']);
  const dir = writeDescriptor(affineSpec({ model: { backends: { webgpu: { graph: 'graph_webgpu.json', weights: [] } } } }));
  // listed (so the reader looks for it) but absent
  const m = readJSON(path.join(dir, 'model.json'));
  m.files.push({ file: 'graph_webgpu.json', bytes: 2, crc32: '00000000' });
  writeJSON(path.join(dir, 'model.json'), m);
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  const adapter = (info) => ({ info, features: new Set(), limits: {}, requestDevice: async () => { throw new Error('no device in this test'); } });
  const fakeGpu = (info) => Object.defineProperty(globalThis, 'navigator', {
    value: { gpu: { requestAdapter: async () => adapter(info) } }, configurable: true, writable: true });
  try {
    fakeGpu({ vendor: 'google', architecture: 'swiftshader', description: '' });
    await assert.rejects(WebDNN.load(dir), (e) => {
      assert.match(e.message, /webgpu: skipped by the default backend order on a software adapter \(swiftshader\)/);
      assert.match(e.message, /wasm: not in the descriptor/);
      return true;
    });
    // named, or on a hardware adapter, webgpu is tried (and here fails on its missing graph file)
    await assert.rejects(WebDNN.load(dir, { backendOrder: ['webgpu'] }), /webgpu: cannot read .*graph_webgpu\.json/);
    fakeGpu({ vendor: 'nvidia', architecture: 'hopper', description: '' });
    await assert.rejects(WebDNN.load(dir), /webgpu: cannot read .*graph_webgpu\.json/);
    fakeGpu({ vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' });
    await assert.rejects(WebDNN.load(dir), /software adapter \(llvmpipe\)/);
    await assert.rejects(WebDNN.load(dir, { backendOptions: { webgpu: { allowSoftwareAdapter: true } } }),
      /webgpu: cannot read .*graph_webgpu\.json/);
  } finally {
    if (saved) Object.defineProperty(globalThis, 'navigator', saved);
    else delete globalThis.navigator;
  }
});
