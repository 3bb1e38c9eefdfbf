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

const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];

// Two runs, `warmup` untimed pairs then `repeat` timed ones, alternating which goes first (so neither always
// runs right after a pause); a short pause before each lets the other side's idle threads go to sleep.
// -> [times of the first, times of the second], ms.
async function alternate(runs, warmup, repeat) {
  const pause = () => new Promise((r) => setTimeout(r, 15));
  for (let i = 0; i < warmup; i++) for (const run of runs) await run();
  const ms = [[], []];
  for (let i = 0; i < repeat; i++) {
    for (const k of i % 2 ? [0, 1] : [1, 0]) {
      await pause();
      const t0 = performance.now();
      await runs[k]();
      ms[k].push(performance.now() - t0);
    }
  }
  return ms;
}

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
  const [w, o] = await alternate([() => runner.run(feedW), () => session.run(feedO)], warmup, repeat);
  runner.dispose();
  await session.release();
  return { webdnnMedian: median(w), ortMedian: median(o), ratioMedian: median(w.map((x, i) => x / o[i])),
           webdnnMin: Math.min(...w), ortMin: Math.min(...o) };
};

// One model converted twice (e.g. float32 and --weights int8 weights), both on wasm in one page at the same
// thread count, runs alternating: medians of each and the median of the per-pair ratios (second / first).
window.benchPairedWebdnn = async ({ urls, threads, inputs, warmup, repeat }) => {
  const feed = await loadInputs(inputs);
  const options = { backendOrder: ['wasm'], backendOptions: { wasm: { threads } } };
  const runners = [await WebDNN.load(urls[0], options), await WebDNN.load(urls[1], options)];
  const ms = await alternate(runners.map((r) => () => r.run(feed)), warmup, repeat);
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
  return { medians: ms.map(median), mins: ms.map((a) => Math.min(...a)), ratioMedian: median(ms[1].map((x, i) => x / ms[0][i])),
           cosine };
};
