// What load() needs from a backend, and the table of backends this build of the runtime carries.

import type { GraphDescriptor, ModelDescriptor, TypedArray } from '../types.js';
import { JsBackend } from './js/backend.js';
import { webgpuFactory } from './webgpu/backend.js';
import { webglFactory } from './webgl/backend.js';
import { wasmFactory } from './wasm/backend.js';

/** A loaded, ready-to-run graph on one backend. */
export interface BackendInstance {
  readonly name: string;
  /**
   * Runs the graph; `inputs` maps every graph input name to its data. `shapes` (backends whose
   * graph has symbolic sizes) gives the inputs' actual shapes; outputShapes() then the outputs'.
   */
  run(inputs: Map<string, TypedArray>, shapes?: Map<string, readonly number[]>): Promise<Map<string, TypedArray>>;
  outputShapes?(): Map<string, number[]>;
  /** How it runs (e.g. the wasm backend's thread count), for runner.backendInfo. */
  readonly info?: { [key: string]: unknown };
  /** Releases what it holds (workers, GPU buffers). */
  dispose?(): void;
  /** Runs the graph once more on the latest inputs, kernel by kernel, timing each: [label, ms][]. */
  profile?(): Promise<[string, number][]>;
}

export interface BackendLoadContext {
  model: ModelDescriptor;
  /** The graph file, parsed and checked (validateGraph, and against model.json). */
  graph: GraphDescriptor;
  /** Its name in the descriptor directory, e.g. 'graph_wasm.json'. */
  graphFile: string;
  /** The backend's weight chunks, concatenated in the order model.json lists them, each verified. */
  weights: Uint8Array;
  /**
   * Reads another file of the descriptor (the wasm module): `name` must be a plain file name listed
   * in model.json "files", and its size and CRC-32 are checked before it is returned; otherwise it
   * rejects with a WebDNNError naming `field` (where the name came from, e.g. 'graph_wasm.json "module"').
   */
  readFile(name: string, field?: string): Promise<Uint8Array>;
  /** LoadOptions.backendOptions[name]. */
  options?: { [key: string]: unknown };
}

export interface BackendFactory {
  readonly name: string;
  /** null when usable in this environment, else why not. */
  unavailableReason(): string | null;
  /** Optional asynchronous check before any weight is downloaded: null when usable, else why not. */
  probe?(options: { [key: string]: unknown }): Promise<string | null>;
  create(ctx: BackendLoadContext): Promise<BackendInstance>;
}

// in the default order (load.ts DEFAULT_BACKEND_ORDER), so messages list them the same way
const registry = new Map<string, BackendFactory>();
registry.set('webgpu', webgpuFactory);
registry.set('webgl', webglFactory);
registry.set('wasm', wasmFactory);
registry.set('js', {
  name: 'js',
  unavailableReason: () => null,
  create: async (ctx) => new JsBackend(ctx.graph, ctx.weights),
});

export function getBackendFactory(name: string): BackendFactory | undefined {
  return registry.get(name);
}

export function implementedBackends(): string[] {
  return [...registry.keys()];
}
