// The in-page half of `webdnn bench`: times one framework on one model. Each measurement runs in a
// fresh page (onnxruntime-web fixes its thread count when it first starts; nothing stays cached).
'use strict';

function input(n) {
  // the same deterministic data for every framework
  const x = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    x[i] = (s >>> 8) / 16777216;
  }
  return x;
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

window.benchWebdnn = async ({ url, backend, threads, inputName, shape, warmup, repeat }) => {
  const t0 = performance.now();
  const runner = await WebDNN.load(url, { backendOrder: [backend], backendOptions: { wasm: { threads } } });
  const t1 = performance.now();
  const feed = { [inputName]: input(shape.reduce((a, b) => a * b, 1)) };
  const out = await runner.run(feed);
  const t2 = performance.now();
  const ms = await timeRuns(() => runner.run(feed), warmup, repeat);
  const first = Object.values(out)[0];
  return {
    loadMs: t1 - t0, firstMs: t2 - t1, ...summary(ms), info: runner.backendInfo, backendName: runner.backendName,
    checksum: Array.from(first.slice(0, 8)),
  };
};

window.benchOrt = async ({ url, threads, inputName, shape, warmup, repeat }) => {
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = '/ort/';
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(url, { executionProviders: ['wasm'] });
  const t1 = performance.now();
  const feed = { [inputName]: new ort.Tensor('float32', input(shape.reduce((a, b) => a * b, 1)), shape) };
  const out = await session.run(feed);
  const t2 = performance.now();
  const ms = await timeRuns(() => session.run(feed), warmup, repeat);
  const first = Object.values(out)[0].data;
  return {
    loadMs: t1 - t0, firstMs: t2 - t1, ...summary(ms), info: { threads: ort.env.wasm.numThreads },
    checksum: Array.from(first.slice(0, 8)),
  };
};
