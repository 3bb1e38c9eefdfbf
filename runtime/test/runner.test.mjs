import test from 'node:test';
import assert from 'node:assert/strict';
import { writeDescriptor, randomArray, assertClose, WebDNN } from '../testlib/descriptor.mjs';
import { conv2d, pool2d, matmul } from '../testlib/reference.mjs';

function twoInOut() {
  return writeDescriptor({
    inputs: [{ name: 'x', shape: [1, 3, 2, 2], dtype: 'float32' }, { name: 'k', shape: [2], dtype: 'int64' }],
    outputs: [{ name: 'sum', shape: [1, 3, 2, 2], dtype: 'float32' }, { name: 'kk', shape: [2], dtype: 'int64' }],
    kernels: [
      { op: 'Elementwise', name: 'add1', inputs: ['x'], outputs: ['sum'], attrs: { expr: ['add', ['in', 0], ['const', 1]], dtype: 'float32' } },
      { op: 'Elementwise', name: 'twice', inputs: ['k'], outputs: ['kk'], attrs: { expr: ['mul', ['in', 0], ['const', 2]], dtype: 'int64' } },
    ],
  });
}

test('views: names, shapes, dtypes, the same objects on every call', async () => {
  const runner = await WebDNN.load(twoInOut());
  assert.deepEqual(runner.inputNames, ['x', 'k']);
  assert.deepEqual(runner.outputNames, ['sum', 'kk']);
  const [x, k] = runner.getInputViews();
  assert.equal(x.name, 'x');
  assert.deepEqual(x.shape, [1, 3, 2, 2]);
  assert.equal(x.dtype, 'float32');
  assert.equal(k.dtype, 'int64');
  assert.equal(runner.getInputViews()[0], x);
  assert.equal(runner.getOutputViews()[1], runner.getOutputViews()[1]);
  assert.ok(x.toActual() instanceof Float32Array);
  assert.ok(k.toActual() instanceof Int32Array);
});

test('seed API: set the input views, run(), read the output views', async () => {
  const runner = await WebDNN.load(twoInOut());
  const [x, k] = runner.getInputViews();
  const [sum, kk] = runner.getOutputViews();
  const early = sum.toActual();
  x.set(new Float32Array(12).fill(2));
  k.set([3, -4]);
  const res = await runner.run();
  assert.deepEqual(Array.from(sum.toActual()), new Array(12).fill(3));
  assert.equal(sum.toActual(), early, 'toActual() before the run returns the array the run fills');
  assert.deepEqual(Array.from(kk.toActual()), [6, -8]);
  assert.deepEqual(Array.from(res.sum), new Array(12).fill(3));
  // the next run updates the views, but earlier results stay as they were
  x.set(new Float32Array(12).fill(5));
  await runner.run();
  assert.deepEqual(Array.from(sum.toActual()), new Array(12).fill(6));
  assert.deepEqual(Array.from(res.sum), new Array(12).fill(3));
});

test('set() with the wrong length names the input, its shape and the length given', async () => {
  const runner = await WebDNN.load(twoInOut());
  assert.throws(() => runner.getInputViews()[0].set(new Float32Array(10)), {
    message: "input 'x' expects shape [1,3,2,2] (12 elements), got 10",
  });
  await assert.rejects(runner.run({ x: new Float32Array(1000), k: [1, 2] }), /input 'x' expects shape \[1,3,2,2\] \(12 elements\), got 1000/);
});

test('run() with named inputs returns named outputs; unknown and missing inputs are errors', async () => {
  const runner = await WebDNN.load(twoInOut());
  await assert.rejects(runner.run({ x: new Float32Array(12) }), /input 'k' .* was never set/);
  await assert.rejects(runner.run({ x: new Float32Array(12), k: [1, 2], y: [1] }), /unknown input 'y'; the model's inputs are: 'x', 'k'/);
  const out = await runner.run({ x: new Float32Array(12).fill(-1), k: new Int32Array([7, 8]) });
  assert.deepEqual(Object.keys(out).sort(), ['kk', 'sum']);
  assert.deepEqual(Array.from(out.sum), new Array(12).fill(0));
  assert.deepEqual(Array.from(out.kk), [14, 16]);
  // a Map works too, and inputs set earlier are kept
  const again = await runner.run(new Map([['k', [1, 1]]]));
  assert.deepEqual(Array.from(again.kk), [2, 2]);
  assert.deepEqual(Array.from(again.sum), new Array(12).fill(0));
});

test('int64 inputs accept BigInt64Array, Int32Array and number arrays', async () => {
  const runner = await WebDNN.load(twoInOut());
  const x = new Float32Array(12);
  for (const k of [BigInt64Array.from([5n, -6n]), Int32Array.from([5, -6]), [5, -6]]) {
    const { kk } = await runner.run({ x, k });
    assert.ok(kk instanceof Int32Array);
    assert.deepEqual(Array.from(kk), [10, -12], k.constructor.name);
  }
  assert.throws(() => runner.getInputViews()[1].set(BigInt64Array.from([1n, 2n ** 40n])), /does not fit in 32 bits/);
  assert.throws(() => runner.getInputViews()[0].set(new BigInt64Array(12)), /BigInt64Array only fits int64/);
});

test('end to end: conv → relu → maxpool → flatten → matmul → softmax, intermediates freed', async () => {
  const xs = [1, 2, 8, 8], ws = [6, 2, 3, 3];
  const w = randomArray(6 * 2 * 9, 91), b = randomArray(6, 92), fc = randomArray(96 * 5, 93);
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: xs, dtype: 'float32' }],
    outputs: [{ name: 'prob', shape: [1, 5], dtype: 'float32' }],
    tensors: {
      c: { shape: [1, 6, 8, 8], dtype: 'float32' }, r: { shape: [1, 6, 8, 8], dtype: 'float32' },
      p: { shape: [1, 6, 4, 4], dtype: 'float32' }, f: { shape: [1, 96], dtype: 'float32' }, l: { shape: [1, 5], dtype: 'float32' },
    },
    constants: { w: { shape: ws, dtype: 'float32', data: w }, b: { shape: [6], dtype: 'float32', data: b }, fc: { shape: [96, 5], dtype: 'float32', data: fc, encoding: 'raw' } },
    kernels: [
      { op: 'Conv', name: 'conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 }, free: ['x'] },
      { op: 'Elementwise', name: 'relu', inputs: ['c'], outputs: ['r'], attrs: { expr: ['max', ['in', 0], ['const', 0]], dtype: 'float32' }, free: ['c'] },
      { op: 'Pool', name: 'pool', inputs: ['r'], outputs: ['p'], attrs: { kind: 'max', kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], count_include_pad: 0 }, free: ['r'] },
      { op: 'Reshape', name: 'flat', inputs: ['p'], outputs: ['f'], free: ['p'] },
      { op: 'MatMul', name: 'fc', inputs: ['f', 'fc'], outputs: ['l'], free: ['f'] },
      { op: 'Softmax', name: 'softmax', inputs: ['l'], outputs: ['prob'], attrs: { axis: 1, log: 0 }, free: ['l'] },
    ],
  });
  const runner = await WebDNN.load(dir);
  const x = randomArray(128, 94);
  const { prob } = await runner.run({ x });
  const a = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 };
  const c = conv2d(x, xs, w, ws, b, a, [1, 6, 8, 8]).map((v) => Math.max(v, 0));
  const p = pool2d(c, [1, 6, 8, 8], { kind: 'max', kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1] }, [1, 6, 4, 4]);
  const l = matmul(p, [1, 96], fc, [96, 5], [1, 5]);
  const mx = Math.max(...l);
  const e = Array.from(l, (v) => Math.exp(v - mx));
  const s = e.reduce((q, r) => q + r, 0);
  assertClose(prob, e.map((v) => v / s), { rtol: 1e-4, atol: 1e-6 });
  assert.equal(WebDNN.Math.argmax(prob)[0], e.indexOf(Math.max(...e)));
});

test('concurrent run() calls are queued and each gets its own inputs', async () => {
  const runner = await WebDNN.load(twoInOut());
  const p1 = runner.run({ x: new Float32Array(12).fill(1), k: [1, 1] });
  const p2 = runner.run({ x: new Float32Array(12).fill(10), k: [2, 2] });
  const p3 = runner.run({ bogus: [1] });
  const [r1, r2] = await Promise.all([p1, p2]);
  await assert.rejects(p3, /unknown input 'bogus'/);
  assert.deepEqual(Array.from(r1.sum), new Array(12).fill(2));
  assert.deepEqual(Array.from(r2.sum), new Array(12).fill(11));
  assert.deepEqual(Array.from(r2.kk), [4, 4]);
  // a failed run does not block later ones
  const r4 = await runner.run({ k: [3, 3] });
  assert.deepEqual(Array.from(r4.kk), [6, 6]);
});

test('outputs kept from earlier runs stay as they were while input snapshots are reused', async () => {
  const runner = await WebDNN.load(twoInOut());
  const kept = [];
  for (let i = 0; i < 4; i++) kept.push(await runner.run({ x: new Float32Array(12).fill(i), k: [i, i] }));
  kept.forEach((r, i) => {
    assert.deepEqual(Array.from(r.sum), new Array(12).fill(i + 1));
    assert.deepEqual(Array.from(r.kk), [2 * i, 2 * i]);
  });
  const view = runner.getInputViews()[0];
  const p1 = runner.run({ x: new Float32Array(12).fill(5) });
  view.set(new Float32Array(12).fill(7));
  const p2 = runner.run();
  assert.deepEqual(Array.from((await p1).sum), new Array(12).fill(6));
  assert.deepEqual(Array.from((await p2).sum), new Array(12).fill(8));
});

test('a long run yields to the event loop between kernels', async () => {
  const n = 1 << 20;
  const kernels = [];
  const tensors = {};
  let cur = 'x';
  for (let i = 0; i < 6; i++) {
    const out = i === 5 ? 'y' : `h${i}`;
    if (out !== 'y') tensors[out] = { shape: [n], dtype: 'float32' };
    kernels.push({ op: 'Elementwise', name: `erf${i}`, inputs: [cur], outputs: [out], attrs: { expr: ['erf', ['in', 0]], dtype: 'float32' }, free: [cur] });
    cur = out;
  }
  const runner = await WebDNN.load(writeDescriptor({
    inputs: [{ name: 'x', shape: [n], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [n], dtype: 'float32' }],
    tensors,
    kernels,
  }));
  const events = [];
  setTimeout(() => events.push('timer'), 0);
  await runner.run({ x: randomArray(n, 3) });
  events.push('done');
  assert.deepEqual(events, ['timer', 'done']);

  // inputs are taken when run() is called, even though the runs execute later, one at a time
  const [view] = runner.getInputViews();
  view.set(new Float32Array(n).fill(0.5));
  const p1 = runner.run();
  view.set(new Float32Array(n).fill(-1));
  const p2 = runner.run();
  const [r1, r2] = await Promise.all([p1, p2]);
  let a = 0.5, b = -1;
  for (let i = 0; i < 6; i++) {
    a = Math.fround(erfRef(a));
    b = Math.fround(erfRef(b));
  }
  assertClose([r1.y[0], r1.y[n - 1], r2.y[0], r2.y[n - 1]], [a, a, b, b], { rtol: 1e-6 });
  assertClose([runner.getOutputViews()[0].toActual()[0]], [b], { rtol: 1e-6 });
});

// erf by its Maclaurin series (enough terms for |x| <= 1)
function erfRef(x) {
  let term = x, sum = x;
  for (let k = 1; k < 40; k++) {
    term *= (-x * x) / k;
    sum += term / (2 * k + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

test('a graph whose inputs or outputs differ from model.json is rejected at load', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [2], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2], dtype: 'float32' }],
    kernels: [{ op: 'Identity', name: 'id', inputs: ['x'], outputs: ['y'] }],
    graph: { inputs: ['input_0'] },
  });
  await assert.rejects(WebDNN.load(dir), /graph_js\.json does not match model\.json: graph inputs \[input_0\], model inputs \[x\]/);
});

test('version is the package version', async () => {
  const fs = await import('node:fs');
  const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.equal(WebDNN.version, pkg.version);
});

test('profile() rejects on a backend without per-kernel timing, naming it', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [2], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2], dtype: 'float32' }],
    kernels: [{ op: 'Elementwise', name: 'neg', inputs: ['x'], outputs: ['y'], attrs: { expr: ['neg', ['in', 0]], dtype: 'float32' } }],
  });
  const runner = await WebDNN.load(dir, { backendOrder: ['js'] });
  await assert.rejects(runner.profile({ x: [1, 2] }), (e) => e instanceof WebDNN.WebDNNError && /js backend has no per-kernel profile/.test(e.message));
  // the run before the profile happened: the outputs are there
  assert.deepEqual(Array.from(runner.getOutputViews()[0].toActual()), [-1, -2]);
});
