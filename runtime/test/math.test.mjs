import test from 'node:test';
import assert from 'node:assert/strict';
import { WebDNN } from '../testlib/descriptor.mjs';

const { argmax, argmin } = WebDNN.Math;

test('argmax / argmin with k = 1', () => {
  assert.deepEqual(argmax([0.1, 0.7, 0.2]), [1]);
  assert.deepEqual(argmin(Float32Array.from([3, -1, 2, -5, 0])), [3]);
});

test('argmax / argmin with k > 1 are ordered, ties by lower index', () => {
  const a = [5, 1, 9, 9, 3, 7];
  assert.deepEqual(argmax(a, 3), [2, 3, 5]);
  assert.deepEqual(argmin(a, 3), [1, 4, 0]);
  assert.deepEqual(argmax(a, 6), [2, 3, 5, 0, 4, 1]);
  assert.deepEqual(argmin(a, 6), [1, 4, 0, 5, 2, 3]);
});

test('k larger than the array, k = 0, NaN ignored', () => {
  assert.deepEqual(argmax([1, 2], 5), [1, 0]);
  assert.deepEqual(argmax([1, 2], 0), []);
  assert.deepEqual(argmax([NaN, 1, NaN, 3]), [3]);
  assert.deepEqual(argmin([NaN, 1, NaN, 3], 2), [1, 3]);
  assert.throws(() => argmax([1], -1), /non-negative integer/);
});

test('top-5 of a 1000-class output matches a full sort', () => {
  const a = new Float32Array(1000);
  let s = 7;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = s / 2 ** 32;
  }
  const sorted = Array.from(a.keys()).sort((i, j) => a[j] - a[i] || i - j);
  assert.deepEqual(argmax(a, 5), sorted.slice(0, 5));
  assert.deepEqual(argmin(a, 5), sorted.reverse().slice(0, 5).sort((i, j) => a[i] - a[j] || i - j));
});
