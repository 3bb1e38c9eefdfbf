// Reading descriptor files: `fetch` for URLs, `fs/promises` for filesystem paths and file: URLs in Node.

/** Called with the number of bytes that arrived since the previous call. */
export type BytesCallback = (delta: number) => void;

interface NodeProcess {
  versions?: { node?: string };
  platform?: string;
}

export function isNode(): boolean {
  const p = (globalThis as { process?: NodeProcess }).process;
  return !!(p && p.versions && p.versions.node);
}

function isHttpUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

function isFileUrl(s: string): boolean {
  return /^file:/i.test(s);
}

/** Joins a directory (URL or path) and a file name with exactly one '/'. */
export function joinPath(dir: string, name: string): string {
  if (dir === '') return name;
  return (dir.endsWith('/') ? dir : dir + '/') + name.replace(/^\/+/, '');
}

function fileUrlToPath(url: string): string {
  const u = new URL(url);
  let p = decodeURIComponent(u.pathname);
  // file:///C:/dir → C:/dir
  if (/^\/[A-Za-z]:/.test(p)) p = p.slice(1);
  if (u.host) p = `//${u.host}${p}`;
  return p;
}

/** Reads a whole file as bytes, reporting progress as bytes arrive. */
export async function readBytes(location: string, onBytes?: BytesCallback): Promise<Uint8Array> {
  if (isNode() && !isHttpUrl(location)) {
    const path = isFileUrl(location) ? fileUrlToPath(location) : location;
    const fs = await import('node:fs/promises');
    let buf: Uint8Array;
    try {
      buf = await fs.readFile(path);
    } catch (e) {
      throw new Error(`cannot read ${path}: ${(e as Error).message}`);
    }
    // A fresh copy: Node's Buffers may be views into a shared pool.
    const bytes = new Uint8Array(buf.byteLength);
    bytes.set(buf);
    if (onBytes) onBytes(bytes.byteLength);
    return bytes;
  }
  return fetchBytes(location, onBytes);
}

async function fetchBytes(url: string, onBytes?: BytesCallback): Promise<Uint8Array> {
  if (typeof fetch !== 'function') throw new Error(`cannot fetch ${url}: fetch() is not available here`);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`cannot fetch ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  if (!onBytes || !res.body || typeof res.body.getReader !== 'function') {
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (onBytes) onBytes(bytes.byteLength);
    return bytes;
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (value && value.byteLength > 0) {
      parts.push(value);
      total += value.byteLength;
      onBytes(value.byteLength);
    }
  }
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.byteLength;
  }
  return bytes;
}

export async function readText(location: string): Promise<string> {
  return new TextDecoder('utf-8').decode(await readBytes(location));
}
