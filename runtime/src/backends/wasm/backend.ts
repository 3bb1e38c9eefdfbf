// The wasm backend: runs graph_wasm.json and its .wasm module. It knows no op: the module's run()
// executes the whole model on a static memory layout; this file places constants, inputs and
// outputs at the offsets the descriptor gives and runs the module in Workers (threads over a
// shared memory where SharedArrayBuffer is available: Node, or a cross-origin-isolated page).

import type { BackendFactory, BackendInstance, BackendLoadContext } from '../backend.js';
import type { DType, GraphDescriptor, TypedArray } from '../../types.js';
import { arrayTypeOf, isDim, own, product } from '../../types.js';
import { decodeConstant, storedConstant } from '../../weights.js';
import { isNode } from '../../io.js';
import { WebDNNError } from '../../errors.js';
import type { TensorSlot, WorkerPort } from './worker.js';
import { wasmWorker } from './worker.js';
import type { Binding } from '../../dims.js';
import { bindShapes, evalShape } from '../../dims.js';

/** graph_wasm.json (docs/descriptor.md). */
export interface WasmGraph extends Omit<GraphDescriptor, 'kernels'> {
  module: string;
  /** The same program built with relaxed SIMD (fused multiply-add), used where the engine has it. */
  moduleRelaxed?: string;
  memory: { initialPages: number; maximumPages: number; maxThreads: number };
  placement: { [name: string]: number };
  /** Constants the module reads as stored (int8: scales, then 8-bit values), not decoded. */
  encoded?: { [name: string]: { encoding: string; axis: number } };
}

export interface WasmOptions {
  /** Threads to run on (default: the machine's core count, at most the descriptor's maxThreads);
   *  1 runs single-threaded without shared memory. */
  threads?: number;
  /** Use the relaxed-SIMD module where the engine supports it (default true). */
  relaxedSimd?: boolean;
}

/** How a loaded wasm runner executes; `runner.backendInfo` for the wasm backend. */
export interface WasmInfo {
  [key: string]: unknown;
  threads: number;
  sharedMemory: boolean;
  /** Why fewer threads than asked for run (no SharedArrayBuffer, ...), or null. */
  limitedBy: string | null;
  /** Whether the relaxed-SIMD (fused multiply-add) build of the model runs. */
  relaxedSimd: boolean;
}

/** f32x4.relaxed_madd validates: the engine has relaxed SIMD. */
export function hasRelaxedSimd(): boolean {
  const v128 = (x: number) => [0xfd, 12, ...new Array(16).fill(x)];
  const body = [...v128(0), ...v128(0), ...v128(0), 0xfd, 0x85, 0x02, 0x0b];
  const code = [1, body.length + 1, 0, ...body];
  try {
    return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10,
      code.length, ...code]));
  } catch {
    return false;
  }
}

const WORKER_NAME = 'webdnn-wasm';

type Global = { document?: { currentScript?: { src?: string } | null }; name?: string; WorkerGlobalScope?: unknown };
const G = globalThis as unknown as Global;

/** The script-tag build's own URL: the worker script where a Content-Security-Policy forbids blob: workers. */
const SCRIPT_URL: string | null = (() => {
  try {
    return G.document?.currentScript?.src || null;
  } catch {
    return null;
  }
})();

// Loaded as that worker script: become a wasm thread.
if (G.WorkerGlobalScope !== undefined && G.document === undefined && G.name === WORKER_NAME) {
  const scope = globalThis as unknown as { postMessage(m: unknown, t?: Transferable[]): void; onmessage: unknown };
  wasmWorker({
    post: (m, t) => scope.postMessage(m, t),
    listen: (f) => {
      scope.onmessage = (e: MessageEvent) => f(e.data);
    },
  });
}

function hasSharedMemory(): string | null {
  if (typeof SharedArrayBuffer !== 'function') return 'SharedArrayBuffer is not available';
  const g = globalThis as { crossOriginIsolated?: boolean };
  if (!isNode() && g.crossOriginIsolated === false) {
    return 'the page is not cross-origin isolated (serve it with COOP: same-origin and COEP: require-corp)';
  }
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true } as WebAssembly.MemoryDescriptor);
  } catch (e) {
    return `shared WebAssembly memory is not available (${(e as Error).message})`;
  }
  return null;
}

async function coreCount(): Promise<number> {
  if (isNode()) {
    const os = await import('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  return (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 1;
}

/** Default thread count: WEBDNN_WASM_THREADS (environment in Node, or a global) if set. */
function configuredThreads(): number | undefined {
  const g = globalThis as { WEBDNN_WASM_THREADS?: unknown; process?: { env?: { [k: string]: string | undefined } } };
  const v = g.WEBDNN_WASM_THREADS ?? (isNode() ? g.process?.env?.WEBDNN_WASM_THREADS : undefined);
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * The module is linked for shared memory. Without threads it must import an ordinary memory
 * (a page that is not cross-origin isolated cannot create a shared one), so the import's limits
 * flag is rewritten from "shared with maximum" (3) to "maximum" (1); nothing else changes.
 */
export function unshareMemoryImport(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  let p = 8;
  const leb = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (p >= out.length || shift > 49) throw new WebDNNError('the wasm module is malformed');
      const b = out[p++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (!(b & 0x80)) return v;
    }
  };
  while (p < out.length) {
    const id = out[p++];
    const size = leb();
    const end = p + size;
    if (id === 2) {
      const count = leb();
      for (let i = 0; i < count && p < end; i++) {
        const moduleName = leb();
        p += moduleName;
        const fieldName = leb();
        p += fieldName;
        const kind = out[p++];
        if (kind === 0) leb();
        else if (kind === 1) {
          p++;
          const f = out[p++];
          leb();
          if (f & 1) leb();
        }
        else if (kind === 3) p += 2;
        else if (kind === 2) {
          if (out[p] === 3) out[p] = 1;
          return out;
        } else throw new WebDNNError(`unexpected import kind ${kind} in the wasm module`);
      }
    }
    p = end;
  }
  throw new WebDNNError('the wasm module imports no memory');
}

interface Pending {
  resolve: (msg: any) => void;
  reject: (e: Error) => void;
}

/** One thread: a Worker with a promise per request. */
class Thread {
  private next = 1;
  private readonly pending = new Map<number, Pending>();
  private constructor(private readonly worker: any, private readonly node: boolean) {}

  static async start(): Promise<Thread> {
    const fn = wasmWorker.toString();
    if (isNode()) {
      const { Worker } = await import('node:worker_threads');
      // import(), not require(): the worker runs as an ES module where the app's process does
      // (--input-type=module is inherited); messages wait on the port until the listener is there
      const src = `import('node:worker_threads').then(({ parentPort }) => (${fn})({ post: (m, t) => parentPort.postMessage(m, t), listen: (f) => parentPort.on('message', f) }));`;
      const w = new Worker(src, { eval: true, name: WORKER_NAME } as any);
      const t = new Thread(w, true);
      w.on('message', (m: any) => t.receive(m));
      w.on('error', (e: Error) => t.failAll(e));
      w.unref();
      return t;
    }
    const src = `(${fn})({ post: (m, t) => self.postMessage(m, t), listen: (f) => { self.onmessage = (e) => f(e.data); } });`;
    const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    // a worker refused by a Content-Security-Policy reports a violation, not always an error event
    const started = (w: Worker, what: string) =>
      new Promise<boolean>((resolve) => {
        const doc = (globalThis as unknown as { document?: EventTarget }).document;
        const done = (ok: boolean) => {
          clearTimeout(timer);
          doc?.removeEventListener('securitypolicyviolation', onViolation);
          resolve(ok);
        };
        const onViolation = (e: Event) => {
          if (String((e as SecurityPolicyViolationEvent).blockedURI).startsWith(what)) done(false);
        };
        const timer = setTimeout(() => done(false), 20000);
        doc?.addEventListener('securitypolicyviolation', onViolation);
        w.onmessage = (e: MessageEvent) => done(!!e.data && e.data.type === 'hello');
        w.onerror = () => done(false);
      });
    let w = new Worker(url, { name: WORKER_NAME });
    let ok = await started(w, 'blob');
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    if (!ok && SCRIPT_URL) {
      // a Content-Security-Policy without blob: workers: the script-tag build is its own worker script
      w.terminate();
      w = new Worker(SCRIPT_URL, { name: WORKER_NAME });
      ok = await started(w, SCRIPT_URL);
    }
    if (!ok) {
      w.terminate();
      throw new Error('the wasm worker did not start (a Content-Security-Policy needs worker-src blob:, or load the script-tag build)');
    }
    const t = new Thread(w, false);
    w.onmessage = (e: MessageEvent) => t.receive(e.data);
    w.onerror = (e: ErrorEvent) => t.failAll(new Error(e.message || 'the wasm worker failed'));
    return t;
  }

  request(msg: { [k: string]: unknown }, transfer: Transferable[] = []): Promise<any> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.node) this.worker.ref(); // a pending reply keeps Node alive
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** For helper threads: send init; 'ready' arrives before they block in the pool. */
  private receive(m: any): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.node && this.pending.size === 0) this.worker.unref();
    if (m.type === 'error') p.reject(new Error(m.message));
    else p.resolve(m);
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  terminate(): void {
    this.failAll(new WebDNNError('runner disposed: the wasm threads were stopped'));
    this.worker.terminate();
  }
}

const BYTES: { [d in DType]: number } = { float32: 4, float16: 4, int32: 4, int64: 4, int8: 1, uint8: 1, bool: 1 };

export class WasmBackend implements BackendInstance {
  readonly name = 'wasm';
  readonly info: WasmInfo;
  private readonly threads: Thread[];
  private readonly graph: WasmGraph;
  /** Per graph input, the transfer buffer the last run's reply brought back (null while one is out). */
  private readonly spare: (ArrayBuffer | null)[] = [];

  private constructor(graph: WasmGraph, threads: Thread[], info: WasmInfo) {
    this.graph = graph;
    this.threads = threads;
    this.info = info;
  }

  static async create(ctx: BackendLoadContext, bytes: Uint8Array, options: WasmOptions = {}, relaxed = false): Promise<WasmBackend> {
    const graph = ctx.graph as unknown as WasmGraph;
    if (!graph.placement || !graph.memory || typeof graph.module !== 'string') {
      throw new WebDNNError(`${ctx.graphFile} needs "module", "memory" and "placement"`);
    }
    const cap = Math.max(1, graph.memory.maxThreads | 0);
    let want = options.threads ?? configuredThreads() ?? (await coreCount());
    want = Math.max(1, Math.min(cap, Math.floor(want)));
    let limitedBy = want > 1 ? hasSharedMemory() : null;
    const n = limitedBy ? 1 : want;
    const shared = n > 1;
    const module = await WebAssembly.compile((shared ? bytes : unshareMemoryImport(bytes)) as Uint8Array<ArrayBuffer>);

    // constants, decoded with the js backend's decoder, go to their offsets from the region's base
    const slot = (name: string): number => {
      const at = own(graph.placement, name);
      if (!isDim(at)) throw new WebDNNError(`${ctx.graphFile} places no tensor '${name}'`);
      return at;
    };
    let end = 0;
    const decoded = Object.entries(graph.constants ?? {}).map(([name, c]) => {
      const enc = own(graph.encoded ?? {}, name);
      const data = enc ? storedConstant(ctx.graphFile, name, c, enc, ctx.weights) : decodeConstant(name, c, ctx.weights);
      end = Math.max(end, slot(name) + data.byteLength);
      return [slot(name), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)] as const;
    });
    const place = (target: Uint8Array) => {
      for (const [at, bytes] of decoded) target.set(bytes, at);
    };
    // a graph with symbolic sizes places its inputs and outputs at each binding (wd_io)
    const symbolic = graph.symbols !== undefined;
    const io = (name: string): TensorSlot => {
      const t = own(graph.tensors, name);
      if (!t) throw new WebDNNError(`${ctx.graphFile} has no tensor '${name}'`);
      return symbolic ? { offset: -1, bytes: 0 } : { offset: slot(name), bytes: product(t.shape as number[]) * BYTES[t.dtype] };
    };
    const pages = { initial: graph.memory.initialPages, maximum: graph.memory.maximumPages };
    let memory: WebAssembly.Memory | null = null;
    let image: Uint8Array | null = null;
    if (shared) {
      // shared memory: lay it out here (an instance on this thread does what thread 0 would) and
      // write the constants straight in: no intermediate copy of the weights
      memory = new WebAssembly.Memory({ ...pages, shared: true } as WebAssembly.MemoryDescriptor);
      const local = (await WebAssembly.instantiate(module, { env: { memory } })) as WebAssembly.Instance;
      const ex = local.exports as { [k: string]: (...a: number[]) => number };
      const need = ex.wd_init(n) >>> 0;
      if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / 65536));
      place(new Uint8Array(memory.buffer, ex.wd_base_address() >>> 0, end));
    } else {
      image = new Uint8Array(end);
      place(image);
    }
    const threads: Thread[] = [];
    try {
      threads.push(await Thread.start());
      await threads[0].request(
        {
          type: 'init', tid: 0, threads: n, module, memory, pages, constants: image ? image.buffer : null,
          inputs: graph.inputs.map(io), outputs: graph.outputs.map(io),
        },
        image ? [image.buffer] : [],
      );
      const helpers = [];
      for (let tid = 1; tid < n; tid++) {
        const t = await Thread.start();
        threads.push(t);
        helpers.push(t.request({ type: 'init', tid, threads: n, module, memory, pages }));
      }
      await Promise.all(helpers);
    } catch (e) {
      for (const t of threads) t.terminate();
      throw e;
    }
    return new WasmBackend(graph, threads, { threads: n, sharedMemory: shared, limitedBy, relaxedSimd: relaxed });
  }

  /** The sizes of the latest run (graphs with symbolic sizes). */
  private binding: Binding = new Map();

  async run(inputs: Map<string, TypedArray>, shapes?: Map<string, readonly number[]>): Promise<Map<string, TypedArray>> {
    const g = this.graph;
    let sizes: number[] | null = null;
    let outBytes: number[] | null = null;
    if (g.symbols !== undefined) {
      // bind the sizes from the inputs' shapes; the worker plans the arena for them (wd_bind)
      const env = shapes ? bindShapes(new Map(g.inputs.map((n) => [n, g.tensors[n].shape])), shapes, g.ranges) : new Map();
      for (const [k, v] of Object.entries(g.symbols)) if (!env.has(k)) env.set(k, v);
      this.binding = env;
      sizes = Object.keys(g.symbols).sort().map((k) => env.get(k)!);
      outBytes = g.outputs.map((n) => product(evalShape(`output '${n}'`, g.tensors[n].shape, env)) * BYTES[g.tensors[n].dtype]);
    }
    // the inputs travel in buffers that come back with the reply and carry the next run's: a fresh
    // large ArrayBuffer per run would cost more than the copy into it
    const buffers = this.graph.inputs.map((name, i) => {
      const v = inputs.get(name);
      if (!v) throw new Error(`graph input '${name}' was not given`);
      let buffer = this.spare[i];
      this.spare[i] = null;
      if (!buffer || buffer.byteLength !== v.byteLength) buffer = new ArrayBuffer(v.byteLength);
      new Uint8Array(buffer).set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      return buffer;
    });
    const reply = await this.threads[0].request({ type: 'run', inputs: buffers, sizes, outBytes }, buffers);
    (reply.inputs as ArrayBuffer[]).forEach((b, i) => {
      this.spare[i] = b;
    });
    const result = new Map<string, TypedArray>();
    this.graph.outputs.forEach((name, i) => {
      const T = arrayTypeOf(this.graph.tensors[name].dtype);
      result.set(name, new T(reply.outputs[i] as ArrayBuffer));
    });
    return result;
  }

  outputShapes(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const n of this.graph.outputs) out.set(n, evalShape(`output '${n}'`, this.graph.tensors[n].shape, this.binding));
    return out;
  }

  /** Runs the model once kernel by kernel (on the current inputs) and times each: [label, ms][]. */
  async profile(): Promise<[string, number][]> {
    const labels = (this.graph as unknown as { kernels: string[] }).kernels ?? [];
    const reply = await this.threads[0].request({ type: 'profile', steps: labels.length });
    return labels.map((l, i) => [l, reply.ms[i] as number]);
  }

  dispose(): void {
    for (const t of this.threads) t.terminate();
    this.threads.length = 0;
  }
}

export const wasmFactory: BackendFactory = {
  name: 'wasm',
  unavailableReason: () => {
    if (typeof WebAssembly !== 'object') return 'WebAssembly is not available';
    if (!isNode() && typeof Worker !== 'function') return 'Web Workers are not available';
    // a module whose one function returns a v128.const: fixed-width SIMD is required
    const simd = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
      ...new Array(16).fill(0), 11]);
    return WebAssembly.validate(simd) ? null : 'WebAssembly SIMD is not supported here';
  },
  create: async (ctx: BackendLoadContext) => {
    const graph = ctx.graph as unknown as WasmGraph;
    const options = (ctx.options ?? {}) as WasmOptions;
    if (graph.moduleRelaxed !== undefined && typeof graph.moduleRelaxed !== 'string') {
      throw new WebDNNError(`${ctx.graphFile}: "moduleRelaxed" must be a file name`);
    }
    const relaxed = typeof graph.moduleRelaxed === 'string' && options.relaxedSimd !== false && hasRelaxedSimd();
    const field = relaxed ? 'moduleRelaxed' : 'module';
    // resolved inside the descriptor directory and checked against model.json "files" (files.ts)
    const bytes = await ctx.readFile(relaxed ? graph.moduleRelaxed! : graph.module, `${ctx.graphFile} "${field}"`);
    return WasmBackend.create(ctx, bytes, options, relaxed);
  },
};
