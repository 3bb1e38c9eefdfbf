// Runs descriptors for webdnn.runners.NodeRunner.
//
// usage: node node_driver.mjs <path to webdnn.mjs> [cache size]
//
// Protocol: one JSON request per line on stdin; one JSON reply per line on stdout, prefixed by
// TAG so that anything else printed to stdout cannot be mistaken for a reply. Tensor data goes
// through files of raw little-endian bytes, never through JSON.
//   {"id", "cmd": "run"|"bench", "dir", "stamp", "backends": [...],
//    "inputs": [{"name", "file", "type"}], "outPrefix", "repeat", "warmup"}
//     -> {"id", "ok": true, "ms": [...], "loadMs", "backendName",
//         "outputs": [{"name", "file", "type", "length"}]}
//   {"id", "cmd": "load", "dir", "stamp", "backends"} -> {"id", "ok", "backendName", ...}
//   {"id", "cmd": "forget", "dir"}  /  {"id", "cmd": "exit"}
//   any failure -> {"id", "ok": false, "error", "name", "stack"}
import { createInterface } from 'node:readline';
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const TAG = '\u0001webdnn ';
const send = (msg) => process.stdout.write(TAG + JSON.stringify(msg) + '\n');

// stdout belongs to the protocol: route the runtime's logging to stderr
for (const k of ['log', 'info', 'debug']) console[k] = (...args) => console.error(...args);
process.on('unhandledRejection', (e) => console.error('unhandled rejection:', e));

const errorReply = (id, e) => ({
  id, ok: false,
  error: (e && typeof e === 'object' && 'message' in e) ? String(e.message) : String(e),
  name: e && e.name ? String(e.name) : 'Error',
  stack: e && e.stack ? String(e.stack) : null,
});

const [runtimePath, cacheArg] = process.argv.slice(2);
const CACHE_SIZE = Math.max(1, Number(cacheArg) || 8);

let WebDNN;
try {
  const mod = await import(pathToFileURL(runtimePath).href);
  WebDNN = typeof mod.load === 'function' ? mod : (mod.default ?? mod);
  if (typeof WebDNN.load !== 'function') throw new Error(`${runtimePath} exports no load()`);
} catch (e) {
  send(errorReply(0, new Error(`cannot import the runtime ${runtimePath}: ${e && e.message ? e.message : e}`)));
  process.exit(1);
}
send({ id: 0, ok: true, ready: true, node: process.version });

// (dir, backends) -> {stamp, promise of {runner, loadMs}}; least recently used first
const cache = new Map();

async function dispose(entry) {
  try {
    const { runner } = await entry.promise;
    for (const m of ['dispose', 'destroy', 'close']) {
      if (typeof runner[m] === 'function') { await runner[m](); break; }
    }
  } catch (_) { /* a failed load has nothing to release */ }
}

function getRunner(dir, backends, stamp) {
  const key = dir + '\u0000' + backends.join(',');
  let entry = cache.get(key);
  if (entry && entry.stamp !== stamp) {  // the descriptor was rewritten on disk
    cache.delete(key);
    dispose(entry);
    entry = undefined;
  }
  if (entry) {
    cache.delete(key);
    cache.set(key, entry);
    return entry.promise.then((r) => ({ runner: r.runner, loadMs: 0 }));
  }
  const options = backends.length ? { backendOrder: backends } : {};
  const t0 = performance.now();
  entry = {
    stamp,
    promise: WebDNN.load(dir, options).then((runner) => ({ runner, loadMs: performance.now() - t0 })),
  };
  entry.promise.catch(() => { if (cache.get(key) === entry) cache.delete(key); });
  cache.set(key, entry);
  while (cache.size > CACHE_SIZE) {
    const [oldKey, old] = cache.entries().next().value;
    cache.delete(oldKey);
    dispose(old);
  }
  return entry.promise;
}

async function readInput(spec) {
  const buf = await readFile(spec.file);
  const Typed = globalThis[spec.type];
  if (typeof Typed !== 'function') throw new Error(`unknown typed array ${spec.type}`);
  // a fresh, aligned ArrayBuffer that the runtime may keep
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return new Typed(ab);
}

function asTyped(name, v) {
  if (ArrayBuffer.isView(v)) return v;
  if (v && typeof v.toActual === 'function') return asTyped(name, v.toActual());
  if (v && ArrayBuffer.isView(v.data)) return v.data;
  throw new Error(`output ${name} is not a typed array (${Object.prototype.toString.call(v)})`);
}

// the actual shapes (outputs of host steps change from run to run)
function outputShapes(runner) {
  const views = typeof runner.getOutputViews === 'function' ? runner.getOutputViews() : [];
  return Object.fromEntries(views.map((v) => [v.name, v.shape ? [...v.shape] : null]));
}

async function runOnce(runner, inputs) {
  let outs = await runner.run(inputs);
  if (!outs) {  // the classic API: run() fills the output views
    const views = runner.getOutputViews();
    outs = Object.fromEntries(runner.outputNames.map((n, i) => [n, views[i]]));
  }
  return outs;
}

async function handleRun(msg) {
  const { runner, loadMs } = await getRunner(msg.dir, msg.backends, msg.stamp);
  const inputs = {};
  for (const spec of msg.inputs) {
    const data = await readInput(spec);
    inputs[spec.name] = spec.shape ? { data, shape: spec.shape } : data;  // an input with symbolic sizes
  }
  for (let i = 0; i < (msg.warmup | 0); i++) await runOnce(runner, inputs);
  const ms = [];
  let outs;
  const repeat = Math.max(1, msg.repeat | 0);
  for (let i = 0; i < repeat; i++) {
    const t0 = performance.now();
    outs = await runOnce(runner, inputs);
    ms.push(performance.now() - t0);
  }
  // per-kernel times: `profile` passes, each kernel's median (backends that can: wasm)
  let profile = null;
  if (msg.profile) {
    const passes = [];
    for (let i = 0; i < msg.profile; i++) passes.push(await runner.profile(inputs));
    profile = passes[0].map((k, j) => [k.kernel, passes.map((p) => p[j].ms).sort((a, b) => a - b)[passes.length >> 1]]);
  }
  const outputs = [];
  const shapes = outputShapes(runner);
  let i = 0;
  for (const [name, value] of Object.entries(outs)) {
    const arr = asTyped(name, value);
    const file = `${msg.outPrefix}${i++}.bin`;
    await writeFile(file, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    outputs.push({ name, file, type: arr.constructor.name, length: arr.length, shape: shapes[name] ?? null });
  }
  return { ok: true, ms, loadMs, backendName: runner.backendName ?? null, backendInfo: runner.backendInfo ?? null, outputs, profile };
}

async function handleLoad(msg) {
  const { runner, loadMs } = await getRunner(msg.dir, msg.backends, msg.stamp);
  let inputViews = null;
  try {
    inputViews = runner.getInputViews().map((v) => ({ name: v.name ?? null, shape: v.shape ?? null, dtype: v.dtype ?? null }));
  } catch (_) { /* optional */ }
  return {
    ok: true, loadMs, backendName: runner.backendName ?? null,
    inputNames: runner.inputNames ?? null, outputNames: runner.outputNames ?? null, inputViews,
  };
}

async function handle(msg) {
  switch (msg.cmd) {
    case 'run': case 'bench': return handleRun(msg);
    case 'load': return handleLoad(msg);
    case 'forget':
      for (const [key, entry] of [...cache]) {
        if (msg.dir == null || key.startsWith(msg.dir + '\u0000')) { cache.delete(key); await dispose(entry); }
      }
      return { ok: true };
    case 'ping': return { ok: true };
    case 'exit': send({ id: msg.id, ok: true }); process.exit(0);
    default: throw new Error(`unknown command ${msg.cmd}`);
  }
}

// requests are handled one at a time, in order
let chain = Promise.resolve();
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      send(errorReply(-1, new Error(`bad request line: ${e.message}`)));
      return;
    }
    try {
      send({ id: msg.id, ...(await handle(msg)) });
    } catch (e) {
      send(errorReply(msg.id, e));
    }
  });
});
rl.on('close', () => { chain.then(() => process.exit(0)); });
