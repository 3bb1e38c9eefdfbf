// Times single-kernel models through the js backend: median of repeated runs after warm-up.
//   node bench/conv_bench.mjs        (after npm run build)
import { writeDescriptor, randomArray, WebDNN } from '../testlib/descriptor.mjs';

const cases = [
  // name, X shape, W shape, attrs
  ['conv3x3 64->64 56x56', [1, 64, 56, 56], [64, 64, 3, 3], { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 }],
  ['conv1x1 256->64 56x56', [1, 256, 56, 56], [64, 256, 1, 1], { strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 }],
  ['conv3x3 512->512 14x14', [1, 512, 14, 14], [512, 512, 3, 3], { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 }],
  ['conv7x7/2 3->64 224x224', [1, 3, 224, 224], [64, 3, 7, 7], { strides: [2, 2], pads: [3, 3, 3, 3], dilations: [1, 1], group: 1 }],
  ['depthwise3x3 256 28x28', [1, 256, 28, 28], [256, 1, 3, 3], { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 256 }],
];

function outShape(x, w, a) {
  const oh = Math.floor((x[2] + a.pads[0] + a.pads[2] - a.dilations[0] * (w[2] - 1) - 1) / a.strides[0]) + 1;
  const ow = Math.floor((x[3] + a.pads[1] + a.pads[3] - a.dilations[1] * (w[3] - 1) - 1) / a.strides[1]) + 1;
  return [x[0], w[0], oh, ow];
}

const n = (s) => s.reduce((a, b) => a * b, 1);

for (const [name, xs, ws, attrs] of cases) {
  const ys = outShape(xs, ws, attrs);
  const dir = writeDescriptor({
    inputs: [{ name: 'x', shape: xs, dtype: 'float32' }],
    outputs: [{ name: 'y', shape: ys, dtype: 'float32' }],
    constants: {
      w: { shape: ws, dtype: 'float32', data: randomArray(n(ws), 2) },
      b: { shape: [ws[0]], dtype: 'float32', data: randomArray(ws[0], 3) },
    },
    kernels: [{ op: 'Conv', name: 'conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs, free: [] }],
  });
  const runner = await WebDNN.load(dir);
  const x = randomArray(n(xs), 1);
  for (let i = 0; i < 2; i++) await runner.run({ x });
  const times = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    await runner.run({ x });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const ms = times[3];
  const flops = 2 * n(ys) * (ws[1] * ws[2] * ws[3]);
  console.log(`${name.padEnd(26)} ${ms.toFixed(1).padStart(8)} ms  ${(flops / ms / 1e6).toFixed(2).padStart(6)} GFLOP/s`);
}
