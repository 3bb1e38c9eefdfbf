import test from 'node:test';
import assert from 'node:assert/strict';
import { runKernel, randomArray, prod, writeDescriptor, WebDNN } from '../testlib/descriptor.mjs';
import { forEachIndex, strides, broadcastOffset } from '../testlib/reference.mjs';

const range = (n) => Array.from({ length: n }, (_, i) => i);

test('Reshape keeps the elements; an output aliasing an input is still returned as its own array', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [2, 3], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [3, 2], dtype: 'float32' }],
    kernels: [{ op: 'Reshape', name: 'r', inputs: ['x'], outputs: ['y'] }],
  });
  const runner = await WebDNN.load(dir);
  const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const { y } = await runner.run({ x });
  assert.deepEqual(Array.from(y), [1, 2, 3, 4, 5, 6]);
  assert.notEqual(y, runner.getInputViews()[0].toActual());
  runner.getInputViews()[0].set([0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(y), [1, 2, 3, 4, 5, 6], 'result must not change when the input view does');
});

test('Reshape of a size mismatch fails at load', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [2, 3], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [4, 2], dtype: 'float32' }],
    kernels: [{ op: 'Reshape', name: 'r', inputs: ['x'], outputs: ['y'] }],
  });
  await assert.rejects(WebDNN.load(dir), /cannot reshape \[2,3\] to \[4,2\]/);
});

test('Identity copies', async () => {
  const [y] = await runKernel('Identity', {}, [{ shape: [3], dtype: 'int32', data: [1, -2, 3] }], [{ shape: [3], dtype: 'int32' }]);
  assert.ok(y instanceof Int32Array);
  assert.deepEqual(Array.from(y), [1, -2, 3]);
});

test('Transpose with a 3-D permutation', async () => {
  const shape = [2, 3, 4];
  const x = range(24);
  const perm = [2, 0, 1];
  const [y] = await runKernel('Transpose', { perm }, [{ shape, data: x }], [{ shape: [4, 2, 3] }]);
  const st = strides(shape);
  const expected = [];
  forEachIndex([4, 2, 3], (idx) => {
    let off = 0;
    idx.forEach((v, k) => { off += v * st[perm[k]]; });
    expected.push(x[off]);
  });
  assert.deepEqual(Array.from(y), expected);
});

test('Concat along a middle axis', async () => {
  const a = range(6); // [2,1,3]
  const b = range(12).map((v) => 100 + v); // [2,2,3]
  const [y] = await runKernel('Concat', { axis: 1 }, [{ shape: [2, 1, 3], data: a }, { shape: [2, 2, 3], data: b, const: true }], [{ shape: [2, 3, 3] }]);
  assert.deepEqual(Array.from(y), [0, 1, 2, 100, 101, 102, 103, 104, 105, 3, 4, 5, 106, 107, 108, 109, 110, 111]);
});

test('Split into unequal parts', async () => {
  const [p, q] = await runKernel('Split', { axis: 1, split: [2, 3] }, [{ shape: [2, 5], data: range(10) }], [{ shape: [2, 2] }, { shape: [2, 3] }]);
  assert.deepEqual(Array.from(p), [0, 1, 5, 6]);
  assert.deepEqual(Array.from(q), [2, 3, 4, 7, 8, 9]);
});

test('Slice with negative and positive steps', async () => {
  const x = range(30); // [5,6]
  const [y] = await runKernel('Slice', { starts: [4, 1], steps: [-2, 2] }, [{ shape: [5, 6], data: x }], [{ shape: [3, 3] }]);
  assert.deepEqual(Array.from(y), [25, 27, 29, 13, 15, 17, 1, 3, 5]);
  const [r] = await runKernel('Slice', { starts: [5], steps: [-1] }, [{ shape: [6], data: range(6) }], [{ shape: [6] }]);
  assert.deepEqual(Array.from(r), [5, 4, 3, 2, 1, 0]);
});

test('Slice reaching outside the input fails at load', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [4], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [3], dtype: 'float32' }],
    kernels: [{ op: 'Slice', name: 's', inputs: ['x'], outputs: ['y'], attrs: { starts: [2], steps: [1] } }],
  });
  await assert.rejects(WebDNN.load(dir), /kernel 's' \(Slice\).*outside \[0, 4\)/s);
});

test('Gather with negative indices, int64 constant and int32 input indices', async () => {
  const data = range(12); // [3,4]
  const [y] = await runKernel('Gather', { axis: 1 }, [
    { shape: [3, 4], data },
    { shape: [2, 2], dtype: 'int64', data: [0, -1, 2, -4], const: true },
  ], [{ shape: [3, 2, 2] }]);
  assert.deepEqual(Array.from(y), [0, 3, 2, 0, 4, 7, 6, 4, 8, 11, 10, 8]);
  const [z] = await runKernel('Gather', { axis: 0 }, [
    { shape: [3, 4], data },
    { shape: [2], dtype: 'int32', data: [-1, 0] },
  ], [{ shape: [2, 4] }]);
  assert.deepEqual(Array.from(z), [8, 9, 10, 11, 0, 1, 2, 3]);
});

test('Gather with an out-of-range index fails naming the index', async () => {
  await assert.rejects(
    runKernel('Gather', { axis: 0 }, [{ shape: [3], data: [1, 2, 3] }, { shape: [1], dtype: 'int32', data: [3] }], [{ shape: [1] }]),
    /index 3 .*out of range for axis 0 of size 3/,
  );
});

/** numpy-style pad of the positive parts, then crop the negative ones. */
function padRef(x, shape, pads, mode, value) {
  const r = shape.length;
  let cur = Array.from(x);
  let curShape = shape.slice();
  for (let ax = 0; ax < r; ax++) {
    const b = pads[ax], e = pads[ax + r];
    const n = curShape[ax];
    const grown = curShape.slice();
    grown[ax] = n + Math.max(b, 0) + Math.max(e, 0);
    const out = [];
    const st = strides(curShape);
    forEachIndex(grown, (idx) => {
      let i = idx[ax] - Math.max(b, 0);
      if (i < 0 || i >= n) {
        if (mode === 'constant') { out.push(value); return; }
        if (mode === 'edge') i = i < 0 ? 0 : n - 1;
        else i = i < 0 ? -i : 2 * (n - 1) - i;
      }
      const src = idx.slice();
      src[ax] = i;
      out.push(cur[src.reduce((a, v, k) => a + v * st[k], 0)]);
    });
    // crop negative pads
    const cropped = grown.slice();
    cropped[ax] = grown[ax] - Math.max(-b, 0) - Math.max(-e, 0);
    const gst = strides(grown);
    const res = [];
    forEachIndex(cropped, (idx) => {
      const src = idx.slice();
      src[ax] += Math.max(-b, 0);
      res.push(out[src.reduce((a, v, k) => a + v * gst[k], 0)]);
    });
    cur = res;
    curShape = cropped;
  }
  return { data: cur, shape: curShape };
}

test('Pad: constant, reflect and edge, with negative pads cropping', async () => {
  const shape = [3, 4];
  const x = range(12).map((v) => v + 1);
  const cases = [
    ['constant', [1, 0, 0, 2], 7],
    ['reflect', [2, 2, 1, 3], 0],
    ['edge', [1, 2, 2, 1], 0],
    ['reflect', [1, -1, 2, 2], 0],
    ['edge', [-1, 1, 1, -2], 0],
    ['constant', [0, -2, -1, 3], -5],
  ];
  for (const [mode, pads, value] of cases) {
    const ref = padRef(x, shape, pads, mode, value);
    const [y] = await runKernel('Pad', { pads, mode, value }, [{ shape, data: x }], [{ shape: ref.shape }]);
    assert.deepEqual(Array.from(y), ref.data, `${mode} ${JSON.stringify(pads)}`);
  }
});

test('Pad: hand-computed 1-D reflect', async () => {
  const [y] = await runKernel('Pad', { pads: [2, 3], mode: 'reflect' }, [{ shape: [4], data: [1, 2, 3, 4] }], [{ shape: [9] }]);
  assert.deepEqual(Array.from(y), [3, 2, 1, 2, 3, 4, 3, 2, 1]);
});

test('Expand broadcasts to the output shape', async () => {
  const x = [1, 2, 3];
  const [y] = await runKernel('Expand', {}, [{ shape: [3, 1], data: x }], [{ shape: [2, 3, 4] }]);
  const expected = [];
  forEachIndex([2, 3, 4], (idx) => expected.push(x[broadcastOffset([3, 1], idx)]));
  assert.deepEqual(Array.from(y), expected);
});

test('index ops keep the dtype (uint8 transpose, bool concat)', async () => {
  const [t] = await runKernel('Transpose', { perm: [1, 0] }, [{ shape: [2, 2], dtype: 'uint8', data: [1, 2, 3, 4] }], [{ shape: [2, 2], dtype: 'uint8' }]);
  assert.ok(t instanceof Uint8Array);
  assert.deepEqual(Array.from(t), [1, 3, 2, 4]);
  const [c] = await runKernel('Concat', { axis: 0 }, [{ shape: [1], dtype: 'bool', data: [1] }, { shape: [2], dtype: 'bool', data: [0, 1] }], [{ shape: [3], dtype: 'bool' }]);
  assert.deepEqual(Array.from(c), [1, 0, 1]);
});

test('a larger random 4-D transpose agrees with the reference', async () => {
  const shape = [3, 17, 9, 5];
  const x = randomArray(prod(shape), 5);
  const perm = [3, 1, 0, 2];
  const outShape = perm.map((p) => shape[p]);
  const [y] = await runKernel('Transpose', { perm }, [{ shape, data: x }], [{ shape: outShape }]);
  const st = strides(shape);
  const expected = [];
  forEachIndex(outShape, (idx) => expected.push(x[idx.reduce((a, v, k) => a + v * st[perm[k]], 0)]));
  assert.deepEqual(Array.from(y), expected);
});
