// Descriptor files. Every file name model.json or a graph file gives is resolved here, as a plain
// file name inside the descriptor directory; every file but model.json is read through
// DescriptorFiles, which checks its size and CRC-32 against model.json before a byte is used.

import type { FileEntry, ModelDescriptor } from './types.js';
import { WebDNNError } from './errors.js';
import { crc32Hex } from './crc32.js';
import type { BytesCallback } from './io.js';
import { FileTooLargeError, joinPath, readBytes } from './io.js';

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
 * from `weights` (in `weightDir`, LoadOptions.weightDirectory, which defaults to the descriptor
 * directory). model.json must have passed validateModel (its entries are well formed).
 */
export class DescriptorFiles {
  private readonly listed = new Map<string, FileEntry>();
  private readonly chunks = new Map<number, Promise<Uint8Array>>();

  constructor(private readonly model: ModelDescriptor, private readonly dir: string, private readonly weightDir: string) {
    for (const e of model.files) this.listed.set(e.file, e);
  }

  /** A file listed in model.json "files" (a graph file, the wasm module); `field` says where its name came from. */
  async readFile(name: unknown, field: string): Promise<Uint8Array> {
    const file = checkFileName(name, field);
    const entry = this.listed.get(file);
    if (!entry) throw new WebDNNError(`${field}: '${file}' is not listed in model.json 'files' (no checksum)`);
    return read(joinPath(this.dir, file), entry);
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
    const p = read(joinPath(this.weightDir, checkFileName(entry.file, `weights[${index}].file`)), entry, onBytes);
    this.chunks.set(index, p);
    // a failed read is not cached: the next backend tries again
    p.catch(() => this.chunks.delete(index));
    return p;
  }
}

async function read(location: string, entry: FileEntry, onBytes?: BytesCallback): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(location, onBytes, entry.bytes);
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
