// The weight and kernel file cache of LoadOptions.cache: the browser's Cache Storage, or IndexedDB
// where that is missing (a page that is not a secure context, some WebViews). An entry is keyed by
// the file's URL and stored with its CRC-32 and size; it is used only while they equal what
// model.json says now, so a changed file is downloaded again and replaces its entry. model.json is
// never cached: it carries the checksums. Where neither store exists (Node), nothing is cached.

import type { FileEntry } from './types.js';

/** The cache name LoadOptions.cache: true and clearCache() use. */
export const DEFAULT_CACHE_NAME = 'webdnn';

export interface FileCache {
  /** The bytes stored for `key` if they are the version `entry` describes, else null. */
  get(key: string, entry: FileEntry): Promise<Uint8Array | null>;
  /** Stores `bytes` (already verified against `entry`); copies them before it returns. */
  put(key: string, entry: FileEntry, bytes: Uint8Array): Promise<void>;
}

interface CacheStorageLike {
  open(name: string): Promise<Cache>;
  delete(name: string): Promise<boolean>;
}

const g = globalThis as { caches?: CacheStorageLike; indexedDB?: IDBFactory };

function cacheStorage(): CacheStorageLike | null {
  try {
    return g.caches && typeof g.caches.open === 'function' ? g.caches : null;
  } catch {
    return null; // an opaque origin throws on access
  }
}

function indexedDb(): IDBFactory | null {
  try {
    return g.indexedDB && typeof g.indexedDB.open === 'function' ? g.indexedDB : null;
  } catch {
    return null;
  }
}

const CRC_HEADER = 'x-webdnn-crc32';

class StorageCache implements FileCache {
  constructor(private readonly cache: Cache) {}

  async get(key: string, entry: FileEntry): Promise<Uint8Array | null> {
    const res = await this.cache.match(key);
    if (!res || res.headers.get(CRC_HEADER) !== entry.crc32.toLowerCase()) return null;
    const bytes = new Uint8Array(await res.arrayBuffer());
    return bytes.byteLength === entry.bytes ? bytes : null;
  }

  put(key: string, entry: FileEntry, bytes: Uint8Array): Promise<void> {
    // the Response takes its own copy of the bytes here, before the caller may hand them on
    const res = new Response(bytes as unknown as BodyInit, { headers: { [CRC_HEADER]: entry.crc32.toLowerCase(), 'content-type': 'application/octet-stream' } });
    return this.cache.put(key, res);
  }
}

const STORE = 'files';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function openDb(idb: IDBFactory, name: string): Promise<IDBDatabase> {
  const r = idb.open(`webdnn-cache:${name}`, 1);
  r.onupgradeneeded = () => r.result.createObjectStore(STORE);
  return request(r);
}

class IdbCache implements FileCache {
  constructor(private readonly db: IDBDatabase) {}

  async get(key: string, entry: FileEntry): Promise<Uint8Array | null> {
    const v = (await request(this.db.transaction(STORE, 'readonly').objectStore(STORE).get(key))) as
      | { crc32: string; bytes: Uint8Array }
      | undefined;
    if (!v || v.crc32 !== entry.crc32.toLowerCase() || !(v.bytes instanceof Uint8Array) || v.bytes.byteLength !== entry.bytes) return null;
    return v.bytes;
  }

  put(key: string, entry: FileEntry, bytes: Uint8Array): Promise<void> {
    // put() clones the value at once
    const tx = this.db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put({ crc32: entry.crc32.toLowerCase(), bytes }, key);
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  }
}

/** The cache called `name`, or null where this environment has no place to keep files. */
export async function openCache(name: string): Promise<FileCache | null> {
  const cs = cacheStorage();
  if (cs) {
    try {
      return new StorageCache(await cs.open(name));
    } catch {
      // e.g. storage blocked by the browser's settings: try IndexedDB
    }
  }
  const idb = indexedDb();
  if (idb) {
    try {
      return new IdbCache(await openDb(idb, name));
    } catch {
      return null;
    }
  }
  return null;
}

/** Deletes every file load() kept in the cache `name` (default: the one `cache: true` uses). */
export async function clearCache(name: string = DEFAULT_CACHE_NAME): Promise<void> {
  const cs = cacheStorage();
  if (cs) await cs.delete(name);
  const idb = indexedDb();
  if (idb) {
    await new Promise<void>((resolve, reject) => {
      const r = idb.deleteDatabase(`webdnn-cache:${name}`);
      r.onsuccess = () => resolve();
      r.onerror = () => reject(r.error);
      r.onblocked = () => resolve(); // deleted once the other connections close
    });
  }
}
