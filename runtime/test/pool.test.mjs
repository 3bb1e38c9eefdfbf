import test from 'node:test';
import assert from 'node:assert/strict';
import { runKernel, assertClose, randomArray, prod } from '../testlib/descriptor.mjs';
import { pool2d } from '../testlib/reference.mjs';

async function check(name, xs, ys, attrs) {
  const a = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], count_include_pad: 0, ...attrs };
  const x = randomArray(prod(xs), 51);
  const [y] = await runKernel('Pool', a, [{ shape: xs, data: x }], [{ shape: ys }]);
  assertClose(y, pool2d(x, xs, a, ys), { msg: name });
}

test('Pool: hand-computed 2x2 avg and max, stride 2', async () => {
  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const attrs = { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], count_include_pad: 0 };
  const [avg] = await runKernel('Pool', { ...attrs, kind: 'avg' }, [{ shape: [1, 1, 4, 4], data: x }], [{ shape: [1, 1, 2, 2] }]);
  assert.deepEqual(Array.from(avg), [3.5, 5.5, 11.5, 13.5]);
  const [mx] = await runKernel('Pool', { ...attrs, kind: 'max' }, [{ shape: [1, 1, 4, 4], data: x }], [{ shape: [1, 1, 2, 2] }]);
  assert.deepEqual(Array.from(mx), [6, 8, 14, 16]);
});

test('Pool: avg with padding, count_include_pad 0 vs 1 (hand-computed corner)', async () => {
  const attrs = { kind: 'avg', kernel: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1] };
  const x = new Array(9).fill(9);
  const [excl] = await runKernel('Pool', { ...attrs, count_include_pad: 0 }, [{ shape: [1, 1, 3, 3], data: x }], [{ shape: [1, 1, 3, 3] }]);
  assert.deepEqual(Array.from(excl), new Array(9).fill(9));
  const [incl] = await runKernel('Pool', { ...attrs, count_include_pad: 1 }, [{ shape: [1, 1, 3, 3], data: x }], [{ shape: [1, 1, 3, 3] }]);
  assert.deepEqual(Array.from(incl), [4, 6, 4, 6, 9, 6, 4, 6, 4]);
});

test('Pool: max 3x3 stride 2 pad 1 (ResNet stem)', async () => {
  await check('max-stem', [2, 3, 12, 12], [2, 3, 6, 6], { kind: 'max', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
});

test('Pool: asymmetric pads and dilations, both avg modes', async () => {
  for (const cip of [0, 1]) {
    await check(`avg-cip${cip}`, [1, 2, 9, 8], [1, 2, 4, 4], { kind: 'avg', kernel: [3, 2], strides: [2, 2], pads: [1, 0, 0, 1], dilations: [2, 1], count_include_pad: cip });
  }
  await check('max-dil', [1, 2, 9, 8], [1, 2, 4, 4], { kind: 'max', kernel: [3, 2], strides: [2, 2], pads: [1, 0, 0, 1], dilations: [2, 1] });
});

test('Pool: ceil-mode output whose last window leaves the padded input', async () => {
  // H=W=5, kernel 2, stride 2, no pads, output 3x3: the last window holds one row/column only
  for (const cip of [0, 1]) {
    await check(`ceil-cip${cip}`, [1, 1, 5, 5], [1, 1, 3, 3], { kind: 'avg', kernel: [2, 2], strides: [2, 2], count_include_pad: cip });
  }
  const x = Array.from({ length: 25 }, (_, i) => i);
  const [y] = await runKernel('Pool', { kind: 'avg', kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], count_include_pad: 1 },
    [{ shape: [1, 1, 5, 5], data: x }], [{ shape: [1, 1, 3, 3] }]);
  assert.equal(y[8], 24); // window [4,6)x[4,6): only (4,4) is inside the (unpadded) input
});

test('Pool: global average pooling', async () => {
  await check('global', [2, 5, 7, 7], [2, 5, 1, 1], { kind: 'avg', kernel: [7, 7] });
});

test('Pool: rank-3 input is 1-D pooling', async () => {
  const x = [1, 5, 2, 8, 3, 0];
  const [y] = await runKernel('Pool', { kind: 'max', kernel: [1, 2], strides: [1, 2], pads: [0, 0, 0, 0], dilations: [1, 1], count_include_pad: 0 },
    [{ shape: [1, 2, 3], data: x }], [{ shape: [1, 2, 1] }]);
  assert.deepEqual(Array.from(y), [5, 8]);
});

test('LRN: matches the formula with clipped channel windows', async () => {
  const N = 2, C = 5, S = 6;
  const x = randomArray(N * C * S, 61);
  const size = 4, alpha = 0.02, beta = 0.75, bias = 1.5;
  const [y] = await runKernel('LRN', { size, alpha, beta, bias }, [{ shape: [N, C, 2, 3], data: x }], [{ shape: [N, C, 2, 3] }]);
  const expected = [];
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let s = 0; s < S; s++) {
        let sum = 0;
        for (let cc = c - Math.floor((size - 1) / 2); cc <= c + Math.ceil((size - 1) / 2); cc++) {
          if (cc < 0 || cc >= C) continue;
          sum += x[(n * C + cc) * S + s] ** 2;
        }
        expected.push(x[(n * C + c) * S + s] / (bias + (alpha / size) * sum) ** beta);
      }
  assertClose(y, expected, { rtol: 1e-5, atol: 1e-6 });
});
