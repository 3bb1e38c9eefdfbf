// Descriptor files. Every file name model.json or a graph file gives is resolved here, as a plain
// file name inside the descriptor directory; every file but model.json is read through
// DescriptorFiles, which checks its size and CRC-32 against model.json before a byte is used.

import type { FileEntry, ModelDescriptor } from './types.js';
import { own } from './types.js';
import { WebDNNError } from './errors.js';
import { crc32Hex } from './crc32.js';
import type { FileCache } from './cache.js';
import type { BytesCallback, NetOptions } from './io.js';
import { FileTooLargeError, isNode, joinPath, readBytes } from './io.js';

/** Where a descriptor's files come from: a directory (URL, or a path in Node) or files given as bytes. */
export interface FileSource {
  /** How messages name the source. */
  readonly label: string;
  /** The key a file is cached under (its absolute URL), or null where files are not cached. */
  key(name: string): string | null;
  /** The file's bytes (at most maxBytes; a larger file fails with FileTooLargeError). */
  read(name: string, onBytes?: BytesCallback, maxBytes?: number): Promise<Uint8Array>;
}

/** Files in a directory: fetched (with LoadOptions.fetch / requestInit), or read from disk in Node. */
export class DirectorySource implements FileSource {
  readonly label: string;

  constructor(private readonly dir: string, private readonly net: NetOptions = {}) {
    this.label = dir;
  }

  key(name: string): string | null {
    const where = joinPath(this.dir, name);
    if (isNode() && !/^https?:/i.test(where)) return null;  // a local file needs no cache
    try {
      return new URL(where, (globalThis as { location?: { href: string } }).location?.href).href;
    } catch {
      return null;
    }
  }

  read(name: string, onBytes?: BytesCallback, maxBytes?: number): Promise<Uint8Array> {
    return readBytes(joinPath(this.dir, name), onBytes, maxBytes, this.net);
  }
}

/** Bytes of a file as load() may be given them. */
export type FileBytes = Uint8Array | ArrayBuffer | ArrayBufferView;

/** Files given to load() as bytes: {'model.json': …, 'graph_wasm.json': …, 'weights_0.bin': …}. */
export class BytesSource implements FileSource {
  readonly label: string;

  constructor(private readonly files: { [name: string]: FileBytes }) {
    this.label = `files {${Object.keys(files).join(', ')}}`;
  }

  key(): null {
    return null;
  }

  async read(name: string, onBytes?: BytesCallback, maxBytes?: number): Promise<Uint8Array> {
    const v = own(this.files, name);
    if (v === undefined) throw new WebDNNError(`cannot read ${name}: it is not among the ${this.label} given to load()`);
    const view = v instanceof ArrayBuffer ? new Uint8Array(v)
      : ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : null;
    if (!view) throw new WebDNNError(`${name}: expected the file's bytes (Uint8Array, ArrayBuffer or a typed array), got ${typeof v}`);
    if (maxBytes !== undefined && view.byteLength > maxBytes) throw new FileTooLargeError(name, maxBytes, view.byteLength);
    if (onBytes) onBytes(view.byteLength);
    return view.slice();  // the caller's bytes stay theirs: a backend may hand its copy to a worker
  }
}

/** LoadOptions.fileCallback's argument: one file is ready. */
export interface FileEvent {
  file: string;
  bytes: number;
  fromCache: boolean;
}

/** A file name inside the descriptor directory: no '/', '\\', ':', '%', no leading '.' or '-'. */
export const FILE_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** `name` (found at `field`, e.g. `weights[0].file`) if it is a plain file name, else a WebDNNError naming both. */
export function checkFileName(name: unknown, field: string): string {
  if (typeof name !== 'string' || !FILE_NAME_PATTERN.test(name)) {
    const shown = typeof name === 'string' ? JSON.stringify(name.length > 200 ? name.slice(0, 200) + '…' : name) : String(name);
    throw new WebDNNError(
      `${field} is ${shown}: a descriptor names its files as plain names inside its directory ` +
        `(letters, digits, '_', '.', '-'; no path, drive or URL)`,
    );
  }
  return name;
}

/** Checks a file's bytes against its "weights"/"files" entry. */
export function verifyFile(entry: FileEntry, bytes: Uint8Array): void {
  if (bytes.byteLength !== entry.bytes) {
    throw new WebDNNError(`${entry.file}: expected ${entry.bytes} bytes, got ${bytes.byteLength} (truncated or corrupted download)`);
  }
  const actual = crc32Hex(bytes);
  const expected = entry.crc32.toLowerCase();
  if (actual !== expected) {
    throw new WebDNNError(`${entry.file}: CRC-32 mismatch: expected ${expected}, got ${actual} (corrupted download or stale file)`);
  }
}

/**
 * The verified reader of one descriptor: graph files and backend files from `files`, weight chunks
 * from `weights` (from `weightSource`: LoadOptions.weightDirectory, by default the descriptor's
 * source), through `cache` when there is one (LoadOptions.cache); `onFile` hears of each file once
 * it is verified. model.json must have passed validateModel (its entries are well formed).
 */
export class DescriptorFiles {
  private readonly listed = new Map<string, FileEntry>();
  private readonly chunks = new Map<number, Promise<Uint8Array>>();

  constructor(
    private readonly model: ModelDescriptor,
    private readonly source: FileSource,
    private readonly weightSource: FileSource = source,
    private readonly cache: FileCache | null = null,
    private readonly onFile?: (e: FileEvent) => void,
  ) {
    for (const e of model.files) this.listed.set(e.file, e);
  }

  /** A file listed in model.json "files" (a graph file, the wasm module); `field` says where its name came from. */
  async readFile(name: unknown, field: string): Promise<Uint8Array> {
    const file = checkFileName(name, field);
    const entry = this.listed.get(file);
    if (!entry) throw new WebDNNError(`${field}: '${file}' is not listed in model.json 'files' (no checksum)`);
    return this.read(this.source, entry);
  }

  /** Weight chunk `index` of model.json "weights"; read once however many backends ask for it. */
  readChunk(index: number, onBytes?: BytesCallback): Promise<Uint8Array> {
    const entry = this.model.weights[index];
    if (!entry) throw new WebDNNError(`weight chunk index ${index} is not in model.json "weights" (which has ${this.model.weights.length})`);
    const cached = this.chunks.get(index);
    if (cached) {
      return cached.then((b) => {
        if (onBytes) onBytes(b.byteLength);
        return b;
      });
    }
    checkFileName(entry.file, `weights[${index}].file`);
    const p = this.read(this.weightSource, entry, onBytes);
    this.chunks.set(index, p);
    // a failed read is not cached: the next backend tries again
    p.catch(() => this.chunks.delete(index));
    return p;
  }

  /** The file from the cache when it holds this version, else from the source (then kept in the cache). */
  private async read(source: FileSource, entry: FileEntry, onBytes?: BytesCallback): Promise<Uint8Array> {
    const key = this.cache ? source.key(entry.file) : null;
    if (key !== null && this.cache) {
      const hit = await this.cache.get(key, entry).catch(() => null);
      if (hit) {
        let ok = true;
        try {
          verifyFile(entry, hit);
        } catch {
          ok = false;  // a damaged entry: download it again
        }
        if (ok) {
          if (onBytes) onBytes(hit.byteLength);
          if (this.onFile) this.onFile({ file: entry.file, bytes: hit.byteLength, fromCache: true });
          return hit;
        }
      }
    }
    const bytes = await read(source, entry, onBytes);
    if (key !== null && this.cache) await this.cache.put(key, entry, bytes).catch(() => undefined);  // full storage: still loads
    if (this.onFile) this.onFile({ file: entry.file, bytes: bytes.byteLength, fromCache: false });
    return bytes;
  }
}

async function read(source: FileSource, entry: FileEntry, onBytes?: BytesCallback): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await source.read(entry.file, onBytes, entry.bytes);
  } catch (e) {
    if (e instanceof FileTooLargeError) {
      throw new WebDNNError(
        `${entry.file}: expected ${entry.bytes} bytes, got ${e.size ?? `more than ${entry.bytes}`} (corrupted download or stale file)`,
      );
    }
    throw e;
  }
  verifyFile(entry, bytes);
  return bytes;
}
