// A descriptor is untrusted input: file names stay inside its directory, every file is checked
// against model.json before it is used, model.json must agree with the graph, and bad inputs and
// use after dispose() are refused with WebDNNError.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { writeDescriptor, tempDir, crc32Hex, updateChecksums, affineSpec as affine, WebDNN } from '../testlib/descriptor.mjs';

const { WebDNNError } = WebDNN;

/** y = x * w + b over [4]; w and b are in two weight chunks. */
const affineSpec = (extra = {}) => affine({ chunkSize: 16, ...extra });

const readJSON = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));
const writeJSON = (p, v) => fs.writeFileSync(p, JSON.stringify(v));

/** A descriptor in <outer>/desc, and <outer> for files that must stay out of reach. */
function nested(spec = affineSpec()) {
  const outer = tempDir();
  const dir = path.join(outer, 'desc');
  fs.mkdirSync(dir);
  writeDescriptor(spec, dir);
  return { outer, dir };
}

function editModel(dir, f) {
  const p = path.join(dir, 'model.json');
  const m = readJSON(p);
  f(m);
  writeJSON(p, m);
}

/** Rejects with a WebDNNError whose message matches every pattern and contains none of `absent`. */
async function refused(promise, patterns, absent = []) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof WebDNNError, `expected a WebDNNError, got ${e && e.name}: ${e && e.message}`);
    for (const p of [patterns].flat()) assert.match(e.message, p);
    for (const s of absent) assert.ok(!e.message.includes(s), `the message shows ${JSON.stringify(s)}: ${e.message}`);
    return true;
  });
}

test('WebDNNError is exported, named, and what load() rejects with', async () => {
  assert.equal(typeof WebDNNError, 'function');
  const e = new WebDNNError('x');
  assert.ok(e instanceof Error);
  assert.ok(e instanceof WebDNNError);
  assert.equal(e.name, 'WebDNNError');
  const dir = writeDescriptor(affineSpec());
  fs.rmSync(path.join(dir, 'graph_js.json'));
  await refused(WebDNN.load(dir), [/no backend could be loaded/, /js: cannot read .*graph_js\.json/]);
  await refused(WebDNN.load(path.join(dir, 'nope')), /cannot read .*model\.json/);
  await refused(WebDNN.load(dir, { backendOrder: [] }), /backendOrder must name at least one backend/);
});

test("a weight chunk named '../secret.bin' is refused; the outside file's bytes never come back", async () => {
  const { outer, dir } = nested();
  // a file outside the descriptor that would pass the checks if the name were followed
  const secret = new Float32Array([1000, 2000, 3000, 4000]);
  const bytes = new Uint8Array(secret.buffer);
  fs.writeFileSync(path.join(outer, 'secret.bin'), bytes);
  editModel(dir, (m) => (m.weights[0] = { file: '../secret.bin', bytes: bytes.byteLength, crc32: crc32Hex(bytes) }));
  await refused(WebDNN.load(dir), [/weights\[0\]\.file is "\.\.\/secret\.bin"/, /plain names inside its directory/]);
  // weightDirectory is the user's choice of base; names inside it follow the same rule
  await refused(WebDNN.load(dir, { weightDirectory: path.join(outer, 'desc') }), /weights\[0\]\.file is "\.\.\/secret\.bin"/);
});

test('absolute paths, sub-paths, backslashes, drives, URLs and escapes are refused as file names', async () => {
  const { outer, dir } = nested();
  const good = readJSON(path.join(dir, 'model.json'));
  const names = [
    path.join(outer, 'secret.bin'), '/etc/passwd', 'sub/weights_0.bin', 'a\\b.bin', '..\\secret.bin', 'C:secret.bin',
    'file:///etc/passwd', 'http://example.com/w.bin', '%2e%2e%2fsecret.bin', '..', '.', '.hidden', '-rf', '', ' w.bin',
    'weights_0.bin\u0000', 'weights_0.bin?x=1', 'w#1', 42, null,
  ];
  for (const name of names) {
    const shown = typeof name === 'string' ? JSON.stringify(name) : String(name);
    const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const [field, set] of [
      ['weights[1].file', (m) => (m.weights[1].file = name)],
      ['files[0].file', (m) => (m.files[0].file = name)],
      ['backends.js.graph', (m) => (m.backends.js.graph = name)],
    ]) {
      const m = structuredClone(good);
      set(m);
      writeJSON(path.join(dir, 'model.json'), m);
      await refused(WebDNN.load(dir), new RegExp(`${esc(field)} is ${esc(shown)}`));
    }
  }
  // a backend that is not even tried is checked too: the descriptor is refused whole
  const m = structuredClone(good);
  m.backends.webgl = { graph: '../graph_webgl.json', weights: [] };
  writeJSON(path.join(dir, 'model.json'), m);
  await refused(WebDNN.load(dir, { backendOrder: 'js' }), /backends\.webgl\.graph is "\.\.\/graph_webgl\.json"/);
  writeJSON(path.join(dir, 'model.json'), good);
  const { y } = await (await WebDNN.load(dir)).run({ x: [1, 1, 1, 1] });
  assert.deepEqual(Array.from(y), [11, 22, 33, 44]);
});

test('a graph file outside the directory, or one not listed, is refused without showing its content', async () => {
  const { outer, dir } = nested();
  const content = 'root:x:0:0:TOP-SECRET-CONTENT:/root:/bin/bash\n';
  fs.writeFileSync(path.join(outer, 'secret.json'), content);
  editModel(dir, (m) => {
    m.backends.js.graph = '../secret.json';
    m.files.push({ file: '../secret.json', bytes: content.length, crc32: crc32Hex(Buffer.from(content)) });
  });
  await refused(WebDNN.load(dir), /files\[1\]\.file is "\.\.\/secret\.json"/, ['TOP-SECRET', 'root:x']);

  // a plain name in the directory that model.json does not list: never read
  fs.writeFileSync(path.join(dir, 'notes.txt'), content);
  editModel(dir, (m) => {
    m.backends.js.graph = 'notes.txt';
    m.files.pop();
  });
  await refused(WebDNN.load(dir), /backends\.js\.graph: 'notes\.txt' is not listed in model\.json 'files' \(no checksum\)/, ['TOP-SECRET', 'root:x']);

  // listed with its checksum, but not JSON: the parse error does not quote it
  editModel(dir, (m) => m.files.push({ file: 'notes.txt', bytes: content.length, crc32: crc32Hex(Buffer.from(content)) }));
  await refused(WebDNN.load(dir), /js: notes\.txt is not valid JSON/, ['TOP-SECRET', 'root:x', 'root']);
});

test('model.json that is not JSON: the error does not quote it', async () => {
  const dir = writeDescriptor(affineSpec());
  fs.writeFileSync(path.join(dir, 'model.json'), 'SECRET-TOKEN-1234 {');
  await refused(WebDNN.load(dir), /model\.json is not valid JSON/, ['SECRET', 'TOKEN']);
});

test('crc32 and bytes are mandatory and well formed on every weights and files entry', async () => {
  const dir = writeDescriptor(affineSpec());
  const good = readJSON(path.join(dir, 'model.json'));
  const cases = [
    ['weights', 'crc32', undefined, /weights\[0\]\.crc32 must be the file's CRC-32 as 8 hex digits, got undefined/],
    ['weights', 'crc32', null, /weights\[0\]\.crc32 .* got null/],
    ['weights', 'crc32', '', /weights\[0\]\.crc32 .* got ""/],
    ['weights', 'crc32', '1234567', /weights\[0\]\.crc32/],
    ['weights', 'crc32', 'zzzzzzzz', /weights\[0\]\.crc32/],
    ['weights', 'crc32', 305419896, /weights\[0\]\.crc32/],
    ['files', 'crc32', undefined, /files\[0\]\.crc32 .* got undefined/],
    ['files', 'crc32', '', /files\[0\]\.crc32/],
    ['weights', 'bytes', undefined, /weights\[0\]\.bytes must be a non-negative integer, got undefined/],
    ['weights', 'bytes', -16, /weights\[0\]\.bytes .* got -16/],
    ['weights', 'bytes', 1.5, /weights\[0\]\.bytes/],
    ['weights', 'bytes', '16', /weights\[0\]\.bytes/],
    ['weights', 'bytes', 1e300, /weights\[0\]\.bytes/],
    ['files', 'bytes', null, /files\[0\]\.bytes/],
  ];
  for (const [list, key, value, pattern] of cases) {
    const m = structuredClone(good);
    if (value === undefined) delete m[list][0][key];
    else m[list][0][key] = value;
    writeJSON(path.join(dir, 'model.json'), m);
    await refused(WebDNN.load(dir), pattern);
  }
  for (const [mutate, pattern] of [
    [(m) => delete m.files, /"files" must be a list/],
    [(m) => (m.files = {}), /"files" must be a list/],
    [(m) => (m.weights = [null]), /weights\[0\] must be an object/],
    [(m) => m.weights.push({ ...m.weights[0] }), /weights\[2\]\.file 'weights_0\.bin' is listed twice \(also at weights\[0\]\)/],
    [(m) => m.files.push({ ...m.weights[1] }), /files\[1\]\.file 'weights_1\.bin' is listed twice/],
    [(m) => (m.backends.js.weights = [1, 0]), /ascending order, once each/],
    [(m) => (m.backends.js.weights = [0, 0]), /ascending order, once each/],
    [(m) => (m.backends.js.weights = [0, 2]), /backends\.js\.weights\[1\] is 2, not an index into "weights" \(which has 2\)/],
    [(m) => (m.backends.js.weights = [0, 0.5]), /backends\.js\.weights\[1\] is 0\.5/],
    [(m) => (m.backends.js.weights = ['0']), /backends\.js\.weights\[0\] is "0"/],
    [(m) => (m.backends.js.weights = 0), /backends\.js\.weights must be a list/],
    [(m) => (m.backends = []), /"backends" must be an object/],
  ]) {
    const m = structuredClone(good);
    mutate(m);
    writeJSON(path.join(dir, 'model.json'), m);
    await refused(WebDNN.load(dir), pattern);
  }
});

test('a wrong CRC-32 or size of graph_js.json, or an edited graph file, is refused', async () => {
  const dir = writeDescriptor(affineSpec());
  const good = readJSON(path.join(dir, 'model.json'));
  const actual = good.files[0].crc32;
  editModel(dir, (m) => (m.files[0].crc32 = actual === '00000000' ? '00000001' : '00000000'));
  await refused(WebDNN.load(dir), new RegExp(`graph_js\\.json: CRC-32 mismatch: expected 0000000[01], got ${actual}`));
  editModel(dir, (m) => (m.files[0] = { ...good.files[0], bytes: good.files[0].bytes + 1 }));
  await refused(WebDNN.load(dir), new RegExp(`graph_js\\.json: expected ${good.files[0].bytes + 1} bytes, got ${good.files[0].bytes}`));
  editModel(dir, (m) => (m.files[0] = { ...good.files[0], bytes: 3 }));
  await refused(WebDNN.load(dir), new RegExp(`graph_js\\.json: expected 3 bytes, got ${good.files[0].bytes}`));
  writeJSON(path.join(dir, 'model.json'), good);

  // the same length, one constant pointed elsewhere: only the checksum can tell
  const g = readJSON(path.join(dir, 'graph_js.json'));
  assert.equal(g.constants.b.offset, 16);
  g.constants.b.offset = 0;
  const edited = JSON.stringify(g);
  assert.equal(edited.length, good.files[0].bytes - 1);
  fs.writeFileSync(path.join(dir, 'graph_js.json'), edited + ' ');
  await refused(WebDNN.load(dir), /graph_js\.json: CRC-32 mismatch/);
  // re-sealed (model.json updated too) it loads, and computes what the edited graph says
  updateChecksums(dir);
  const { y } = await (await WebDNN.load(dir)).run({ x: [1, 1, 1, 1] });
  assert.deepEqual(Array.from(y), [2, 4, 6, 8]);
});

test('weight chunks: missing, truncated, longer, or not a regular file', async () => {
  const dir = writeDescriptor(affineSpec());
  const w1 = path.join(dir, 'weights_1.bin');
  const bytes = fs.readFileSync(w1);
  fs.writeFileSync(w1, Buffer.concat([bytes, Buffer.alloc(1000)]));
  await refused(WebDNN.load(dir), /weights_1\.bin: expected 16 bytes, got 1016/);
  fs.rmSync(w1);
  await refused(WebDNN.load(dir), /cannot read .*weights_1\.bin/);
  if (process.platform !== 'win32') {
    fs.symlinkSync('/dev/zero', w1);
    await refused(WebDNN.load(dir), /weights_1\.bin: not a regular file/);
    fs.rmSync(w1);
  }
  fs.mkdirSync(w1);
  await refused(WebDNN.load(dir), /weights_1\.bin: not a regular file/);
});

test('model.json inputs and outputs must agree with the graph on shape and dtype', async () => {
  const dir = writeDescriptor(affineSpec());
  const good = readJSON(path.join(dir, 'model.json'));
  for (const [mutate, pattern] of [
    [(m) => (m.inputs[0].shape = [2, 2]), /model\.json input 'x' is float32 \[2,2\], but graph_js\.json has float32 \[4\]/],
    [(m) => (m.inputs[0].shape = [8]), /model\.json input 'x' is float32 \[8\], but graph_js\.json has float32 \[4\]/],
    [(m) => (m.inputs[0].dtype = 'int32'), /model\.json input 'x' is int32 \[4\], but graph_js\.json has float32 \[4\]/],
    [(m) => (m.outputs[0].dtype = 'float16'), /model\.json output 'y' is float16 \[4\], but graph_js\.json has float32 \[4\]/],
    [(m) => (m.outputs[0].shape = [1, 4]), /model\.json output 'y' is float32 \[1,4\]/],
    [(m) => (m.inputs[0].shape = [-4]), /inputs\[0\] 'x': shape \[-4\] has -4, not a non-negative integer/],
    [(m) => (m.inputs[0].shape = [4.5]), /inputs\[0\] 'x': shape \[4\.5\]/],
    [(m) => (m.inputs[0].shape = [1e300]), /inputs\[0\] 'x': shape/],
    [(m) => (m.inputs[0].shape = ['n']), /inputs\[0\] 'x': shape \["n"\] has "n"/],
    [(m) => (m.outputs[0].shape = ['n']), /outputs\[0\] 'y': .*only outputs of host steps have data-dependent dims/],
    [(m) => (m.inputs[0].shape = '4'), /inputs\[0\] 'x': shape "4" is not a list/],
    [(m) => (m.inputs[0].dtype = 'float64'), /each entry of "inputs" needs a name, a shape and a dtype/],
    [(m) => m.inputs.push({ ...m.inputs[0] }), /"inputs" has 'x' twice/],
    [(m) => (m.inputs[0].name = 'z'), /graph_js\.json does not match model\.json/],
    [(m) => (m.outputs = [{ name: 'x', shape: [4], dtype: 'float32' }]), /graph_js\.json does not match model\.json/],
  ]) {
    const m = structuredClone(good);
    mutate(m);
    writeJSON(path.join(dir, 'model.json'), m);
    await refused(WebDNN.load(dir), pattern);
  }
});

test('graph files: tensor shapes and dtypes are checked before use', async () => {
  const dir = writeDescriptor(affineSpec());
  const good = readJSON(path.join(dir, 'graph_js.json'));
  for (const [mutate, pattern] of [
    [(g) => (g.tensors.x.shape = [-1]), /graph_js\.json: tensors\['x'\]: shape \[-1\]/],
    [(g) => (g.constants.w.dtype = 'double'), /graph_js\.json: constants\['w'\] needs a shape and a dtype/],
    [(g) => (g.tensors = []), /graph_js\.json: "tensors" must be an object/],
    [(g) => (g.inputs = [1]), /"inputs" and "outputs" must be lists of tensor names/],
    [(g) => (g.constants.w.offset = -8), /constant 'w': "offset" and "bytes" must be non-negative integers/],
    [(g) => (g.kernels[0].inputs = 'x'), /kernels\[0\] needs "op"/],
    [(g) => (g.kernels[0].op = 'constructor'), /does not implement constructor/],
    [(g) => (g.kernels[0].inputs[1] = 'toString'), /tensor 'toString' is in neither/],
  ]) {
    const g = structuredClone(good);
    mutate(g);
    writeJSON(path.join(dir, 'graph_js.json'), g);
    updateChecksums(dir);
    await refused(WebDNN.load(dir), pattern);
  }
});

test('host sections are checked at load', async () => {
  const dir = writeDescriptor(affineSpec());
  const good = readJSON(path.join(dir, 'model.json'));
  const step = { op: 'NonZero', name: 'nz', inputs: ['y'], outputs: ['idx'] };
  const tensors = { y: { shape: [4], dtype: 'float32' }, idx: { shape: [1, 'nz:count'], dtype: 'int64' } };
  const idx = { name: 'idx', shape: [1, 'nz:count'], dtype: 'int64' };
  for (const [host, pattern] of [
    [{ steps: {}, tensors }, /"host": needs "steps" \(a list\) and "tensors"/],
    [{ steps: [step], tensors: { y: tensors.y } }, /writes 'idx', which "tensors" does not describe/],
    [{ steps: [{ ...step, outputs: ['constructor'] }], tensors }, /writes 'constructor', which "tensors" does not describe/],
    [{ steps: [{ ...step, inputs: [] }], tensors }, /step NonZero 'nz' takes 1 inputs/],
    [{ steps: [{ ...step, op: 'toString' }], tensors }, /host steps this runtime does not know: toString/],
    [{ steps: [step], tensors: { ...tensors, y: { shape: [5], dtype: 'float32' } } }, /model\.json host tensor 'y' is float32 \[5\], but graph_js\.json has float32 \[4\]/],
    [{ steps: [step], tensors, constants: { k: { shape: [2], dtype: 'int64', values: [1] } } }, /constant 'k' has 1 values for shape \[2\]/],
    [{ steps: [step], tensors, constants: { k: { shape: [1], dtype: 'int64', values: ['1'] } } }, /constant 'k' value 0 is "1"/],
  ]) {
    const m = structuredClone(good);
    m.outputs.push(idx);
    m.host = host;
    writeJSON(path.join(dir, 'model.json'), m);
    await refused(WebDNN.load(dir), pattern);
  }
  const m = structuredClone(good);
  m.outputs.push(idx);
  m.host = { steps: [step], tensors };
  writeJSON(path.join(dir, 'model.json'), m);
  const out = await (await WebDNN.load(dir)).run({ x: [0, 1, 0, 1] });
  assert.deepEqual(Array.from(out.idx), [0, 1, 2, 3]);
});

test('the wasm backend reads its module through the same verified reader', async () => {
  const dir = writeDescriptor(affineSpec());
  const graph = {
    format: 'webdnn-graph', version: 1, backend: 'wasm', inputs: ['x'], outputs: ['y'],
    tensors: { x: { shape: [4], dtype: 'float32' }, y: { shape: [4], dtype: 'float32' } },
    constants: {}, module: 'graph_wasm.wasm', memory: { initialPages: 1, maximumPages: 2, maxThreads: 1 },
    placement: { x: 0, y: 16 }, kernels: [],
  };
  const module = Buffer.from('\0asm not really a module');
  const write = (g) => {
    const bytes = Buffer.from(JSON.stringify(g));
    fs.writeFileSync(path.join(dir, 'graph_wasm.json'), bytes);
    return { file: 'graph_wasm.json', bytes: bytes.byteLength, crc32: crc32Hex(bytes) };
  };
  fs.writeFileSync(path.join(dir, 'graph_wasm.wasm'), module);
  const sealed = (g, moduleEntry) => editModel(dir, (m) => {
    m.backends.wasm = { graph: 'graph_wasm.json', weights: [] };
    m.files = [m.files.find((e) => e.file === 'graph_js.json'), write(g), ...(moduleEntry ? [moduleEntry] : [])];
  });
  const opts = { backendOrder: ['wasm'], backendOptions: { wasm: { threads: 1 } } };
  sealed({ ...graph, module: '../graph_wasm.wasm' });
  await refused(WebDNN.load(dir, opts), /wasm: graph_wasm\.json "module" is "\.\.\/graph_wasm\.wasm"/);
  sealed({ ...graph, moduleRelaxed: '/tmp/x.wasm' });
  await refused(WebDNN.load(dir, { ...opts, backendOptions: { wasm: { threads: 1, relaxedSimd: true } } }), /wasm: graph_wasm\.json "(moduleRelaxed" is "\/tmp\/x\.wasm|module": 'graph_wasm\.wasm' is not listed)/);
  sealed(graph);
  await refused(WebDNN.load(dir, opts), /wasm: graph_wasm\.json "module": 'graph_wasm\.wasm' is not listed in model\.json 'files' \(no checksum\)/);
  sealed(graph, { file: 'graph_wasm.wasm', bytes: module.length, crc32: '00000000' });
  await refused(WebDNN.load(dir, opts), new RegExp(`wasm: graph_wasm\\.wasm: CRC-32 mismatch: expected 00000000, got ${crc32Hex(module)}`));
  // verified, then handed to WebAssembly.compile (which refuses it); js still loads after it
  sealed(graph, { file: 'graph_wasm.wasm', bytes: module.length, crc32: crc32Hex(module) });
  const runner = await WebDNN.load(dir, { ...opts, backendOrder: ['wasm', 'js'] });
  assert.equal(runner.backendName, 'js');
});

test('plain arrays with strings, objects, null, undefined or holes are refused, naming the input and index', async () => {
  const runner = await WebDNN.load(writeDescriptor(affineSpec()));
  const [view] = runner.getInputViews();
  const holes = [1, 2, 3, 4];
  delete holes[2];
  const cases = [
    [[1, '2', 3, 4], /input 'x': element 1 is a string \("2"\); expected numbers/],
    [[1, 2, { v: 3 }, 4], /input 'x': element 2 is an object/],
    [[1, 2, 3, [4]], /input 'x': element 3 is an array/],
    [[null, 2, 3, 4], /input 'x': element 0 is null/],
    [[1, undefined, 3, 4], /input 'x': element 1 is undefined/],
    [holes, /input 'x': element 2 is a hole \(a sparse array\)/],
    [new Array(4), /input 'x': element 0 is a hole/],
    [{ length: 4, 0: 1, 1: 2, 2: 3 }, /input 'x': element 3 is undefined/],
    [[1, 2, 3, Symbol('s')], /input 'x': element 3 is a symbol/],
    ['1234', /input 'x' expects an array or typed array, got a string/],
    [1234, /input 'x' expects an array or typed array, got a number/],
    [{ 0: 1 }, /input 'x' expects an array or typed array, got an object without a length/],
    [new ArrayBuffer(16), /got an ArrayBuffer \(wrap it in a typed array\)/],
    [new DataView(new ArrayBuffer(16)), /got an object without a length/],
    [null, /got null/],
    [undefined, /got undefined/],
  ];
  view.set([5, 5, 5, 5]);
  for (const [value, pattern] of cases) {
    assert.throws(() => view.set(value), (e) => e instanceof WebDNNError && pattern.test(e.message), String(pattern));
    if (value !== undefined) await refused(runner.run({ x: value }), pattern);
  }
  // refused values leave the view as it was; numbers, booleans and bigints are fine
  assert.deepEqual(Array.from(view.toActual()), [5, 5, 5, 5]);
  assert.deepEqual(Array.from((await runner.run()).y), [15, 30, 45, 60]);
  assert.deepEqual(Array.from((await runner.run({ x: [true, false, 1n, 2] })).y), [11, 20, 33, 48]);
  assert.deepEqual(Array.from((await runner.run({ x: { length: 4, 0: 1, 1: 1, 2: 1, 3: 1 } })).y), [11, 22, 33, 44]);
  assert.deepEqual(Array.from((await runner.run({ x: new Float64Array([1, 1, 1, 1]) })).y), [11, 22, 33, 44]);
  // run() takes inputs by name
  await refused(runner.run([new Float32Array(4)]), /run\(\) takes the inputs by name, \{x\} or a Map; got an array/);
  await refused(runner.run('x'), /got a string/);
  await refused(runner.run(new Float32Array(4)), /got a typed array/);
});

test('after dispose(), run() rejects with "runner disposed"; dispose twice is harmless', async () => {
  const runner = await WebDNN.load(writeDescriptor(affineSpec()));
  const queued = runner.run({ x: [1, 1, 1, 1] });
  runner.dispose();
  assert.equal(runner.disposed, true);
  // the run queued before dispose() had already taken its inputs, but the backend is gone
  await refused(queued, /runner disposed/);
  await refused(runner.run({ x: [1, 1, 1, 1] }), /runner disposed/);
  await refused(runner.run(), /runner disposed/);
  runner.dispose();
  await refused(runner.run(), /runner disposed/);
  assert.deepEqual(runner.backendInfo, {});
});
