import test from 'node:test';
import assert from 'node:assert/strict';
import { writeDescriptor, WebDNN } from '../testlib/descriptor.mjs';

// A js graph computing d = 2x, then host steps on d and on the inputs (model.json "host").
function withHost(steps, tensors, extra = {}) {
  // every tensor a step writes is a model output
  const outputs = steps.flatMap((s) => s.outputs).map((name) => ({ name, ...tensors[name] }));
  return writeDescriptor({
    inputs: [{ name: 'x', shape: [2, 3], dtype: 'float32' }, { name: 'keep', shape: [3], dtype: 'bool' }],
    outputs: [{ name: 'd', shape: [2, 3], dtype: 'float32' }],
    kernels: [{ op: 'Elementwise', name: 'twice', inputs: ['x'], outputs: ['d'], attrs: { expr: ['mul', ['in', 0], ['const', 2]], dtype: 'float32' } }],
    model: {
      outputs: [{ name: 'd', shape: [2, 3], dtype: 'float32' }, ...outputs],
      host: {
        steps,
        tensors: { x: { shape: [2, 3], dtype: 'float32' }, keep: { shape: [3], dtype: 'bool' }, d: { shape: [2, 3], dtype: 'float32' }, ...tensors },
        ...extra,
      },
    },
  });
}

test('host steps: NonZero and Compress after the backend; output views take each run\'s shape', async () => {
  const dir = withHost(
    [
      { op: 'NonZero', name: 'nz', inputs: ['d'], outputs: ['idx'], attrs: {} },
      { op: 'Compress', name: 'cmp', inputs: ['d', 'keep'], outputs: ['cols'], attrs: { axis: 1 } },
    ],
    { idx: { shape: [2, 'nz:count'], dtype: 'int64' }, cols: { shape: [2, 'cmp:count'], dtype: 'float32' } },
  );
  const runner = await WebDNN.load(dir, { backendOrder: 'js' });
  const [, idx, cols] = runner.getOutputViews();
  assert.equal(idx.dynamic, true);
  assert.deepEqual(idx.shape, [2, 0], 'an unknown dim reads 0 before the first run');
  assert.equal(idx.length, 0);
  let out = await runner.run({ x: [0, 1, 0, 2, 0, 3], keep: [1, 0, 1] });
  assert.deepEqual(idx.shape, [2, 3]);
  assert.deepEqual(Array.from(out.idx), [0, 1, 1, 1, 0, 2]);
  assert.ok(out.idx instanceof Int32Array);
  assert.deepEqual(cols.shape, [2, 2]);
  assert.deepEqual(Array.from(cols.toActual()), [0, 0, 4, 6]);
  out = await runner.run({ x: [5, 0, 0, 0, 0, 0], keep: [0, 0, 0] });
  assert.deepEqual(idx.shape, [2, 1]);
  assert.equal(idx.length, 2);
  assert.deepEqual(Array.from(idx.toActual()), [0, 0]);
  assert.deepEqual(cols.shape, [2, 0]);
  assert.equal(out.cols.length, 0);
  assert.equal(runner.getOutputViews()[0].dynamic, false);
});

test('host steps: Unique with an axis, sorted, and flattened in order of first occurrence', async () => {
  const dir = withHost(
    [
      { op: 'Unique', name: 'u0', inputs: ['d'], outputs: ['y0', 'i0', 'v0', 'c0'], attrs: { axis: 0, sorted: 1 } },
      { op: 'Unique', name: 'u1', inputs: ['x'], outputs: ['y1', 'i1', 'v1', 'c1'], attrs: { sorted: 0 } },
    ],
    {
      y0: { shape: ['u0:count', 3], dtype: 'float32' }, i0: { shape: ['u0:count'], dtype: 'int64' },
      v0: { shape: [2], dtype: 'int64' }, c0: { shape: ['u0:count'], dtype: 'int64' },
      y1: { shape: ['u1:count'], dtype: 'float32' }, i1: { shape: ['u1:count'], dtype: 'int64' },
      v1: { shape: [6], dtype: 'int64' }, c1: { shape: ['u1:count'], dtype: 'int64' },
    },
  );
  const runner = await WebDNN.load(dir, { backendOrder: 'js' });
  let out = await runner.run({ x: [2, 1, 1, 3, 4, 3], keep: [0, 0, 0] });
  assert.deepEqual(Array.from(out.y1), [2, 1, 3, 4]);
  assert.deepEqual(Array.from(out.i1), [0, 1, 3, 4]);
  assert.deepEqual(Array.from(out.v1), [0, 1, 1, 2, 3, 2]);
  assert.deepEqual(Array.from(out.c1), [1, 2, 2, 1]);
  assert.deepEqual(Array.from(out.y0), [4, 2, 2, 6, 8, 6], 'rows [2,1,1] and [3,4,3] (doubled) are distinct');
  out = await runner.run({ x: [3, 4, 3, 2, 1, 1], keep: [0, 0, 0] });
  assert.deepEqual(Array.from(out.y0), [4, 2, 2, 6, 8, 6], 'rows sort lexicographically');
  assert.deepEqual(Array.from(out.i0), [1, 0]);
  assert.deepEqual(Array.from(out.v0), [1, 0]);
  out = await runner.run({ x: [1, 2, 3, 1, 2, 3], keep: [0, 0, 0] });
  assert.deepEqual(Array.from(out.y0), [2, 4, 6]);
  assert.deepEqual(Array.from(out.c0), [2]);
  assert.deepEqual(runner.getOutputViews()[1].shape, [1, 3]);
});

test('host steps: NonMaxSuppression with runtime thresholds and an inline constant', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'boxes', shape: [1, 3, 4], dtype: 'float32' }, { name: 'scores', shape: [1, 1, 3], dtype: 'float32' }],
    outputs: [],
    kernels: [],
    model: {
      outputs: [{ name: 'sel', shape: ['nms:count', 3], dtype: 'int64' }],
      host: {
        steps: [{ op: 'NonMaxSuppression', name: 'nms', inputs: ['boxes', 'scores', 'limit', 'iou'], outputs: ['sel'], attrs: { center_point_box: 0 } }],
        tensors: { boxes: { shape: [1, 3, 4], dtype: 'float32' }, scores: { shape: [1, 1, 3], dtype: 'float32' }, sel: { shape: ['nms:count', 3], dtype: 'int64' } },
        constants: { limit: { shape: [1], dtype: 'int64', values: [3] }, iou: { shape: [1], dtype: 'float32', values: [0.5] } },
      },
    },
  });
  const runner = await WebDNN.load(dir, { backendOrder: 'js' });
  // box 1 overlaps box 0 (IoU 0.81), box 2 is apart; box 0 scores highest
  const boxes = [0, 0, 1, 1, 0, 0, 0.9, 0.9, 2, 2, 3, 3];
  let out = await runner.run({ boxes, scores: [0.9, 0.8, 0.1] });
  assert.deepEqual(Array.from(out.sel), [0, 0, 0, 0, 0, 2]);
  out = await runner.run({ boxes, scores: [0.1, 0.8, 0.9] });
  assert.deepEqual(Array.from(out.sel), [0, 0, 2, 0, 0, 1]);
  assert.deepEqual(runner.getOutputViews()[0].shape, [2, 3]);
});

test('host steps: an op this runtime does not know fails at load, naming it', async () => {
  const dir = withHost([{ op: 'Mystery', name: 'm', inputs: ['d'], outputs: ['z'], attrs: {} }],
    { z: { shape: ['m:count'], dtype: 'float32' } });
  await assert.rejects(WebDNN.load(dir, { backendOrder: 'js' }), /host steps this runtime does not know: Mystery \(it knows: NonZero, Compress, Unique, NonMaxSuppression, Transpose, Gather\)/);
});
