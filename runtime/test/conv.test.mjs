import test from 'node:test';
import assert from 'node:assert/strict';
import { runKernel, assertClose, randomArray, prod } from '../testlib/descriptor.mjs';
import { conv2d, convTranspose2d } from '../testlib/reference.mjs';

function convOut(xs, ws, a) {
  const oh = Math.floor((xs[2] + a.pads[0] + a.pads[2] - a.dilations[0] * (ws[2] - 1) - 1) / a.strides[0]) + 1;
  const ow = Math.floor((xs[3] + a.pads[1] + a.pads[3] - a.dilations[1] * (ws[3] - 1) - 1) / a.strides[1]) + 1;
  return [xs[0], ws[0], oh, ow];
}

async function checkConv(name, xs, ws, attrs, { bias = true, constWeights = true } = {}) {
  const a = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, ...attrs };
  const ys = convOut(xs, ws, a);
  const x = randomArray(prod(xs), 11);
  const w = randomArray(prod(ws), 12);
  const b = bias ? randomArray(ws[0], 13) : null;
  const [y] = await runKernel('Conv', a, [
    { shape: xs, data: x },
    { shape: ws, data: w, const: constWeights },
    bias ? { shape: [ws[0]], data: b, const: true } : { absent: true },
  ], [{ shape: ys }]);
  assertClose(y, conv2d(x, xs, w, ws, b, a, ys), { rtol: 1e-4, atol: 1e-4, msg: name });
}

test('Conv: hand-computed 3x3, pad 1, all-ones kernel', async () => {
  const [y] = await runKernel('Conv', { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 }, [
    { shape: [1, 1, 3, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9] },
    { shape: [1, 1, 3, 3], data: new Array(9).fill(1), const: true },
    { shape: [1], data: [0.5], const: true },
  ], [{ shape: [1, 1, 3, 3] }]);
  assert.deepEqual(Array.from(y), [12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5]);
});

test('Conv: 3x3 same padding, batch 2, with bias (GEMM path)', async () => {
  await checkConv('basic', [2, 3, 7, 7], [8, 3, 3, 3], { pads: [1, 1, 1, 1] });
});

test('Conv: strides, asymmetric pads, dilations, M not a multiple of 4', async () => {
  await checkConv('strided', [1, 4, 11, 9], [5, 4, 3, 2], { strides: [2, 3], pads: [1, 0, 2, 1], dilations: [2, 1] }, { bias: false });
});

test('Conv: grouped (group 3, 4 outputs per group)', async () => {
  await checkConv('grouped', [1, 6, 8, 8], [12, 2, 3, 2], { group: 3, pads: [1, 1, 1, 0] });
});

test('Conv: depthwise with channel multiplier 2, stride 2, dilation 2 (direct path)', async () => {
  await checkConv('depthwise', [2, 4, 9, 10], [8, 1, 3, 3], { group: 4, strides: [2, 2], dilations: [2, 2], pads: [2, 2, 2, 2] });
});

test('Conv: pointwise 1x1 fast path with odd spatial size', async () => {
  await checkConv('pointwise', [1, 20, 5, 9], [6, 20, 1, 1], {});
});

test('Conv: K and N larger than one GEMM block (K=360, N=576)', async () => {
  await checkConv('blocked', [1, 40, 24, 24], [9, 40, 3, 3], { pads: [1, 1, 1, 1] });
});

test('Conv: weights given at run time instead of as a constant', async () => {
  await checkConv('dynamic-w', [1, 3, 6, 6], [4, 3, 3, 3], { pads: [1, 1, 1, 1] }, { constWeights: false });
  await checkConv('dynamic-w-direct', [1, 2, 6, 6], [2, 1, 3, 3], { group: 2 }, { constWeights: false });
});

test('Conv: rank-3 input is 1-D convolution in 2-D form', async () => {
  const x = randomArray(3 * 10, 5);
  const w = randomArray(4 * 3 * 3, 6);
  const a = { strides: [1, 2], pads: [0, 1, 0, 1], dilations: [1, 1], group: 1 };
  const [y] = await runKernel('Conv', a, [
    { shape: [1, 3, 10], data: x },
    { shape: [4, 3, 3], data: w, const: true },
  ], [{ shape: [1, 4, 5] }]);
  assertClose(y, conv2d(x, [1, 3, 1, 10], w, [4, 3, 1, 3], null, a, [1, 4, 1, 5]));
});

async function checkConvT(name, xs, ws, attrs, ys, bias = true) {
  const a = { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1, ...attrs };
  const x = randomArray(prod(xs), 21);
  const w = randomArray(prod(ws), 22);
  const M = ys[1];
  const b = bias ? randomArray(M, 23) : null;
  const [y] = await runKernel('ConvTranspose', a, [
    { shape: xs, data: x },
    { shape: ws, data: w, const: true },
    bias ? { shape: [M], data: b, const: true } : { absent: true },
  ], [{ shape: ys }]);
  assertClose(y, convTranspose2d(x, xs, w, ws, b, a, ys), { rtol: 1e-4, atol: 1e-4, msg: name });
}

test('ConvTranspose: hand-computed stride 2 upsampling', async () => {
  const [y] = await runKernel('ConvTranspose', { strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 }, [
    { shape: [1, 1, 2, 2], data: [1, 2, 3, 4] },
    { shape: [1, 1, 2, 2], data: [1, 10, 100, 1000], const: true },
    { absent: true },
  ], [{ shape: [1, 1, 4, 4] }]);
  assert.deepEqual(Array.from(y), [
    1, 10, 2, 20,
    100, 1000, 200, 2000,
    3, 30, 4, 40,
    300, 3000, 400, 4000,
  ]);
});

test('ConvTranspose: stride 2, pads 1, output_padding 1, with bias', async () => {
  // (H-1)*s - 2p + (k-1) + 1 + output_padding = 4*2 - 2 + 2 + 1 + 1 = 10
  await checkConvT('strided', [2, 3, 5, 5], [3, 4, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }, [2, 4, 10, 10]);
});

test('ConvTranspose: groups, dilation, asymmetric pads, cropped output', async () => {
  await checkConvT('grouped', [1, 4, 4, 6], [4, 3, 2, 3], { group: 2, dilations: [2, 1], strides: [1, 2], pads: [1, 0, 0, 2] }, [1, 6, 5, 11], false);
});

test('ConvTranspose: tiles over input rows when the column buffer would be large', async () => {
  // R = 64*3*3 = 576 column rows, 64 wide: 56 input rows fit in one tile, so 64 rows take two
  await checkConvT('tiled', [1, 8, 64, 64], [8, 64, 3, 3], { strides: [1, 1], pads: [1, 1, 1, 1] }, [1, 64, 64, 64]);
});
