// Elementwise: interprets the expression tree (docs/descriptor.md) without eval. The tree is compiled
// once into a list of register instructions; each instruction runs one tight loop over a block of
// elements held in Float64Array registers, so the per-element cost is a few array operations.

import type { DType, KernelDesc, TypedArray } from '../../types.js';
import { allocate, DTYPES, product, shapeString } from '../../types.js';
import { toNumber } from '../../json.js';
import type { KernelFactory, KernelFn } from './util.js';
import { broadcastMaps, kernelError, offsetTable } from './util.js';
import { roundToHalf } from '../../float16.js';

const BLOCK = 1024;

const UNARY = [
  'neg', 'abs', 'exp', 'log', 'sqrt', 'reciprocal', 'floor', 'ceil', 'round', 'tanh', 'erf',
  'sin', 'cos', 'sign', 'not', 'isnan', 'tan', 'asin', 'acos', 'atan', 'sinh', 'cosh', 'asinh',
  'acosh', 'atanh', 'isinf', 'bnot', 'asint', 'asfloat',
] as const;
const BINARY = [
  'add', 'sub', 'mul', 'div', 'pow', 'max', 'min', 'idiv', 'imod',
  'lt', 'le', 'gt', 'ge', 'eq', 'and', 'or', 'xor', 'shl', 'shr', 'band', 'bor', 'bxor',
] as const;

type UnaryOp = (typeof UNARY)[number] | 'cast';
type BinaryOp = (typeof BINARY)[number];

type Instr =
  | { kind: 'unary'; op: UnaryOp; dst: number; a: number; dtype?: DType }
  | { kind: 'binary'; op: BinaryOp; dst: number; a: number; b: number }
  | { kind: 'where'; dst: number; c: number; a: number; b: number };

type InstrBody = Instr extends infer T ? (T extends Instr ? Omit<T, 'dst'> : never) : never;

/** How an input is read per output element. */
type InputRead = { mode: 'same' } | { mode: 'scalar' } | { mode: 'map'; table: Int32Array };

// ---- scalar helpers ----

/** Round half to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** erf(x) to about 1e-15 relative error for |x| < 2.5, 1.2e-7 of erfc beyond (where erf ≈ ±1). */
export function erf(x: number): number {
  if (x !== x) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: erf x = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 80; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return 1.1283791670955126 * sum;
  }
  // complementary error function, Chebyshev fit (Numerical Recipes erfcc)
  const t = 1 / (1 + 0.5 * ax);
  const erfc =
    t *
    Math.exp(
      -ax * ax - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x > 0 ? 1 - erfc : erfc - 1;
}

const BITS_F32 = new Float32Array(1);
const BITS_I32 = new Int32Array(BITS_F32.buffer);

function castValue(dtype: DType, v: number): number {
  switch (dtype) {
    case 'float32':
      return Math.fround(v);
    case 'float16':
      return roundToHalf(v);
    case 'int32':
      return v | 0;
    case 'int64':
      return Number.isFinite(v) ? Math.trunc(v) : 0;
    case 'int8':
      return (v << 24) >> 24;
    case 'uint8':
      return v & 255;
    case 'bool':
      return v !== 0 ? 1 : 0;
  }
}

function pow(a: number, b: number): number {
  // C pow semantics where JS differs: pow(1, y) = 1 and pow(-1, ±inf) = 1
  if (a === 1) return 1;
  if (a === -1 && (b === Infinity || b === -Infinity)) return 1;
  return Math.pow(a, b);
}

// ---- block loops (one switch per block, a plain loop per op) ----

function runUnary(op: UnaryOp, a: Float64Array, o: Float64Array, n: number, dtype?: DType): void {
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) o[i] = -a[i]; break;
    case 'abs': for (let i = 0; i < n; i++) o[i] = Math.abs(a[i]); break;
    case 'exp': for (let i = 0; i < n; i++) o[i] = Math.exp(a[i]); break;
    case 'log': for (let i = 0; i < n; i++) o[i] = Math.log(a[i]); break;
    case 'sqrt': for (let i = 0; i < n; i++) o[i] = Math.sqrt(a[i]); break;
    case 'reciprocal': for (let i = 0; i < n; i++) o[i] = 1 / a[i]; break;
    case 'floor': for (let i = 0; i < n; i++) o[i] = Math.floor(a[i]); break;
    case 'ceil': for (let i = 0; i < n; i++) o[i] = Math.ceil(a[i]); break;
    case 'round': for (let i = 0; i < n; i++) o[i] = roundHalfEven(a[i]); break;
    case 'tanh': for (let i = 0; i < n; i++) o[i] = Math.tanh(a[i]); break;
    case 'erf': for (let i = 0; i < n; i++) o[i] = erf(a[i]); break;
    case 'sin': for (let i = 0; i < n; i++) o[i] = Math.sin(a[i]); break;
    case 'cos': for (let i = 0; i < n; i++) o[i] = Math.cos(a[i]); break;
    case 'sign': for (let i = 0; i < n; i++) o[i] = Math.sign(a[i]); break;
    case 'not': for (let i = 0; i < n; i++) o[i] = a[i] === 0 ? 1 : 0; break;
    case 'isnan': for (let i = 0; i < n; i++) o[i] = a[i] !== a[i] ? 1 : 0; break;
    case 'tan': for (let i = 0; i < n; i++) o[i] = Math.tan(a[i]); break;
    case 'asin': for (let i = 0; i < n; i++) o[i] = Math.asin(a[i]); break;
    case 'acos': for (let i = 0; i < n; i++) o[i] = Math.acos(a[i]); break;
    case 'atan': for (let i = 0; i < n; i++) o[i] = Math.atan(a[i]); break;
    case 'sinh': for (let i = 0; i < n; i++) o[i] = Math.sinh(a[i]); break;
    case 'cosh': for (let i = 0; i < n; i++) o[i] = Math.cosh(a[i]); break;
    case 'asinh': for (let i = 0; i < n; i++) o[i] = Math.asinh(a[i]); break;
    case 'acosh': for (let i = 0; i < n; i++) o[i] = Math.acosh(a[i]); break;
    case 'atanh': for (let i = 0; i < n; i++) o[i] = Math.atanh(a[i]); break;
    case 'isinf': for (let i = 0; i < n; i++) o[i] = a[i] === Infinity || a[i] === -Infinity ? 1 : 0; break;
    // bitwise ops work on 32-bit integers; the store into the output's typed array wraps the width
    case 'bnot': for (let i = 0; i < n; i++) o[i] = ~a[i]; break;
    // bit reinterpretation through one shared 4-byte scratch
    case 'asint': for (let i = 0; i < n; i++) { BITS_F32[0] = a[i]; o[i] = BITS_I32[0]; } break;
    case 'asfloat': for (let i = 0; i < n; i++) { BITS_I32[0] = a[i]; o[i] = BITS_F32[0]; } break;
    case 'cast': {
      const dt = dtype as DType;
      if (dt === 'float32') for (let i = 0; i < n; i++) o[i] = Math.fround(a[i]);
      else if (dt === 'int32') for (let i = 0; i < n; i++) o[i] = a[i] | 0;
      else if (dt === 'bool') for (let i = 0; i < n; i++) o[i] = a[i] !== 0 ? 1 : 0;
      else for (let i = 0; i < n; i++) o[i] = castValue(dt, a[i]);
      break;
    }
  }
}

function runBinary(op: BinaryOp, a: Float64Array, b: Float64Array, o: Float64Array, n: number): void {
  switch (op) {
    case 'add': for (let i = 0; i < n; i++) o[i] = a[i] + b[i]; break;
    case 'sub': for (let i = 0; i < n; i++) o[i] = a[i] - b[i]; break;
    case 'mul': for (let i = 0; i < n; i++) o[i] = a[i] * b[i]; break;
    case 'div': for (let i = 0; i < n; i++) o[i] = a[i] / b[i]; break;
    case 'pow': for (let i = 0; i < n; i++) o[i] = pow(a[i], b[i]); break;
    case 'max': for (let i = 0; i < n; i++) o[i] = Math.max(a[i], b[i]); break;
    case 'min': for (let i = 0; i < n; i++) o[i] = Math.min(a[i], b[i]); break;
    case 'idiv': for (let i = 0; i < n; i++) o[i] = b[i] === 0 ? 0 : Math.trunc(a[i] / b[i]); break;
    // x % 0 is NaN: fmod's answer for floats; an integer store turns it into 0
    case 'imod': for (let i = 0; i < n; i++) o[i] = a[i] % b[i]; break;
    case 'lt': for (let i = 0; i < n; i++) o[i] = a[i] < b[i] ? 1 : 0; break;
    case 'le': for (let i = 0; i < n; i++) o[i] = a[i] <= b[i] ? 1 : 0; break;
    case 'gt': for (let i = 0; i < n; i++) o[i] = a[i] > b[i] ? 1 : 0; break;
    case 'ge': for (let i = 0; i < n; i++) o[i] = a[i] >= b[i] ? 1 : 0; break;
    case 'eq': for (let i = 0; i < n; i++) o[i] = a[i] === b[i] ? 1 : 0; break;
    case 'and': for (let i = 0; i < n; i++) o[i] = a[i] !== 0 && b[i] !== 0 ? 1 : 0; break;
    case 'or': for (let i = 0; i < n; i++) o[i] = a[i] !== 0 || b[i] !== 0 ? 1 : 0; break;
    case 'xor': for (let i = 0; i < n; i++) o[i] = (a[i] !== 0) !== (b[i] !== 0) ? 1 : 0; break;
    // a shift count outside [0, 32) shifts everything out: 0, or the sign for an arithmetic right shift
    // (unsigned values are non-negative, so >> is their logical shift too); the store wraps to the dtype
    case 'shl': for (let i = 0; i < n; i++) o[i] = b[i] < 0 || b[i] >= 32 ? 0 : a[i] << b[i]; break;
    case 'shr': for (let i = 0; i < n; i++) o[i] = b[i] < 0 || b[i] >= 32 ? (a[i] < 0 ? -1 : 0) : a[i] >> b[i]; break;
    case 'band': for (let i = 0; i < n; i++) o[i] = a[i] & b[i]; break;
    case 'bor': for (let i = 0; i < n; i++) o[i] = a[i] | b[i]; break;
    case 'bxor': for (let i = 0; i < n; i++) o[i] = a[i] ^ b[i]; break;
  }
}

// ---- compiling the tree ----

interface Compiled {
  instrs: Instr[];
  /** register of the result */
  result: number;
  /** registers holding constants: [register, value] */
  consts: [number, number][];
  /** registers holding inputs: [register, input index] */
  loads: [number, number][];
  nRegs: number;
}

function compile(k: KernelDesc, expr: unknown, nInputs: number): Compiled {
  const c: Compiled = { instrs: [], result: 0, consts: [], loads: [], nRegs: 0 };
  const constRegs = new Map<number | string, number>();
  const inputRegs = new Map<number, number>();
  const bad = (node: unknown, why: string) =>
    kernelError(k, `bad expression node ${JSON.stringify(node)}: ${why}`);

  // Constant folding: a node whose arguments are all constants is evaluated here, once.
  const constValue = (reg: number): number | undefined => {
    for (const [r, v] of c.consts) if (r === reg) return v;
    return undefined;
  };
  const constReg = (v: number): number => {
    const key = Object.is(v, -0) ? '-0' : v !== v ? 'NaN' : v;
    let r = constRegs.get(key);
    if (r === undefined) {
      r = c.nRegs++;
      constRegs.set(key, r);
      c.consts.push([r, v]);
    }
    return r;
  };
  const fold = (ins: Instr): number => {
    const one = (r: number) => Float64Array.of(constValue(r) as number);
    const out = new Float64Array(1);
    if (ins.kind === 'unary') runUnary(ins.op, one(ins.a), out, 1, ins.dtype);
    else if (ins.kind === 'binary') runBinary(ins.op, one(ins.a), one(ins.b), out, 1);
    else out[0] = (constValue(ins.c) as number) !== 0 ? (constValue(ins.a) as number) : (constValue(ins.b) as number);
    return constReg(out[0]);
  };
  const emit = (ins: InstrBody, args: number[]): number => {
    if (args.every((r) => constValue(r) !== undefined)) return fold({ ...ins, dst: -1 } as Instr);
    const dst = c.nRegs++;
    c.instrs.push({ ...ins, dst } as Instr);
    return dst;
  };

  const visit = (node: unknown, depth: number): number => {
    if (depth > 10000) throw bad('…', 'expression nested too deeply');
    if (!Array.isArray(node) || node.length === 0 || typeof node[0] !== 'string') {
      throw bad(node, 'expected [primitive, arg, …]');
    }
    const prim = node[0] as string;
    const args = node.slice(1);
    const want = (n: number) => {
      if (args.length !== n) throw bad(node, `'${prim}' takes ${n} argument(s), got ${args.length}`);
    };
    if (prim === 'in') {
      want(1);
      const i = args[0];
      if (!Number.isInteger(i) || i < 0 || i >= nInputs) {
        throw bad(node, `input index must be an integer in [0, ${nInputs})`);
      }
      let r = inputRegs.get(i);
      if (r === undefined) {
        r = c.nRegs++;
        inputRegs.set(i, r);
        c.loads.push([r, i]);
      }
      return r;
    }
    if (prim === 'const') {
      want(1);
      return constReg(toNumber(args[0], `kernel '${k.name}': const`));
    }
    if (prim === 'cast') {
      want(2);
      const dtype = args[0] as DType;
      if (!DTYPES.includes(dtype)) throw bad(node, `unknown dtype '${String(dtype)}'`);
      const lit = args[1] as unknown[];
      if (Array.isArray(lit) && lit[0] === 'const' && lit.length === 2) {
        // a literal of a given dtype (an inlined scalar constant): converted once, here
        return constReg(castValue(dtype, toNumber(lit[1], `kernel '${k.name}': const`)));
      }
      const a = visit(args[1], depth + 1);
      return emit({ kind: 'unary', op: 'cast', a, dtype }, [a]);
    }
    if ((UNARY as readonly string[]).includes(prim)) {
      want(1);
      const a = visit(args[0], depth + 1);
      return emit({ kind: 'unary', op: prim as UnaryOp, a }, [a]);
    }
    if ((BINARY as readonly string[]).includes(prim)) {
      want(2);
      const a = visit(args[0], depth + 1);
      const b = visit(args[1], depth + 1);
      return emit({ kind: 'binary', op: prim as BinaryOp, a, b }, [a, b]);
    }
    if (prim === 'where') {
      want(3);
      const cc = visit(args[0], depth + 1);
      const a = visit(args[1], depth + 1);
      const b = visit(args[2], depth + 1);
      return emit({ kind: 'where', c: cc, a, b }, [cc, a, b]);
    }
    throw bad(node, `unknown primitive '${prim}' (known: in, const, cast, where, ${[...UNARY, ...BINARY].join(', ')})`);
  };
  c.result = visit(expr, 0);
  return c;
}

/** Stores float64 results into the output's typed array with the dtype's conversion. */
function store(dtype: DType, src: Float64Array, out: TypedArray, off: number, n: number): void {
  if (dtype === 'bool') {
    for (let i = 0; i < n; i++) out[off + i] = src[i] !== 0 ? 1 : 0;
  } else if (dtype === 'float16') {
    for (let i = 0; i < n; i++) out[off + i] = roundToHalf(src[i]);
  } else {
    // typed-array stores do the rest: rounding to float32, truncation and wrapping for integers
    for (let i = 0; i < n; i++) out[off + i] = src[i];
  }
}

const elementwise: KernelFactory = (k, ctx): KernelFn => {
  if (k.outputs.length !== 1) throw kernelError(k, `expects 1 output, got ${k.outputs.length}`);
  const outInfo = ctx.info(k.outputs[0]);
  const dtype = outInfo.dtype;
  const declared = k.attrs ? k.attrs.dtype : undefined;
  if (declared !== undefined && declared !== dtype) {
    throw kernelError(k, `attribute dtype '${String(declared)}' differs from the output tensor's dtype '${dtype}'`);
  }
  const outShape = outInfo.shape;
  const size = product(outShape);
  const reads: InputRead[] = k.inputs.map((name) => {
    if (name === '') throw kernelError(k, 'an Elementwise input cannot be absent ("")');
    const shape = ctx.info(name).shape;
    const n = product(shape);
    if (n === 1) return { mode: 'scalar' };
    const maps = broadcastMaps(shape, outShape);
    if (!maps) {
      throw kernelError(k, `input '${name}' of shape ${shapeString(shape)} does not broadcast to ${shapeString(outShape)}`);
    }
    if (n === size) return { mode: 'same' };
    return { mode: 'map', table: offsetTable(outShape, maps) };
  });
  const code = compile(k, k.attrs ? k.attrs.expr : undefined, k.inputs.length);
  const blk = Math.max(1, Math.min(BLOCK, size));
  const regs: Float64Array[] = [];
  for (let r = 0; r < code.nRegs; r++) regs.push(new Float64Array(blk));
  for (const [r, v] of code.consts) regs[r].fill(v);

  return (inputs) => {
    const out = allocate(dtype, size);
    // scalar inputs are filled once per run
    for (const [r, i] of code.loads) if (reads[i].mode === 'scalar') regs[r].fill((inputs[i] as TypedArray)[0]);
    for (let start = 0; start < size; start += blk) {
      const n = Math.min(blk, size - start);
      for (const [r, i] of code.loads) {
        const rd = reads[i];
        const src = inputs[i] as TypedArray;
        const reg = regs[r];
        if (rd.mode === 'same') {
          for (let j = 0; j < n; j++) reg[j] = src[start + j];
        } else if (rd.mode === 'map') {
          const t = rd.table;
          for (let j = 0; j < n; j++) reg[j] = src[t[start + j]];
        }
      }
      for (const ins of code.instrs) {
        const o = regs[ins.dst];
        if (ins.kind === 'unary') runUnary(ins.op, regs[ins.a], o, n, ins.dtype);
        else if (ins.kind === 'binary') runBinary(ins.op, regs[ins.a], regs[ins.b], o, n);
        else {
          const c = regs[ins.c], a = regs[ins.a], b = regs[ins.b];
          for (let j = 0; j < n; j++) o[j] = c[j] !== 0 ? a[j] : b[j];
        }
      }
      store(dtype, regs[code.result], out, start, n);
    }
    return [out];
  };
};

export const kernels = { Elementwise: elementwise };
