import test from 'node:test';
import assert from 'node:assert/strict';
import { WebDNN } from '../testlib/descriptor.mjs';

const { getImageArray, Color, Order } = WebDNN.Image;

// 2x2 RGBA: red, green / blue, white
const img = {
  width: 2,
  height: 2,
  data: Uint8ClampedArray.from([255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255, 255, 255, 255]),
};

test('constants', () => {
  assert.deepEqual(Color, { RGB: 'RGB', BGR: 'BGR', GREY: 'GREY' });
  assert.deepEqual(Order, { HWC: 'HWC', CHW: 'CHW' });
});

test('default: RGB, HWC, no bias or scale', async () => {
  const a = await getImageArray(img);
  assert.ok(a instanceof Float32Array);
  assert.deepEqual(Array.from(a), [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
});

test('BGR in CHW order with per-channel bias and scale', async () => {
  const a = await getImageArray(img, { color: Color.BGR, order: Order.CHW, bias: [1, 2, 3], scale: [2, 4, 8] });
  // channel 0 = B, 1 = G, 2 = R; y = (p - bias[c]) / scale[c]
  const B = [0, 0, 255, 255], G = [0, 255, 0, 255], R = [255, 0, 0, 255];
  const expected = [...B.map((v) => (v - 1) / 2), ...G.map((v) => (v - 2) / 4), ...R.map((v) => (v - 3) / 8)];
  assert.deepEqual(Array.from(a), expected.map(Math.fround));
});

test('GREY uses BT.601 luma; scalar bias and scale', async () => {
  const a = await getImageArray(img, { color: 'GREY', bias: 127.5, scale: 127.5 });
  const luma = [0.299 * 255, 0.587 * 255, 0.114 * 255, 255];
  assert.equal(a.length, 4);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(a[i] - (luma[i] - 127.5) / 127.5) < 1e-6);
});

test('nearest-neighbour resize up and down', async () => {
  const up = await getImageArray(img, { dstW: 4, dstH: 4, color: 'GREY' });
  const g = (x, y) => up[y * 4 + x];
  assert.equal(g(0, 0), g(1, 1));
  assert.equal(g(2, 0), g(3, 1));
  assert.notEqual(g(1, 0), g(2, 0));
  const big = { width: 4, height: 4, data: new Uint8ClampedArray(64) };
  for (let i = 0; i < 16; i++) big.data.set([i, i, i, 255], i * 4);
  const down = await getImageArray(big, { dstW: 2, dstH: 2, order: 'CHW' });
  // centres of the 2x2 blocks map to source pixels (1,1), (3,1), (1,3), (3,3)
  assert.deepEqual(Array.from(down.subarray(0, 4)), [5, 7, 13, 15]);
});

test('errors: URL strings without a DOM, bad bias length, bad data size', async () => {
  await assert.rejects(getImageArray('cat.png'), /needs a browser/);
  await assert.rejects(getImageArray(img, { bias: [1, 2] }), /'bias' must be a number or 3/);
  await assert.rejects(getImageArray({ width: 2, height: 2, data: new Uint8Array(3) }), /needs 16 RGBA bytes, got 3/);
  await assert.rejects(getImageArray(img, { color: 'CMYK' }), /unknown color/);
});

test('toImageData inverts getImageArray (CHW, BGR, bias and scale), clamping and rounding', async () => {
  const layout = { color: 'BGR', order: 'CHW', bias: [1, 2, 3], scale: [2, 4, 8] };
  const a = await getImageArray(img, layout);
  const back = WebDNN.Image.toImageData(a, 2, 2, layout);
  assert.equal(back.width, 2);
  assert.deepEqual(Array.from(back.data), Array.from(img.data));
  const clamped = WebDNN.Image.toImageData([-5, 300.2, 127.5, 1.4, 0, 0, 0, 0, 0, 0, 0, 0], 2, 2, { order: 'CHW' });
  assert.deepEqual(Array.from(clamped.data).filter((_, i) => i % 4 === 0), [0, 255, 128, 1]);
  const grey = WebDNN.Image.toImageData([10, 20, 30, 40], 2, 2, { color: 'GREY' });
  assert.deepEqual(Array.from(grey.data.slice(4, 8)), [20, 20, 20, 255]);
  assert.throws(() => WebDNN.Image.toImageData([1, 2, 3], 2, 2), /3 values for a 2×2 RGB image \(12 expected\)/);
  assert.throws(() => WebDNN.Image.toImageData(a, 2, 2, { scale: [1, 2] }), /toImageData: 'scale' must be/);
});
