// The descriptor runner returned by load(): input/output views (the seed API) and run().

import type { BackendInstance } from './backends/backend.js';
import type { ArrayLikeInput, DType, ModelDescriptor, TensorSpec, TypedArray } from './types.js';
import { allocate, product, shapeString } from './types.js';
import type { HostSteps, HostValue } from './host.js';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * A named tensor of the model: write inputs with set(), read outputs with toActual(). An output
 * of a host step (model.json "host") has a data-dependent shape: `dynamic` is true, its unknown
 * dims read 0 until the first run, and `shape`/`length` then give the latest run's result.
 */
export class TensorView {
  readonly name: string;
  readonly dtype: DType;
  /** Some dim of the shape depends on the data (it changes from run to run). */
  readonly dynamic: boolean;
  private currentShape: readonly number[];
  private data: TypedArray;
  private written = false;
  private readonly kind: 'input' | 'output';

  constructor(spec: TensorSpec, kind: 'input' | 'output') {
    this.name = spec.name;
    this.dynamic = spec.shape.some((d) => typeof d !== 'number');
    this.currentShape = Object.freeze(spec.shape.map((d) => (typeof d === 'number' ? d : 0)));
    this.dtype = spec.dtype;
    this.data = allocate(spec.dtype, product(this.currentShape));
    this.kind = kind;
  }

  get shape(): readonly number[] {
    return this.currentShape;
  }

  /** Number of elements: the product of `shape`. */
  get length(): number {
    return this.data.length;
  }

  /** Copies `values` into the tensor; its length must be the tensor's element count. */
  set(values: ArrayLikeInput): void {
    if (values == null || typeof (values as ArrayLike<unknown>).length !== 'number') {
      throw new TypeError(`${this.kind} '${this.name}' expects an array or typed array, got ${values === null ? 'null' : typeof values}`);
    }
    const n = (values as ArrayLike<unknown>).length;
    if (n !== this.length) {
      throw new Error(`${this.kind} '${this.name}' expects shape ${shapeString(this.shape)} (${this.length} elements), got ${n}`);
    }
    if (values instanceof BigInt64Array || (typeof BigUint64Array !== 'undefined' && values instanceof BigUint64Array)) {
      if (this.dtype !== 'int64' && this.dtype !== 'int32') {
        throw new TypeError(`${this.kind} '${this.name}' is ${this.dtype}; a BigInt64Array only fits int64/int32 tensors`);
      }
      for (let i = 0; i < n; i++) {
        const v = Number(values[i]);
        if (v < INT32_MIN || v > INT32_MAX) {
          throw new RangeError(`${this.kind} '${this.name}' (${this.dtype}): value ${values[i]} at index ${i} does not fit in 32 bits`);
        }
        this.data[i] = v;
      }
    } else {
      if (this.dtype === 'int64' && !ArrayBuffer.isView(values)) {
        for (let i = 0; i < n; i++) {
          const v = Number((values as ArrayLike<number>)[i]);
          if (v < INT32_MIN || v > INT32_MAX) {
            throw new RangeError(`${this.kind} '${this.name}' (int64): value ${v} at index ${i} does not fit in 32 bits`);
          }
        }
      }
      if (ArrayBuffer.isView(values)) this.data.set(values as unknown as ArrayLike<number>);
      else for (let i = 0; i < n; i++) this.data[i] = Number((values as ArrayLike<number>)[i]);
    }
    this.written = true;
  }

  /** The tensor's data: for an output, the result of the latest run. */
  toActual(): TypedArray {
    return this.data;
  }

  /** @internal */
  get isSet(): boolean {
    return this.written;
  }

  /** @internal: an output view takes a copy of the latest result (and, if dynamic, its shape) */
  receive(values: TypedArray, shape?: number[]): void {
    if (this.dynamic && shape) {
      this.currentShape = Object.freeze([...shape]);
      if (this.data.length !== values.length) this.data = allocate(this.dtype, values.length);
    }
    this.data.set(values);
    this.written = true;
  }
}

/** Inputs for run(): a plain object (or Map) from input name to its data. */
export type NamedInputs = { [name: string]: ArrayLikeInput } | Map<string, ArrayLikeInput>;

export class Runner {
  /** The backend that loaded, e.g. 'js'. */
  readonly backendName: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The descriptor's model.json. */
  readonly descriptor: ModelDescriptor;
  private readonly backend: BackendInstance;
  private readonly host: HostSteps | null;
  private readonly inputViews: TensorView[];
  private readonly outputViews: TensorView[];
  private queue: Promise<unknown> = Promise.resolve();

  /** `host`: the descriptor's host steps, built by load() (null when it has none). */
  constructor(descriptor: ModelDescriptor, backend: BackendInstance, host: HostSteps | null = null) {
    this.descriptor = descriptor;
    this.backend = backend;
    this.backendName = backend.name;
    this.host = host;
    this.inputViews = descriptor.inputs.map((s) => new TensorView(s, 'input'));
    this.outputViews = descriptor.outputs.map((s) => new TensorView(s, 'output'));
    this.inputNames = Object.freeze(descriptor.inputs.map((s) => s.name));
    this.outputNames = Object.freeze(descriptor.outputs.map((s) => s.name));
  }

  /** How the backend runs, e.g. {threads: 4, sharedMemory: true} for wasm; {} when it says nothing. */
  get backendInfo(): { [key: string]: unknown } {
    return { ...(this.backend.info ?? {}) };
  }

  /** Releases the backend's resources (wasm workers, GPU buffers); the runner cannot run afterwards. */
  dispose(): void {
    this.backend.dispose?.();
  }

  /** One view per model input, in model.json order (the same objects on every call). */
  getInputViews(): TensorView[] {
    return this.inputViews.slice();
  }

  /** One view per model output, in model.json order (the same objects on every call). */
  getOutputViews(): TensorView[] {
    return this.outputViews.slice();
  }

  /**
   * Runs the model. With `inputs`, sets those named inputs first; the others keep what was set in
   * their views. The inputs are taken when run() is called; runs execute one after another.
   * Resolves to every output by name (arrays owned by the caller).
   */
  run(inputs?: NamedInputs): Promise<{ [name: string]: TypedArray }> {
    let feed: Map<string, TypedArray>;
    try {
      feed = this.takeInputs(inputs);
    } catch (e) {
      return Promise.reject(e);
    }
    const result = this.queue.then(() => this.execute(feed));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private takeInputs(inputs?: NamedInputs): Map<string, TypedArray> {
    if (inputs !== undefined && inputs !== null) {
      const entries = inputs instanceof Map ? [...inputs.entries()] : Object.entries(inputs);
      // check every name before setting anything
      const targets = entries.map(([name]) => {
        const view = this.inputViews.find((v) => v.name === name);
        if (!view) {
          throw new Error(`unknown input '${name}'; the model's inputs are: ${this.inputNames.map((n) => `'${n}'`).join(', ')}`);
        }
        return view;
      });
      entries.forEach(([, value], i) => targets[i].set(value));
    }
    const feed = new Map<string, TypedArray>();
    for (const view of this.inputViews) {
      if (!view.isSet) {
        throw new Error(`input '${view.name}' (shape ${shapeString(view.shape)}, ${view.dtype}) was never set: pass it to run({${view.name}: ...}) or call getInputViews()[${this.inputViews.indexOf(view)}].set(...)`);
      }
      // a copy: set() calls made while this run waits or executes must not change its data
      feed.set(view.name, view.toActual().slice());
    }
    return feed;
  }

  private async execute(feed: Map<string, TypedArray>): Promise<{ [name: string]: TypedArray }> {
    const results = await this.backend.run(feed);
    const shapes = new Map<string, number[]>();
    if (this.host) {
      const values = new Map<string, HostValue>();
      for (const [name, data] of [...feed, ...results]) {
        const shape = this.host.staticShape(name);
        if (shape) values.set(name, { data, shape });
      }
      this.host.run(values);
      for (const name of this.host.outputs) {
        const v = values.get(name)!;
        results.set(name, v.data);
        shapes.set(name, v.shape);
      }
    }
    const out: { [name: string]: TypedArray } = {};
    for (const view of this.outputViews) {
      const r = results.get(view.name);
      if (!r) throw new Error(`backend '${this.backendName}' did not produce output '${view.name}'`);
      if (!view.dynamic && r.length !== view.length) {
        throw new Error(`output '${view.name}' has ${r.length} elements, expected shape ${shapeString(view.shape)} (${view.length})`);
      }
      view.receive(r, shapes.get(view.name));
      out[view.name] = r;
    }
    return out;
  }
}
