import test from 'node:test';
import assert from 'node:assert/strict';
import { runKernel, assertClose, randomArray, prod, writeDescriptor, WebDNN } from '../testlib/descriptor.mjs';
import { matmul } from '../testlib/reference.mjs';

async function check(name, as, bs, os, { constA = false, constB = true } = {}) {
  const a = randomArray(prod(as), 31);
  const b = randomArray(prod(bs), 32);
  const [y] = await runKernel('MatMul', {}, [
    { shape: as, data: a, const: constA },
    { shape: bs, data: b, const: constB },
  ], [{ shape: os }]);
  assertClose(y, matmul(a, as, b, bs, os), { rtol: 1e-4, atol: 1e-4, msg: name });
}

test('MatMul: hand-computed 2x2', async () => {
  const [y] = await runKernel('MatMul', {}, [
    { shape: [2, 2], data: [1, 2, 3, 4] },
    { shape: [2, 2], data: [5, 6, 7, 8] },
  ], [{ shape: [2, 2] }]);
  assert.deepEqual(Array.from(y), [19, 22, 43, 50]);
});

test('MatMul: GEMM path with ragged edges (5x7 · 7x6)', async () => {
  await check('gemm-edges', [5, 7], [7, 6], [5, 6]);
});

test('MatMul: crossing K and N blocks (8x300 · 300x520)', async () => {
  await check('gemm-blocks', [8, 300], [300, 520], [8, 520]);
});

test('MatMul: one row (fully-connected layer at batch 1)', async () => {
  await check('row', [1, 301], [301, 10], [1, 10]);
});

test('MatMul: few columns (6x5 · 5x2)', async () => {
  await check('cols', [6, 5], [5, 2], [6, 2]);
});

test('MatMul: batch dims broadcast ([2,1,4,5] · [3,5,4])', async () => {
  await check('batch', [2, 1, 4, 5], [3, 5, 4], [2, 3, 4, 4], { constB: false });
  await check('batch-rank2-b', [3, 6, 5], [5, 4], [3, 6, 4]);
});

test('MatMul: constant A is packed once and reused across runs', async () => {
  const as = [6, 4], bs = [4, 5];
  const a = randomArray(24, 41);
  const dir = writeDescriptor({
    inputs: [{ name: 'b', shape: bs, dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [6, 5], dtype: 'float32' }],
    constants: { a: { shape: as, dtype: 'float32', data: a } },
    kernels: [{ op: 'MatMul', name: 'mm', inputs: ['a', 'b'], outputs: ['y'] }],
  });
  const runner = await WebDNN.load(dir);
  for (const seed of [1, 2]) {
    const b = randomArray(20, seed);
    const { y } = await runner.run({ b });
    assertClose(y, matmul(a, as, b, bs, [6, 5]), { msg: `run ${seed}` });
  }
});

test('MatMul: int32 operands give an int32 result', async () => {
  const [y] = await runKernel('MatMul', {}, [
    { shape: [2, 3], dtype: 'int32', data: [1, 2, 3, 4, 5, 6] },
    { shape: [3, 1], dtype: 'int32', data: [1, -1, 2], const: true },
  ], [{ shape: [2, 1], dtype: 'int32' }]);
  assert.ok(y instanceof Int32Array);
  assert.deepEqual(Array.from(y), [5, 11]);
});

test('MatMul: mismatched inner dimensions fail at load', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'a', shape: [2, 3], dtype: 'float32' }, { name: 'b', shape: [4, 2], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2, 2], dtype: 'float32' }],
    kernels: [{ op: 'MatMul', name: 'mm', inputs: ['a', 'b'], outputs: ['y'] }],
  });
  await assert.rejects(WebDNN.load(dir), /kernel 'mm' \(MatMul\).*\[2,3\] · \[4,2\]/s);
});
