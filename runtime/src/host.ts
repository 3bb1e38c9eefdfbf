// Host steps (model.json "host", docs/descriptor.md): the ops whose output shapes depend on the
// data run here, on the CPU, after the backend has run the static plan; one implementation serves
// every backend. Numbers are compared and computed as the typed arrays hold them.

import type { DType, TypedArray } from './types.js';
import { allocate, isDim, isDType, isObject, own, product, shapeString } from './types.js';
import { WebDNNError } from './errors.js';

/** A tensor's data with its actual shape. */
export interface HostValue {
  data: TypedArray;
  shape: number[];
}

export interface HostStep {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs?: { [key: string]: unknown };
}

export interface HostSection {
  steps: HostStep[];
  /** Shapes of what the steps read and write; a string dim is data-dependent. */
  tensors: { [name: string]: { shape: (number | string)[]; dtype: DType } };
  constants?: { [name: string]: { shape: number[]; dtype: DType; values: (number | boolean)[] } };
}

type Impl = (step: HostStep, args: (HostValue | null)[], dtypes: DType[]) => HostValue[];

function stepError(step: HostStep, what: string): Error {
  return new WebDNNError(`host step ${step.op} '${step.name}': ${what}`);
}

function axisOf(step: HostStep, rank: number): number | null {
  const a = step.attrs?.axis;
  if (a === undefined || a === null) return null;
  const ax = Number(a);
  if (!Number.isInteger(ax) || ax < -rank || ax >= rank) throw stepError(step, `axis ${String(a)} is out of range for rank ${rank}`);
  return ax < 0 ? ax + rank : ax;
}

/** [outer, dim, inner] around `axis` (the whole tensor as one axis when null). */
function around(shape: number[], axis: number | null): [number, number, number] {
  if (axis === null) return [1, product(shape), 1];
  return [product(shape.slice(0, axis)), shape[axis], product(shape.slice(axis + 1))];
}

/** Slices `keep` (positions along the axis) of x, in that order. */
function takeSlices(x: HostValue, axis: number | null, keep: number[], dtype: DType): HostValue {
  const [outer, dim, inner] = around(x.shape, axis);
  const out = allocate(dtype, outer * keep.length * inner);
  let p = 0;
  for (let o = 0; o < outer; o++) {
    for (const j of keep) {
      const base = (o * dim + j) * inner;
      for (let i = 0; i < inner; i++) out[p++] = x.data[base + i];
    }
  }
  const shape = axis === null ? [keep.length] : x.shape.map((d, k) => (k === axis ? keep.length : d));
  return { data: out, shape };
}

function nonZero(_step: HostStep, [x]: (HostValue | null)[]): HostValue[] {
  const { data, shape } = x!;
  const rank = shape.length;
  const hits: number[] = [];
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) hits.push(i);
  const out = new Int32Array(rank * hits.length);
  hits.forEach((flat, n) => {
    for (let r = rank - 1; r >= 0; r--) {
      out[r * hits.length + n] = flat % shape[r];
      flat = Math.floor(flat / shape[r]);
    }
  });
  return [{ data: out, shape: [rank, hits.length] }];
}

function compress(step: HostStep, [x, cond]: (HostValue | null)[], dtypes: DType[]): HostValue[] {
  const axis = axisOf(step, x!.shape.length);
  const dim = around(x!.shape, axis)[1];
  if (cond!.data.length > dim) throw stepError(step, `condition has ${cond!.data.length} entries for ${dim} positions`);
  const keep: number[] = [];
  for (let j = 0; j < cond!.data.length; j++) if (cond!.data[j]) keep.push(j);
  return [takeSlices(x!, axis, keep, dtypes[0])];
}

/** numpy's order: NaN after every number, NaNs equal to each other. */
function compareNumbers(a: number, b: number): number {
  if (a !== a || b !== b) return (a !== a ? 1 : 0) - (b !== b ? 1 : 0);
  return a < b ? -1 : a > b ? 1 : 0;
}

function unique(step: HostStep, [x]: (HostValue | null)[], dtypes: DType[]): HostValue[] {
  const axis = axisOf(step, x!.shape.length);
  const [outer, dim, inner] = around(x!.shape, axis);
  const d = x!.data;
  // slice j is x[o, j, i] over (o, i) in C order; slices compare lexicographically
  const cmp = (a: number, b: number): number => {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const c = compareNumbers(d[(o * dim + a) * inner + i], d[(o * dim + b) * inner + i]);
        if (c !== 0) return c;
      }
    }
    return 0;
  };
  const order = Array.from({ length: dim }, (_, j) => j).sort((a, b) => cmp(a, b) || a - b);
  const first: number[] = [];
  const counts: number[] = [];
  const inverse = new Int32Array(dim);
  for (let n = 0; n < dim; n++) {
    const j = order[n];
    if (n === 0 || cmp(order[n - 1], j) !== 0) {
      first.push(j); // the sort is stable by index: the group's first entry occurs first
      counts.push(0);
    }
    counts[counts.length - 1]++;
    inverse[j] = first.length - 1;
  }
  let groups = first.map((_, g) => g);
  if (step.attrs?.sorted === 0 || step.attrs?.sorted === false) {
    groups = groups.sort((a, b) => first[a] - first[b]);
    const rank = new Int32Array(groups.length);
    groups.forEach((g, r) => (rank[g] = r));
    for (let j = 0; j < dim; j++) inverse[j] = rank[inverse[j]];
  }
  const firsts = groups.map((g) => first[g]);
  return [
    takeSlices(x!, axis, firsts, dtypes[0]),
    { data: Int32Array.from(firsts), shape: [firsts.length] },
    { data: inverse, shape: [dim] },
    { data: Int32Array.from(groups.map((g) => counts[g])), shape: [firsts.length] },
  ];
}

function scalar(v: HostValue | null, dflt: number | null): number | null {
  return v && v.data.length > 0 ? Number(v.data[0]) : dflt;
}

function nonMaxSuppression(step: HostStep, args: (HostValue | null)[]): HostValue[] {
  const [boxes, scores] = args;
  const limit = Math.max(scalar(args[2] ?? null, 0)!, 0);
  const iouThreshold = scalar(args[3] ?? null, 0)!;
  const scoreThreshold = scalar(args[4] ?? null, null);
  const centered = Number(step.attrs?.center_point_box ?? 0) !== 0;
  const [B, N] = boxes!.shape;
  const C = scores!.shape[1];
  if (boxes!.shape.length !== 3 || boxes!.shape[2] !== 4 || scores!.shape.length !== 3 || scores!.shape[0] !== B || scores!.shape[2] !== N) {
    throw stepError(step, `boxes ${shapeString(boxes!.shape)} and scores ${shapeString(scores!.shape)} do not match ([B,N,4] and [B,C,N])`);
  }
  const out: number[] = [];
  const y1 = new Float64Array(N), x1 = new Float64Array(N), y2 = new Float64Array(N), x2 = new Float64Array(N);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < N; i++) {
      const [p, q, r, s] = Array.from(boxes!.data.subarray((b * N + i) * 4, (b * N + i) * 4 + 4));
      if (centered) {
        [y1[i], x1[i], y2[i], x2[i]] = [q - s / 2, p - r / 2, q + s / 2, p + r / 2];
      } else {
        [y1[i], x1[i], y2[i], x2[i]] = [Math.min(p, r), Math.min(q, s), Math.max(p, r), Math.max(q, s)];
      }
    }
    const area = (i: number) => (y2[i] - y1[i]) * (x2[i] - x1[i]);
    const suppresses = (i: number, j: number): boolean => {
      const ih = Math.min(y2[i], y2[j]) - Math.max(y1[i], y1[j]);
      const iw = Math.min(x2[i], x2[j]) - Math.max(x1[i], x1[j]);
      if (ih <= 0 || iw <= 0) return false;
      const inter = ih * iw;
      const union = area(i) + area(j) - inter;
      if (area(i) <= 0 || area(j) <= 0 || union <= 0) return false;
      return inter / union > iouThreshold;
    };
    for (let c = 0; c < C; c++) {
      const s = scores!.data.subarray((b * C + c) * N, (b * C + c + 1) * N);
      let order = Array.from({ length: N }, (_, i) => i).sort((i, j) => s[j] - s[i] || i - j);
      if (scoreThreshold !== null) order = order.filter((i) => s[i] > scoreThreshold);
      const kept: number[] = [];
      for (const i of order) {
        if (kept.length >= limit) break;
        if (kept.every((j) => !suppresses(i, j))) {
          kept.push(i);
          out.push(b, c, i);
        }
      }
    }
  }
  return [{ data: Int32Array.from(out), shape: [out.length / 3, 3] }];
}

/** Transpose of a host step's output (torch.nonzero is NonZero + Transpose). */
function transpose(step: HostStep, [x]: (HostValue | null)[], dtypes: DType[]): HostValue[] {
  const rank = x!.shape.length;
  const given = step.attrs?.perm as number[] | undefined;
  const perm = given ? given.map((p) => (p < 0 ? p + rank : p)) : [...Array(rank).keys()].reverse();
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw stepError(step, `perm [${perm.join(',')}] is not a permutation of rank ${rank}`);
  }
  const shape = perm.map((p) => x!.shape[p]);
  const inStrides = x!.shape.map((_, i) => product(x!.shape.slice(i + 1)));
  const out = allocate(dtypes[0], product(shape));
  const idx = new Array(rank).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d] * inStrides[perm[d]];
    out[o] = x!.data[src];
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return [{ data: out, shape }];
}

/** numpy take along `axis` (detections picked by NonMaxSuppression's indices); negative indices count from the end. */
function gather(step: HostStep, [x, indices]: (HostValue | null)[], dtypes: DType[]): HostValue[] {
  const axis = axisOf(step, x!.shape.length) ?? 0;
  const dim = x!.shape[axis];
  const keep = Array.from(indices!.data, (i) => {
    const j = i < 0 ? i + dim : i;
    if (!(j >= 0 && j < dim)) throw stepError(step, `index ${i} is out of range for a dimension of ${dim}`);
    return j;
  });
  const out = takeSlices(x!, axis, keep, dtypes[0]);
  return [{ data: out.data, shape: [...x!.shape.slice(0, axis), ...indices!.shape, ...x!.shape.slice(axis + 1)] }];
}

const IMPLS: { [op: string]: Impl } = {
  NonZero: nonZero,
  Compress: compress,
  Unique: unique,
  NonMaxSuppression: nonMaxSuppression,
  Transpose: transpose,
  Gather: gather,
};

/** Inputs (required, at most) and outputs (at least, at most) of each op, checked at load. */
const ARITY: { [op: string]: [number, number, number, number] } = {
  NonZero: [1, 1, 1, 1],
  Compress: [2, 2, 1, 1],
  Unique: [1, 1, 1, 4],
  NonMaxSuppression: [2, 5, 1, 1],
  Transpose: [1, 1, 1, 1],
  Gather: [2, 2, 1, 1],
};

const MAX_HOST_CONSTANT = 65536;

function invalid(what: string): never {
  throw new WebDNNError(`invalid model.json: "host": ${what}`);
}


/** The host steps of one model, checked at load. */
export class HostSteps {
  private readonly constants = new Map<string, HostValue>();
  /** Names the host steps produce. */
  readonly outputs: ReadonlySet<string>;
  /** Names the host steps read (graph inputs, the backend's extra outputs, constants, earlier steps' outputs). */
  readonly reads: ReadonlySet<string>;

  constructor(private readonly host: HostSection) {
    if (!isObject(host) || !Array.isArray(host.steps) || !isObject(host.tensors)) {
      invalid('needs "steps" (a list) and "tensors" (an object)');
    }
    for (const [name, t] of Object.entries(host.tensors)) {
      const ok = isObject(t) && isDType(t.dtype) && Array.isArray(t.shape) && t.shape.every((d) => isDim(d) || (typeof d === 'string' && d !== ''));
      if (!ok) invalid(`tensors['${name}'] needs a shape (non-negative integers or dim names) and a dtype, got ${JSON.stringify(t)}`);
    }
    if (host.constants !== undefined && !isObject(host.constants)) invalid('"constants" must be an object');
    for (const [name, c] of Object.entries(host.constants ?? {})) {
      if (!isObject(c) || !isDType(c.dtype) || !Array.isArray(c.shape) || !c.shape.every(isDim) || !Array.isArray(c.values)) {
        invalid(`constant '${name}' needs a shape, a dtype and "values"`);
      }
      if (c.values.length > MAX_HOST_CONSTANT || c.values.length !== product(c.shape)) {
        invalid(`constant '${name}' has ${c.values.length} values for shape ${shapeString(c.shape)} (at most ${MAX_HOST_CONSTANT})`);
      }
      const data = allocate(c.dtype, c.values.length);
      c.values.forEach((v, i) => {
        if (typeof v !== 'number' && typeof v !== 'boolean') invalid(`constant '${name}' value ${i} is ${JSON.stringify(v)}, not a number`);
        data[i] = Number(v);
      });
      this.constants.set(name, { data, shape: c.shape });
    }
    const isNames = (l: unknown): l is string[] => Array.isArray(l) && l.every((n) => typeof n === 'string');
    const unknown = new Set<string>();
    const written = new Set<string>();
    host.steps.forEach((step, i) => {
      if (!isObject(step) || typeof step.op !== 'string' || typeof step.name !== 'string' || !isNames(step.inputs) || !isNames(step.outputs)) {
        invalid(`steps[${i}] needs "op", "name", "inputs" and "outputs" (lists of names)`);
      }
      if (step.attrs !== undefined && !isObject(step.attrs)) invalid(`steps[${i}] '${step.name}': "attrs" must be an object`);
      const arity = own(ARITY, step.op);
      if (!arity) {
        unknown.add(step.op);
        return;
      }
      const [need, most, outLeast, outMost] = arity;
      const given = step.inputs.length;
      if (given < need || given > most || step.inputs.slice(0, need).some((n) => n === '')) {
        invalid(`step ${step.op} '${step.name}' takes ${need === most ? need : `${need}..${most}`} inputs (the first ${need} required), got ${JSON.stringify(step.inputs)}`);
      }
      if (step.outputs.length < outLeast || step.outputs.length > outMost || step.outputs.some((n) => n === '')) {
        invalid(`step ${step.op} '${step.name}' writes ${outLeast === outMost ? outLeast : `${outLeast}..${outMost}`} named outputs, got ${JSON.stringify(step.outputs)}`);
      }
      for (const n of step.outputs) {
        if (!own(host.tensors, n)) invalid(`step ${step.op} '${step.name}' writes '${n}', which "tensors" does not describe`);
        if (written.has(n)) invalid(`'${n}' is written by two steps`);
        written.add(n);
      }
    });
    if (unknown.size) {
      throw new WebDNNError(`model.json has host steps this runtime does not know: ${[...unknown].join(', ')} (it knows: ${Object.keys(IMPLS).join(', ')})`);
    }
    this.outputs = written;
    this.reads = new Set(host.steps.flatMap((s) => s.inputs.filter((n) => n !== '')));
  }

  /** The shape and dtype "tensors" gives a name, if any. */
  tensor(name: string): { shape: (number | string)[]; dtype: DType } | undefined {
    return own(this.host.tensors, name);
  }

  /** The static shape of a tensor the steps read (graph inputs and the backend's extra outputs). */
  staticShape(name: string): number[] | null {
    const t = this.tensor(name);
    return t && t.shape.every((d) => typeof d === 'number') ? (t.shape as number[]) : null;
  }

  /** Runs every step; `values` holds the graph inputs and the backend's outputs and receives the steps' outputs. */
  run(values: Map<string, HostValue>): void {
    for (const step of this.host.steps) {
      const args = step.inputs.map((n) => {
        if (n === '') return null;
        const v = values.get(n) ?? this.constants.get(n);
        if (!v) throw stepError(step, `input '${n}' was not produced`);
        return v;
      });
      const dtypes = step.outputs.map((n) => this.host.tensors[n].dtype);
      const outs = IMPLS[step.op](step, args, dtypes);
      step.outputs.forEach((n, i) => values.set(n, outs[i]));
    }
  }
}
