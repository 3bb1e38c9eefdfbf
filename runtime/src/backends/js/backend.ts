// The js backend: decodes constants, prepares every kernel once, then per run executes the kernel
// list in order and drops each tensor after its last use (a kernel's `free`).

import type { BackendInstance } from '../backend.js';
import type { GraphDescriptor, KernelDesc, TypedArray } from '../../types.js';
import { own } from '../../types.js';
import { WebDNNError } from '../../errors.js';
import { decodeConstant } from '../../weights.js';
import type { KernelFactory, KernelFn, PrepareContext, TensorInfo } from './util.js';
import { kernelError, kernelLabel } from './util.js';
import { kernels as elementwiseKernels } from './elementwise.js';
import { kernels as convKernels } from './conv.js';
import { kernels as matmulKernels } from './matmul.js';
import { kernels as poolKernels } from './pool.js';
import { kernels as reduceKernels } from './reduce.js';
import { kernels as indexmapKernels } from './indexmap.js';
import { kernels as indexingKernels } from './indexing.js';
import { kernels as scanKernels } from './scan.js';
import { kernels as resizeKernels } from './resize.js';

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
};

const YIELD_MS = 50;

const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

interface Step {
  kernel: KernelDesc;
  fn: KernelFn;
  free: string[];
}

export class JsBackend implements BackendInstance {
  readonly name = 'js';
  private readonly graph: GraphDescriptor;
  private readonly constants = new Map<string, TypedArray>();
  private readonly steps: Step[] = [];
  private readonly outputSet: Set<string>;

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

    const ctx: PrepareContext = {
      info: (name: string): TensorInfo => {
        const t = own(graph.tensors, name) ?? own(graph.constants, name);
        if (!t) throw new WebDNNError(`tensor '${name}' is in neither "tensors" nor "constants"`);
        return { shape: t.shape, dtype: t.dtype };
      },
      constant: (name: string) => this.constants.get(name),
    };
    for (const k of graph.kernels) {
      let fn: KernelFn;
      try {
        for (const name of [...k.inputs, ...k.outputs]) if (name !== '') ctx.info(name);
        fn = KERNELS[k.op](k, ctx);
      } catch (e) {
        const msg = (e as Error).message;
        throw new WebDNNError(msg.startsWith('kernel ') ? msg : `kernel ${kernelLabel(k)}: ${msg}`);
      }
      this.steps.push({ kernel: k, fn, free: (k.free ?? []).filter((n) => !this.outputSet.has(n)) });
    }
  }

  async run(inputs: Map<string, TypedArray>): Promise<Map<string, TypedArray>> {
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
      const v = env.get(name) ?? this.constants.get(name);
      if (!v) throw kernelError(k, `input '${name}' is not available (never computed, or freed too early)`);
      return v;
    };
    let lastYield = now();
    for (const { kernel, fn, free } of this.steps) {
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
