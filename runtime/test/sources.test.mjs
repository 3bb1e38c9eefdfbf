// WebDNN.load's sources and options: a descriptor given as bytes, a custom fetch with request
// options, per-file events, and the file cache (Cache Storage is faked here: Node has none; the
// real one and the IndexedDB fallback are tested in Chromium by tests/e2e/test_runtime_cache.py).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WebDNN, writeDescriptor } from '../testlib/descriptor.mjs';

function scaleDescriptor(scale = 3) {
  return writeDescriptor({
    inputs: [{ name: 'x', shape: [4], dtype: 'float32' }],
    outputs: [{ name: 'y', shape: [4], dtype: 'float32' }],
    constants: { w: { shape: [4], dtype: 'float32', data: [scale, scale, scale, scale] } },
    kernels: [{ op: 'Elementwise', name: 'mul', inputs: ['x', 'w'], outputs: ['y'], attrs: { expr: ['mul', ['in', 0], ['in', 1]], dtype: 'float32' } }],
  });
}

function filesOf(dir) {
  return Object.fromEntries(fs.readdirSync(dir).map((f) => [f, new Uint8Array(fs.readFileSync(path.join(dir, f)))]));
}

/** A fetch that serves `dir` under http://models.test/m/ and records every call. */
function fakeFetch(dir, calls) {
  return async (url, init) => {
    calls.push({ url, init });
    const name = url.replace('http://models.test/m/', '');
    const p = path.join(dir, name);
    if (!fs.existsSync(p)) return new Response('not found', { status: 404, statusText: 'Not Found' });
    return new Response(fs.readFileSync(p));
  };
}

test('load() takes the descriptor as bytes by name, and leaves the caller\'s bytes alone', async () => {
  const files = filesOf(scaleDescriptor());
  const before = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, v.slice()]));
  const runner = await WebDNN.load(files, { backendOrder: ['js'] });
  const { y } = await runner.run({ x: [1, 2, 3, 4] });
  assert.deepEqual(Array.from(y), [3, 6, 9, 12]);
  for (const [k, v] of Object.entries(files)) assert.deepEqual(v, before[k], k);
  const { 'weights_0.bin': _, ...missing } = files;
  await assert.rejects(WebDNN.load(missing, { backendOrder: ['js'] }), /weights_0\.bin.*not among the files/s);
  await assert.rejects(WebDNN.load(42), /descriptor directory \(URL or path\) or its files by name, got number/);
});

test('options.fetch and options.requestInit are used for every file; fileCallback hears of each', async () => {
  const dir = scaleDescriptor(2);
  const calls = [];
  const events = [];
  const init = { headers: { authorization: 'Bearer t' } };
  const runner = await WebDNN.load('http://models.test/m/', {
    backendOrder: ['js'], fetch: fakeFetch(dir, calls), requestInit: init, fileCallback: (e) => events.push(e),
  });
  assert.deepEqual(Array.from((await runner.run({ x: [1, 1, 1, 1] })).y), [2, 2, 2, 2]);
  assert.deepEqual(calls.map((c) => c.url).sort(), ['model.json', 'graph_js.json', 'weights_0.bin'].map((f) => 'http://models.test/m/' + f).sort());
  assert.ok(calls.every((c) => c.init === init));
  assert.deepEqual(events.map((e) => [e.file, e.fromCache]).sort(), [['graph_js.json', false], ['weights_0.bin', false]]);
  assert.equal(events.find((e) => e.file === 'weights_0.bin').bytes, 16);
  await assert.rejects(WebDNN.load('http://models.test/nothing/', { fetch: fakeFetch(dir, []) }), /HTTP 404/);
});

/** An in-memory Cache Storage, as much of it as the runtime uses. */
function fakeCaches() {
  const stores = new Map();
  return {
    stores,
    async open(name) {
      if (!stores.has(name)) stores.set(name, new Map());
      const m = stores.get(name);
      return {
        async match(key) { const r = m.get(key); return r ? r.clone() : undefined; },
        async put(key, res) { m.set(key, res); },
      };
    },
    async delete(name) { return stores.delete(name); },
  };
}

test('cache: a second load downloads only model.json; a changed file is downloaded again; clearCache empties it', async (t) => {
  const caches = fakeCaches();
  globalThis.caches = caches;
  t.after(() => { delete globalThis.caches; });
  const dir = scaleDescriptor(5);
  const load = async (calls, events) => WebDNN.load('http://models.test/m/', {
    backendOrder: ['js'], fetch: fakeFetch(dir, calls), cache: 'test', fileCallback: (e) => events.push(e),
  });
  const run = async (r) => Array.from((await r.run({ x: [1, 2, 3, 4] })).y);
  let calls = [], events = [];
  assert.deepEqual(await run(await load(calls, events)), [5, 10, 15, 20]);
  assert.equal(calls.length, 3);
  assert.equal(caches.stores.get('test').size, 2);  // graph_js.json and weights_0.bin, not model.json
  calls = []; events = [];
  assert.deepEqual(await run(await load(calls, events)), [5, 10, 15, 20]);
  assert.deepEqual(calls.map((c) => c.url), ['http://models.test/m/model.json']);
  assert.ok(events.every((e) => e.fromCache) && events.length === 2);
  // the model changes: new weights with a new checksum in model.json
  const other = scaleDescriptor(7);
  for (const f of ['model.json', 'weights_0.bin']) fs.copyFileSync(path.join(other, f), path.join(dir, f));
  calls = []; events = [];
  assert.deepEqual(await run(await load(calls, events)), [7, 14, 21, 28]);
  assert.deepEqual(calls.map((c) => c.url).sort(), ['http://models.test/m/model.json', 'http://models.test/m/weights_0.bin']);
  // a damaged entry is not used
  const m = caches.stores.get('test');
  const key = [...m.keys()].find((k) => k.endsWith('weights_0.bin'));
  const good = new Uint8Array(await m.get(key).clone().arrayBuffer());
  const bad = good.slice(); bad[0] ^= 0xff;
  m.set(key, new Response(bad, { headers: m.get(key).headers }));
  calls = []; events = [];
  assert.deepEqual(await run(await load(calls, events)), [7, 14, 21, 28]);
  assert.ok(calls.some((c) => c.url.endsWith('weights_0.bin')));
  await WebDNN.clearCache('test');
  assert.equal(caches.stores.has('test'), false);
  await assert.rejects(WebDNN.load('http://models.test/m/', { cache: 3 }), /cache must be true, false or a cache name/);
});

test('cache in Node without a cache store: files load as usual', async () => {
  const runner = await WebDNN.load(scaleDescriptor(4), { backendOrder: ['js'], cache: true });
  assert.deepEqual(Array.from((await runner.run({ x: [1, 1, 1, 1] })).y), [4, 4, 4, 4]);
});
