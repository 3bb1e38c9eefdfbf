"""One fragment program per output tensor: a fragment is one output element.

Every tensor is stored flat, row-major, in textures of one texel per element (plan.Packing): element
i of a tensor packed `width` texels wide with `cap` elements per texture is texel (j % width, j / width)
of texture i / cap, j = i % cap. A program binds each tensor it reads as samplers and reads it through
one generated accessor `<var>_at(int i)`; index arithmetic comes from `decompose` / `offset` here, never
from a kernel template. The draw of an output texture sets `u_base`, the flat index of its first texel.

    #version 300 es ... uniform int u_base; uniform highp sampler2D x_0;
    float x_at(int i) { return texelFetch(x_0, ivec2(i % W, i / W), 0).r; }
    void main() { int i = u_base + int(gl_FragCoord.y) * W + int(gl_FragCoord.x);  <body>  o = vec4(r ...); }
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...ir.dtype import FLOAT_DTYPES
from .glsl import helper_code, i32_lit
from .plan import Packing


def is_float(dtype: str) -> bool:
    return dtype in FLOAT_DTYPES


def value_type(dtype: str) -> str:
    """The GLSL type an accessor returns for a tensor of `dtype`."""
    return "float" if is_float(dtype) else "int"


def lit(v: int) -> str:
    return i32_lit(v)


def strides(shape) -> list[int]:
    out, s = [], 1
    for d in reversed(list(shape)):
        out.append(s)
        s *= d
    return out[::-1]


def size_of(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def decompose(flat: str, shape, prefix: str) -> tuple[list[str], list[str]]:
    """Lines splitting the flat index `flat` into one int per axis of `shape` -> (lines, names)."""
    st = strides(shape)
    lines, names = [], []
    for k, (d, s) in enumerate(zip(shape, st)):
        name = f"{prefix}{k}"
        if d == 1:
            names.append("0")
            continue
        q = flat if s == 1 else f"({flat} / {lit(s)})"
        lines.append(f"int {name} = {q}" + ("" if k == 0 else f" % {lit(d)}") + ";")
        names.append(name)
    return lines, names


def offset(idx, st) -> str:
    """Σ idx[k] * st[k] as GLSL int text."""
    terms = [i if s == 1 else f"{i} * {lit(s)}" for i, s in zip(idx, st) if i != "0" and s != 0]
    return " + ".join(terms) or "0"


def broadcast_offset(in_shape, out_idx) -> str:
    """The flat offset in a tensor of `in_shape` broadcast to the output whose indices are out_idx."""
    r = len(in_shape)
    idx = out_idx[len(out_idx) - r:] if r else []
    st = strides(in_shape)
    return offset([i if d != 1 else "0" for i, d in zip(idx, in_shape)], st)


@dataclass
class Draw:
    """One program writing one tensor: its text, what it reads, which tensor it writes."""
    name: str
    code: str
    inputs: list  # [(sampler uniform name, tensor name, part)]
    output: str


@dataclass
class Program:
    """A fragment program in the making: samplers and accessors for what it reads, helpers, body."""
    packing: dict  # tensor name -> Packing
    roots: dict    # tensor name -> the tensor whose textures it shares (Reshape)
    samplers: list = field(default_factory=list)   # (uniform, tensor name, part)
    accessors: list = field(default_factory=list)
    helpers: set = field(default_factory=set)
    bound: dict = field(default_factory=dict)

    def bind(self, var: str, t) -> str:
        """Binds tensor `t` for reading as `var`; -> the accessor's name (`<var>_at`). The same
        tensor bound twice is read through its first accessor."""
        root = self.roots.get(t.name, t.name)
        if root in self.bound:
            return self.bound[root]
        p: Packing = self.packing[root]
        kind = "" if is_float(t.dtype) else "i"
        ty = value_type(t.dtype)
        names = []
        for k in range(len(p.parts)):
            u = f"{var}_{k}"
            self.samplers.append((u, root, k))
            names.append(u)
        sampler = f"uniform highp {kind}sampler2D {{}};"
        self.accessors += [sampler.format(n) for n in names]
        w = lit(p.width)
        if len(names) == 1:
            body = f"  return texelFetch({names[0]}, ivec2(i % {w}, i / {w}), 0).r;"
        else:  # a tensor over several textures: GLSL ES indexes samplers only by constants
            cap = lit(p.cap)
            body = [f"  int t = i / {cap}; int j = i - t * {cap}; ivec2 c = ivec2(j % {w}, j / {w});"]
            for k, n in enumerate(names[:-1]):
                body.append(f"  if (t == {k}) {{ return texelFetch({n}, c, 0).r; }}")
            body.append(f"  return texelFetch({names[-1]}, c, 0).r;")
            body = "\n".join(body)
        self.accessors.append(f"{ty} {var}_at(int i) {{\n{body}\n}}")
        self.bound[root] = f"{var}_at"
        return f"{var}_at"

    def draw(self, name: str, out, body: list[str], result: str) -> Draw:
        """The program writing `out`: `body` computes the value of flat output element `i` into
        `result` (a GLSL expression of the output's value type)."""
        p: Packing = self.packing[self.roots.get(out.name, out.name)]
        int_out = not is_float(out.dtype)
        lines = ["#version 300 es",
                 "precision highp float;", "precision highp int;",
                 "precision highp sampler2D;", "precision highp isampler2D;",
                 "uniform int u_base;",
                 f"out highp {'ivec4' if int_out else 'vec4'} o_value;",
                 *helper_code(self.helpers), *self.accessors,
                 "void main() {",
                 f"  int i = u_base + int(gl_FragCoord.y) * {lit(p.width)} + int(gl_FragCoord.x);",
                 f"  if (i >= {lit(max(out.size, 1))}) {{ o_value = {'ivec4(0)' if int_out else 'vec4(0.0)'}; return; }}",
                 *("  " + ln for ln in body),
                 f"  o_value = {'ivec4' if int_out else 'vec4'}({result}, 0, 0, 0);" if int_out
                 else f"  o_value = vec4({result}, 0.0, 0.0, 0.0);",
                 "}"]
        return Draw(name, "\n".join(lines) + "\n", list(self.samplers), out.name)
