// Deliberately naive reference implementations (plain nested loops straight from the formulas in
// docs/descriptor.md) that the kernel tests compare the runtime against.

export function strides(shape) {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Calls f(index array, flat position) for every index of `shape`, in C order. */
export function forEachIndex(shape, f) {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < n; o++) {
    f(idx, o);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
}

/** Flat offset in `shape` of index `idx` (right-aligned), broadcasting size-1 dims. */
export function broadcastOffset(shape, idx) {
  const st = strides(shape);
  const lead = idx.length - shape.length;
  let off = 0;
  for (let k = 0; k < shape.length; k++) off += (shape[k] === 1 ? 0 : idx[lead + k]) * st[k];
  return off;
}

export function conv2d(x, xs, w, ws, b, { strides: [sh, sw], pads: [pt, pl], dilations: [dh, dw], group }, ys) {
  const [N, C, H, W] = xs;
  const [M, Cg, kh, kw] = ws;
  const [, , OH, OW] = ys;
  const Mg = M / group;
  const y = new Float64Array(N * M * OH * OW);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const g = Math.floor(m / Mg);
      for (let oh = 0; oh < OH; oh++)
        for (let ow = 0; ow < OW; ow++) {
          let s = b ? b[m] : 0;
          for (let c = 0; c < Cg; c++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const ih = oh * sh - pt + i * dh;
                const iw = ow * sw - pl + j * dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += x[((n * C + g * Cg + c) * H + ih) * W + iw] * w[((m * Cg + c) * kh + i) * kw + j];
              }
          y[((n * M + m) * OH + oh) * OW + ow] = s;
        }
    }
  return y;
}

export function convTranspose2d(x, xs, w, ws, b, { strides: [sh, sw], pads: [pt, pl], dilations: [dh, dw], group }, ys) {
  const [N, C, H, W] = xs;
  const [, Mg, kh, kw] = ws;
  const [, M, OH, OW] = ys;
  const Cg = C / group;
  const y = new Float64Array(N * M * OH * OW);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++)
      for (let p = 0; p < OH * OW; p++) y[(n * M + m) * OH * OW + p] = b ? b[m] : 0;
  for (let n = 0; n < N; n++)
    for (let g = 0; g < group; g++)
      for (let c = 0; c < Cg; c++)
        for (let ih = 0; ih < H; ih++)
          for (let iw = 0; iw < W; iw++)
            for (let m = 0; m < Mg; m++)
              for (let i = 0; i < kh; i++)
                for (let j = 0; j < kw; j++) {
                  const oh = ih * sh - pt + i * dh;
                  const ow = iw * sw - pl + j * dw;
                  if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
                  y[((n * M + g * Mg + m) * OH + oh) * OW + ow] +=
                    x[((n * C + g * Cg + c) * H + ih) * W + iw] * w[(((g * Cg + c) * Mg + m) * kh + i) * kw + j];
                }
  return y;
}

export function matmul(a, as, b, bs, os) {
  const M = as[as.length - 2], K = as[as.length - 1], N = bs[bs.length - 1];
  const batch = os.slice(0, -2);
  const out = new Float64Array(os.reduce((p, q) => p * q, 1));
  forEachIndex(batch, (bi, t) => {
    const ao = broadcastOffset(as.slice(0, -2), bi) * M * K;
    const bo = broadcastOffset(bs.slice(0, -2), bi) * K * N;
    for (let i = 0; i < M; i++)
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let p = 0; p < K; p++) s += a[ao + i * K + p] * b[bo + p * N + j];
        out[t * M * N + i * N + j] = s;
      }
  });
  return out;
}

export function pool2d(x, xs, { kind, kernel: [kh, kw], strides: [sh, sw], pads: [pt, pl, pb, pr], dilations: [dh, dw], count_include_pad }, ys) {
  const [N, C, H, W] = xs;
  const [, , OH, OW] = ys;
  const y = new Float64Array(N * C * OH * OW);
  for (let nc = 0; nc < N * C; nc++)
    for (let oh = 0; oh < OH; oh++)
      for (let ow = 0; ow < OW; ow++) {
        let acc = kind === 'max' ? -Infinity : 0;
        let inside = 0;
        let padded = 0;
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const ih = oh * sh - pt + i * dh;
            const iw = ow * sw - pl + j * dw;
            if (ih >= -pt && ih < H + pb && iw >= -pl && iw < W + pr) padded++;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            const v = x[(nc * H + ih) * W + iw];
            acc = kind === 'max' ? Math.max(acc, v) : acc + v;
            inside++;
          }
        y[(nc * OH + oh) * OW + ow] = kind === 'max' ? acc : acc / (count_include_pad ? padded : inside);
      }
  return y;
}
