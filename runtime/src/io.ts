// Reading descriptor files: `fetch` for URLs, `fs/promises` for filesystem paths and file: URLs in Node.
// Names inside a descriptor are checked before they get here (files.ts); this only reads.

import { WebDNNError } from './errors.js';

/** Called with the number of bytes that arrived since the previous call. */
export type BytesCallback = (delta: number) => void;

/** How http(s) URLs are fetched: LoadOptions.fetch and LoadOptions.requestInit. */
export interface NetOptions {
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
  requestInit?: RequestInit;
}

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

/** A file holds more bytes than the caller allows (`size`: how many, when known). */
export class FileTooLargeError extends WebDNNError {
  constructor(readonly location: string, readonly limit: number, readonly size: number | null) {
    super(`${location}: more than ${limit} bytes${size !== null ? ` (${size})` : ''}`);
  }
}

/**
 * Reads a whole file as bytes, reporting progress as bytes arrive. With `maxBytes`, a larger file
 * fails with FileTooLargeError before (in Node) or while (fetch) it is read. In Node only regular
 * files are read (not a device or a pipe that never ends).
 */
export async function readBytes(location: string, onBytes?: BytesCallback, maxBytes?: number, net: NetOptions = {}): Promise<Uint8Array> {
  if (isNode() && !isHttpUrl(location)) {
    let path = location;
    const fs = await import('node:fs/promises');
    let buf: Uint8Array;
    try {
      if (isFileUrl(location)) path = fileUrlToPath(location);
      const st = await fs.stat(path);
      if (!st.isFile()) throw new WebDNNError(`cannot read ${path}: not a regular file`);
      if (maxBytes !== undefined && st.size > maxBytes) throw new FileTooLargeError(path, maxBytes, st.size);
      buf = await fs.readFile(path);
    } catch (e) {
      if (e instanceof WebDNNError) throw e;
      throw new WebDNNError(`cannot read ${path}: ${(e as Error).message}`);
    }
    if (maxBytes !== undefined && buf.byteLength > maxBytes) throw new FileTooLargeError(path, maxBytes, buf.byteLength);
    // A fresh copy: Node's Buffers may be views into a shared pool.
    const bytes = new Uint8Array(buf.byteLength);
    bytes.set(buf);
    if (onBytes) onBytes(bytes.byteLength);
    return bytes;
  }
  return fetchBytes(location, onBytes, maxBytes, net);
}

async function fetchBytes(url: string, onBytes: BytesCallback | undefined, maxBytes: number | undefined, net: NetOptions): Promise<Uint8Array> {
  const get = net.fetch ?? (typeof fetch === 'function' ? fetch : undefined);
  if (!get) throw new WebDNNError(`cannot fetch ${url}: fetch() is not available here`);
  let res: Response;
  try {
    res = await get(url, net.requestInit);
  } catch (e) {
    throw new WebDNNError(`cannot fetch ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new WebDNNError(`cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`.trimEnd());
  const tooLarge = (size: number | null): never => {
    if (res.body && typeof res.body.cancel === 'function') res.body.cancel().catch(() => undefined);
    throw new FileTooLargeError(url, maxBytes!, size);
  };
  const declared = Number(res.headers?.get?.('content-length') ?? NaN);
  // Content-Length counts encoded bytes: only an identity response can be refused before reading
  const encoded = !!res.headers?.get?.('content-encoding');
  if (maxBytes !== undefined && !encoded && Number.isSafeInteger(declared) && declared > maxBytes) tooLarge(declared);
  if (!res.body || typeof res.body.getReader !== 'function') {
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (maxBytes !== undefined && bytes.byteLength > maxBytes) tooLarge(bytes.byteLength);
    if (onBytes) onBytes(bytes.byteLength);
    return bytes;
  }
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      throw new WebDNNError(`cannot fetch ${url}: ${(e as Error).message}`);
    }
    const { done, value } = chunk;
    if (done) break;
    if (value && value.byteLength > 0) {
      total += value.byteLength;
      if (maxBytes !== undefined && total > maxBytes) {
        reader.cancel().catch(() => undefined);
        throw new FileTooLargeError(url, maxBytes, null);
      }
      parts.push(value);
      if (onBytes) onBytes(value.byteLength);
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
