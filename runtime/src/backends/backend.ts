// What load() needs from a backend, and the table of backends this build of the runtime carries.

import type { GraphDescriptor, ModelDescriptor, TypedArray } from '../types.js';
import { JsBackend } from './js/backend.js';
import { webgpuFactory } from './webgpu/backend.js';
import { wasmFactory } from './wasm/backend.js';

/** A loaded, ready-to-run graph on one backend. */
export interface BackendInstance {
  readonly name: string;
  /** Runs the graph; `inputs` maps every graph input name to its data. */
  run(inputs: Map<string, TypedArray>): Promise<Map<string, TypedArray>>;
  /** How it runs (e.g. the wasm backend's thread count), for runner.backendInfo. */
  readonly info?: { [key: string]: unknown };
  /** Releases what it holds (workers, GPU buffers). */
  dispose?(): void;
}

export interface BackendLoadContext {
  model: ModelDescriptor;
  graph: GraphDescriptor;
  /** The backend's weight chunks, concatenated in the order model.json lists them. */
  weights: Uint8Array;
  /** The descriptor directory (URL or path), for backends with files besides the graph. */
  baseUrl?: string;
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

/** Backend names the descriptor format knows (docs/descriptor.md); not all are built into this runtime. */
export const KNOWN_BACKENDS: readonly string[] = ['webgpu', 'webgl', 'wasm', 'js'];

const registry = new Map<string, BackendFactory>();

registry.set('js', {
  name: 'js',
  unavailableReason: () => null,
  create: async (ctx) => new JsBackend(ctx.graph, ctx.weights),
});
registry.set('webgpu', webgpuFactory);
registry.set('wasm', wasmFactory);

export function getBackendFactory(name: string): BackendFactory | undefined {
  return registry.get(name);
}

export function implementedBackends(): string[] {
  return [...registry.keys()];
}
