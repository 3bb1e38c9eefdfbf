// Checks of model.json and of a backend's graph file (docs/descriptor.md) before anything is
// allocated or read from them: types and ranges of every field the runtime uses, file names, and
// that model.json and the chosen graph agree on every input and output.

import type { DType, FileEntry, GraphDescriptor, ModelDescriptor, TensorSpec } from './types.js';
import { DTYPES, isDim, isDType, isObject, own, shapeString } from './types.js';
import { WebDNNError } from './errors.js';
import { checkFileName } from './files.js';
import { HostSteps } from './host.js';
import type { HostSection } from './host.js';

/** The descriptor format version this runtime reads (model.json "version"). */
export const DESCRIPTOR_VERSION = 2;

/** The version of the graph files (graph_<backend>.json "version"). */
export const GRAPH_VERSION = 1;

function fail(what: string): never {
  throw new WebDNNError(`invalid model.json: ${what}`);
}

/** A short JSON rendering of a value for an error message. */
export function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 120 ? s.slice(0, 120) + '…' : s;
}


/** null when `shape` is a list of dims (strings allowed where `symbolic`), else what is wrong. */
export function shapeProblem(shape: unknown, symbolic = false): string | null {
  if (!Array.isArray(shape)) return `shape ${show(shape)} is not a list`;
  for (const d of shape) {
    if (isDim(d) || (symbolic && typeof d === 'string' && d !== '')) continue;
    return `shape ${show(shape)} has ${show(d)}, not a non-negative integer${symbolic ? ' or a data-dependent dim name' : ''}`;
  }
  return null;
}

function checkEntries(list: unknown, key: 'weights' | 'files', names: Map<string, string>): void {
  if (!Array.isArray(list)) fail(`"${key}" must be a list of {"file", "bytes", "crc32"}`);
  list.forEach((e: unknown, i) => {
    const at = `${key}[${i}]`;
    if (!isObject(e)) fail(`${at} must be an object {"file", "bytes", "crc32"}, got ${show(e)}`);
    const file = checkFileName(e.file, `invalid model.json: ${at}.file`);
    if (!isDim(e.bytes)) fail(`${at}.bytes must be a non-negative integer, got ${show(e.bytes)}`);
    if (typeof e.crc32 !== 'string' || !/^[0-9a-fA-F]{8}$/.test(e.crc32)) {
      fail(`${at}.crc32 must be the file's CRC-32 as 8 hex digits, got ${show(e.crc32)}`);
    }
    const before = names.get(file);
    if (before !== undefined) fail(`${at}.file '${file}' is listed twice (also at ${before})`);
    names.set(file, at);
  });
}

function checkTensorList(list: unknown, key: 'inputs' | 'outputs', dynamicOk: (name: string) => boolean): void {
  if (!Array.isArray(list)) fail(`"${key}" must be a list`);
  const seen = new Set<string>();
  list.forEach((t: unknown, i) => {
    if (!isObject(t) || typeof t.name !== 'string' || t.name === '' || !isDType(t.dtype)) {
      fail(`each entry of "${key}" needs a name, a shape and a dtype (${DTYPES.join(', ')}); got ${show(t)} at ${key}[${i}]`);
    }
    const problem = shapeProblem(t.shape, dynamicOk(t.name));
    if (problem) {
      const hint = Array.isArray(t.shape) && t.shape.some((d) => typeof d === 'string') && !dynamicOk(t.name)
        ? ' (only outputs of host steps have data-dependent dims)' : '';
      fail(`${key}[${i}] '${t.name}': ${problem}${hint}`);
    }
    if (t.dims !== undefined) {
      const dims = t.dims;
      if (!Array.isArray(dims) || dims.length !== (t.shape as unknown[]).length || !dims.every((d) => isDim(d) || (typeof d === 'string' && d !== ''))) {
        fail(`${key}[${i}] '${t.name}': "dims" must list one size or symbolic size per dim of its shape ${show(t.shape)}, got ${show(dims)}`);
      }
    }
    if (seen.has(t.name)) fail(`"${key}" has '${t.name}' twice`);
    seen.add(t.name);
  });
}

/**
 * Checks model.json (version 2) and builds its host steps. Every file name in it is checked here,
 * for every backend, so a descriptor that names a file outside its directory is refused whole.
 */
export function validateModel(m: unknown): { model: ModelDescriptor; host: HostSteps | null } {
  if (!isObject(m)) fail('expected a JSON object');
  if (m.format !== 'webdnn-descriptor') {
    fail(`"format" is ${show(m.format)}, expected "webdnn-descriptor" (is this a webdnn descriptor directory?)`);
  }
  if (m.version !== DESCRIPTOR_VERSION) {
    const older = typeof m.version === 'number' && m.version < DESCRIPTOR_VERSION;
    const newer = typeof m.version === 'number' && m.version > DESCRIPTOR_VERSION;
    throw new WebDNNError(
      `descriptor version ${show(m.version)} is not supported: this runtime reads version ${DESCRIPTOR_VERSION}` +
        (older ? ' (convert the model again with a current webdnn)' : newer ? ' (update the runtime, or convert with a matching webdnn)' : ''),
    );
  }
  const names = new Map<string, string>();
  checkEntries(m.weights, 'weights', names);
  checkEntries(m.files, 'files', names);
  const chunks = (m.weights as unknown[]).length;
  if (!isObject(m.backends)) fail('"backends" must be an object {name: {"graph", "weights"}}');
  for (const [name, b] of Object.entries(m.backends)) {
    if (!isObject(b)) fail(`backends.${name} must be an object {"graph", "weights"}, got ${show(b)}`);
    checkFileName(b.graph, `invalid model.json: backends.${name}.graph`);
    const w = b.weights ?? [];
    if (!Array.isArray(w)) fail(`backends.${name}.weights must be a list of indices into "weights", got ${show(w)}`);
    w.forEach((i: unknown, k) => {
      if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= chunks) {
        fail(`backends.${name}.weights[${k}] is ${show(i)}, not an index into "weights" (which has ${chunks})`);
      }
      // the chunks are concatenated in this order: the converter lists each once, ascending
      if (k > 0 && (i as number) <= (w[k - 1] as number)) fail(`backends.${name}.weights must list indices in ascending order, once each; got ${show(w)}`);
    });
  }
  const host = m.host !== undefined ? new HostSteps(m.host as HostSection) : null;
  checkTensorList(m.inputs, 'inputs', () => false);
  checkTensorList(m.outputs, 'outputs', (name) => !!host && host.outputs.has(name));
  if ((m.outputs as unknown[]).length === 0) fail('"outputs" is empty: a model has at least one output');
  return { model: m as unknown as ModelDescriptor, host };
}

/** Checks the parts of a graph file every backend relies on: kind, version, inputs/outputs, tensor shapes and dtypes. */
export function validateGraph(g: unknown, file: string, backend: string): GraphDescriptor {
  const bad = (what: string): never => {
    throw new WebDNNError(`${file}: ${what}`);
  };
  if (!isObject(g) || g.format !== 'webdnn-graph') bad(`"format" is ${show(isObject(g) ? g.format : undefined)}, expected "webdnn-graph"`);
  const d = g as { [k: string]: unknown };
  if (d.version !== GRAPH_VERSION) bad(`graph version ${show(d.version)} is not supported: this runtime reads version ${GRAPH_VERSION}`);
  if (d.backend !== undefined && d.backend !== backend) bad(`written for backend ${show(d.backend)}, not '${backend}'`);
  const isNameList = (l: unknown) => Array.isArray(l) && l.every((n) => typeof n === 'string' && n !== '');
  if (!isNameList(d.inputs) || !isNameList(d.outputs)) bad('"inputs" and "outputs" must be lists of tensor names');
  if (!isObject(d.tensors)) bad('"tensors" must be an object {name: {"shape", "dtype"}}');
  if (d.constants !== undefined && !isObject(d.constants)) bad('"constants" must be an object');
  // a graph with symbolic sizes names them, with the values they take by default
  const symbolic = d.symbols !== undefined;
  if (symbolic && (!isObject(d.symbols) || !Object.values(d.symbols).every(isDim))) bad(`"symbols" must be an object {name: default size}, got ${show(d.symbols)}`);
  if (d.sizes !== undefined && (!symbolic || !isObject(d.sizes))) bad('"sizes" must be an object, in a graph with "symbols"');
  if (d.ranges !== undefined && (!symbolic || !isObject(d.ranges) || !Object.values(d.ranges).every(
    (r) => Array.isArray(r) && r.length === 2 && isDim(r[0]) && isDim(r[1]) && r[0] <= r[1]))) {
    bad(`"ranges" must be an object {name: [low, high]}, in a graph with "symbols"; got ${show(d.ranges)}`);
  }
  for (const [table, entries] of [['tensors', d.tensors], ['constants', d.constants ?? {}]] as const) {
    for (const [name, t] of Object.entries(entries as object)) {
      if (!isObject(t) || !isDType(t.dtype)) bad(`${table}['${name}'] needs a shape and a dtype (${DTYPES.join(', ')}), got ${show(t)}`);
      const problem = shapeProblem(t.shape, symbolic && table === 'tensors');
      if (problem) bad(`${table}['${name}']: ${problem}`);
    }
  }
  return g as unknown as GraphDescriptor;
}

const same = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The graph must consume exactly the model's inputs and produce all of its outputs but those the
 * host steps write, and agree with model.json (and the host's "tensors") on their shapes and dtypes.
 */
export function checkGraphMatchesModel(model: ModelDescriptor, graph: GraphDescriptor, file: string, host: HostSteps | null): void {
  const names = (l: TensorSpec[]) => l.map((t) => t.name);
  const modelIn = names(model.inputs);
  const missing = modelIn.filter((n) => !graph.inputs.includes(n));
  const extra = graph.inputs.filter((n) => !modelIn.includes(n));
  const modelOut = names(model.outputs);
  const noOut = modelOut.filter((n) => !host?.outputs.has(n) && !graph.outputs.includes(n));
  // every graph output is a model output, or a tensor the host steps read
  const unused = graph.outputs.filter((n) => !modelOut.includes(n) && !host?.reads.has(n));
  if (missing.length || extra.length || noOut.length || unused.length || new Set(graph.inputs).size !== graph.inputs.length) {
    throw new WebDNNError(
      `${file} does not match model.json: graph inputs [${graph.inputs.join(', ')}], model inputs [${modelIn.join(', ')}], ` +
        `graph outputs [${graph.outputs.join(', ')}], model outputs [${names(model.outputs).join(', ')}]`,
    );
  }
  const inGraph = (name: string) => own(graph.tensors, name) ?? own(graph.constants, name);
  const compare = (what: string, spec: { shape: (number | string)[]; dims?: (number | string)[]; dtype: DType }, name: string) => {
    const t = inGraph(name);
    const shape = graph.symbols !== undefined && spec.dims ? spec.dims : spec.shape;
    if (t && (t.dtype !== spec.dtype || !same(t.shape, shape))) {
      throw new WebDNNError(
        `${what} '${name}' is ${spec.dtype} ${shapeString(shape)}, but ${file} has ${t.dtype} ${shapeString(t.shape)}`,
      );
    }
  };
  for (const t of model.inputs) compare('model.json input', t, t.name);
  for (const t of model.outputs) if (!host?.outputs.has(t.name)) compare('model.json output', t, t.name);
  if (host) {
    for (const name of [...graph.inputs, ...graph.outputs]) {
      const t = host.tensor(name);
      if (t) compare('model.json host tensor', t, name);
    }
  }
}
