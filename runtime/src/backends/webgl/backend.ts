// The webgl backend: runs graph_webgl.json as it is. It knows no op: it creates the textures of the
// plan (R32F for floats, R32I for the rest, one texel per element), uploads the constants once,
// compiles every fragment program at load (in parallel where KHR_parallel_shader_compile exists),
// and per run uploads the inputs, draws the list (each draw writes one texture of its output, a
// fragment per element) and reads the outputs back.

import type { BackendFactory, BackendInstance } from '../backend.js';
import type { ConstantDesc, DType, GraphDescriptor, TypedArray } from '../../types.js';
import { allocate, own, product } from '../../types.js';
import { decodeConstant } from '../../weights.js';
import { decodeF16 } from '../../float16.js';

/** Where a tensor's elements are: `width` texels a row, `cap` elements per texture, its textures. */
interface Placement {
  width: number;
  cap: number;
  textures: number[];
}

/** graph_webgl.json (docs/descriptor.md). */
export interface WebGlGraph extends Omit<GraphDescriptor, 'kernels'> {
  maxTextureSize: number;
  maxTextureUnits: number;
  textures: { width: number; height: number; type: 'float' | 'int' }[];
  placement: { [name: string]: Placement };
  programs: string[];
  /** inputs: [sampler uniform, texture]; outputs: [texture, flat index of its first texel] */
  draws: { name: string; program: number; inputs: [string, number][]; outputs: [number, number][] }[];
}

export class WebGlError extends Error {}

type GL = WebGL2RenderingContext;

const VERTEX = `#version 300 es
void main() {
  gl_Position = vec4(float((gl_VertexID & 1) * 4 - 1), float((gl_VertexID & 2) * 2 - 1), 0.0, 1.0);
}
`;

const SOFTWARE = ['swiftshader', 'llvmpipe', 'softpipe', 'software', 'basic render', 'lavapipe'];

/** A WebGL2 context of its own (an OffscreenCanvas where there is one), or null. */
function createContext(): GL | null {
  const attrs: WebGLContextAttributes = {
    alpha: false, antialias: false, depth: false, stencil: false, premultipliedAlpha: false,
    preserveDrawingBuffer: false, powerPreference: 'high-performance',
  };
  const g = globalThis as { OffscreenCanvas?: new (w: number, h: number) => { getContext(k: string, a: unknown): unknown }; document?: { createElement(t: string): { getContext(k: string, a: unknown): unknown } } };
  try {
    if (g.OffscreenCanvas) return (new g.OffscreenCanvas(1, 1).getContext('webgl2', attrs) as GL | null) ?? null;
    if (g.document) return (g.document.createElement('canvas').getContext('webgl2', attrs) as GL | null) ?? null;
  } catch {
    return null;
  }
  return null;
}

/** The renderer's name (unmasked where the browser tells it). */
function rendererOf(gl: GL): string {
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const r = ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  return String(r ?? '');
}

/**
 * The float textures the draws write: 'f32' (R32F, EXT_color_buffer_float), 'f16' (R16F where only
 * EXT_color_buffer_half_float renders, or where backendOptions.webgl.halfFloat asks for it: every
 * kernel's result rounded to a half, 11 significant bits, |x| <= 65504), or why neither can be.
 */
function renderPrecision(gl: GL, options: { [key: string]: unknown }): 'f32' | 'f16' | string {
  const full = !!gl.getExtension('EXT_color_buffer_float');
  const half = !!gl.getExtension('EXT_color_buffer_half_float');
  if (full && options.halfFloat !== true) return 'f32';
  if (half || full) return 'f16';
  return 'the WebGL2 context cannot render to float textures (neither EXT_color_buffer_float nor EXT_color_buffer_half_float)';
}

export class WebGlBackend implements BackendInstance {
  readonly name = 'webgl';
  readonly info: { [key: string]: unknown };
  private lost = false;
  private textures: WebGLTexture[] = [];
  private framebuffers: WebGLFramebuffer[] = [];
  private programs: { program: WebGLProgram; base: WebGLUniformLocation | null; samplers: Map<string, WebGLUniformLocation | null> }[] = [];
  private vao: WebGLVertexArrayObject | null = null;

  private constructor(private readonly gl: GL, private readonly graph: WebGlGraph, renderer: string, private readonly precision: 'f32' | 'f16') {
    this.info = { renderer, precision, draws: graph.draws.length, programs: graph.programs.length, textures: graph.textures.length };
    const canvas = gl.canvas as { addEventListener?: (t: string, f: (e: Event) => void) => void };
    canvas.addEventListener?.('webglcontextlost', (e: Event) => {
      e.preventDefault();
      this.lost = true;
    });
  }

  static async create(graph: WebGlGraph, weights: Uint8Array, options: { [key: string]: unknown } = {}): Promise<WebGlBackend> {
    if (!Array.isArray(graph.textures) || !Array.isArray(graph.programs) || !Array.isArray(graph.draws) || !graph.placement) {
      throw new WebGlError('graph_webgl.json needs "textures", "placement", "programs" and "draws"');
    }
    const gl = createContext();
    if (!gl) throw new WebGlError('no WebGL2 context could be created');
    const precision = renderPrecision(gl, options);
    if (precision !== 'f32' && precision !== 'f16') throw new WebGlError(precision);
    const maxSize = gl.getParameter(gl.MAX_TEXTURE_SIZE) as number;
    if (graph.maxTextureSize > maxSize) {
      throw new WebGlError(`the model needs textures of ${graph.maxTextureSize} texels a side; this device allows ${maxSize} (convert with a smaller webgl_max_texture)`);
    }
    const units = gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS) as number;
    if ((graph.maxTextureUnits ?? 0) > units) throw new WebGlError(`a program reads ${graph.maxTextureUnits} textures; this device allows ${units}`);
    const backend = new WebGlBackend(gl, graph, rendererOf(gl), precision);
    try {
      await backend.setUp(weights);
    } catch (e) {
      backend.dispose();
      throw e;
    }
    return backend;
  }

  private check(what: string): void {
    if (this.lost || this.gl.isContextLost()) throw new WebGlError(`the WebGL context was lost (${what}); load the model again`);
    const err = this.gl.getError();
    if (err !== this.gl.NO_ERROR) throw new WebGlError(`WebGL error 0x${err.toString(16)} while ${what}`);
  }

  private async setUp(weights: Uint8Array): Promise<void> {
    const { gl, graph } = this;
    // under f16 the textures draws write are half floats; weights and inputs, only read, stay R32F
    const written = new Set(graph.draws.flatMap((d) => d.outputs.map(([t]) => t)));
    for (const [i, t] of graph.textures.entries()) {
      if (!(t.width > 0 && t.height > 0) || (t.type !== 'float' && t.type !== 'int')) throw new WebGlError(`texture ${i} is not {width, height, type}`);
      const tex = gl.createTexture()!;
      gl.bindTexture(gl.TEXTURE_2D, tex);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
      gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
      const format = t.type === 'int' ? gl.R32I : this.precision === 'f16' && written.has(i) ? gl.R16F : gl.R32F;
      gl.texStorage2D(gl.TEXTURE_2D, 1, format, t.width, t.height);
      this.textures.push(tex);
      this.framebuffers.push(null as unknown as WebGLFramebuffer); // made when first drawn to or read
    }
    this.check('creating the textures');
    for (const [name, c] of Object.entries(graph.constants ?? {})) {
      const at = own(graph.placement, name);
      if (at) this.upload(name, at, decodeConstant(name, c as ConstantDesc, weights), (c as ConstantDesc).dtype);
    }
    this.check('uploading the weights');

    const vs = this.shader(gl.VERTEX_SHADER, VERTEX);
    const parallel = gl.getExtension('KHR_parallel_shader_compile');
    const made = graph.programs.map((code) => {
      const fs = this.shader(gl.FRAGMENT_SHADER, code);
      const program = gl.createProgram()!;
      gl.attachShader(program, vs);
      gl.attachShader(program, fs);
      gl.linkProgram(program);
      return { program, fs };
    });
    if (parallel) {
      // compiled by the driver's threads; poll without blocking the page
      const done = (p: WebGLProgram) => gl.getProgramParameter(p, parallel.COMPLETION_STATUS_KHR) as boolean;
      while (!made.every((m) => done(m.program))) await new Promise((r) => setTimeout(r, 4));
    }
    this.programs = made.map(({ program, fs }, i) => {
      if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
        const users = graph.draws.filter((d) => d.program === i).map((d) => d.name);
        const log = gl.getShaderInfoLog(fs) || gl.getProgramInfoLog(program) || '';
        throw new WebGlError(`program ${i} (kernel ${users.slice(0, 3).join(', ')}) failed to compile: ${log.trim().split('\n').slice(0, 3).join('; ')}`);
      }
      gl.deleteShader(fs);
      return { program, base: gl.getUniformLocation(program, 'u_base'), samplers: new Map() };
    });
    gl.deleteShader(vs);
    for (const d of graph.draws) {
      const p = this.programs[d.program];
      if (!p) throw new WebGlError(`draw '${d.name}' names program ${d.program}; there are ${this.programs.length}`);
      for (const [u, t] of d.inputs) {
        if (!this.textures[t]) throw new WebGlError(`draw '${d.name}' reads texture ${t}; there are ${this.textures.length}`);
        if (!p.samplers.has(u)) p.samplers.set(u, gl.getUniformLocation(p.program, u));
      }
      for (const [t] of d.outputs) if (!this.textures[t]) throw new WebGlError(`draw '${d.name}' writes texture ${t}; there are ${this.textures.length}`);
    }
    this.vao = gl.createVertexArray();
    this.check('compiling the programs');
  }

  private shader(type: number, code: string): WebGLShader {
    const s = this.gl.createShader(type)!;
    this.gl.shaderSource(s, code);
    this.gl.compileShader(s);
    return s;
  }

  private framebuffer(t: number): WebGLFramebuffer {
    const { gl } = this;
    if (!this.framebuffers[t]) {
      const fb = gl.createFramebuffer()!;
      gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
      gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, this.textures[t], 0);
      const status = gl.checkFramebufferStatus(gl.FRAMEBUFFER);
      if (status !== gl.FRAMEBUFFER_COMPLETE) throw new WebGlError(`texture ${t} cannot be rendered to (framebuffer status 0x${status.toString(16)})`);
      this.framebuffers[t] = fb;
    }
    return this.framebuffers[t];
  }

  /** Writes a tensor's elements into its textures (rows of `width`, the last row padded). */
  private upload(name: string, at: Placement, data: TypedArray, dtype: DType): void {
    const { gl } = this;
    const float = dtype === 'float32' || dtype === 'float16';
    at.textures.forEach((t, k) => {
      const spec = this.graph.textures[t];
      if (!spec) throw new WebGlError(`tensor '${name}' is placed in texture ${t}; there are ${this.graph.textures.length}`);
      const n = spec.width * spec.height;
      const start = k * at.cap;
      const part = float ? new Float32Array(n) : new Int32Array(n);
      const end = Math.min(data.length, start + n);
      for (let i = start; i < end; i++) part[i - start] = Number(data[i]);
      gl.bindTexture(gl.TEXTURE_2D, this.textures[t]);
      gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
      gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, spec.width, spec.height, float ? gl.RED : gl.RED_INTEGER, float ? gl.FLOAT : gl.INT, part);
    });
  }

  private download(name: string, at: Placement, dtype: DType, size: number): TypedArray {
    const { gl } = this;
    const float = dtype === 'float32' || dtype === 'float16';
    const out = allocate(dtype, size);
    at.textures.forEach((t, k) => {
      const spec = this.graph.textures[t];
      const n = spec.width * spec.height;
      const px = this.readTexels(t, spec.width, spec.height, float);
      const start = k * at.cap;
      const end = Math.min(size, start + n);
      for (let i = start; i < end; i++) out[i] = px[4 * (i - start)];
    });
    this.check(`reading output '${name}'`);
    return out;
  }

  /** The texels of texture t's [0, w) × [0, h) corner, 4 values each (RGBA: the read format every float /
   *  integer color buffer supports; a half-float one may read only as halves, as its read type says). */
  private readTexels(t: number, w: number, h: number, float: boolean): Float32Array | Int32Array {
    const { gl } = this;
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer(t));
    if (float && gl.getParameter(gl.IMPLEMENTATION_COLOR_READ_TYPE) === gl.HALF_FLOAT
        && gl.getParameter(gl.IMPLEMENTATION_COLOR_READ_FORMAT) === gl.RGBA) {
      const halves = new Uint16Array(4 * w * h);
      gl.readPixels(0, 0, w, h, gl.RGBA, gl.HALF_FLOAT, halves);
      return decodeF16(new Uint8Array(halves.buffer), 4 * w * h);
    }
    const px = float ? new Float32Array(4 * w * h) : new Int32Array(4 * w * h);
    gl.readPixels(0, 0, w, h, float ? gl.RGBA : gl.RGBA_INTEGER, float ? gl.FLOAT : gl.INT, px);
    return px;
  }

  private draw(d: WebGlGraph['draws'][number]): void {
    const { gl } = this;
    const p = this.programs[d.program];
    gl.useProgram(p.program);
    d.inputs.forEach(([u, t], unit) => {
      gl.activeTexture(gl.TEXTURE0 + unit);
      gl.bindTexture(gl.TEXTURE_2D, this.textures[t]);
      gl.uniform1i(p.samplers.get(u) ?? null, unit);
    });
    for (const [t, base] of d.outputs) {
      const spec = this.graph.textures[t];
      gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer(t));
      gl.viewport(0, 0, spec.width, spec.height);
      gl.uniform1i(p.base, base);
      gl.drawArrays(gl.TRIANGLES, 0, 3);
    }
  }

  async run(inputs: Map<string, TypedArray>): Promise<Map<string, TypedArray>> {
    const { gl, graph } = this;
    if (this.lost || gl.isContextLost()) throw new WebGlError('the WebGL context was lost; load the model again');
    for (const name of graph.inputs) {
      const data = inputs.get(name);
      const at = own(graph.placement, name);
      const info = own(graph.tensors, name);
      if (!data || !at || !info) throw new WebGlError(`input '${name}' has no data or no place in the texture plan`);
      this.upload(name, at, data, info.dtype);
    }
    gl.bindVertexArray(this.vao);
    gl.disable(gl.BLEND);
    gl.disable(gl.DEPTH_TEST);
    for (const d of graph.draws) this.draw(d);
    const result = new Map<string, TypedArray>();
    for (const name of graph.outputs) {
      const at = own(graph.placement, name);
      const info = own(graph.tensors, name);
      if (!at || !info) throw new WebGlError(`output '${name}' has no place in the texture plan`);
      result.set(name, this.download(name, at, info.dtype, product(info.shape)));
    }
    this.check('running');
    return result;
  }

  /** Runs the draw list once more, timing each draw (a readback of one texel ends each). */
  async profile(): Promise<[string, number][]> {
    const { gl } = this;
    const out: [string, number][] = [];
    gl.bindVertexArray(this.vao);
    for (const d of this.graph.draws) {
      const t0 = performance.now();
      this.draw(d);
      const t = d.outputs[0][0];
      this.readTexels(t, 1, 1, this.graph.textures[t].type === 'float');
      out.push([d.name, performance.now() - t0]);
    }
    this.check('profiling');
    return out;
  }

  dispose(): void {
    const { gl } = this;
    for (const t of this.textures) gl.deleteTexture(t);
    for (const f of this.framebuffers) if (f) gl.deleteFramebuffer(f);
    for (const p of this.programs) gl.deleteProgram(p.program);
    if (this.vao) gl.deleteVertexArray(this.vao);
    this.textures = [];
    this.framebuffers = [];
    this.programs = [];
    gl.getExtension('WEBGL_lose_context')?.loseContext();
  }
}

export const webglFactory: BackendFactory = {
  name: 'webgl',
  unavailableReason: () => {
    const g = globalThis as { OffscreenCanvas?: unknown; document?: unknown; WebGL2RenderingContext?: unknown };
    if (!g.WebGL2RenderingContext || (!g.OffscreenCanvas && !g.document)) return 'no WebGL2 in this environment';
    return null;
  },
  probe: async (options) => {
    const gl = createContext();
    if (!gl) return 'no WebGL2 context could be created';
    try {
      const precision = renderPrecision(gl, options);
      if (precision !== 'f32' && precision !== 'f16') return precision;
      if (options.allowSoftwareRenderer === false) {
        const r = rendererOf(gl).toLowerCase();
        const hit = SOFTWARE.find((w) => r.includes(w));
        if (hit) return `skipped by the default backend order on a software renderer (${hit}); name webgl in backendOrder to use it`;
      }
      return null;
    } finally {
      gl.getExtension('WEBGL_lose_context')?.loseContext();
    }
  },
  create: (ctx) => WebGlBackend.create(ctx.graph as unknown as WebGlGraph, ctx.weights, ctx.options ?? {}),
};
