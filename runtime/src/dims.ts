// Symbolic dimensions (webdnn/ir/symbolic.py): a dim written as text ("seq", "batch*seq",
// "((h - 1) // 2) + 1") is an integer expression of sizes bound when the inputs' shapes are known.
// Integers, names, + - * // % and parentheses, with Python's floor semantics.

import { WebDNNError } from './errors.js';

export type Binding = Map<string, number>;

type Node = number | string | [string, Node, Node] | ['neg', Node];

const cache = new Map<string, Node>();

const TOKEN = /\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(\/\/|[-+*%()]))/y;

function parse(text: string): Node {
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  if (text.length > 512) throw new WebDNNError(`the dimension '${text.slice(0, 40)}…' is too long (${text.length} characters)`);
  const tokens: (number | string)[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (!m) {
      if (text.slice(at).trim() === '') break;
      throw new WebDNNError(`cannot read the dimension '${text}'`);
    }
    tokens.push(m[1] !== undefined ? Number(m[1]) : (m[2] ?? m[3]));
  }
  let i = 0;
  const bad = (): never => { throw new WebDNNError(`cannot read the dimension '${text}'`); };
  const expr = (): Node => {
    let v = term();
    while (tokens[i] === '+' || tokens[i] === '-') {
      const op = tokens[i++] as string;
      v = [op, v, term()];
    }
    return v;
  };
  const term = (): Node => {
    let v = factor();
    while (tokens[i] === '*' || tokens[i] === '//' || tokens[i] === '%') {
      const op = tokens[i++] as string;
      v = [op, v, factor()];
    }
    return v;
  };
  const factor = (): Node => {
    if (i >= tokens.length) return bad();
    const t = tokens[i++];
    if (t === '-') return ['neg', factor()];
    if (t === '(') {
      const v = expr();
      if (tokens[i++] !== ')') bad();
      return v;
    }
    if (typeof t === 'number') return t;
    if (/^[A-Za-z_]/.test(t)) return t;
    return bad();
  };
  const node = expr();
  if (i !== tokens.length) bad();
  cache.set(text, node);
  return node;
}

function evalNode(n: Node, env: Binding, text: string): number {
  if (typeof n === 'number') return n;
  if (typeof n === 'string') {
    const v = env.get(n);
    if (v === undefined) throw new WebDNNError(`no value for the dimension '${n}' (in '${text}')`);
    return v;
  }
  if (n[0] === 'neg') return -evalNode(n[1], env, text);
  const a = evalNode(n[1], env, text);
  const b = evalNode((n as [string, Node, Node])[2], env, text);
  switch (n[0]) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    case '//':
      if (b === 0) throw new WebDNNError(`'${text}' divides by zero`);
      return Math.floor(a / b);
    default:
      if (b === 0) throw new WebDNNError(`'${text}' divides by zero`);
      return ((a % b) + b) % b;
  }
}

/** The value of a dim (a number, or an expression's text) under a binding. */
export function evalDim(d: number | string, env: Binding): number {
  return typeof d === 'number' ? d : evalNode(parse(d), env, d);
}

/** A tensor's shape under a binding; a size that comes out negative or huge is an error naming it. */
export function evalShape(what: string, shape: readonly (number | string)[], env: Binding): number[] {
  return shape.map((d) => {
    const v = evalDim(d, env);
    if (!Number.isSafeInteger(v) || v < 0 || v > 2 ** 31 - 1) {
      const sizes = [...env].map(([k, n]) => `${k}=${n}`).join(', ');
      throw new WebDNNError(`${what}: dim '${d}' is ${v} for ${sizes}; the inputs' shapes give this model no valid size`);
    }
    return v;
  });
}

/** A plain name ("seq"), which an input's size binds directly. */
export function isSymbol(d: number | string): d is string {
  return typeof d === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(d);
}

/** The dims' names, e.g. ["batch", "seq"] for ["batch", "batch*seq", 64]. */
export function symbolsOf(shape: readonly (number | string)[]): string[] {
  const out = new Set<string>();
  for (const d of shape) if (typeof d === 'string') for (const m of d.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) out.add(m[0]);
  return [...out];
}

/**
 * The binding that the inputs' actual shapes give: each plain-name dim takes the input's size, and
 * every dim (fixed or an expression) must then agree. Throws naming the input and the dim.
 */
export function bindShapes(declared: Map<string, readonly (number | string)[]>, actual: Map<string, readonly number[]>,
  ranges: { [name: string]: readonly number[] } = {}): Binding {
  const env: Binding = new Map();
  for (const [name, dims] of declared) {
    const shape = actual.get(name);
    if (!shape) continue;
    if (shape.length !== dims.length) {
      throw new WebDNNError(`input '${name}' has rank ${dims.length} (shape [${dims.join(', ')}]), got shape [${shape.join(', ')}]`);
    }
    dims.forEach((d, i) => {
      if (!isSymbol(d)) return;
      const seen = env.get(d);
      if (seen !== undefined && seen !== shape[i]) {
        throw new WebDNNError(`input '${name}' dim ${i} is '${d}' = ${shape[i]}, but another input set '${d}' = ${seen}`);
      }
      const r = Object.prototype.hasOwnProperty.call(ranges, d) ? ranges[d] : undefined;
      if (r && (shape[i] < r[0] || shape[i] > r[1])) {
        throw new WebDNNError(`input '${name}' dim ${i} ('${d}') is ${shape[i]}, outside the range ${r[0]}..${r[1]} the model was converted for`);
      }
      env.set(d, shape[i]);
    });
  }
  // a dim like 32*h binds its one unbound name where it is affine in it (h = (size - b) / a, whole)
  for (const [name, dims] of declared) {
    const shape = actual.get(name);
    if (!shape) continue;
    dims.forEach((d, i) => {
      if (typeof d !== 'string' || isSymbol(d)) return;
      const open = symbolsOf([d]).filter((n) => !env.has(n));
      if (open.length !== 1) return;
      const at = (v: number) => evalDim(d, new Map([...env, [open[0], v]]));
      const b = at(0), a = at(1) - b;
      if (a === 0 || at(2) !== b + 2 * a || (shape[i] - b) % a !== 0 || (shape[i] - b) / a < 0) {
        throw new WebDNNError(`input '${name}' dim ${i} is ${shape[i]}; it must be ${d} for a whole ${open[0]} (shape [${shape.join(', ')}])`);
      }
      const v = (shape[i] - b) / a;
      const r = Object.prototype.hasOwnProperty.call(ranges, open[0]) ? ranges[open[0]] : undefined;
      if (r && (v < r[0] || v > r[1])) {
        throw new WebDNNError(`input '${name}' dim ${i} is ${shape[i]} (${d} with ${open[0]} = ${v}), outside the range ${r[0]}..${r[1]} of ${open[0]} the model was converted for`);
      }
      env.set(open[0], v);
    });
  }
  for (const [name, dims] of declared) {
    const shape = actual.get(name);
    if (!shape) continue;
    dims.forEach((d, i) => {
      if (isSymbol(d)) return;
      const want = evalDim(d, env);
      if (want !== shape[i]) {
        throw new WebDNNError(`input '${name}' dim ${i} must be ${typeof d === 'number' ? d : `'${d}' = ${want}`}, got ${shape[i]} (shape [${shape.join(', ')}])`);
      }
    });
  }
  return env;
}

/**
 * A copy of a JSON value with every symbolic entry ({"dim": text}) replaced by its value: how a
 * kernel's attributes (a Reshape's target shape, a Slice's ends) are specialized to a binding.
 */
export function bindValue(v: unknown, env: Binding): unknown {
  if (Array.isArray(v)) return v.map((x) => bindValue(x, env));
  if (v !== null && typeof v === 'object') {
    const o = v as { [k: string]: unknown };
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === 'dim' && (typeof o.dim === 'string' || typeof o.dim === 'number')) return evalDim(o.dim, env);
    const out: { [k: string]: unknown } = {};
    for (const k of keys) out[k] = bindValue(o[k], env);
    return out;
  }
  return v;
}
