// The slice of the WebGPU API this backend uses (TypeScript's DOM library has no WebGPU types).

export interface GPULike {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<GPUAdapterLike | null>;
}

export interface GPUAdapterLike {
  readonly info?: { vendor?: string; architecture?: string; description?: string; device?: string; isFallbackAdapter?: boolean };
  readonly isFallbackAdapter?: boolean;
  readonly features: ReadonlySet<string>;
  readonly limits: Record<string, number>;
  requestDevice(descriptor?: { requiredFeatures?: string[]; requiredLimits?: Record<string, number> }): Promise<GPUDeviceLike>;
}

export interface GPUErrorLike {
  readonly message: string;
}

export interface GPUDeviceLostInfoLike {
  readonly reason: string;
  readonly message: string;
}

export interface GPUDeviceLike {
  readonly limits: Record<string, number>;
  readonly queue: GPUQueueLike;
  readonly lost: Promise<GPUDeviceLostInfoLike>;
  onuncapturederror: ((ev: { error: GPUErrorLike }) => void) | null;
  createBuffer(d: { size: number; usage: number; label?: string; mappedAtCreation?: boolean }): GPUBufferLike;
  createShaderModule(d: { code: string; label?: string }): GPUShaderModuleLike;
  createComputePipelineAsync(d: {
    layout: 'auto';
    compute: { module: GPUShaderModuleLike; entryPoint: string };
    label?: string;
  }): Promise<GPUComputePipelineLike>;
  createBindGroup(d: {
    layout: unknown;
    entries: { binding: number; resource: { buffer: GPUBufferLike; offset: number; size: number } }[];
  }): GPUBindGroupLike;
  createCommandEncoder(): GPUCommandEncoderLike;
  pushErrorScope(filter: 'validation' | 'out-of-memory' | 'internal'): void;
  popErrorScope(): Promise<GPUErrorLike | null>;
  destroy(): void;
}

export interface GPUBufferLike {
  readonly size: number;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
  destroy(): void;
}

export interface GPUQueueLike {
  writeBuffer(buffer: GPUBufferLike, offset: number, data: ArrayBufferLike | ArrayBufferView, dataOffset?: number, size?: number): void;
  submit(commands: unknown[]): void;
  onSubmittedWorkDone(): Promise<void>;
}

export interface GPUShaderModuleLike {
  getCompilationInfo?(): Promise<{ messages: readonly { type: string; message: string; lineNum: number }[] }>;
}

export interface GPUComputePipelineLike {
  getBindGroupLayout(index: number): unknown;
}

export type GPUBindGroupLike = object;

export interface GPUComputePassLike {
  setPipeline(p: GPUComputePipelineLike): void;
  setBindGroup(index: number, g: GPUBindGroupLike): void;
  dispatchWorkgroups(x: number, y?: number, z?: number): void;
  end(): void;
}

export interface GPUCommandEncoderLike {
  beginComputePass(): GPUComputePassLike;
  copyBufferToBuffer(src: GPUBufferLike, srcOffset: number, dst: GPUBufferLike, dstOffset: number, size: number): void;
  finish(): unknown;
}

/** GPUBufferUsage and GPUMapMode flags (fixed by the WebGPU specification). */
export const BufferUsage = { MAP_READ: 0x1, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80 } as const;
export const MapModeRead = 0x1;

/** navigator.gpu, or null. */
export function gpuApi(): GPULike | null {
  const nav = (globalThis as { navigator?: { gpu?: GPULike } }).navigator;
  return nav && nav.gpu ? nav.gpu : null;
}

/** Why an adapter is a CPU emulation of a GPU (SwiftShader, llvmpipe, lavapipe, a fallback adapter), or null. */
export function softwareAdapter(adapter: GPUAdapterLike): string | null {
  const info = adapter.info ?? {};
  if (info.isFallbackAdapter || adapter.isFallbackAdapter) return 'a fallback adapter';
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ').toLowerCase();
  const hit = ['swiftshader', 'llvmpipe', 'lavapipe', 'softpipe', 'warp', 'basic render driver'].find((w) => text.includes(w));
  return hit ? `a software adapter (${hit})` : null;
}
