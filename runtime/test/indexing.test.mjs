import test from 'node:test';
import assert from 'node:assert/strict';
import { runKernel, randomArray } from '../testlib/descriptor.mjs';
import { forEachIndex, strides } from '../testlib/reference.mjs';

const range = (n) => Array.from({ length: n }, (_, i) => i);
const offset = (idx, shape) => idx.reduce((a, v, k) => a + v * strides(shape)[k], 0);

test('GatherElements along a middle axis with negative indices and smaller index dims', async () => {
  const dShape = [2, 3, 4];
  const data = range(24);
  const iShape = [2, 2, 3];
  const ind = [0, -1, 2, 1, 1, -3, 2, 0, -2, 1, 2, 0];
  const [y] = await runKernel('GatherElements', { axis: 1 }, [
    { shape: dShape, data }, { shape: iShape, dtype: 'int64', data: ind },
  ], [{ shape: iShape }]);
  const expected = [];
  forEachIndex(iShape, (idx, o) => {
    const src = idx.slice();
    src[1] = ind[o] < 0 ? ind[o] + 3 : ind[o];
    expected.push(data[offset(src, dShape)]);
  });
  assert.deepEqual(Array.from(y), expected);
});

test('GatherElements with an index outside the axis fails naming it', async () => {
  await assert.rejects(
    runKernel('GatherElements', { axis: 0 }, [{ shape: [2], data: [1, 2] }, { shape: [1], dtype: 'int32', data: [2] }], [{ shape: [1] }]),
    /index 2 at position 0 is out of range for an axis of size 2/,
  );
});

test('GatherND: whole rows, single elements and batch_dims', async () => {
  const data = range(24); // [2,3,4]
  const [rows] = await runKernel('GatherND', { batch_dims: 0 }, [
    { shape: [2, 3, 4], data }, { shape: [2, 2], dtype: 'int64', data: [1, 2, 0, -1] },
  ], [{ shape: [2, 4] }]);
  assert.deepEqual(Array.from(rows), [20, 21, 22, 23, 8, 9, 10, 11]);
  const [elems] = await runKernel('GatherND', { batch_dims: 0 }, [
    { shape: [2, 3, 4], data }, { shape: [2, 3], dtype: 'int32', data: [0, 0, 3, 1, 2, -1] },
  ], [{ shape: [2] }]);
  assert.deepEqual(Array.from(elems), [3, 23]);
  // batch_dims 1: each batch picks from its own [3,4] slice
  const [batched] = await runKernel('GatherND', { batch_dims: 1 }, [
    { shape: [2, 3, 4], data }, { shape: [2, 1, 2], dtype: 'int64', data: [2, 1, 0, 3] },
  ], [{ shape: [2, 1] }]);
  assert.deepEqual(Array.from(batched), [9, 15]);
});

/** Scatter reference: copy, then combine updates in order. */
function combine(red, a, b) {
  return red === 'add' ? a + b : red === 'mul' ? a * b : red === 'max' ? Math.max(a, b) : red === 'min' ? Math.min(a, b) : b;
}

test('ScatterElements: every reduction, with duplicate and negative indices', async () => {
  const dShape = [3, 4];
  const data = Array.from(randomArray(12, 5));
  const iShape = [2, 4];
  const ind = [0, -1, 1, 0, 0, 2, -3, 0]; // column 0 gets two updates from row 0 twice
  const upd = Array.from(randomArray(8, 6));
  for (const red of ['none', 'add', 'mul', 'max', 'min']) {
    const [y] = await runKernel('ScatterElements', { axis: 0, reduction: red }, [
      { shape: dShape, data }, { shape: iShape, dtype: 'int64', data: ind }, { shape: iShape, data: upd },
    ], [{ shape: dShape }]);
    const expected = Float32Array.from(data);
    forEachIndex(iShape, (idx, o) => {
      const p = (ind[o] < 0 ? ind[o] + 3 : ind[o]) * 4 + idx[1];
      expected[p] = combine(red, expected[p], Math.fround(upd[o]));
    });
    assert.deepEqual(Array.from(y), Array.from(expected), red);
  }
});

test('ScatterND writes slices and elements; the input is not modified', async () => {
  const data = range(12); // [3,4]
  const x = Float32Array.from(data);
  const [rows] = await runKernel('ScatterND', { reduction: 'add' }, [
    { shape: [3, 4], data: x }, { shape: [2, 1], dtype: 'int64', data: [2, 2] }, { shape: [2, 4], data: [1, 1, 1, 1, 10, 10, 10, 10] },
  ], [{ shape: [3, 4] }]);
  assert.deepEqual(Array.from(rows), [0, 1, 2, 3, 4, 5, 6, 7, 19, 20, 21, 22]);
  assert.deepEqual(Array.from(x), data);
  const [elems] = await runKernel('ScatterND', { reduction: 'none' }, [
    { shape: [3, 4], data }, { shape: [2, 2], dtype: 'int32', data: [0, -1, 1, 0] }, { shape: [2], data: [-5, -6] },
  ], [{ shape: [3, 4] }]);
  assert.deepEqual(Array.from(elems), [0, 1, 2, -5, -6, 5, 6, 7, 8, 9, 10, 11]);
});

test('Scatter with an unknown reduction fails at load', async () => {
  await assert.rejects(
    runKernel('ScatterND', { reduction: 'mean' }, [
      { shape: [2], data: [1, 2] }, { shape: [1, 1], dtype: 'int64', data: [0] }, { shape: [1], data: [3] },
    ], [{ shape: [2] }]),
    /reduction "mean" is not one of none, add, mul, max, min/,
  );
});
