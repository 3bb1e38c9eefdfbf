// The in-page half of `webdnn bench`: times one framework on one model. Each measurement runs in a
// fresh page (onnxruntime-web fixes its thread count when it first starts; nothing stays cached).
'use strict';

// the model's inputs, written by `webdnn bench` from bench/models.py feeds(): the same data for
// every framework. webdnn takes the typed arrays by name; onnxruntime-web takes ort.Tensors.
async function loadInputs(specs) {
  const arrays = {};
  for (const s of specs) {
    const buf = await (await fetch(s.url)).arrayBuffer();
    arrays[s.name] = s.dtype === 'int64' ? new BigInt64Array(buf) : s.dtype === 'int32' ? new Int32Array(buf) : new Float32Array(buf);
  }
  return arrays;
}

function ortFeed(specs, arrays) {
  return Object.fromEntries(specs.map((s) => [s.name, new ort.Tensor(s.dtype, arrays[s.name], s.shape)]));
}

function summary(ms) {
  const s = [...ms].sort((a, b) => a - b);
  return { median: s[s.length >> 1], min: s[0], runs: ms };
}

async function timeRuns(run, warmup, repeat) {
  for (let i = 0; i < warmup; i++) await run();
  const ms = [];
  for (let i = 0; i < repeat; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  return ms;
}

window.benchWebdnn = async ({ url, backend, threads, inputs, warmup, repeat }) => {
  const feed = await loadInputs(inputs);
  const t0 = performance.now();
  const runner = await WebDNN.load(url, { backendOrder: [backend], backendOptions: { wasm: { threads } } });
  const t1 = performance.now();
  const out = await runner.run(feed);
  const t2 = performance.now();
  const ms = await timeRuns(() => runner.run(feed), warmup, repeat);
  const first = Object.values(out)[0];
  return {
    loadMs: t1 - t0, firstMs: t2 - t1, ...summary(ms), info: runner.backendInfo, backendName: runner.backendName,
    checksum: Array.from(first.slice(0, 8)),
  };
};

window.benchOrt = async ({ url, threads, inputs, warmup, repeat }) => {
  const feed = ortFeed(inputs, await loadInputs(inputs));
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = '/ort/';
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(url, { executionProviders: ['wasm'] });
  const t1 = performance.now();
  const out = await session.run(feed);
  const t2 = performance.now();
  const ms = await timeRuns(() => session.run(feed), warmup, repeat);
  const first = Object.values(out)[0].data;
  return {
    loadMs: t1 - t0, firstMs: t2 - t1, ...summary(ms), info: { threads: ort.env.wasm.numThreads },
    checksum: Array.from(first.slice(0, 8)),
  };
};

// Both frameworks in one page at the same thread count, their runs alternating: a slow spell of a
// shared machine slows both sides of a pair, so the per-pair ratio is steadier than two medians
// taken minutes apart. A short pause between runs lets the other side's idle threads go to sleep.
window.benchPaired = async ({ webdnnUrl, onnxUrl, threads, inputs, warmup, repeat }) => {
  const arrays = await loadInputs(inputs);
  const runner = await WebDNN.load(webdnnUrl, { backendOrder: ['wasm'], backendOptions: { wasm: { threads } } });
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = '/ort/';
  const session = await ort.InferenceSession.create(onnxUrl, { executionProviders: ['wasm'] });
  const feedW = arrays, feedO = ortFeed(inputs, arrays);
  const pause = () => new Promise((r) => setTimeout(r, 15));
  for (let i = 0; i < warmup; i++) { await runner.run(feedW); await session.run(feedO); }
  const w = [], o = [], ratio = [];
  for (let i = 0; i < repeat; i++) {
    // alternate which side goes first, so neither always runs right after a pause
    const order = i % 2 ? [0, 1] : [1, 0];
    const t = [0, 0];
    for (const k of order) {
      await pause();
      const t0 = performance.now();
      await (k === 0 ? runner.run(feedW) : session.run(feedO));
      t[k] = performance.now() - t0;
    }
    w.push(t[0]); o.push(t[1]); ratio.push(t[0] / t[1]);
  }
  runner.dispose();
  await session.release();
  const med = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
  return { webdnnMedian: med(w), ortMedian: med(o), ratioMedian: med(ratio), webdnnMin: Math.min(...w), ortMin: Math.min(...o) };
};

// One model converted twice (e.g. float32 and --weights int8 weights), both on wasm in one page at the same
// thread count, runs alternating: medians of each and the median of the per-pair ratios (second / first).
window.benchPairedWebdnn = async ({ urls, threads, inputs, warmup, repeat }) => {
  const feed = await loadInputs(inputs);
  const options = { backendOrder: ['wasm'], backendOptions: { wasm: { threads } } };
  const runners = [await WebDNN.load(urls[0], options), await WebDNN.load(urls[1], options)];
  const pause = () => new Promise((r) => setTimeout(r, 15));
  for (let i = 0; i < warmup; i++) for (const r of runners) await r.run(feed);
  const ms = [[], []], ratio = [];
  for (let i = 0; i < repeat; i++) {
    const order = i % 2 ? [0, 1] : [1, 0];
    const t = [0, 0];
    for (const k of order) {
      await pause();
      const t0 = performance.now();
      await runners[k].run(feed);
      t[k] = performance.now() - t0;
    }
    ms[0].push(t[0]); ms[1].push(t[1]); ratio.push(t[1] / t[0]);
  }
  // how far the second's outputs are from the first's: the least cosine similarity over the float outputs
  const outs = [await runners[0].run(feed), await runners[1].run(feed)];
  let cosine = 1;
  for (const name of Object.keys(outs[0])) {
    const a = outs[0][name], b = outs[1][name];
    if (!(a instanceof Float32Array)) continue;
    let ab = 0, aa = 0, bb = 0;
    for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
    cosine = Math.min(cosine, aa && bb ? ab / Math.sqrt(aa * bb) : (aa === bb ? 1 : 0));
  }
  for (const r of runners) r.dispose();
  const med = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
  return { medians: ms.map(med), mins: ms.map((a) => Math.min(...a)), ratioMedian: med(ratio), cosine };
};
