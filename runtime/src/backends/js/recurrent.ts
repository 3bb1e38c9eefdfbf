// Recurrent (docs/descriptor.md): a simple RNN, LSTM or GRU run over the whole sequence from its
// input projections P [N, T, G·U], recurrent matrix R [U, G·U] (gates side by side) and optional
// GRU recurrent bias and initial states. Outputs Y [N, T, U], the last h [N, U] (and c for an LSTM).

import type { KernelFn, KernelFactory } from './util.js';
import { attr, expectArity, intAttr, kernelError } from './util.js';
import { shapeString } from '../../types.js';

const GATES: { [kind: string]: number } = { RNN: 1, LSTM: 4, GRU: 3 };

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

const recurrent: KernelFactory = (k, ctx): KernelFn => {
  expectArity(k, [2, 5], -1);
  const kind = attr<string>(k, 'kind');
  const G = GATES[kind];
  if (G === undefined) throw kernelError(k, `kind ${JSON.stringify(kind)} is not RNN, LSTM or GRU`);
  const reverse = intAttr(k, 'reverse', 0) !== 0;
  const [N, T, GU] = ctx.info(k.inputs[0]).shape;
  const [U, RC] = ctx.info(k.inputs[1]).shape;
  if (GU !== G * U || RC !== G * U || k.outputs.length !== (kind === 'LSTM' ? 3 : 2)) {
    throw kernelError(k, `P ${shapeString(ctx.info(k.inputs[0]).shape)} and R ${shapeString([U, RC])} do not fit ${kind}`);
  }
  return (inputs) => {
    const p = inputs[0] as Float32Array;
    const r = inputs[1] as Float32Array;
    const rb = (inputs[2] ?? null) as Float32Array | null;
    const h0 = (inputs[3] ?? null) as Float32Array | null;
    const c0 = (inputs[4] ?? null) as Float32Array | null;
    const y = new Float32Array(N * T * U);
    const h = h0 ? Float32Array.from(h0) : new Float32Array(N * U);
    const c = c0 ? Float32Array.from(c0) : new Float32Array(N * U);
    const z = new Float64Array(GU);
    for (let s = 0; s < T; s++) {
      const t = reverse ? T - 1 - s : s;
      for (let n = 0; n < N; n++) {
        // z = h·R (+ rb): the recurrent part of every gate
        z.fill(0);
        for (let q = 0; q < U; q++) {
          const hq = h[n * U + q];
          if (hq === 0) continue;
          const row = q * GU;
          for (let j = 0; j < GU; j++) z[j] += hq * r[row + j];
        }
        if (rb) for (let j = 0; j < GU; j++) z[j] += rb[j];
        const x = (n * T + t) * GU;
        for (let j = 0; j < U; j++) {
          let hn: number;
          if (kind === 'RNN') {
            hn = Math.tanh(p[x + j] + z[j]);
          } else if (kind === 'LSTM') {
            const i = sigmoid(p[x + j] + z[j]);
            const f = sigmoid(p[x + U + j] + z[U + j]);
            const g = Math.tanh(p[x + 2 * U + j] + z[2 * U + j]);
            const o = sigmoid(p[x + 3 * U + j] + z[3 * U + j]);
            const cn = f * c[n * U + j] + i * g;
            c[n * U + j] = cn;
            hn = o * Math.tanh(cn);
          } else {
            const zg = sigmoid(p[x + j] + z[j]);
            const rg = sigmoid(p[x + U + j] + z[U + j]);
            const cand = Math.tanh(p[x + 2 * U + j] + rg * z[2 * U + j]);
            hn = (1 - zg) * cand + zg * h[n * U + j];
          }
          y[(n * T + t) * U + j] = hn;
        }
        // h for the next step: this step's outputs (every unit read the old h above)
        for (let j = 0; j < U; j++) h[n * U + j] = y[(n * T + t) * U + j];
      }
    }
    return kind === 'LSTM' ? [y, h, c] : [y, h];
  };
};

export const kernels = { Recurrent: recurrent };
