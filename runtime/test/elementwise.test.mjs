import test from 'node:test';
import assert from 'node:assert/strict';
import { runKernel, assertClose, randomArray, writeDescriptor, WebDNN } from '../testlib/descriptor.mjs';
import { broadcastOffset, forEachIndex } from '../testlib/reference.mjs';

const f32 = (xs) => Array.from(Float32Array.from(xs));

async function unary(prim, xs, outDtype = 'float32') {
  const [y] = await runKernel('Elementwise', { expr: [prim, ['in', 0]], dtype: outDtype },
    [{ shape: [xs.length], data: xs }], [{ shape: [xs.length], dtype: outDtype }]);
  return y;
}

async function binary(prim, as, bs) {
  const [y] = await runKernel('Elementwise', { expr: [prim, ['in', 0], ['in', 1]], dtype: 'float32' },
    [{ shape: [as.length], data: as }, { shape: [bs.length], data: bs }], [{ shape: [as.length] }]);
  return y;
}

test('unary math primitives match Math.*', async () => {
  const xs = f32([-2.5, -1, -0.25, 0, 0.3, 1, 2.75]);
  const pos = f32([0.25, 1, 2, 9, 100]);
  const cases = {
    neg: [xs, (v) => -v],
    abs: [xs, Math.abs],
    exp: [xs, Math.exp],
    log: [pos, Math.log],
    sqrt: [pos, Math.sqrt],
    reciprocal: [xs.filter((v) => v !== 0), (v) => 1 / v],
    floor: [xs, Math.floor],
    ceil: [xs, Math.ceil],
    tanh: [xs, Math.tanh],
    sin: [xs, Math.sin],
    cos: [xs, Math.cos],
    sign: [xs, Math.sign],
  };
  for (const [prim, [input, f]] of Object.entries(cases)) {
    const y = await unary(prim, input);
    assertClose(y, input.map(f), { rtol: 1e-6, atol: 1e-7, msg: prim });
  }
});

test('round is round-half-to-even', async () => {
  const y = await unary('round', [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, -2.6, 3.5000002]);
  assert.deepEqual(Array.from(y).map((v) => v + 0), [0, 2, 2, 0, -2, -2, 2, -3, 4]);
});

test('erf matches reference values', async () => {
  const xs = [0, 1e-4, -0.1, 0.5, 1, 2, -2.4, 2.6, 3, 5];
  const expected = [0, 1.1283791633342e-4, -0.1124629160182849, 0.5204998778130465, 0.8427007929497149,
    0.9953222650189527, -0.9993114861033550, 0.9997639655834707, 0.9999779095030014, 0.9999999999984626];
  const y = await unary('erf', xs);
  assertClose(y, expected, { rtol: 1e-6, atol: 1e-7 });
});

test('not and isnan give 1 or 0', async () => {
  assert.deepEqual(Array.from(await unary('not', [0, 1, -2, 0.5])), [1, 0, 0, 0]);
  assert.deepEqual(Array.from(await unary('isnan', [0, NaN, Infinity, -1])), [0, 1, 0, 0]);
});

test('binary arithmetic, pow, max/min with NaN', async () => {
  const a = f32([1, -7, 7, 2, 0.5, -3]);
  const b = f32([2, 2, -2, 3, 4, 0.5]);
  assertClose(await binary('add', a, b), a.map((v, i) => v + b[i]), { msg: 'add' });
  assertClose(await binary('sub', a, b), a.map((v, i) => v - b[i]), { msg: 'sub' });
  assertClose(await binary('mul', a, b), a.map((v, i) => v * b[i]), { msg: 'mul' });
  assertClose(await binary('div', a, b), a.map((v, i) => v / b[i]), { msg: 'div' });
  assertClose(await binary('pow', [2, 9, 1, -2, 1], [3, 0.5, NaN, 2, Infinity]), [8, 3, 1, 4, 1], { msg: 'pow' });
  assertClose(await binary('max', [1, NaN, 3, -1], [2, 1, NaN, -5]), [2, NaN, NaN, -1], { msg: 'max' });
  assertClose(await binary('min', [1, NaN, 3, -1], [2, 1, NaN, -5]), [1, NaN, NaN, -5], { msg: 'min' });
});

test('idiv truncates toward zero and imod takes the sign of the dividend', async () => {
  const a = [7, -7, 7, -7, 1, 6];
  const b = [2, 2, -2, -2, 3, 3];
  assert.deepEqual(Array.from(await binary('idiv', a, b)).map((v) => v + 0), [3, -3, -3, 3, 0, 2]);
  assert.deepEqual(Array.from(await binary('imod', a, b)).map((v) => v + 0), [1, -1, 1, -1, 1, 0]);
});

test('comparisons and logic give 1 or 0', async () => {
  const a = [1, 2, 3, 0, NaN];
  const b = [2, 2, 1, 0, NaN];
  assert.deepEqual(Array.from(await binary('lt', a, b)), [1, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(await binary('le', a, b)), [1, 1, 0, 1, 0]);
  assert.deepEqual(Array.from(await binary('gt', a, b)), [0, 0, 1, 0, 0]);
  assert.deepEqual(Array.from(await binary('ge', a, b)), [0, 1, 1, 1, 0]);
  assert.deepEqual(Array.from(await binary('eq', a, b)), [0, 1, 0, 1, 0]);
  const p = [0, 0, 1, 1, 2];
  const q = [0, 1, 0, 1, -1];
  assert.deepEqual(Array.from(await binary('and', p, q)), [0, 0, 0, 1, 1]);
  assert.deepEqual(Array.from(await binary('or', p, q)), [0, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(await binary('xor', p, q)), [0, 1, 1, 0, 0]);
});

test('where selects with a broadcast bool condition', async () => {
  const [y] = await runKernel('Elementwise', { expr: ['where', ['in', 0], ['in', 1], ['in', 2]], dtype: 'float32' }, [
    { shape: [3], dtype: 'bool', data: [1, 0, 1] },
    { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
    { shape: [1], data: [-1], const: true },
  ], [{ shape: [2, 3] }]);
  assert.deepEqual(Array.from(y), [1, -1, 3, 4, -1, 6]);
});

test('cast converts like the doc says', async () => {
  const cast = async (dtype, xs) => {
    const [y] = await runKernel('Elementwise', { expr: ['cast', dtype, ['in', 0]], dtype: 'float32' },
      [{ shape: [xs.length], data: xs }], [{ shape: [xs.length] }]);
    return Array.from(y).map((v) => v + 0);
  };
  assert.deepEqual(await cast('int32', [-2.7, 2.7, -0.5, 3]), [-2, 2, 0, 3]);
  assert.deepEqual(await cast('int64', [-2.7, 2.7, 100000]), [-2, 2, 100000]);
  assert.deepEqual(await cast('int8', [200, -129, 5.9]), [-56, 127, 5]);
  assert.deepEqual(await cast('uint8', [300, -1, 7.5]), [44, 255, 7]);
  assert.deepEqual(await cast('bool', [0, -0, 2, NaN, -0.1]), [0, 0, 1, 1, 1]);
  // float16: 1 + 2^-11 is halfway between 1 and 1 + 2^-10 (ties to even); 65520 overflows
  assert.deepEqual(await cast('float16', [1.00048828125, 1.000732421875, 65519, 65520, 0.1]), [1, 1.0009765625, 65504, Infinity, 0.0999755859375]);
  assert.deepEqual(await cast('float32', [0.1]), [Math.fround(0.1)]);
});

test('the output dtype decides the final store', async () => {
  const run = async (dtype, xs) => {
    const [y] = await runKernel('Elementwise', { expr: ['in', 0], dtype }, [{ shape: [xs.length], data: xs }], [{ shape: [xs.length], dtype }]);
    return y;
  };
  const i32 = await run('int32', [2.7, -2.7, 5]);
  assert.ok(i32 instanceof Int32Array);
  assert.deepEqual(Array.from(i32), [2, -2, 5]);
  const b = await run('bool', [0, 3, -1, 0.5]);
  assert.ok(b instanceof Uint8Array);
  assert.deepEqual(Array.from(b), [0, 1, 1, 1]);
  const i8 = await run('int8', [1, -3]);
  assert.ok(i8 instanceof Int8Array);
  const h = await run('float16', [1.00048828125, 3]);
  assert.ok(h instanceof Float32Array);
  assert.deepEqual(Array.from(h), [1, 3]);
});

test('inputs of integer dtypes are read as numbers', async () => {
  const [y] = await runKernel('Elementwise', { expr: ['add', ['in', 0], ['in', 1]], dtype: 'float32' }, [
    { shape: [3], dtype: 'int32', data: [1, -2, 3] },
    { shape: [3], dtype: 'uint8', data: [250, 1, 2], const: true },
  ], [{ shape: [3] }]);
  assert.deepEqual(Array.from(y), [251, -1, 5]);
});

test('numpy broadcasting over several input shapes, across block boundaries', async () => {
  const outShape = [3, 5, 7, 41]; // 4305 elements: several blocks
  const shapes = [[3, 5, 7, 41], [5, 1, 1], [3, 1, 7, 1], [41], [1]];
  const data = shapes.map((s, i) => randomArray(s.reduce((a, b) => a * b, 1), i + 3));
  const expr = ['add', ['mul', ['in', 0], ['in', 1]], ['sub', ['in', 2], ['mul', ['in', 3], ['in', 4]]]];
  const [y] = await runKernel('Elementwise', { expr, dtype: 'float32' },
    shapes.map((s, i) => ({ shape: s, data: data[i], const: i === 3 })), [{ shape: outShape }]);
  const expected = [];
  forEachIndex(outShape, (idx) => {
    const v = shapes.map((s, i) => data[i][broadcastOffset(s, idx)]);
    expected.push(v[0] * v[1] + (v[2] - v[3] * v[4]));
  });
  assertClose(y, expected, { rtol: 1e-5, atol: 1e-6 });
});

test('both operands broadcast: [3,1] op [1,4]', async () => {
  const [y] = await runKernel('Elementwise', { expr: ['sub', ['in', 0], ['in', 1]], dtype: 'float32' },
    [{ shape: [3, 1], data: [10, 20, 30] }, { shape: [1, 4], data: [1, 2, 3, 4] }], [{ shape: [3, 4] }]);
  assert.deepEqual(Array.from(y), [9, 8, 7, 6, 19, 18, 17, 16, 29, 28, 27, 26]);
});

test('gelu example from the doc, with constants and a repeated input', async () => {
  const xs = f32([-3, -1, -0.5, 0, 0.5, 1, 3]);
  const expr = ['mul', ['mul', ['in', 0], ['const', 0.5]], ['add', ['const', 1], ['erf', ['mul', ['in', 0], ['const', 0.7071067811865476]]]]];
  const [y] = await runKernel('Elementwise', { expr, dtype: 'float32' }, [{ shape: [7], data: xs }], [{ shape: [7] }]);
  const ref = [-0.00404969409489031, -0.15865525393145707, -0.15426876936299344, 0, 0.34573123063700656, 0.8413447460685429, 2.99595030590511];
  assertClose(y, ref, { rtol: 1e-6, atol: 1e-7 });
});

test('a constant-only subtree and a fully constant expression', async () => {
  const [y] = await runKernel('Elementwise', { expr: ['add', ['in', 0], ['exp', ['const', 0]]], dtype: 'float32' },
    [{ shape: [2], data: [1, 2] }], [{ shape: [2] }]);
  assert.deepEqual(Array.from(y), [2, 3]);
  const [z] = await runKernel('Elementwise', { expr: ['mul', ['const', 'NaN'], ['const', 2]], dtype: 'float32' },
    [{ shape: [2], data: [1, 2] }], [{ shape: [2] }]);
  assert.ok(Number.isNaN(z[0]) && Number.isNaN(z[1]));
});

test('a bad expression or a non-broadcastable input fails at load with the kernel name', async () => {
  const mk = (expr, shapes) => writeDescriptor({
    inputs: shapes.map((s, i) => ({ name: `x${i}`, shape: s, dtype: 'float32' })),
    outputs: [{ name: 'y', shape: [2, 3], dtype: 'float32' }],
    kernels: [{ op: 'Elementwise', name: 'ew', inputs: shapes.map((_, i) => `x${i}`), outputs: ['y'], attrs: { expr, dtype: 'float32' } }],
  });
  await assert.rejects(WebDNN.load(mk(['frobnicate', ['in', 0]], [[2, 3]])), /kernel 'ew' \(Elementwise\).*unknown primitive 'frobnicate'/s);
  await assert.rejects(WebDNN.load(mk(['add', ['in', 0], ['in', 5]], [[2, 3]])), /input index/);
  await assert.rejects(WebDNN.load(mk(['add', ['in', 0]], [[2, 3]])), /'add' takes 2 argument/);
  await assert.rejects(WebDNN.load(mk(['add', ['in', 0], ['in', 1]], [[2, 3], [2]])), /shape \[2\] does not broadcast to \[2,3\]/);
});

test("an Elementwise dtype attribute that contradicts the output tensor's dtype fails at load", async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [2], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2], dtype: 'int32' }],
    kernels: [{ op: 'Elementwise', name: 'ew', inputs: ['x'], outputs: ['y'], attrs: { expr: ['in', 0], dtype: 'float32' } }],
  });
  await assert.rejects(WebDNN.load(dir), /attribute dtype 'float32' differs from the output tensor's dtype 'int32'/);
});

test('a literal of a given dtype (cast of a const) converts like a cast', async () => {
  // 300 as int8 is 44; 0.1 as float32 is rounded before it meets x (in float64 here)
  const [y] = await runKernel('Elementwise', { expr: ['add', ['in', 0], ['cast', 'int8', ['const', 300]]], dtype: 'int32' },
    [{ shape: [2], dtype: 'int32', data: [1, 2] }], [{ shape: [2], dtype: 'int32' }]);
  assert.deepEqual(Array.from(y), [45, 46]);
  const [z] = await runKernel('Elementwise', { expr: ['sub', ['mul', ['in', 0], ['const', 0]], ['cast', 'float32', ['const', 0.1]]], dtype: 'float32' },
    [{ shape: [1], data: [1] }], [{ shape: [1] }]);
  assert.equal(z[0], Math.fround(-Math.fround(0.1)));
});
