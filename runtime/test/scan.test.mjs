import test from 'node:test';
import assert from 'node:assert/strict';
import { runKernel, assertClose, randomArray } from '../testlib/descriptor.mjs';

test('ArgReduce: argmax/argmin, first or last of equal values, int64 output', async () => {
  const x = [1, 3, 3, 0, 2, 0, 0, 2, 5, 5, 1, 1]; // [2,2,3]
  const run = async (kind, axis, last, outShape) => (await runKernel('ArgReduce', { kind, axis, keepdims: 1, select_last_index: last },
    [{ shape: [2, 2, 3], data: x }], [{ shape: outShape, dtype: 'int64' }]))[0];
  const a = await run('argmax', 2, 0, [2, 2, 1]);
  assert.ok(a instanceof Int32Array);
  assert.deepEqual(Array.from(a), [1, 1, 2, 0]);
  assert.deepEqual(Array.from(await run('argmax', 2, 1, [2, 2, 1])), [2, 1, 2, 0]);
  assert.deepEqual(Array.from(await run('argmin', 2, 0, [2, 2, 1])), [0, 0, 0, 1]);
  assert.deepEqual(Array.from(await run('argmin', 2, 1, [2, 2, 1])), [0, 2, 0, 2]);
  assert.deepEqual(Array.from(await run('argmax', 0, 0, [1, 2, 3])), [0, 0, 1, 1, 0, 1]);
});

test('ArgReduce treats NaN as the extreme value', async () => {
  const [y] = await runKernel('ArgReduce', { kind: 'argmin', axis: 0, keepdims: 0, select_last_index: 0 },
    [{ shape: [4], data: [3, NaN, -1, NaN] }], [{ shape: [], dtype: 'int64' }]);
  assert.deepEqual(Array.from(y), [1]);
});

test('CumSum: sum and prod, exclusive and reverse, along a middle axis', async () => {
  const x = Array.from(randomArray(24, 9)); // [2,3,4]
  const X = Float32Array.from(x);
  const ref = (kind, exclusive, reverse) => {
    const out = new Array(24);
    for (let o = 0; o < 2; o++) {
      for (let i = 0; i < 4; i++) {
        let acc = kind === 'sum' ? 0 : 1;
        for (let s = 0; s < 3; s++) {
          const j = reverse ? 2 - s : s;
          const p = o * 12 + j * 4 + i;
          if (exclusive) out[p] = acc;
          acc = kind === 'sum' ? acc + X[p] : acc * X[p];
          if (!exclusive) out[p] = acc;
        }
      }
    }
    return out;
  };
  for (const kind of ['sum', 'prod']) {
    for (const exclusive of [0, 1]) {
      for (const reverse of [0, 1]) {
        const [y] = await runKernel('CumSum', { kind, axis: 1, exclusive, reverse }, [{ shape: [2, 3, 4], data: x }], [{ shape: [2, 3, 4] }]);
        assertClose(y, ref(kind, exclusive, reverse), { msg: `${kind} exclusive=${exclusive} reverse=${reverse}` });
      }
    }
  }
  const [ints] = await runKernel('CumSum', { kind: 'sum', axis: 0, exclusive: 0, reverse: 0 },
    [{ shape: [4], dtype: 'int32', data: [1, -2, 3, 4] }], [{ shape: [4], dtype: 'int32' }]);
  assert.deepEqual(Array.from(ints), [1, -1, 2, 6]);
});

test('TopK: largest and smallest along axis 0, equal values keep the lower index first', async () => {
  const x = [3, 1, 2, 3, 5, 2, 1, 5, 2]; // [3,3]
  const [v, i] = await runKernel('TopK', { k: 2, axis: 0, largest: 1, sorted: 1 },
    [{ shape: [3, 3], data: x }], [{ shape: [2, 3] }, { shape: [2, 3], dtype: 'int64' }]);
  assert.deepEqual(Array.from(v), [3, 5, 2, 3, 5, 2]);
  assert.deepEqual(Array.from(i), [0, 1, 0, 1, 2, 1]);
  const [vs, is] = await runKernel('TopK', { k: 3, axis: 1, largest: 0, sorted: 1 },
    [{ shape: [3, 3], data: x }], [{ shape: [3, 3] }, { shape: [3, 3], dtype: 'int64' }]);
  assert.deepEqual(Array.from(vs), [1, 2, 3, 2, 3, 5, 1, 2, 5]);
  assert.deepEqual(Array.from(is), [1, 2, 0, 2, 0, 1, 0, 2, 1]);
});

test('TopK with k larger than the axis fails at load', async () => {
  await assert.rejects(
    runKernel('TopK', { k: 4, axis: 0, largest: 1, sorted: 1 }, [{ shape: [3], data: [1, 2, 3] }],
      [{ shape: [4] }, { shape: [4], dtype: 'int64' }]),
    /k = 4 must be in \[0, 3\]/,
  );
});
