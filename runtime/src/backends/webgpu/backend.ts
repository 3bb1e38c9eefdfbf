// The webgpu backend: runs graph_webgpu.json as it is. It knows no op: it creates the buffers of
// the memory plan, uploads the weights once, compiles every shader (in parallel, at load), builds
// every bind group once, and per run encodes the dispatch list into one command encoder with a
// single readback of the outputs.

import type { BackendFactory, BackendInstance } from '../backend.js';
import type { ConstantDesc, DType, GraphDescriptor, TypedArray } from '../../types.js';
import { allocate, own, product } from '../../types.js';
import { decodeConstant, storedConstant } from '../../weights.js';
import { decodeF16, floatToHalfBits } from '../../float16.js';
import type { GPUBindGroupLike, GPUBufferLike, GPUComputePipelineLike, GPUDeviceLike, GPUDeviceLostInfoLike } from './gpu.js';
import { BufferUsage, gpuApi, MapModeRead, softwareAdapter } from './gpu.js';

/** [buffer index, byte offset, bytes] of each part of a tensor. */
type Location = [number, number, number][];

interface MemoryPlan {
  buffers: { kind: string; bytes: number }[];
  tensors: { [name: string]: Location };
}

/** graph_webgpu.json (docs/descriptor.md). */
export interface WebGpuGraph extends Omit<GraphDescriptor, 'kernels'> {
  precision?: 'f32' | 'f16';
  limits?: { [key: string]: number };
  memory: { [precision: string]: MemoryPlan };
  shaders: string[];
  dispatches: { name: string; shader: number; bindings: [string, number][]; groups: [number, number, number] }[];
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

export class WebGpuBackend implements BackendInstance {
  readonly name = 'webgpu';
  /** 'f16' when the descriptor allows it and the adapter has shader-f16, else 'f32'. */
  readonly precision: 'f32' | 'f16';
  /** runner.backendInfo: the storage precision, the adapter, the number of dispatches and pipelines. */
  readonly info: { [key: string]: unknown };
  private lostInfo: GPUDeviceLostInfoLike | null = null;
  private lastError: string | null = null;
  private steps: { pipeline: GPUComputePipelineLike; group: GPUBindGroupLike; groups: [number, number, number] }[] = [];
  private readback!: GPUBufferLike;
  private outputs: { name: string; dtype: DType; size: number; parts: [number, number, number, number][] }[] = [];

  private constructor(
    private readonly device: GPUDeviceLike,
    private readonly graph: WebGpuGraph,
    private readonly plan: MemoryPlan,
    private readonly buffers: GPUBufferLike[],
    precision: 'f32' | 'f16',
    adapterInfo: { [key: string]: unknown },
  ) {
    this.precision = precision;
    this.info = { precision, adapter: adapterInfo, dispatches: graph.dispatches.length, shaders: graph.shaders.length };
    device.lost.then((info) => {
      this.lostInfo = info;
    });
    device.onuncapturederror = (ev) => {
      this.lastError = ev.error.message;
    };
  }

  static async create(graph: WebGpuGraph, weights: Uint8Array): Promise<WebGpuBackend> {
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
    const requiredLimits: { [key: string]: number } = {};
    for (const [key, value] of Object.entries(need)) {
      if (!(value > (DEFAULT_LIMITS[key] ?? Infinity))) continue;
      const has = adapter.limits[key];
      if (!(has >= value)) throw new WebGpuError(`the model needs ${key} = ${value}; this adapter allows ${has}`);
      requiredLimits[key] = value;
    }
    const device = await adapter.requestDevice({ requiredFeatures: f16 ? ['shader-f16'] : [], requiredLimits });
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    const usage = BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;
    const buffers = plan.buffers.map((b, i) => device.createBuffer({ size: b.bytes, usage, label: `${b.kind}${i}` }));
    const ai = adapter.info ?? {};
    const adapterInfo = { vendor: ai.vendor ?? '', architecture: ai.architecture ?? '', description: ai.description ?? '' };
    const backend = new WebGpuBackend(device, graph, plan, buffers, precision, adapterInfo);
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
    const header = this.precision === 'f16' ? 'enable f16;\nalias FT = f16;\n' : 'alias FT = f32;\n';
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
      const pipeline = pipelines[d.shader];
      if (!pipeline) throw new WebGpuError(`dispatch '${d.name}' names shader ${d.shader}; there are ${pipelines.length}`);
      const entries = d.bindings.map(([tensor, part], binding) => {
        const loc = plan.tensors[tensor]?.[part];
        if (!loc) throw new WebGpuError(`dispatch '${d.name}' binds '${tensor}' part ${part}, which the memory plan does not place`);
        return { binding, resource: { buffer: this.buffers[loc[0]], offset: loc[1], size: loc[2] } };
      });
      this.steps.push({ pipeline, group: device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }), groups: d.groups });
    }
    let offset = 0;
    for (const name of graph.outputs) {
      const info = graph.tensors[name] ?? graph.constants?.[name];
      const loc = plan.tensors[name];
      if (!info || !loc) throw new WebGpuError(`output '${name}' has no place in the memory plan`);
      const parts = loc.map(([b, o, n]) => {
        const p: [number, number, number, number] = [b, o, n, offset];
        offset += Math.ceil(n / 256) * 256;
        return p;
      });
      this.outputs.push({ name, dtype: info.dtype, size: product(info.shape), parts });
    }
    this.readback = device.createBuffer({ size: Math.max(offset, 16), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
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
    for (const [b, offset, size] of this.plan.tensors[name]) {
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

  async run(inputs: Map<string, TypedArray>): Promise<Map<string, TypedArray>> {
    this.checkDevice();
    for (const name of this.graph.inputs) {
      const v = inputs.get(name);
      if (!v) throw new Error(`graph input '${name}' was not given`);
      if (this.plan.tensors[name]) this.write(name, v, this.graph.tensors[name].dtype);
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
  create: (ctx) => WebGpuBackend.create(ctx.graph as unknown as WebGpuGraph, ctx.weights),
};
