// The webgpu backend: runs graph_webgpu.json as it is. It knows no op: it creates the buffers of
// the memory plan, uploads the weights once, compiles every shader (in parallel, at load), builds
// every bind group once, and per run encodes the dispatch list into one command encoder with a
// single readback of the outputs. A graph with symbolic sizes ("symbols") compiles its shaders once
// too; for each binding of the sizes it places the activations in the arena (which grows as needed),
// writes the sizes uniform the shaders read them from, and builds the bind groups and workgroup
// counts again.

import type { BackendFactory, BackendInstance } from '../backend.js';
import type { ConstantDesc, DType, GraphDescriptor, TypedArray } from '../../types.js';
import { allocate, own, product } from '../../types.js';
import { decodeConstant, storedConstant } from '../../weights.js';
import { decodeF16, floatToHalfBits } from '../../float16.js';
import type { GPUBindGroupLike, GPUBufferLike, GPUComputePipelineLike, GPUDeviceLike, GPUDeviceLostInfoLike } from './gpu.js';
import { BufferUsage, gpuApi, MapModeRead, softwareAdapter } from './gpu.js';
import type { Binding } from '../../dims.js';
import { bindShapes, evalDim, evalShape } from '../../dims.js';

/** [buffer index, byte offset, bytes] of each part of a tensor. */
type Location = [number, number, number][];

interface MemoryPlan {
  buffers: { kind: string; bytes: number }[];
  tensors: { [name: string]: Location };
  /** Graphs with symbolic sizes: the activations' storage groups [bytes, first step, last step], placed per binding. */
  arena?: { groups: [number | string, number, number][]; tensors: { [name: string]: number } };
}

type Dim = number | string;

/** graph_webgpu.json (docs/descriptor.md). */
export interface WebGpuGraph extends Omit<GraphDescriptor, 'kernels'> {
  precision?: 'f32' | 'f16';
  limits?: { [key: string]: number };
  memory: { [precision: string]: MemoryPlan };
  shaders: string[];
  dispatches: {
    name: string; shader: number; bindings: [string, number][]; groups: [Dim, Dim, Dim]; wrap?: boolean;
    /** graphs with symbolic sizes: dispatched only where min <= dim <= max (a product's tile for its row count) */
    when?: When | When[];
  }[];
}

/** A dispatch's bind group entry for the sizes uniform (graphs with symbolic sizes). */
const SIZES = '#sizes';
const MAX_GROUPS = 65535;
const ALIGN = 256;

/**
 * Places storage groups of `bytes` live over [first, last] in one arena: largest first, each in the
 * smallest gap between the groups that overlap it in time (the converter's memory plan, per binding).
 */
export function placeGroups(groups: { bytes: number; first: number; last: number }[], align: number): { offsets: number[]; total: number } {
  const order = groups.map((_, i) => i).sort((a, b) => groups[b].bytes - groups[a].bytes || groups[a].first - groups[b].first);
  const offsets = new Array<number>(groups.length).fill(0);
  const placed: number[] = [];
  let total = 0;
  for (const k of order) {
    const g = groups[k];
    const need = Math.ceil(g.bytes / align) * align;
    const busy = placed
      .filter((j) => !(groups[j].last < g.first || g.last < groups[j].first))
      .map((j) => [offsets[j], offsets[j] + Math.ceil(groups[j].bytes / align) * align])
      .sort((a, b) => a[0] - b[0]);
    let best: [number, number] | null = null;
    let cursor = 0;
    for (const [lo, hi] of busy) {
      if (lo - cursor >= need && (best === null || lo - cursor < best[1])) best = [cursor, lo - cursor];
      cursor = Math.max(cursor, hi);
    }
    offsets[k] = best ? best[0] : cursor;
    placed.push(k);
    total = Math.max(total, offsets[k] + need);
  }
  return { offsets, total };
}

const isFloat = (d: DType) => d === 'float32' || d === 'float16';

/** WebGPU's default limits; a descriptor that needs more asks the adapter for them. */
const DEFAULT_LIMITS: { [key: string]: number } = {
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxBufferSize: 268435456,
  maxStorageBufferBindingSize: 134217728,
};

export class WebGpuError extends Error {}

/** A dispatch runs only where the size `dim` lies in [min, max] (graph_webgpu.json `when`). */
type When = { dim: Dim; min?: number; max?: number };

const SUBGROUP_OPS: [string, string][] = [['add', 'subgroupAdd'], ['max', 'subgroupMax'], ['min', 'subgroupMin'], ['mul', 'subgroupMul']];

/**
 * The lines before every shader of the descriptor (webdnn/backend/webgpu/wgsl.py header() writes the same):
 * FT, the float storage type; CT and HALF, the GEMM tiles' type and whether their products are f16;
 * SUBGROUPS and the sg_* functions, subgroup operations or, without them, a subgroup of one.
 */
export function shaderHeader(precision: 'f32' | 'f16', subgroups: boolean): string {
  const t = precision;
  const lines = precision === 'f16' ? ['enable f16;'] : [];
  if (subgroups) lines.push('enable subgroups;');
  lines.push(`alias FT = ${t};`, `alias CT = ${t};`, `const HALF = ${precision === 'f16'};`, `const SUBGROUPS = ${subgroups};`);
  for (const [k, fn] of SUBGROUP_OPS) lines.push(`fn sg_${k}(x: f32) -> f32 { return ${subgroups ? `${fn}(x)` : 'x'}; }`);
  lines.push(`fn sg_first() -> bool { return ${subgroups ? 'subgroupExclusiveAdd(1u) == 0u' : 'true'}; }`);
  return lines.join('\n') + '\n';
}

export class WebGpuBackend implements BackendInstance {
  readonly name = 'webgpu';
  /** 'f16' when the descriptor allows it and the adapter has shader-f16, else 'f32'. */
  readonly precision: 'f32' | 'f16';
  /** Whether the shaders use subgroup operations (the adapter has 'subgroups', backendOptions.webgpu.subgroups is not false). */
  readonly subgroups: boolean;
  /** runner.backendInfo: the storage precision, the adapter, the number of dispatches and pipelines. */
  readonly info: { [key: string]: unknown };
  private lostInfo: GPUDeviceLostInfoLike | null = null;
  private lastError: string | null = null;
  private steps: { pipeline: GPUComputePipelineLike; group: GPUBindGroupLike; groups: [number, number, number] }[] = [];
  private readback!: GPUBufferLike;
  private outputs: { name: string; dtype: DType; size: number; parts: [number, number, number, number][] }[] = [];
  private pipelines: GPUComputePipelineLike[] = [];
  /** Where each tensor is: the plan's constants, and the activations of the current binding. */
  private tensors: { [name: string]: Location };
  /** Graphs with symbolic sizes: the binding the bind groups are built for, and the sizes uniform. */
  private binding: Binding | null = null;
  private bindingKey = '';
  private sizes: GPUBufferLike | null = null;
  private readbackBytes = 0;
  private arenaBytes = 0;

  private constructor(
    private readonly device: GPUDeviceLike,
    private readonly graph: WebGpuGraph,
    private readonly plan: MemoryPlan,
    private readonly buffers: GPUBufferLike[],
    precision: 'f32' | 'f16',
    subgroups: boolean,
    adapterInfo: { [key: string]: unknown },
  ) {
    this.precision = precision;
    this.subgroups = subgroups;
    this.tensors = { ...plan.tensors };
    this.info = { precision, subgroups, adapter: adapterInfo, dispatches: graph.dispatches.length, shaders: graph.shaders.length };
    device.lost.then((info) => {
      this.lostInfo = info;
    });
    device.onuncapturederror = (ev) => {
      this.lastError = ev.error.message;
    };
  }

  static async create(graph: WebGpuGraph, weights: Uint8Array, options: { [key: string]: unknown } = {}): Promise<WebGpuBackend> {
    const gpu = gpuApi();
    if (!gpu) throw new WebGpuError('navigator.gpu is missing');
    if (!graph.memory || !Array.isArray(graph.shaders) || !Array.isArray(graph.dispatches)) {
      throw new WebGpuError('graph_webgpu.json needs "memory", "shaders" and "dispatches"');
    }
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new WebGpuError('no WebGPU adapter is available (navigator.gpu.requestAdapter() returned null)');
    const f16 = graph.precision === 'f16' && adapter.features.has('shader-f16') && !!graph.memory.f16;
    const precision = f16 ? 'f16' : 'f32';
    const plan = graph.memory[precision];
    if (!plan) throw new WebGpuError(`graph_webgpu.json has no ${precision} memory plan`);

    // limits beyond the defaults, checked against the adapter before asking for them
    const need: { [key: string]: number } = { ...(graph.limits ?? {}) };
    need.maxBufferSize = Math.max(0, ...plan.buffers.map((b) => b.bytes));
    need.maxStorageBufferBindingSize = Math.max(0, ...Object.values(plan.tensors).flatMap((l) => l.map((p) => p[2])));
    if (graph.symbols !== undefined) {
      // activations sized at run time: as large as the adapter allows
      need.maxBufferSize = Math.max(need.maxBufferSize, adapter.limits.maxBufferSize ?? 0);
      need.maxStorageBufferBindingSize = Math.max(need.maxStorageBufferBindingSize, adapter.limits.maxStorageBufferBindingSize ?? 0);
    }
    const requiredLimits: { [key: string]: number } = {};
    for (const [key, value] of Object.entries(need)) {
      if (!(value > (DEFAULT_LIMITS[key] ?? Infinity))) continue;
      const has = adapter.limits[key];
      if (!(has >= value)) throw new WebGpuError(`the model needs ${key} = ${value}; this adapter allows ${has}`);
      requiredLimits[key] = value;
    }
    const subgroups = options.subgroups !== false && adapter.features.has('subgroups');
    const requiredFeatures = [...(f16 ? ['shader-f16'] : []), ...(subgroups ? ['subgroups'] : [])];
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    const usage = BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;
    const buffers = plan.buffers.map((b, i) => device.createBuffer({ size: b.bytes, usage, label: `${b.kind}${i}` }));
    const ai = adapter.info ?? {};
    const adapterInfo = { vendor: ai.vendor ?? '', architecture: ai.architecture ?? '', description: ai.description ?? '' };
    const backend = new WebGpuBackend(device, graph, plan, buffers, precision, subgroups, adapterInfo);
    try {
      await backend.setUp(weights);
    } catch (e) {
      device.destroy();
      throw e;
    }
    const oom = await device.popErrorScope();
    const invalid = await device.popErrorScope();
    if (oom || invalid) {
      device.destroy();
      throw new WebGpuError(`setting up the model failed: ${(oom ?? invalid)!.message}`);
    }
    return backend;
  }

  private async setUp(weights: Uint8Array): Promise<void> {
    const { device, graph, plan } = this;
    const encoded = (graph as { encoded?: { [name: string]: { encoding: string; axis?: number; block?: number } } }).encoded ?? {};
    for (const [name, c] of Object.entries(graph.constants ?? {})) {
      if (!plan.tensors[name]) continue;
      const enc = own(encoded, name);
      if (enc) this.writeBytes(name, storedConstant('graph_webgpu.json', name, c as ConstantDesc, enc, weights));
      else this.write(name, decodeConstant(name, c as ConstantDesc, weights), (c as ConstantDesc).dtype);
    }
    // FT: float storage; CT and HALF: the contraction tiles' type and whether their products are f16
    // (webdnn/backend/webgpu/wgsl.py header() writes the same)
    const header = shaderHeader(this.precision, this.subgroups);
    const pipelines = await Promise.all(
      graph.shaders.map(async (code, i) => {
        const module = device.createShaderModule({ code: header + code, label: `shader${i}` });
        try {
          return await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: `shader${i}` });
        } catch (e) {
          const users = graph.dispatches.filter((d) => d.shader === i).map((d) => d.name);
          let detail = (e as Error).message;
          if (module.getCompilationInfo) {
            const info = await module.getCompilationInfo();
            const errors = info.messages.filter((m) => m.type === 'error').map((m) => `line ${m.lineNum}: ${m.message}`);
            if (errors.length) detail = errors.join('; ');
          }
          throw new WebGpuError(`shader ${i} (kernel ${users.slice(0, 3).join(', ')}) failed to compile: ${detail}`);
        }
      }),
    );
    for (const d of graph.dispatches) {
      if (!pipelines[d.shader]) throw new WebGpuError(`dispatch '${d.name}' names shader ${d.shader}; there are ${pipelines.length}`);
    }
    this.pipelines = pipelines;
    if (graph.symbols !== undefined) {
      if (!plan.arena) throw new WebGpuError('graph_webgpu.json has "symbols" but its memory plan has no "arena"');
      this.sizes = device.createBuffer({ size: 64, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'sizes' });
      return; // bound at the first run, for its sizes
    }
    this.build(null);
  }

  /** Bind groups, workgroup counts and the outputs' readback for the tensors' current places. */
  private build(env: Binding | null): void {
    const { device, graph } = this;
    const at = (d: Dim) => (env ? evalDim(d, env) : (d as number));
    this.steps = [];
    for (const d of graph.dispatches) {
      const pipeline = this.pipelines[d.shader];
      if (d.when) {
        const conds = Array.isArray(d.when) ? d.when : [d.when];
        if (conds.some((c) => { const v = at(c.dim); return v < (c.min ?? -Infinity) || v > (c.max ?? Infinity); })) continue;
      }
      let groups = d.groups.map(at) as [number, number, number];
      if (d.wrap && groups[0] > MAX_GROUPS) groups = [MAX_GROUPS, Math.ceil(groups[0] / MAX_GROUPS), groups[2]];
      if (groups.some((g) => g > MAX_GROUPS)) {
        throw new WebGpuError(`kernel '${d.name}' needs ${groups.join(' x ')} workgroups at these sizes; WebGPU allows ${MAX_GROUPS} per dimension`);
      }
      if (groups.some((g) => g === 0)) continue; // nothing to compute at these sizes
      const entries = d.bindings.map(([tensor, part], binding) => {
        if (tensor === SIZES && this.sizes) return { binding, resource: { buffer: this.sizes, offset: 0, size: 64 } };
        const loc = this.tensors[tensor]?.[part];
        if (!loc) throw new WebGpuError(`dispatch '${d.name}' binds '${tensor}' part ${part}, which the memory plan does not place`);
        return { binding, resource: { buffer: this.buffers[loc[0]], offset: loc[1], size: loc[2] } };
      });
      this.steps.push({ pipeline, group: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }), groups });
    }
    let offset = 0;
    this.outputs = [];
    for (const name of graph.outputs) {
      const info = graph.tensors[name] ?? graph.constants?.[name];
      const loc = this.tensors[name];
      if (!info || !loc) throw new WebGpuError(`output '${name}' has no place in the memory plan`);
      const parts = loc.map(([b, o, n]) => {
        const p: [number, number, number, number] = [b, o, n, offset];
        offset += Math.ceil(n / 256) * 256;
        return p;
      });
      const shape = env ? evalShape(`output '${name}'`, info.shape, env) : (info.shape as number[]);
      this.outputs.push({ name, dtype: info.dtype, size: product(shape), parts });
    }
    if (offset > this.readbackBytes || !this.readback) {
      this.readback?.destroy();
      this.readbackBytes = Math.max(offset, 16);
      this.readback = device.createBuffer({ size: this.readbackBytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    }
  }

  /**
   * Graphs with symbolic sizes: places the activations for the sizes the inputs' shapes give (the
   * arena grows when they need more), writes the sizes uniform and rebuilds the bind groups.
   */
  private bind(shapes: Map<string, readonly number[]> | undefined): void {
    const { graph, plan } = this;
    const symbols = graph.symbols!;
    const env = shapes ? bindShapes(new Map(graph.inputs.map((n) => [n, graph.tensors[n].shape])), shapes, graph.ranges) : new Map();
    for (const [k, v] of Object.entries(symbols)) if (!env.has(k)) env.set(k, v);
    const names = Object.keys(symbols).sort();
    const key = names.map((k) => env.get(k)).join(',');
    if (key === this.bindingKey) return;
    const arena = plan.arena!;
    const groups = arena.groups.map(([b, first, last]) => ({ bytes: Math.max(4, Math.ceil(evalDim(b, env) / 4) * 4), first, last }));
    const limit = this.device.limits.maxStorageBufferBindingSize ?? 134217728;
    for (const [name, g] of Object.entries(arena.tensors)) {
      if (groups[g].bytes > limit) {
        throw new WebGpuError(`tensor '${name}' would take ${groups[g].bytes} bytes at ${names.map((k) => `${k}=${env.get(k)}`).join(', ')}; ` +
          `this device binds at most ${limit} bytes (maxStorageBufferBindingSize)`);
      }
    }
    const { offsets, total } = placeGroups(groups, ALIGN);
    const maxBuffer = this.device.limits.maxBufferSize ?? 268435456;
    if (total > maxBuffer) {
      throw new WebGpuError(`the activations would take ${total} bytes at ${names.map((k) => `${k}=${env.get(k)}`).join(', ')}; ` +
        `this device allows buffers of at most ${maxBuffer} bytes (maxBufferSize)`);
    }
    if (this.bindingKey === '' || total > this.arenaBytes) {
      // a larger arena: half again what is asked for, so that a size that grows run by run (a key/value
      // cache) does not reallocate every run
      const bytes = Math.max(16, Math.ceil(Math.min(maxBuffer, this.bindingKey === '' ? total : total * 1.5) / 16) * 16);
      this.buffers[0].destroy();
      const usage = BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;
      this.buffers[0] = this.device.createBuffer({ size: bytes, usage, label: 'arena0' });
      this.arenaBytes = bytes;
    }
    for (const [name, g] of Object.entries(arena.tensors)) this.tensors[name] = [[0, offsets[g], groups[g].bytes]];
    const values = new Uint32Array(16);
    names.forEach((k, i) => (values[i] = env.get(k)!));
    this.device.queue.writeBuffer(this.sizes!, 0, values.buffer, 0, 64);
    this.build(env);
    this.binding = env;
    this.bindingKey = key;
  }

  /** The output shapes of the latest run (graphs with symbolic sizes). */
  outputShapes(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const n of this.graph.outputs) {
      const shape = this.graph.tensors[n].shape;
      out.set(n, this.binding ? evalShape(`output '${n}'`, shape, this.binding) : (shape as number[]));
    }
    return out;
  }

  /** Uploads a tensor's values in its GPU storage type (FT for floats, i32 otherwise). */
  private write(name: string, values: TypedArray, dtype: DType): void {
    const n = values.length;
    let bytes: Uint8Array;
    if (isFloat(dtype) && this.precision === 'f16') {
      const h = new Uint16Array(n + (n & 1));
      for (let i = 0; i < n; i++) h[i] = floatToHalfBits(values[i]);
      bytes = new Uint8Array(h.buffer);
    } else if (isFloat(dtype)) {
      const f = values instanceof Float32Array ? values : Float32Array.from(values);
      bytes = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
    } else {
      const v = values instanceof Int32Array ? values : Int32Array.from(values);
      bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    }
    this.writeBytes(name, bytes);
  }

  /** Uploads bytes to a tensor's parts (each padded to its planned size). */
  private writeBytes(name: string, bytes: Uint8Array): void {
    let pos = 0;
    for (const [b, offset, size] of this.tensors[name]) {
      const chunk = bytes.subarray(pos, pos + size);
      if (chunk.byteLength === size && chunk.byteOffset % 4 === 0) {
        this.device.queue.writeBuffer(this.buffers[b], offset, chunk.buffer, chunk.byteOffset, size);
      } else {
        const padded = new Uint8Array(size);
        padded.set(chunk);
        this.device.queue.writeBuffer(this.buffers[b], offset, padded.buffer, 0, size);
      }
      pos += size;
    }
  }

  private checkDevice(): void {
    if (this.lostInfo) {
      const { reason, message } = this.lostInfo;
      throw new WebGpuError(
        `the WebGPU device was lost (${reason || 'unknown reason'}${message ? `: ${message}` : ''}); ` +
          `load the model again, or load it with another backend`,
      );
    }
  }

  async run(inputs: Map<string, TypedArray>, shapes?: Map<string, readonly number[]>): Promise<Map<string, TypedArray>> {
    this.checkDevice();
    if (this.graph.symbols !== undefined) this.bind(shapes);
    for (const name of this.graph.inputs) {
      const v = inputs.get(name);
      if (!v) throw new Error(`graph input '${name}' was not given`);
      if (this.tensors[name] && v.length) this.write(name, v, this.graph.tensors[name].dtype);
    }
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const s of this.steps) {
      pass.setPipeline(s.pipeline);
      pass.setBindGroup(0, s.group);
      pass.dispatchWorkgroups(s.groups[0], s.groups[1], s.groups[2]);
    }
    pass.end();
    for (const o of this.outputs) {
      for (const [b, offset, size, at] of o.parts) encoder.copyBufferToBuffer(this.buffers[b], offset, this.readback, at, size);
    }
    this.device.queue.submit([encoder.finish()]);
    try {
      await this.readback.mapAsync(MapModeRead);
    } catch (e) {
      this.checkDevice();
      throw new WebGpuError(`reading the outputs back failed: ${(e as Error).message}${this.lastError ? ` (${this.lastError})` : ''}`);
    }
    const result = new Map<string, TypedArray>();
    try {
      const mapped = new Uint8Array(this.readback.getMappedRange());
      for (const o of this.outputs) {
        const item = isFloat(o.dtype) && this.precision === 'f16' ? 2 : 4;
        const raw = new Uint8Array(Math.max(o.size * item, 4) + 4);
        let pos = 0;
        for (const [, , size, at] of o.parts) {
          raw.set(mapped.subarray(at, at + size), pos);
          pos += size;
        }
        result.set(o.name, this.fromGpu(raw, o.dtype, o.size));
      }
    } finally {
      this.readback.unmap();
    }
    if (this.lastError) {
      const msg = this.lastError;
      this.lastError = null;
      throw new WebGpuError(`WebGPU reported an error while running: ${msg}`);
    }
    return result;
  }

  private fromGpu(raw: Uint8Array, dtype: DType, n: number): TypedArray {
    if (isFloat(dtype)) {
      return this.precision === 'f16' ? decodeF16(raw, n) : new Float32Array(raw.buffer, 0, n).slice();
    }
    const v = new Int32Array(raw.buffer, 0, n);
    const out = allocate(dtype, n);
    out.set(v);
    return out;
  }

  /** Releases the device and its buffers. */
  dispose(): void {
    this.device.destroy();
  }
}

export const webgpuFactory: BackendFactory = {
  name: 'webgpu',
  unavailableReason: () =>
    gpuApi() ? null : 'navigator.gpu is missing (no WebGPU in this browser or runtime, or the page is not a secure context)',
  probe: async (options) => {
    if (options.allowSoftwareAdapter !== false) return null;
    const adapter = await gpuApi()!.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return 'no WebGPU adapter is available (navigator.gpu.requestAdapter() returned null)';
    const soft = softwareAdapter(adapter);
    return soft ? `skipped by the default backend order on ${soft}; name webgpu in backendOrder to use it` : null;
  },
  create: (ctx) => WebGpuBackend.create(ctx.graph as unknown as WebGpuGraph, ctx.weights, ctx.options ?? {}),
};
