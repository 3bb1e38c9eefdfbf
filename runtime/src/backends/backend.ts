// What load() needs from a backend, and the table of backends this build of the runtime carries.

import type { GraphDescriptor, ModelDescriptor, TypedArray } from '../types.js';
import { JsBackend } from './js/backend.js';

/** A loaded, ready-to-run graph on one backend. */
export interface BackendInstance {
  readonly name: string;
  /** Runs the graph; `inputs` maps every graph input name to its data. */
  run(inputs: Map<string, TypedArray>): Promise<Map<string, TypedArray>>;
}

export interface BackendLoadContext {
  model: ModelDescriptor;
  graph: GraphDescriptor;
  /** The backend's weight chunks, concatenated in the order model.json lists them. */
  weights: Uint8Array;
}

export interface BackendFactory {
  readonly name: string;
  /** null when usable in this environment, else why not. */
  unavailableReason(): string | null;
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

export function getBackendFactory(name: string): BackendFactory | undefined {
  return registry.get(name);
}

export function implementedBackends(): string[] {
  return [...registry.keys()];
}
