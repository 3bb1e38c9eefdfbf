import test from 'node:test';
import assert from 'node:assert/strict';
import { runKernel, assertClose, randomArray } from '../testlib/descriptor.mjs';

const range = (n) => Array.from({ length: n }, (_, i) => i);

test('Resize with one tap per output is an exact gather; taps 0 leaves an axis; -1 takes extrapolation_value', async () => {
  const x = range(12); // [1,3,4]
  const attrs = {
    taps: [0, 1, 1],
    index: [[], [2, 0, 0, -1], [3, 3, 1]],
    weight: [[], [1, 1, 1, 0], [1, 1, 1]],
    extrapolation_value: -7,
  };
  const [y] = await runKernel('Resize', attrs, [{ shape: [1, 3, 4], dtype: 'int32', data: x }], [{ shape: [1, 4, 3], dtype: 'int32' }]);
  assert.ok(y instanceof Int32Array);
  assert.deepEqual(Array.from(y), [11, 11, 9, 3, 3, 1, 3, 3, 1, -7, -7, -7]);
});

test('Resize applies the taps of each axis separably (bilinear against a direct double sum)', async () => {
  const [H, W, OH, OW] = [3, 4, 5, 2];
  const x = randomArray(H * W, 3);
  // arbitrary 2-tap rows per axis; some weights zero
  const ih = [0, 1, 0, 1, 1, 2, 2, 2, 2, 0];
  const wh = [0.75, 0.25, 0.5, 0.5, 0.1, 0.9, 1, 0, 0.3, 0.7];
  const iw = [0, 3, 1, 2];
  const ww = [0.4, 0.6, -0.2, 1.2];
  const [y] = await runKernel('Resize', { taps: [2, 2], index: [ih, iw], weight: [wh, ww], extrapolation_value: 0 },
    [{ shape: [H, W], data: x }], [{ shape: [OH, OW] }]);
  const expected = [];
  for (let a = 0; a < OH; a++) {
    for (let b = 0; b < OW; b++) {
      let s = 0;
      for (let t = 0; t < 2; t++) for (let u = 0; u < 2; u++) s += wh[a * 2 + t] * ww[b * 2 + u] * x[ih[a * 2 + t] * W + iw[b * 2 + u]];
      expected.push(s);
    }
  }
  assertClose(y, expected, { rtol: 1e-6 });
});

test('Resize into uint8 rounds half to even and saturates; outside rows take extrapolation_value', async () => {
  const x = [10, 250, 3, 4];
  const attrs = { taps: [2], index: [[0, 1, 2, 3, 0, 1, 0, 0]], weight: [[-0.5, 1.5, 0.5, 0.5, 2, -1, 0, 0]], extrapolation_value: 0 };
  attrs.index[0][6] = -1;
  attrs.index[0][7] = -1;
  const [y] = await runKernel('Resize', attrs, [{ shape: [4], dtype: 'uint8', data: x }], [{ shape: [4], dtype: 'uint8' }]);
  // 370 -> 255, 3.5 -> 4 (half to even), -230 -> 0, outside -> 0
  assert.deepEqual(Array.from(y), [255, 4, 0, 0]);
});

test('Resize with inconsistent taps fails at load naming the axis', async () => {
  await assert.rejects(
    runKernel('Resize', { taps: [2], index: [[0, 1, 1]], weight: [[0.5, 0.5, 1]], extrapolation_value: 0 },
      [{ shape: [2], data: [1, 2] }], [{ shape: [2] }]),
    /axis 0: 2 outputs with 2 taps need 4 indices and weights/,
  );
  await assert.rejects(
    runKernel('Resize', { taps: [1], index: [[0, 2]], weight: [[1, 1]], extrapolation_value: 0 },
      [{ shape: [2], data: [1, 2] }], [{ shape: [2] }]),
    /axis 0: index 2 is outside \[0, 2\)/,
  );
});
