// WebDNN.load(): reads and checks model.json (validate.ts), picks the first usable backend in
// `backendOrder`, reads its graph and weight chunks through the verified reader (files.ts: plain
// names inside the directory, size and CRC-32 of every file) and returns a Runner.

import type { BackendEntry, ModelDescriptor } from './types.js';
import { own } from './types.js';
import { getBackendFactory, implementedBackends } from './backends/backend.js';
import { WebDNNError } from './errors.js';
import { BytesSource, DescriptorFiles, DirectorySource } from './files.js';
import type { FileBytes, FileEvent, FileSource } from './files.js';
import type { NetOptions } from './io.js';
import { DEFAULT_CACHE_NAME, openCache } from './cache.js';
import { parseJSON } from './json.js';
import { Runner } from './runner.js';
import { checkGraphMatchesModel, DESCRIPTOR_VERSION, validateGraph, validateModel } from './validate.js';

export { DESCRIPTOR_VERSION };

/** The order WebDNN.load tries backends in when the caller names none. */
export const DEFAULT_BACKEND_ORDER: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'js'];

/** The backend names backendOrder takes. */
export type BackendName = 'webgpu' | 'webgl' | 'wasm' | 'js';

export interface LoadOptions {
  /**
   * Backends to try, in order. Default: DEFAULT_BACKEND_ORDER, where webgpu and webgl are skipped on a
   * software adapter or renderer (SwiftShader, llvmpipe/lavapipe, a fallback adapter): the wasm backend
   * is faster there. Named explicitly, they take any (backendOptions.webgpu.allowSoftwareAdapter /
   * backendOptions.webgl.allowSoftwareRenderer say otherwise).
   * A name this runtime has no backend for is skipped; if nothing loads, the error lists it with the rest.
   */
  backendOrder?: BackendName[] | BackendName;
  /** Called as weight bytes arrive: (bytes loaded so far, total bytes of the chosen backend's chunks). */
  progressCallback?: (loaded: number, total: number) => void;
  /** Where the weight chunks are (URL or path); default: where the descriptor is. */
  weightDirectory?: string;
  /** The fetch function for http(s) URLs (default: the global fetch), e.g. one that adds authentication. */
  fetch?: NetOptions['fetch'];
  /** Passed to every fetch: headers, credentials, mode, an AbortSignal, ... */
  requestInit?: RequestInit;
  /**
   * Keep the weight and kernel files in the browser (Cache Storage, or IndexedDB where that is
   * missing), keyed by URL and checked against model.json's checksums: a reload downloads model.json
   * and only the files that changed. true: the cache 'webdnn'; a string: a cache of that name.
   * WebDNN.clearCache(name) empties it. Nothing is cached where neither store exists (Node).
   */
  cache?: boolean | string;
  /** Called once per file when it is ready (verified), with its size and whether it came from the cache. */
  fileCallback?: (event: FileEvent) => void;
  /** Options for one backend, by name, e.g. {wasm: {threads: 1}}. */
  backendOptions?: { [backend in BackendName]?: { [key: string]: unknown } };
}

/** Reads every chunk a backend names (each verified by `files`) and concatenates them. */
async function loadWeights(
  model: ModelDescriptor,
  entry: BackendEntry,
  files: DescriptorFiles,
  progress?: (loaded: number, total: number) => void,
): Promise<Uint8Array> {
  const indices = entry.weights ?? [];
  const total = indices.reduce((s, i) => s + model.weights[i].bytes, 0);
  let loaded = 0;
  const report = (delta: number) => {
    loaded += delta;
    if (progress) progress(Math.min(loaded, total), total);
  };
  if (progress) progress(0, total);
  const datas = await Promise.all(indices.map((i) => files.readChunk(i, report)));
  if (datas.length === 1) return datas[0];
  const all = new Uint8Array(total);
  let off = 0;
  for (const d of datas) {
    all.set(d, off);
    off += d.byteLength;
  }
  return all;
}

/** model.json: read (never from the cache: it holds the checksums) and checked, with its host steps. */
async function readModel(source: FileSource) {
  const text = new TextDecoder('utf-8').decode(await source.read('model.json'));
  return validateModel(parseJSON(text, source instanceof DirectorySource ? `${source.label.replace(/\/+$/, '')}/model.json` : 'model.json'));
}

/** A descriptor as load() takes it: its directory (URL or path), or its files as bytes by name. */
export type DescriptorSource = string | { [file: string]: FileBytes };

/**
 * Loads a descriptor and returns a runner on the first backend of `backendOrder` that the
 * descriptor has and this environment can use. `source`: the descriptor directory (URL, or in Node a
 * filesystem path or file: URL), or its files as bytes ({'model.json': …, 'weights_0.bin': …}).
 * Rejects with a WebDNNError: a damaged or inconsistent descriptor, or no usable backend.
 */
export async function load(source: DescriptorSource, options: LoadOptions = {}): Promise<Runner> {
  const isFiles = !!source && typeof source === 'object' && !Array.isArray(source);
  if (typeof source !== 'string' && !isFiles) {
    throw new WebDNNError(`WebDNN.load: expected the descriptor directory (URL or path) or its files by name, got ${source === null ? 'null' : typeof source}`);
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') throw new WebDNNError('WebDNN.load: fetch must be a function');
  if (options.cache !== undefined && typeof options.cache !== 'boolean' && (typeof options.cache !== 'string' || !options.cache)) {
    throw new WebDNNError('WebDNN.load: cache must be true, false or a cache name');
  }
  const net: NetOptions = { fetch: options.fetch, requestInit: options.requestInit };
  const files0: FileSource = typeof source === 'string' ? new DirectorySource(source, net) : new BytesSource(source as { [f: string]: FileBytes });
  const url = files0.label;
  const byDefault = options.backendOrder === undefined;
  const order: string[] = typeof options.backendOrder === 'string' ? [options.backendOrder] : options.backendOrder ?? [...DEFAULT_BACKEND_ORDER];
  if (!Array.isArray(order) || order.length === 0 || !order.every((b) => typeof b === 'string')) {
    throw new WebDNNError('WebDNN.load: backendOrder must name at least one backend');
  }
  if (options.weightDirectory !== undefined && typeof options.weightDirectory !== 'string') {
    throw new WebDNNError('WebDNN.load: weightDirectory must be a string (URL or path)');
  }
  // checked whole (file names of every backend; an unknown host op fails here, once, for every backend)
  const { model, host } = await readModel(files0);
  const weightSource = options.weightDirectory !== undefined ? new DirectorySource(options.weightDirectory, net) : files0;
  const cache = options.cache ? await openCache(options.cache === true ? DEFAULT_CACHE_NAME : options.cache) : null;
  const files = new DescriptorFiles(model, files0, weightSource, cache, options.fileCallback);

  const present = Object.keys(model.backends);
  const tried: string[] = [];
  for (const name of new Set(order)) {
    const factory = getBackendFactory(name);
    if (!factory) {
      // skipped, not refused: an order that also names other backends (e.g. the seed's 'webgl') still loads
      tried.push(`${name}: unknown backend (this runtime has: ${implementedBackends().join(', ')})`);
      continue;
    }
    const why = factory.unavailableReason();
    if (why) {
      tried.push(`${name}: not available in this environment: ${why}`);
      continue;
    }
    const entry = own(model.backends, name);
    if (!entry) {
      tried.push(`${name}: not in the descriptor (it has: ${present.join(', ') || 'none'})`);
      continue;
    }
    const backendOptions = {
      ...(byDefault && name === 'webgpu' ? { allowSoftwareAdapter: false } : {}),
      ...(byDefault && name === 'webgl' ? { allowSoftwareRenderer: false } : {}),
      ...options.backendOptions?.[name as BackendName],
    };
    try {
      const refused = factory.probe ? await factory.probe(backendOptions) : null;
      if (refused) {
        tried.push(`${name}: ${refused}`);
        continue;
      }
      const graphField = `backends.${name}.graph`;
      // verified before it is parsed: a damaged or foreign file never reaches the parser
      const graphBytes = await files.readFile(entry.graph, graphField);
      const graph = validateGraph(parseJSON(new TextDecoder('utf-8').decode(graphBytes), entry.graph), entry.graph, name);
      checkGraphMatchesModel(model, graph, entry.graph, host);
      const weights = await loadWeights(model, entry, files, options.progressCallback);
      const instance = await factory.create({
        model,
        graph,
        graphFile: entry.graph,
        weights,
        readFile: (file: string, field = `${entry.graph}: a file name`) => files.readFile(file, field),
        options: backendOptions,
      });
      try {
        return new Runner(model, instance, host);
      } catch (e) {
        instance.dispose?.();
        throw e;
      }
    } catch (e) {
      // a reason of several lines stays under its backend's entry
      tried.push(`${name}: ${String((e as Error)?.message ?? e).replace(/\n/g, '\n    ')}`);
    }
  }
  throw new WebDNNError(
    `WebDNN.load('${url}'): no backend could be loaded (backendOrder: ${order.join(', ')}):\n` +
      tried.map((t) => `  - ${t}`).join('\n'),
  );
}
