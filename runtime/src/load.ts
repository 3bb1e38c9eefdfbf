// WebDNN.load(): reads model.json, picks the first usable backend in `backendOrder`, downloads its
// graph and weight chunks (checking each chunk's size and CRC-32) and returns a Runner.

import type { BackendEntry, GraphDescriptor, ModelDescriptor } from './types.js';
import { DTYPES } from './types.js';
import { getBackendFactory, implementedBackends, KNOWN_BACKENDS } from './backends/backend.js';
import { crc32 } from './crc32.js';
import { joinPath, readBytes, readText } from './io.js';
import { parseJSON } from './json.js';
import { Runner } from './runner.js';
import { HostSteps } from './host.js';

/** The order WebDNN.load tries backends in when the caller names none. */
export const DEFAULT_BACKEND_ORDER: readonly string[] = ['webgpu', 'wasm', 'js'];

/** The descriptor format version this runtime reads. */
export const DESCRIPTOR_VERSION = 1;

export interface LoadOptions {
  /**
   * Backends to try, in order. Default: DEFAULT_BACKEND_ORDER, where webgpu is skipped on a software
   * adapter (SwiftShader, llvmpipe/lavapipe, a fallback adapter): the wasm backend is faster there.
   * Named explicitly, webgpu takes any adapter (backendOptions.webgpu.allowSoftwareAdapter says otherwise).
   */
  backendOrder?: string[] | string;
  /** Called as weight bytes arrive: (bytes loaded so far, total bytes of the chosen backend's chunks). */
  progressCallback?: (loaded: number, total: number) => void;
  /** Where the weight chunks are (URL or path); default: the descriptor directory. */
  weightDirectory?: string;
  /** Options for one backend, by name, e.g. {wasm: {threads: 1}}. */
  backendOptions?: { [backend: string]: { [key: string]: unknown } };
}

function fail(what: string): never {
  throw new Error(`invalid model.json: ${what}`);
}

function validateModel(m: unknown): ModelDescriptor {
  if (!m || typeof m !== 'object' || Array.isArray(m)) fail('expected a JSON object');
  const d = m as ModelDescriptor;
  if (d.format !== 'webdnn-descriptor') {
    fail(`"format" is ${JSON.stringify(d.format)}, expected "webdnn-descriptor" (is this a webdnn descriptor directory?)`);
  }
  if (d.version !== DESCRIPTOR_VERSION) {
    throw new Error(
      `descriptor version ${JSON.stringify(d.version)} is not supported: this runtime reads version ${DESCRIPTOR_VERSION}` +
        (typeof d.version === 'number' && d.version > DESCRIPTOR_VERSION ? ' (update the runtime, or convert with a matching webdnn)' : ''),
    );
  }
  for (const key of ['inputs', 'outputs'] as const) {
    if (!Array.isArray(d[key])) fail(`"${key}" must be a list`);
    for (const t of d[key]) {
      if (!t || typeof t.name !== 'string' || !Array.isArray(t.shape) || !DTYPES.includes(t.dtype)) {
        fail(`each entry of "${key}" needs a name, a shape and a dtype (${DTYPES.join(', ')}); got ${JSON.stringify(t)}`);
      }
    }
  }
  if (!d.backends || typeof d.backends !== 'object') fail('"backends" must be an object');
  if (!Array.isArray(d.weights)) fail('"weights" must be a list');
  return d;
}

function validateGraph(g: unknown, file: string, backend: string): GraphDescriptor {
  const d = g as GraphDescriptor;
  if (!d || typeof d !== 'object' || d.format !== 'webdnn-graph') {
    throw new Error(`${file}: "format" is ${JSON.stringify(d && d.format)}, expected "webdnn-graph"`);
  }
  if (d.version !== DESCRIPTOR_VERSION) {
    throw new Error(`${file}: graph version ${JSON.stringify(d.version)} is not supported: this runtime reads version ${DESCRIPTOR_VERSION}`);
  }
  if (d.backend !== undefined && d.backend !== backend) {
    throw new Error(`${file}: written for backend '${d.backend}', not '${backend}'`);
  }
  if (!Array.isArray(d.inputs) || !Array.isArray(d.outputs)) throw new Error(`${file}: "inputs" and "outputs" must be lists`);
  return d;
}

/** The graph must consume exactly the model's inputs and produce all of its outputs but those the host steps write. */
function checkGraphMatchesModel(model: ModelDescriptor, graph: GraphDescriptor, file: string, host: HostSteps | null): void {
  const names = (l: { name: string }[]) => l.map((t) => t.name);
  const modelIn = names(model.inputs);
  const missing = modelIn.filter((n) => !graph.inputs.includes(n));
  const extra = graph.inputs.filter((n) => !modelIn.includes(n));
  const noOut = names(model.outputs).filter((n) => !host?.outputs.has(n) && !graph.outputs.includes(n));
  if (missing.length || extra.length || noOut.length) {
    throw new Error(
      `${file} does not match model.json: graph inputs [${graph.inputs.join(', ')}], model inputs [${modelIn.join(', ')}], ` +
        `graph outputs [${graph.outputs.join(', ')}], model outputs [${names(model.outputs).join(', ')}]`,
    );
  }
}

/** Reads every chunk a backend names, verifies it and concatenates them. */
async function loadWeights(
  model: ModelDescriptor,
  entry: BackendEntry,
  weightDir: string,
  cache: Map<number, Promise<Uint8Array>>,
  progress?: (loaded: number, total: number) => void,
): Promise<Uint8Array> {
  const indices = entry.weights ?? [];
  if (!Array.isArray(indices)) throw new Error('"weights" of the backend entry must be a list of indices');
  const chunks = indices.map((i) => {
    const c = model.weights[i];
    if (!c) throw new Error(`weight chunk index ${i} is not in model.json "weights" (which has ${model.weights.length})`);
    return c;
  });
  const total = chunks.reduce((s, c) => s + c.bytes, 0);
  let loaded = 0;
  const report = (delta: number) => {
    loaded += delta;
    if (progress) progress(Math.min(loaded, total), total);
  };
  if (progress) progress(0, total);
  const datas = await Promise.all(
    indices.map((i, t) => {
      const c = chunks[t];
      let p = cache.get(i);
      if (!p) {
        p = readBytes(joinPath(weightDir, c.file), report).then((bytes) => {
          verifyChunk(c.file, bytes, c.bytes, c.crc32);
          return bytes;
        });
        cache.set(i, p);
      } else {
        p = p.then((b) => {
          report(b.byteLength);
          return b;
        });
      }
      return p;
    }),
  );
  if (datas.length === 1) return datas[0];
  const all = new Uint8Array(total);
  let off = 0;
  for (const d of datas) {
    all.set(d, off);
    off += d.byteLength;
  }
  return all;
}

function verifyChunk(file: string, bytes: Uint8Array, expectedBytes: number, expectedCrc: string): void {
  if (bytes.byteLength !== expectedBytes) {
    throw new Error(`${file}: expected ${expectedBytes} bytes, got ${bytes.byteLength} (truncated or corrupted download)`);
  }
  if (typeof expectedCrc === 'string' && expectedCrc !== '') {
    const actual = crc32(bytes).toString(16).padStart(8, '0');
    if (actual !== expectedCrc.toLowerCase()) {
      throw new Error(`${file}: CRC-32 mismatch: expected ${expectedCrc.toLowerCase()}, got ${actual} (corrupted download or stale file)`);
    }
  }
}

/**
 * Loads a descriptor directory (URL, or in Node a filesystem path or file: URL) and returns a
 * runner on the first backend of `backendOrder` that the descriptor has and this environment can use.
 */
export async function load(url: string, options: LoadOptions = {}): Promise<Runner> {
  const byDefault = options.backendOrder === undefined;
  const order = typeof options.backendOrder === 'string' ? [options.backendOrder] : options.backendOrder ?? [...DEFAULT_BACKEND_ORDER];
  if (!Array.isArray(order) || order.length === 0) throw new Error('WebDNN.load: backendOrder must name at least one backend');
  const modelFile = joinPath(url, 'model.json');
  const model = validateModel(parseJSON(await readText(modelFile), modelFile));
  const weightDir = options.weightDirectory ?? url;
  // checked (an unknown host op fails here, once, for every backend) and shared by the runner
  const host = model.host !== undefined ? new HostSteps(model.host) : null;

  const present = Object.keys(model.backends);
  const tried: string[] = [];
  const cache = new Map<number, Promise<Uint8Array>>();
  for (const name of new Set(order)) {
    const factory = getBackendFactory(name);
    if (!factory) {
      tried.push(
        KNOWN_BACKENDS.includes(name)
          ? `${name}: not available in this build of the runtime (it has: ${implementedBackends().join(', ')})`
          : `${name}: unknown backend (known: ${KNOWN_BACKENDS.join(', ')})`,
      );
      continue;
    }
    const why = factory.unavailableReason();
    if (why) {
      tried.push(`${name}: not available in this environment: ${why}`);
      continue;
    }
    const entry = model.backends[name];
    if (!entry) {
      tried.push(`${name}: not in the descriptor (it has: ${present.join(', ') || 'none'})`);
      continue;
    }
    const backendOptions = { ...(byDefault && name === 'webgpu' ? { allowSoftwareAdapter: false } : {}), ...options.backendOptions?.[name] };
    try {
      const refused = factory.probe ? await factory.probe(backendOptions) : null;
      if (refused) {
        tried.push(`${name}: ${refused}`);
        continue;
      }
      const graphFile = joinPath(url, entry.graph);
      const graph = validateGraph(parseJSON(await readText(graphFile), entry.graph), entry.graph, name);
      checkGraphMatchesModel(model, graph, entry.graph, host);
      const weights = await loadWeights(model, entry, weightDir, cache, options.progressCallback);
      const instance = await factory.create({ model, graph, weights, baseUrl: url, options: backendOptions });
      return new Runner(model, instance, host);
    } catch (e) {
      tried.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new Error(
    `WebDNN.load('${url}'): no backend could be loaded (backendOrder: ${order.join(', ')}):\n` +
      tried.map((t) => `  - ${t}`).join('\n'),
  );
}
