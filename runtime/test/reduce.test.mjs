import test from 'node:test';
import assert from 'node:assert/strict';
import { runKernel, assertClose, randomArray } from '../testlib/descriptor.mjs';
import { forEachIndex, strides } from '../testlib/reference.mjs';

const KINDS = {
  sum: (v) => v.reduce((a, b) => a + b, 0),
  mean: (v) => v.reduce((a, b) => a + b, 0) / v.length,
  max: (v) => Math.max(...v),
  min: (v) => Math.min(...v),
  prod: (v) => v.reduce((a, b) => a * b, 1),
  sumsquare: (v) => v.reduce((a, b) => a + b * b, 0),
  l1: (v) => v.reduce((a, b) => a + Math.abs(b), 0),
  l2: (v) => Math.sqrt(v.reduce((a, b) => a + b * b, 0)),
  logsum: (v) => Math.log(v.reduce((a, b) => a + b, 0)),
  logsumexp: (v) => Math.log(v.reduce((a, b) => a + Math.exp(b), 0)),
};

function reference(x, shape, axes, f) {
  const keptShape = shape.filter((_, i) => !axes.includes(i));
  const groups = new Map();
  forEachIndex(shape, (idx, o) => {
    const key = idx.filter((_, i) => !axes.includes(i));
    const st = strides(keptShape);
    const t = key.reduce((a, k, i) => a + k * st[i], 0);
    if (!groups.has(t)) groups.set(t, []);
    groups.get(t).push(x[o]);
  });
  return [...groups.keys()].sort((a, b) => a - b).map((t) => f(groups.get(t)));
}

test('Reduce: every kind over axis 1 and over axes [0, 2], with and without keepdims', async () => {
  const shape = [2, 3, 4];
  // positive values so logsum is defined; spread so prod/max/min are distinct
  const x = Array.from(randomArray(24, 71), (v) => 0.5 + Math.abs(v) * 2);
  for (const [kind, f] of Object.entries(KINDS)) {
    const [y1] = await runKernel('Reduce', { kind, axes: [1], keepdims: 1 }, [{ shape, data: x }], [{ shape: [2, 1, 4] }]);
    assertClose(y1, reference(Float32Array.from(x), shape, [1], f), { rtol: 1e-5, msg: `${kind} axis 1` });
    const [y2] = await runKernel('Reduce', { kind, axes: [0, 2], keepdims: 0 }, [{ shape, data: x }], [{ shape: [3] }]);
    assertClose(y2, reference(Float32Array.from(x), shape, [0, 2], f), { rtol: 1e-5, msg: `${kind} axes 0,2` });
  }
});

test('Reduce: logsumexp is stable for large inputs; max/min propagate NaN', async () => {
  const [y] = await runKernel('Reduce', { kind: 'logsumexp', axes: [0], keepdims: 0 }, [{ shape: [2, 2], data: [1000, -1000, 1000, -1000] }], [{ shape: [2] }]);
  assertClose(y, [1000 + Math.log(2), -1000 + Math.log(2)]);
  const [m] = await runKernel('Reduce', { kind: 'max', axes: [1], keepdims: 0 }, [{ shape: [2, 3], data: [NaN, 1, 2, 3, 4, 5] }], [{ shape: [2] }]);
  assert.ok(Number.isNaN(m[0]));
  assert.equal(m[1], 5);
  const [n] = await runKernel('Reduce', { kind: 'min', axes: [1], keepdims: 0 }, [{ shape: [2, 3], data: [1, 2, NaN, 3, -4, 5] }], [{ shape: [2] }]);
  assert.ok(Number.isNaN(n[0]));
  assert.equal(n[1], -4);
});

test('Reduce: all axes to a scalar, and an int32 sum', async () => {
  const [y] = await runKernel('Reduce', { kind: 'mean', axes: [0, 1], keepdims: 0 }, [{ shape: [2, 2], data: [1, 2, 3, 4] }], [{ shape: [] }]);
  assert.deepEqual(Array.from(y), [2.5]);
  const [s] = await runKernel('Reduce', { kind: 'sum', axes: [0], keepdims: 1 }, [{ shape: [3, 2], dtype: 'int32', data: [1, 2, 3, 4, 5, 6] }], [{ shape: [1, 2], dtype: 'int32' }]);
  assert.ok(s instanceof Int32Array);
  assert.deepEqual(Array.from(s), [9, 12]);
});

function softmaxRef(x, shape, axis, log) {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const L = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const y = new Float64Array(x.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const at = (j) => o * L * inner + j * inner + i;
      let mx = -Infinity;
      for (let j = 0; j < L; j++) mx = Math.max(mx, x[at(j)]);
      let s = 0;
      for (let j = 0; j < L; j++) s += Math.exp(x[at(j)] - mx);
      for (let j = 0; j < L; j++) y[at(j)] = log ? x[at(j)] - mx - Math.log(s) : Math.exp(x[at(j)] - mx) / s;
    }
  return y;
}

test('Softmax and log-softmax along a middle axis and the last axis', async () => {
  const shape = [2, 3, 4];
  const x = Array.from(randomArray(24, 81), (v) => v * 5);
  for (const axis of [1, 2]) {
    for (const log of [0, 1]) {
      const [y] = await runKernel('Softmax', { axis, log }, [{ shape, data: x }], [{ shape }]);
      assertClose(y, softmaxRef(Float32Array.from(x), shape, axis, log), { rtol: 1e-5, atol: 1e-6, msg: `axis ${axis} log ${log}` });
    }
  }
});

test('Softmax is max-subtracted (no overflow at 1000)', async () => {
  const [y] = await runKernel('Softmax', { axis: 1, log: 0 }, [{ shape: [1, 3], data: [1000, 1000, 999] }], [{ shape: [1, 3] }]);
  const e = Math.exp(-1);
  assertClose(y, [1 / (2 + e), 1 / (2 + e), e / (2 + e)]);
});
