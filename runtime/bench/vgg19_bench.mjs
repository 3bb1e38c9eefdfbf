// VGG19 at 224x224 through the js backend (weights as `fill` constants: the arithmetic is the same
// as with real weights, and no 550 MB file has to be written).   node bench/vgg19_bench.mjs
import { writeDescriptor, WebDNN } from '../testlib/descriptor.mjs';

const cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'];
const tensors = {};
const constants = {};
const kernels = [];
let cur = 'x', C = 3, H = 224, i = 0, flops = 0;
const t = (shape) => { const name = `t${i++}`; tensors[name] = { shape, dtype: 'float32' }; return name; };
for (const v of cfg) {
  if (v === 'M') {
    const out = t([1, C, H / 2, H / 2]);
    kernels.push({ op: 'Pool', name: `pool${i}`, inputs: [cur], outputs: [out], attrs: { kind: 'max', kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], dilations: [1, 1], count_include_pad: 0 }, free: [cur] });
    cur = out; H /= 2;
    continue;
  }
  const w = `w${kernels.length}`, b = `b${kernels.length}`;
  constants[w] = { shape: [v, C, 3, 3], dtype: 'float32', encoding: 'fill', value: 0.001 };
  constants[b] = { shape: [v], dtype: 'float32', encoding: 'fill', value: 0.01 };
  const c = t([1, v, H, H]);
  kernels.push({ op: 'Conv', name: `conv${i}`, inputs: [cur, w, b], outputs: [c], attrs: { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 }, free: [cur] });
  flops += 2 * v * C * 9 * H * H;
  const r = t([1, v, H, H]);
  kernels.push({ op: 'Elementwise', name: `relu${i}`, inputs: [c], outputs: [r], attrs: { expr: ['max', ['in', 0], ['const', 0]], dtype: 'float32' }, free: [c] });
  cur = r; C = v;
}
const flat = t([1, 25088]);
kernels.push({ op: 'Reshape', name: 'flatten', inputs: [cur], outputs: [flat], free: [cur] });
cur = flat;
let K = 25088;
for (const [j, N] of [4096, 4096, 1000].entries()) {
  constants[`fw${j}`] = { shape: [K, N], dtype: 'float32', encoding: 'fill', value: 0.0001 };
  constants[`fb${j}`] = { shape: [N], dtype: 'float32', encoding: 'fill', value: 0.01 };
  const m = t([1, N]);
  kernels.push({ op: 'MatMul', name: `fc${j}`, inputs: [cur, `fw${j}`], outputs: [m], free: [cur] });
  const a = j < 2 ? t([1, N]) : 'logits';
  if (j === 2) tensors.logits = { shape: [1, N], dtype: 'float32' };
  kernels.push({ op: 'Elementwise', name: `fcb${j}`, inputs: [m, `fb${j}`], outputs: [a], attrs: { expr: j < 2 ? ['max', ['add', ['in', 0], ['in', 1]], ['const', 0]] : ['add', ['in', 0], ['in', 1]], dtype: 'float32' }, free: [m] });
  flops += 2 * K * N;
  cur = a; K = N;
}
kernels.push({ op: 'Softmax', name: 'softmax', inputs: ['logits'], outputs: ['prob'], attrs: { axis: 1, log: 0 }, free: ['logits'] });

const dir = writeDescriptor({
  inputs: [{ name: 'x', shape: [1, 3, 224, 224], dtype: 'float32' }],
  outputs: [{ name: 'prob', shape: [1, 1000], dtype: 'float32' }],
  tensors, constants, kernels,
});
let t0 = performance.now();
const runner = await WebDNN.load(dir);
console.log(`load ${(performance.now() - t0).toFixed(0)} ms`);
const x = new Float32Array(3 * 224 * 224).map((_, k) => (k % 255) / 255);
for (let r = 0; r < 2; r++) {
  t0 = performance.now();
  const { prob } = await runner.run({ x });
  const ms = performance.now() - t0;
  console.log(`run ${r}: ${(ms / 1000).toFixed(2)} s, ${(flops / 1e9).toFixed(1)} GFLOP, ${(flops / ms / 1e6).toFixed(2)} GFLOP/s, sum(prob) ${prob.reduce((a, b) => a + b, 0).toFixed(4)}`);
}
