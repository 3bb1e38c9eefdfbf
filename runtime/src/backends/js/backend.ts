// The js backend: decodes constants, prepares every kernel once, then per run executes the kernel
// list in order and drops each tensor after its last use (a kernel's `free`).

import type { BackendInstance } from '../backend.js';
import type { GraphDescriptor, KernelDesc, TypedArray } from '../../types.js';
import { arrayTypeOf, own } from '../../types.js';
import { WebDNNError } from '../../errors.js';
import { decodeConstant } from '../../weights.js';
import type { KernelFactory, KernelFn, PrepareContext, TensorInfo } from './util.js';
import { kernelError, kernelLabel } from './util.js';
import type { Binding } from '../../dims.js';
import { bindShapes, bindValue, evalDim, evalShape } from '../../dims.js';
import { kernels as elementwiseKernels } from './elementwise.js';
import { kernels as convKernels } from './conv.js';
import { kernels as matmulKernels } from './matmul.js';
import { kernels as poolKernels } from './pool.js';
import { kernels as reduceKernels } from './reduce.js';
import { kernels as indexmapKernels } from './indexmap.js';
import { kernels as indexingKernels } from './indexing.js';
import { kernels as scanKernels } from './scan.js';
import { kernels as resizeKernels } from './resize.js';
import { kernels as recurrentKernels } from './recurrent.js';

const KERNELS: { [op: string]: KernelFactory } = {
  ...elementwiseKernels,
  ...convKernels,
  ...matmulKernels,
  ...poolKernels,
  ...reduceKernels,
  ...indexmapKernels,
  ...indexingKernels,
  ...scanKernels,
  ...resizeKernels,
  ...recurrentKernels,
};

const YIELD_MS = 50;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

interface Step {
  kernel: KernelDesc;
  fn: KernelFn;
  free: string[];
  /** The graph's symbolic constants (graph "sizes") under this binding. */
  sizes: Map<string, TypedArray>;
}

/** Prepared bindings kept per graph (a page alternating a few sequence lengths reuses them). */
const MAX_PREPARED = 8;

function bindingKey(env: Binding): string {
  return [...env].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',');
}

export class JsBackend implements BackendInstance {
  readonly name = 'js';
  private readonly graph: GraphDescriptor;
  private readonly constants = new Map<string, TypedArray>();
  private readonly steps: Step[];
  private readonly outputSet: Set<string>;
  /** Some tensor's shape has a symbolic dim (bound from the inputs' shapes at each run). */
  private readonly symbolic: boolean;
  private readonly defaults: Binding;
  private binding: Binding = new Map();
  private readonly prepared = new Map<string, Step[]>();

  constructor(graph: GraphDescriptor, weights: Uint8Array) {
    this.graph = graph;
    if (!graph.tensors || typeof graph.tensors !== 'object') throw new WebDNNError('graph has no "tensors" table');
    if (!Array.isArray(graph.kernels)) throw new WebDNNError('graph has no "kernels" list');
    for (const [name, c] of Object.entries(graph.constants ?? {})) {
      this.constants.set(name, decodeConstant(name, c, weights));
    }
    this.outputSet = new Set(graph.outputs);

    const unsupported = new Map<string, string[]>();
    const names = (l: unknown) => Array.isArray(l) && l.every((n) => typeof n === 'string');
    graph.kernels.forEach((k, i) => {
      if (!k || typeof k !== 'object' || typeof k.op !== 'string' || !names(k.inputs) || !names(k.outputs) || (k.free !== undefined && !names(k.free))) {
        throw new WebDNNError(`kernels[${i}] needs "op", and "inputs", "outputs" (and "free") as lists of names`);
      }
    });
    for (const k of graph.kernels) {
      if (!own(KERNELS, k.op)) {
        const list = unsupported.get(k.op) ?? [];
        list.push(k.name ?? '?');
        unsupported.set(k.op, list);
      }
    }
    if (unsupported.size > 0) {
      const items = [...unsupported].map(([op, names]) => `${op} (kernel${names.length > 1 ? 's' : ''} ${names.map((n) => `'${n}'`).join(', ')})`);
      throw new WebDNNError(`the js backend does not implement ${items.join('; ')}; it implements: ${Object.keys(KERNELS).sort().join(', ')}`);
    }

    this.symbolic = Object.values(graph.tensors).some((t) => Array.isArray(t?.shape) && t.shape.some((d) => typeof d === 'string'));
    // a symbolic graph is prepared per binding of its sizes; the default binding now, so that a
    // broken graph fails at load, not at the first run
    this.defaults = new Map(Object.entries(graph.symbols ?? {}).map(([k, v]) => [k, Number(v)]));
    this.binding = this.defaults;
    this.steps = this.prepare(this.defaults);
    this.prepared.set(bindingKey(this.defaults), this.steps);
  }

  private prepare(env: Binding): Step[] {
    const graph = this.graph;
    const sizes = new Map<string, TypedArray>();
    for (const [name, c] of Object.entries(graph.sizes ?? {})) {
      if (!Array.isArray(c?.values) || !Array.isArray(c.shape) || c.values.length !== c.shape.reduce((a: number, b: number) => a * b, 1)
          || !c.values.every((d: unknown) => typeof d === 'number' || typeof d === 'string')) {
        throw new WebDNNError(`sizes['${name}'] needs a shape and one value (a number or a size expression) per element`);
      }
      const values = c.values.map((d: number | string) => evalDim(d, env));
      sizes.set(name, arrayTypeOf(c.dtype).from(values));
    }
    const ctx: PrepareContext = {
      info: (name: string): TensorInfo => {
        const t = own(graph.tensors, name) ?? own(graph.constants, name) ?? own(graph.sizes ?? {}, name);
        if (!t) throw new WebDNNError(`tensor '${name}' is in neither "tensors" nor "constants"`);
        return { shape: this.symbolic ? evalShape(`tensor '${name}'`, t.shape, env) : t.shape as number[], dtype: t.dtype };
      },
      constant: (name: string) => this.constants.get(name) ?? sizes.get(name),
    };
    const steps: Step[] = [];
    for (const k0 of graph.kernels) {
      const k = this.symbolic ? { ...k0, attrs: bindValue(k0.attrs, env) as KernelDesc['attrs'] } : k0;
      let fn: KernelFn;
      try {
        for (const name of [...k.inputs, ...k.outputs]) if (name !== '') ctx.info(name);
        fn = KERNELS[k.op](k, ctx);
      } catch (e) {
        const msg = (e as Error).message;
        throw new WebDNNError(msg.startsWith('kernel ') ? msg : `kernel ${kernelLabel(k)}: ${msg}`);
      }
      steps.push({ kernel: k, fn, free: (k.free ?? []).filter((n) => !this.outputSet.has(n)), sizes });
    }
    return steps;
  }

  /** The kernels for the sizes that `shapes` (the inputs' actual shapes) bind; prepared once per binding. */
  private stepsFor(shapes?: Map<string, readonly number[]>): Step[] {
    if (!this.symbolic || !shapes) return this.steps;
    const declared = new Map(this.graph.inputs.map((n) => [n, this.graph.tensors[n].shape]));
    const env = bindShapes(declared, shapes, this.graph.ranges);
    for (const [k, v] of this.defaults) if (!env.has(k)) env.set(k, v);
    const key = bindingKey(env);
    let steps = this.prepared.get(key);
    if (!steps) {
      steps = this.prepare(env);
      if (this.prepared.size >= MAX_PREPARED) this.prepared.delete(this.prepared.keys().next().value as string);
      this.prepared.set(key, steps);
    }
    this.binding = env;
    return steps;
  }

  /** The outputs' shapes under the latest run's binding (symbolic graphs). */
  outputShapes(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const name of this.graph.outputs) {
      const t = own(this.graph.tensors, name) ?? own(this.graph.constants, name);
      if (t) out.set(name, t.shape.map((d: number | string) => evalDim(d, this.binding)));
    }
    return out;
  }

  async run(inputs: Map<string, TypedArray>, shapes?: Map<string, readonly number[]>): Promise<Map<string, TypedArray>> {
    const steps = this.stepsFor(shapes);
    const env = new Map<string, TypedArray>();
    for (const name of this.graph.inputs) {
      const v = inputs.get(name);
      if (!v) throw new WebDNNError(`graph input '${name}' was not given`);
      env.set(name, v);
    }
    // arrays allocated by this run's kernels; anything else returned as an output gets copied
    const fresh = new Set<TypedArray>();
    const given = new Set<TypedArray>(env.values());
    const lookup = (k: KernelDesc, name: string): TypedArray | null => {
      if (name === '') return null;
      const v = env.get(name) ?? this.constants.get(name) ?? steps[0]?.sizes.get(name);
      if (!v) throw kernelError(k, `input '${name}' is not available (never computed, or freed too early)`);
      return v;
    };
    let lastYield = now();
    for (const { kernel, fn, free } of steps) {
      // a long run must not freeze a page: give the event loop a turn every YIELD_MS
      if (now() - lastYield > YIELD_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = now();
      }
      const args = kernel.inputs.map((n) => lookup(kernel, n));
      let outs: TypedArray[];
      try {
        outs = fn(args);
      } catch (e) {
        const msg = (e as Error).message;
        throw new WebDNNError(msg.startsWith('kernel ') ? msg : `kernel ${kernelLabel(kernel)}: ${msg}`);
      }
      kernel.outputs.forEach((name, i) => {
        const v = outs[i];
        if (!args.includes(v)) fresh.add(v);
        env.set(name, v);
      });
      for (const name of free) env.delete(name);
    }
    const result = new Map<string, TypedArray>();
    const used = new Set<TypedArray>();
    for (const name of this.graph.outputs) {
      let v = env.get(name) ?? this.constants.get(name);
      if (!v) throw new WebDNNError(`graph output '${name}' was not computed`);
      // never hand out a graph input, a constant or one array twice
      if (!fresh.has(v) || given.has(v) || used.has(v)) v = v.slice();
      used.add(v);
      result.set(name, v);
    }
    return result;
  }
}
