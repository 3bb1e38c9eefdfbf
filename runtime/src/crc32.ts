// IEEE CRC-32 (the polynomial zlib.crc32 uses), table driven.

// Slicing by 8: eight 256-entry tables let the loop consume 8 bytes per step (weights are often
// 100 MB; a byte-at-a-time loop costs a visible part of the load time).
let tables: Uint32Array | null = null;

function makeTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
}

/** CRC-32 of `data`; pass a previous result as `crc` to continue over several pieces. */
export function crc32(data: Uint8Array, crc = 0): number {
  const t = tables ?? (tables = makeTables());
  let c = (crc ^ 0xffffffff) >>> 0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const lo = c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    c =
      t[1792 + (lo & 0xff)] ^ t[1536 + ((lo >>> 8) & 0xff)] ^ t[1280 + ((lo >>> 16) & 0xff)] ^ t[1024 + (lo >>> 24)] ^
      t[768 + data[i + 4]] ^ t[512 + data[i + 5]] ^ t[256 + data[i + 6]] ^ t[data[i + 7]];
  }
  for (; i < n; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** 8 lowercase hex digits, the form model.json uses. */
export function crc32Hex(data: Uint8Array): string {
  return crc32(data).toString(16).padStart(8, '0');
}
