// Seeded descriptor fuzzing: damaged variants of one good descriptor (truncated and flipped files,
// missing files, mutated model.json and graph_js.json fields). Every variant must either load and
// run giving exactly the good descriptor's output, or be refused with a WebDNNError: never another
// error, never a different output, never a hang. Graph edits that are re-sealed (model.json updated
// to the edited file's checksum) make a consistent descriptor, whose output may differ; those must
// still end in a result or a WebDNNError.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { writeDescriptor, tempDir, randomArray, updateChecksums } from '../testlib/descriptor.mjs';

// WEBDNN_FUZZ_SEED explores other seeds; the suite runs the fixed one
const SEED = Number(process.env.WEBDNN_FUZZ_SEED) || 0x5eed2;
const CASE_TIMEOUT_MS = 10000;
const WORKERS = 2;

/** mulberry32: a small seeded PRNG. */
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (l) => l[Math.floor(next() * l.length)] };
}

/** conv → relu → flatten → matmul → softmax, weights in two chunks. */
function goodDescriptor() {
  const w = randomArray(4 * 2 * 9, 11), b = randomArray(4, 12), fc = randomArray(144 * 5, 13);
  return writeDescriptor({
    inputs: [{ name: 'x', shape: [1, 2, 6, 6], dtype: 'float32' }],
    outputs: [{ name: 'prob', shape: [1, 5], dtype: 'float32' }],
    tensors: {
      c: { shape: [1, 4, 6, 6], dtype: 'float32' }, r: { shape: [1, 4, 6, 6], dtype: 'float32' },
      f: { shape: [1, 144], dtype: 'float32' }, l: { shape: [1, 5], dtype: 'float32' },
    },
    constants: {
      w: { shape: [4, 2, 3, 3], dtype: 'float32', data: w },
      b: { shape: [4], dtype: 'float32', data: b },
      fc: { shape: [144, 5], dtype: 'float32', data: fc },
    },
    kernels: [
      { op: 'Conv', name: 'conv', inputs: ['x', 'w', 'b'], outputs: ['c'], attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 }, free: ['x'] },
      { op: 'Elementwise', name: 'relu', inputs: ['c'], outputs: ['r'], attrs: { expr: ['max', ['in', 0], ['const', 0]], dtype: 'float32' }, free: ['c'] },
      { op: 'Reshape', name: 'flat', inputs: ['r'], outputs: ['f'], free: ['r'] },
      { op: 'MatMul', name: 'fc', inputs: ['f', 'fc'], outputs: ['l'], free: ['f'] },
      { op: 'Softmax', name: 'softmax', inputs: ['l'], outputs: ['prob'], attrs: { axis: 1, log: 0 }, free: ['l'] },
    ],
    chunkSize: 2048,
  });
}

// ---- JSON paths -------------------------------------------------------------------------------

function allPaths(v, prefix = []) {
  const out = [];
  if (v && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      const p = [...prefix, Array.isArray(v) ? Number(k) : k];
      out.push(p, ...allPaths(v[k], p));
    }
  }
  return out;
}
const getAt = (o, p) => p.reduce((v, k) => v[k], o);
function setAt(o, p, value) {
  getAt(o, p.slice(0, -1))[p[p.length - 1]] = value;
}
function deleteAt(o, p) {
  const parent = getAt(o, p.slice(0, -1));
  const k = p[p.length - 1];
  if (Array.isArray(parent)) parent.splice(k, 1);
  else delete parent[k];
}
const label = (p) => p.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join('');

/** Field mutations of one JSON document: [description, mutate(doc, dir)]. */
function fieldMutations(doc, rng, sampled) {
  const paths = allPaths(doc);
  const of = (pred) => paths.filter((p) => pred(getAt(doc, p)));
  const numbers = of((v) => typeof v === 'number');
  const strings = of((v) => typeof v === 'string');
  const arrays = of((v) => Array.isArray(v) && v.length > 0);
  const sample = (list, n) => Array.from({ length: Math.min(n, list.length) }, () => rng.pick(list));
  const m = [];
  // every key deleted, every value nulled
  for (const p of paths) m.push([`delete ${label(p)}`, (d) => deleteAt(d, p)]);
  for (const p of sampled(paths)) m.push([`${label(p)} = null`, (d) => setAt(d, p, null)]);
  for (const p of sample(numbers, 12)) {
    const [what, f] = rng.pick([['+1', (v) => v + 1], ['-1', (v) => v - 1], ['*2', (v) => v * 2], ['= 0', () => 0], ['+0.5', (v) => v + 0.5]]);
    m.push([`${label(p)} ${what}`, (d) => setAt(d, p, f(getAt(d, p)))]);
  }
  for (const p of sample(numbers, 6)) m.push([`${label(p)} = -1`, (d) => setAt(d, p, -1)]);
  for (const p of sample(numbers, 6)) {
    const huge = rng.pick([1e308, 2 ** 53 + 2, 2 ** 40, 2 ** 31]);
    m.push([`${label(p)} = ${huge}`, (d) => setAt(d, p, huge)]);
  }
  for (const p of strings) m.push([`${label(p)} = '../../etc/passwd'`, (d) => setAt(d, p, '../../etc/passwd')]);
  for (const p of sample(strings, 10)) {
    m.push([`${label(p)} = an absolute path`, (d, dir) => setAt(d, p, rng.pick(['/etc/passwd', path.join(dir, 'weights_0.bin'), 'C:\\x.bin', 'file:///etc/passwd']))]);
  }
  for (const p of sample(paths, 16)) {
    m.push([`${label(p)}: wrong type`, (d) => {
      const v = getAt(d, p);
      const other = [{}, [], 'str', true, 7].filter((x) => typeof x !== typeof v || Array.isArray(x) !== Array.isArray(v));
      setAt(d, p, other[rng.int(other.length)]);
    }]);
  }
  for (const p of sample(arrays, 10)) {
    m.push([`${label(p)}: an entry duplicated`, (d) => {
      const a = getAt(d, p);
      const i = rng.int(a.length);
      a.splice(i, 0, structuredClone(a[i]));
    }]);
  }
  return m;
}

// ---- cases ------------------------------------------------------------------------------------

function buildCases(good) {
  const rng = prng(SEED);
  const files = fs.readdirSync(good).sort();
  assert.deepEqual(files, ['graph_js.json', 'model.json', 'weights_0.bin', 'weights_1.bin']);
  const cases = [];
  const add = (kind, name, apply) => cases.push({ kind, name, apply });

  for (const file of files) {
    const size = fs.statSync(path.join(good, file)).size;
    const edit = (f) => (dir) => {
      const p = path.join(dir, file);
      fs.writeFileSync(p, f(new Uint8Array(fs.readFileSync(p))));
    };
    add('strict', `${file}: missing`, (dir) => fs.rmSync(path.join(dir, file)));
    for (const n of [0, 1, size >> 1, size - 1, rng.int(size), rng.int(size)]) {
      add('strict', `${file}: truncated to ${n} bytes`, edit((b) => b.subarray(0, n)));
    }
    for (const extra of [1, 1000]) add('strict', `${file}: ${extra} bytes appended`, edit((b) => Buffer.concat([b, Buffer.alloc(extra, 0x20)])));
    for (let i = 0; i < 8; i++) {
      const at = rng.int(size), bit = rng.int(8);
      add('strict', `${file}: bit ${bit} of byte ${at} flipped`, edit((b) => ((b[at] ^= 1 << bit), b)));
    }
    for (let i = 0; i < 4; i++) {
      const at = rng.int(size), value = rng.int(256);
      add('strict', `${file}: byte ${at} = ${value}`, edit((b) => ((b[at] = value), b)));
    }
  }

  const json = (file, mutate, reseal = false) => (dir) => {
    const p = path.join(dir, file);
    const doc = JSON.parse(fs.readFileSync(p, 'utf8'));
    mutate(doc, dir);
    fs.writeFileSync(p, JSON.stringify(doc));
    if (reseal) updateChecksums(dir);
  };
  const model = JSON.parse(fs.readFileSync(path.join(good, 'model.json'), 'utf8'));
  for (const [name, mutate] of fieldMutations(model, rng, (ps) => ps)) add('strict', `model.json: ${name}`, json('model.json', mutate));
  add('strict', 'model.json: input and output shapes swapped', json('model.json', (m) => ([m.inputs[0].shape, m.outputs[0].shape] = [m.outputs[0].shape, m.inputs[0].shape])));
  add('strict', 'model.json: input dtype int32', json('model.json', (m) => (m.inputs[0].dtype = 'int32')));
  add('strict', 'model.json: output dtype float16', json('model.json', (m) => (m.outputs[0].dtype = 'float16')));
  add('strict', 'model.json: weight chunks in reverse order', json('model.json', (m) => m.backends.js.weights.reverse()));
  // model.json is where trust starts: a self-consistent edit of it (two chunks listed in the other
  // order, each with its own checksum) describes another descriptor, which may compute something else
  add('consistent', 'model.json: weight entries swapped', json('model.json', (m) => m.weights.reverse()));
  add('strict', 'model.json: chunk 1 names chunk 0 (with its checksum)', json('model.json', (m) => (m.weights[1] = { ...m.weights[0] })));

  // graph_js.json edits without updating model.json: the checksum refuses each one that changes a byte
  const graph = JSON.parse(fs.readFileSync(path.join(good, 'graph_js.json'), 'utf8'));
  const graphMutations = fieldMutations(graph, rng, (ps) => ps.filter(() => rng.next() < 0.25));
  for (let i = 0; i < 24; i++) {
    const [name, mutate] = rng.pick(graphMutations);
    add('strict', `graph_js.json: ${name}`, json('graph_js.json', mutate));
  }
  // ... and re-sealed: a consistent descriptor of another model, refused or run, never an unexpected error
  for (let i = 0; i < 90; i++) {
    const [name, mutate] = rng.pick(graphMutations);
    add('resealed', `graph_js.json (re-sealed): ${name}`, json('graph_js.json', mutate, true));
  }
  return cases;
}

// ---- running ----------------------------------------------------------------------------------

/** Runs `jobs` ({id, dir}) on worker threads; a job that takes longer than CASE_TIMEOUT_MS is reported as a hang. */
function runAll(jobs, inputs) {
  const results = new Map();
  const queue = [...jobs];
  const workerUrl = new URL('../testlib/fuzz_worker.mjs', import.meta.url);
  return new Promise((resolve, reject) => {
    let live = 0;
    const start = () => {
      const job = queue.shift();
      if (!job) {
        if (live === 0) resolve(results);
        return;
      }
      live++;
      const w = new Worker(workerUrl);
      const next = (j) => {
        const timer = setTimeout(() => {
          results.set(j.id, { ok: false, hang: true, message: `no answer in ${CASE_TIMEOUT_MS} ms` });
          w.terminate();
          live--;
          start();
        }, CASE_TIMEOUT_MS);
        w.once('message', (msg) => {
          clearTimeout(timer);
          results.set(j.id, msg);
          const n = queue.shift();
          if (n) next(n);
          else {
            w.terminate();
            if (--live === 0 && queue.length === 0) resolve(results);
          }
        });
        w.postMessage({ id: j.id, dir: j.dir, inputs });
      };
      w.once('error', reject);
      next(job);
    };
    for (let i = 0; i < WORKERS; i++) start();
  });
}

test('seeded descriptor fuzz: every damaged variant runs exactly like the original or fails with WebDNNError', { timeout: 120000 }, async (t) => {
  const good = goodDescriptor();
  const inputs = { x: randomArray(72, 21) };
  const cases = buildCases(good);
  assert.ok(cases.length >= 150, `${cases.length} cases`);

  const jobs = [{ id: 0, dir: good }];
  cases.forEach((c, i) => {
    const dir = tempDir('webdnn-fuzz-');
    for (const f of fs.readdirSync(good)) fs.copyFileSync(path.join(good, f), path.join(dir, f));
    c.apply(dir);
    jobs.push({ id: i + 1, dir });
  });
  const t0 = Date.now();
  const results = await runAll(jobs, inputs);
  const base = results.get(0);
  assert.ok(base.ok, `the good descriptor fails: ${base.message}`);
  assert.deepEqual(Object.keys(base.out), ['prob']);

  const failures = [];
  const tally = { same: 0, refused: 0, differs: 0 };
  cases.forEach((c, i) => {
    const r = results.get(i + 1);
    const what = `${c.kind} case ${i + 1} (${c.name})`;
    if (r.hang) failures.push(`${what}: hangs (${r.message})`);
    else if (!r.ok) {
      if (!r.webdnn) failures.push(`${what}: ${r.name}, not a WebDNNError: ${r.message}\n${r.stack}`);
      else tally.refused++;
    } else if (JSON.stringify(r.out) === JSON.stringify(base.out)) tally.same++;
    else if (c.kind !== 'strict') tally.differs++;
    else failures.push(`${what}: loads and runs, with a different output`);
  });
  t.diagnostic(`${cases.length} cases in ${Date.now() - t0} ms: ${tally.same} ran like the original, ${tally.refused} refused, ${tally.differs} consistent (re-sealed) ones computed something else`);
  assert.deepEqual(failures, []);
  // the fuzz reaches both outcomes (it is not refusing everything, nor accepting everything)
  assert.ok(tally.refused > 100 && tally.same > 5, JSON.stringify(tally));
});
