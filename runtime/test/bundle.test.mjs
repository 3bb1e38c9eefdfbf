import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { writeDescriptor } from '../testlib/descriptor.mjs';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));

for (const file of ['webdnn.js', 'webdnn.min.js']) {
  test(`${file} defines the global WebDNN for a script tag`, async () => {
    const code = fs.readFileSync(dist + file, 'utf8');
    const ctx = vm.createContext({ process, TextDecoder, URL, fetch, console });
    vm.runInContext(code, ctx, { filename: file, importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER });
    const W = ctx.WebDNN;
    assert.equal(typeof W, 'object');
    assert.equal(typeof W.load, 'function');
    assert.equal(typeof W.WebDNNError, 'function');
    assert.equal(new W.WebDNNError('x').name, 'WebDNNError');
    assert.equal(typeof W.Math.argmax, 'function');
    assert.equal(typeof W.Math.argmin, 'function');
    assert.equal(typeof W.Image.getImageArray, 'function');
    assert.equal(W.Image.Color.BGR, 'BGR');
    assert.match(W.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(Array.from(W.Math.argmax([1, 3, 2], 2)), [1, 2]);
  });
}

test('the script-tag build loads and runs a descriptor in Node', async () => {
  const code = fs.readFileSync(dist + 'webdnn.js', 'utf8');
  const ctx = vm.createContext({ process, TextDecoder, URL, fetch, console });
  vm.runInContext(code, ctx, { filename: 'webdnn.js', importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER });
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: [2], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [2], dtype: 'float32' }],
    kernels: [{ op: 'Elementwise', name: 'neg', inputs: ['x'], outputs: ['y'], attrs: { expr: ['neg', ['in', 0]], dtype: 'float32' } }],
  });
  const runner = await ctx.WebDNN.load(dir);
  const { y } = await runner.run({ x: [1, -2] });
  assert.deepEqual(Array.from(y), [-1, 2]);
});

test('no bundle uses eval or new Function (strict CSP)', () => {
  for (const file of ['webdnn.js', 'webdnn.mjs', 'webdnn.min.js']) {
    const code = fs.readFileSync(dist + file, 'utf8');
    assert.doesNotMatch(code, /\beval\s*\(/, file);
    assert.doesNotMatch(code, /new\s+Function\s*\(/, file);
    assert.doesNotMatch(code, /\bFunction\s*\(\s*["'`]/, file);
  }
});

test('type declarations are emitted for the public API', () => {
  const dts = fs.readFileSync(dist + 'types/index.d.ts', 'utf8');
  for (const name of ['load', 'Math', 'Image', 'version', 'Runner', 'TensorView', 'LoadOptions', 'ModelDescriptor', 'WebDNNError', 'FileEntry']) {
    assert.match(dts, new RegExp(`\\b${name}\\b`), name);
  }
});
