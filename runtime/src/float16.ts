// IEEE half floats: decoding stored f16 weights, encoding f16 GPU buffers, rounding float16 results.

let halfTable: Float32Array | null = null;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 5.960464477539063e-8; // 2^-24
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Decodes IEEE half floats (little-endian) into a Float32Array. */
export function decodeF16(bytes: Uint8Array, count: number): Float32Array {
  const t = halfTable ?? (halfTable = buildHalfTable());
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = t[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}

function buildHalfTable(): Float32Array {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = halfToFloat(h);
  return t;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bits of the half float nearest to x (round half to even). */
export function floatToHalfBits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is still right
  return sign | h;
}

/** x rounded to float16 precision, as a number. */
export function roundToHalf(x: number): number {
  const t = halfTable ?? (halfTable = buildHalfTable());
  return t[floatToHalfBits(x)];
}
