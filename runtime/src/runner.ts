// The descriptor runner returned by load(): input/output views (the seed API) and run().

import type { BackendInstance } from './backends/backend.js';
import type { ArrayLikeInput, DType, ModelDescriptor, TensorSpec, TypedArray } from './types.js';
import { allocate, product, shapeString } from './types.js';
import type { HostSteps, HostValue } from './host.js';
import { WebDNNError } from './errors.js';

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** int64 tensors are stored as int32: a value that does not fit is refused. */
function fitsInt32(v: number): boolean {
  return !(v < INT32_MIN || v > INT32_MAX);
}

/** What a refused element of a plain array is, for the error message. */
function describeElement(list: ArrayLike<unknown>, i: number): string {
  const x = list[i];
  if (x === undefined) return Array.isArray(list) && !(i in list) ? 'a hole (a sparse array)' : 'undefined';
  if (x === null) return 'null';
  if (typeof x === 'string') return `a string (${JSON.stringify(x.length > 20 ? x.slice(0, 20) + '…' : x)})`;
  if (Array.isArray(x)) return 'an array (nested arrays are not flattened: pass a flat array)';
  return typeof x === 'object' ? 'an object' : `a ${typeof x}`;
}

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

  /** The shape with its symbolic sizes (["batch", "seq"]) when a backend takes other sizes; else undefined. */
  readonly dims: readonly (number | string)[] | undefined;

  constructor(spec: TensorSpec, kind: 'input' | 'output') {
    this.name = spec.name;
    this.dims = spec.dims?.some((d) => typeof d === 'string') ? Object.freeze([...spec.dims]) : undefined;
    this.dynamic = spec.shape.some((d) => typeof d !== 'number') || this.dims !== undefined;
    this.currentShape = Object.freeze(spec.shape.map((d) => (typeof d === 'number' ? d : 0)));
    this.dtype = spec.dtype;
    this.data = allocate(spec.dtype, product(this.currentShape));
    this.kind = kind;
  }

  get shape(): readonly number[] {
    return this.currentShape;
  }

  /**
   * Sets the shape of an input with symbolic sizes (`dims`), e.g. [1, 128] for ["batch", "seq"]; the
   * data must be set() again after a change. The dims the model fixes must keep their size.
   */
  setShape(shape: readonly number[]): void {
    const what = `${this.kind} '${this.name}'`;
    if (this.kind !== 'input') throw new WebDNNError(`${what}: only an input's shape can be set`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new WebDNNError(`${what}: a shape is a list of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    const dims = this.dims;
    if (!dims) {
      if (shape.length === this.currentShape.length && shape.every((d, i) => d === this.currentShape[i])) return;
      throw new WebDNNError(`${what} has the fixed shape ${shapeString(this.currentShape)}, got ${shapeString(shape)}`);
    }
    if (shape.length !== dims.length) {
      throw new WebDNNError(`${what} has rank ${dims.length} (dims ${shapeString(dims)}), got shape ${shapeString(shape)}`);
    }
    dims.forEach((d, i) => {
      if (typeof d === 'number' && shape[i] !== d) {
        throw new WebDNNError(`${what} dim ${i} is fixed at ${d} (dims ${shapeString(dims)}), got shape ${shapeString(shape)}`);
      }
    });
    if (shape.every((d, i) => d === this.currentShape[i])) return;
    this.currentShape = Object.freeze([...shape]);
    this.data = allocate(this.dtype, product(shape));
    this.written = false;
  }

  /** Number of elements: the product of `shape`. */
  get length(): number {
    return this.data.length;
  }

  /**
   * Copies `values` into the tensor; its length must be the tensor's element count. A typed array
   * is copied as it is; a plain array (or array-like) must hold numbers, booleans or bigints only.
   * Refused values (WebDNNError) leave the tensor as it was.
   */
  set(values: ArrayLikeInput): void {
    const what = `${this.kind} '${this.name}'`;
    const v = values as unknown;
    if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<unknown>).length !== 'number') {
      const got = v === null || v === undefined ? String(v) : v instanceof ArrayBuffer ? 'an ArrayBuffer (wrap it in a typed array)'
        : typeof v === 'object' ? 'an object without a length' : `a ${typeof v}`;
      throw new WebDNNError(`${what} expects an array or typed array, got ${got}`);
    }
    const n = (values as ArrayLike<unknown>).length;
    if (n !== this.length) {
      throw new WebDNNError(`${what} expects shape ${shapeString(this.shape)} (${this.length} elements), got ${n}`);
    }
    const wide = this.dtype === 'int64';
    if (values instanceof BigInt64Array || (typeof BigUint64Array !== 'undefined' && values instanceof BigUint64Array)) {
      if (this.dtype !== 'int64' && this.dtype !== 'int32') {
        throw new WebDNNError(`${what} is ${this.dtype}; a BigInt64Array only fits int64/int32 tensors`);
      }
      for (let i = 0; i < n; i++) {
        if (!fitsInt32(Number(values[i]))) throw new WebDNNError(`${what} (${this.dtype}): value ${values[i]} at index ${i} does not fit in 32 bits`);
      }
      for (let i = 0; i < n; i++) this.data[i] = Number(values[i]);
    } else if (ArrayBuffer.isView(values)) {
      this.data.set(values as unknown as ArrayLike<number>);
    } else {
      // a plain array: every element checked before any is stored (a string, object, null or hole
      // would silently become NaN or 0)
      const copy = allocate(this.dtype, n);
      const list = values as ArrayLike<unknown>;
      for (let i = 0; i < n; i++) {
        const x = list[i];
        const t = typeof x;
        if (t !== 'number' && t !== 'boolean' && t !== 'bigint') {
          throw new WebDNNError(`${what}: element ${i} is ${describeElement(list, i)}; expected numbers (or booleans)`);
        }
        const num = Number(x);
        if (wide && !fitsInt32(num)) throw new WebDNNError(`${what} (int64): value ${String(x)} at index ${i} does not fit in 32 bits`);
        copy[i] = num;
      }
      this.data.set(copy);
    }
    this.written = true;
  }

  /**
   * The tensor's data: for an output, the result of the latest run. Its array type follows the
   * dtype (float32/float16 → Float32Array, int32/int64 → Int32Array, int8 → Int8Array, uint8/bool →
   * Uint8Array); name it to skip a cast: `view.toActual<Float32Array>()`.
   */
  toActual<T extends TypedArray = TypedArray>(): T {
    return this.data as T;
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

/** An input given with its shape: for inputs with symbolic sizes (`dims`), e.g. {data, shape: [1, 7]}. */
export interface ShapedInput {
  data: ArrayLikeInput;
  shape: readonly number[];
}

/** Inputs for run(): a plain object (or Map) from input name to its data (or {data, shape}). */
export type NamedInputs = { [name: string]: ArrayLikeInput | ShapedInput } | Map<string, ArrayLikeInput | ShapedInput>;

function isShaped(v: unknown): v is ShapedInput {
  return v !== null && typeof v === 'object' && !ArrayBuffer.isView(v) && !Array.isArray(v) && 'data' in v && 'shape' in v;
}

export class Runner {
  /** The backend that loaded, e.g. 'js'. */
  readonly backendName: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The descriptor's model.json. */
  readonly descriptor: ModelDescriptor;
  private backend: BackendInstance | null;
  private readonly host: HostSteps | null;
  private readonly inputViews: TensorView[];
  private readonly outputViews: TensorView[];
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Input snapshots no run holds, by input name: reused by the next run (allocating a large typed
   * array costs far more than filling one: 0.3 ms for 600 KB in Chromium, 15x the copy).
   */
  private readonly spare = new Map<string, TypedArray[]>();

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
    return { ...(this.backend?.info ?? {}) };
  }

  /**
   * Releases the backend's resources (wasm workers, GPU buffers, the js backend's weights); run()
   * then rejects ("runner disposed"). Calling it again does nothing.
   */
  dispose(): void {
    const backend = this.backend;
    if (!backend) return;
    this.backend = null;
    backend.dispose?.();
  }

  /** The runner has been disposed. */
  get disposed(): boolean {
    return this.backend === null;
  }

  private disposedError(): WebDNNError {
    return new WebDNNError(`runner disposed: this ${this.backendName} runner was disposed and cannot run; load the model again`);
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
   * Resolves to every output by name (arrays owned by the caller), typed by dtype as toActual()
   * says; `run<Float32Array>(...)` names the type when every output is float.
   */
  run<T extends TypedArray = TypedArray>(inputs?: NamedInputs): Promise<{ [name: string]: T }> {
    if (!this.backend) return Promise.reject(this.disposedError());
    let feed: Map<string, TypedArray>;
    try {
      feed = this.takeInputs(inputs);
    } catch (e) {
      return Promise.reject(e);
    }
    const result = this.queue.then(() => this.execute(feed)) as Promise<{ [name: string]: T }>;
    // registered before the caller's reactions: the snapshots are spare again when its await returns
    result.then(
      (out) => this.keep(feed, new Set(Object.values(out))),
      () => this.keep(feed, new Set()),
    );
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Runs the model (with `inputs`, as run() does), then once more kernel by kernel, timing each:
   * one {kernel, ms} per kernel in run order, labelled "<op type> <name>[ + <fused epilogue>]".
   * The wasm backend can; others reject naming the backend.
   */
  async profile(inputs?: NamedInputs): Promise<{ kernel: string; ms: number }[]> {
    await this.run(inputs);
    const backend = this.backend;
    if (!backend) throw this.disposedError();
    if (typeof backend.profile !== 'function') {
      throw new WebDNNError(`the ${this.backendName} backend has no per-kernel profile (the wasm backend has)`);
    }
    const timed = this.queue.then(() => backend.profile!());
    this.queue = timed.catch(() => undefined);
    return (await timed).map(([kernel, ms]) => ({ kernel, ms }));
  }

  private takeInputs(inputs?: NamedInputs): Map<string, TypedArray> {
    if (inputs !== undefined && inputs !== null) {
      if (typeof inputs !== 'object' || Array.isArray(inputs) || ArrayBuffer.isView(inputs)) {
        const got = Array.isArray(inputs) ? 'an array' : ArrayBuffer.isView(inputs) ? 'a typed array' : `a ${typeof inputs}`;
        throw new WebDNNError(`run() takes the inputs by name, {${this.inputNames.join(', ')}} or a Map; got ${got}`);
      }
      const entries = inputs instanceof Map ? [...inputs.entries()] : Object.entries(inputs);
      // check every name before setting anything
      const targets = entries.map(([name]) => {
        const view = this.inputViews.find((v) => v.name === name);
        if (!view) {
          throw new WebDNNError(`unknown input '${String(name)}'; the model's inputs are: ${this.inputNames.map((n) => `'${n}'`).join(', ')}`);
        }
        return view;
      });
      entries.forEach(([, value], i) => {
        if (isShaped(value)) {
          targets[i].setShape(value.shape);
          targets[i].set(value.data);
        } else {
          targets[i].set(value);
        }
      });
    }
    const feed = new Map<string, TypedArray>();
    for (const view of this.inputViews) {
      if (!view.isSet) {
        throw new WebDNNError(`input '${view.name}' (shape ${shapeString(view.shape)}, ${view.dtype}) was never set: pass it to run({${view.name}: ...}) or call getInputViews()[${this.inputViews.indexOf(view)}].set(...)`);
      }
      // a copy: set() calls made while this run waits or executes must not change its data
      const data = view.toActual();
      const snapshot = this.spare.get(view.name)?.pop();
      if (snapshot && snapshot.length === data.length) {
        snapshot.set(data);
        feed.set(view.name, snapshot);
      } else {
        feed.set(view.name, data.slice());
      }
    }
    return feed;
  }

  /** A backend built for the model.json shapes refuses other sizes, naming the input and the way out. */
  private checkFixedShapes(shapes: Map<string, readonly number[]>): void {
    for (const spec of this.descriptor.inputs) {
      const shape = shapes.get(spec.name);
      if (!shape || (shape.length === spec.shape.length && shape.every((d, i) => d === spec.shape[i]))) continue;
      const others = Object.entries(this.descriptor.backends).filter(([, b]) => b.symbolic === true).map(([n]) => n);
      throw new WebDNNError(
        `input '${spec.name}' has shape ${shapeString(shape)}, but the ${this.backendName} backend of this descriptor was built for ` +
          `${shapeString(spec.shape)}` + (others.length ? `; the ${others.join(', ')} backend takes other sizes (load with backendOrder: ['${others[0]}'])` : ''),
      );
    }
  }

  /** After a run: its input snapshots become spare, except any the run returned as an output. */
  private keep(feed: Map<string, TypedArray>, returned: Set<TypedArray>): void {
    for (const [name, data] of feed) {
      if (returned.has(data)) continue;
      const list = this.spare.get(name) ?? [];
      if (list.length < 2) list.push(data);
      this.spare.set(name, list);
    }
  }

  private async execute(feed: Map<string, TypedArray>): Promise<{ [name: string]: TypedArray }> {
    // a run queued before dispose() finds the backend gone
    if (!this.backend) throw this.disposedError();
    const inputShapes = new Map<string, readonly number[]>(this.inputViews.map((v) => [v.name, v.shape]));
    const symbolic = this.descriptor.backends[this.backendName]?.symbolic === true;
    if (!symbolic) this.checkFixedShapes(inputShapes);
    const results = await this.backend.run(feed, symbolic ? inputShapes : undefined);
    const shapes = new Map<string, number[]>(symbolic && this.backend.outputShapes ? this.backend.outputShapes() : []);
    if (this.host) {
      const values = new Map<string, HostValue>();
      for (const [name, data] of [...feed, ...results]) {
        if (!this.host.tensor(name)) continue;
        // the actual shape: a symbolic backend reports its outputs', the views hold the inputs'
        const shape = shapes.get(name) ?? inputShapes.get(name) ?? this.host.staticShape(name);
        if (shape) values.set(name, { data, shape: [...shape] });
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
      if (!r) throw new WebDNNError(`backend '${this.backendName}' did not produce output '${view.name}'`);
      if (!view.dynamic && r.length !== view.length) {
        throw new WebDNNError(`output '${view.name}' has ${r.length} elements, expected shape ${shapeString(view.shape)} (${view.length})`);
      }
      view.receive(r, shapes.get(view.name));
      out[view.name] = r;
    }
    return out;
  }
}
