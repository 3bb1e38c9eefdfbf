import test from 'node:test';
import assert from 'node:assert/strict';
import { writeDescriptor, WebDNN } from '../testlib/descriptor.mjs';

// x [n, 2] (n symbolic, default 1) → y = x * 2 + n (n read from a "sizes" constant) → z = reshape(y, [2 * n])
function symbolicDescriptor() {
  return writeDescriptor({
    inputs: [{ name: 'x', shape: [1, 2], dims: ['n', 2], dtype: 'float32' }],
    outputs: [{ name: 'z', shape: [2], dims: ['2*n'], dtype: 'float32' }],
    kernels: [
      { op: 'Elementwise', name: 'y', inputs: ['x', 'nsize'], outputs: ['y'], attrs: { expr: ['add', ['mul', ['in', 0], ['const', 2]], ['cast', 'float32', ['in', 1]]] } },
      { op: 'Reshape', name: 'flat', inputs: ['y'], outputs: ['z'], attrs: { shape: [{ dim: '2*n' }] } },
    ],
    graph: {
      tensors: { x: { shape: ['n', 2], dtype: 'float32' }, y: { shape: ['n', 2], dtype: 'float32' }, z: { shape: ['2*n'], dtype: 'float32' } },
      symbols: { n: 1 },
      sizes: { nsize: { shape: [], dtype: 'int64', values: ['n'] } },
    },
    model: { backends: { js: { graph: 'graph_js.json', weights: [], symbolic: true } } },
  });
}

test('a graph with symbolic sizes runs at the shapes its inputs bring', async () => {
  const runner = await WebDNN.load(symbolicDescriptor(), { backendOrder: ['js'] });
  const [x] = runner.getInputViews();
  assert.deepEqual([...x.shape], [1, 2]);
  assert.deepEqual(x.dims, ['n', 2]);
  for (const n of [1, 3, 5, 3]) {
    const data = Float32Array.from({ length: 2 * n }, (_, i) => i);
    const { z } = await runner.run({ x: { data, shape: [n, 2] } });
    assert.deepEqual([...z], [...data].map((v) => 2 * v + n));
    assert.deepEqual([...runner.getOutputViews()[0].shape], [2 * n]);
  }
  // the seed API: set the shape on the view, then the data
  x.setShape([2, 2]);
  x.set([1, 2, 3, 4]);
  await runner.run();
  assert.deepEqual([...runner.getOutputViews()[0].toActual()], [4, 6, 8, 10]);
});

test('shapes that do not fit the dims are refused naming the input', async () => {
  const runner = await WebDNN.load(symbolicDescriptor(), { backendOrder: ['js'] });
  const [x] = runner.getInputViews();
  assert.throws(() => x.setShape([2, 3]), /input 'x' dim 1 is fixed at 2/);
  assert.throws(() => x.setShape([2]), /input 'x' has rank 2/);
  assert.throws(() => x.setShape([1.5, 2]), /non-negative integers/);
  await assert.rejects(runner.run({ x: { data: [1, 2, 3], shape: [2, 2] } }), /expects shape \[2,2\] \(4 elements\), got 3/);
});

test('a fixed descriptor refuses another shape', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [2], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2], dtype: 'float32' }],
    kernels: [{ op: 'Identity', name: 'id', inputs: ['x'], outputs: ['y'], attrs: {} }],
  });
  const runner = await WebDNN.load(dir, { backendOrder: ['js'] });
  assert.throws(() => runner.getInputViews()[0].setShape([3]), /has the fixed shape \[2\], got \[3\]/);
});

test('a damaged "symbols" table is a load error', async () => {
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [1], dims: ['n'], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [1], dims: ['n'], dtype: 'float32' }],
    kernels: [{ op: 'Identity', name: 'id', inputs: ['x'], outputs: ['y'], attrs: {} }],
    graph: { tensors: { x: { shape: ['n'], dtype: 'float32' }, y: { shape: ['n'], dtype: 'float32' } }, symbols: { n: 'one' } },
    model: { backends: { js: { graph: 'graph_js.json', weights: [], symbolic: true } } },
  });
  await assert.rejects(WebDNN.load(dir, { backendOrder: ['js'] }), /"symbols" must be an object \{name: default size\}/);
});
