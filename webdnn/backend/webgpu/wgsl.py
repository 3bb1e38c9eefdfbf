"""WGSL dialect: value types, literals and the renderer table for elementwise expressions (the
typed walk itself is backend/expr.py's).

Every tensor lives on the GPU as one of two storage types: floats as `FT` (an alias the runtime
declares as f32, or f16 when the descriptor allows it and the adapter has `shader-f16`) and
everything else (int8/uint8/int32/int64/bool) as i32. Arithmetic is done in f32 / i32 / bool.
"""
from __future__ import annotations

import math

from ...ir.dtype import FLOAT_DTYPES
from ..expr import C_STYLE, ExprRenderer

SUBGROUP_OPS = {"add": "subgroupAdd", "max": "subgroupMax", "min": "subgroupMin", "mul": "subgroupMul"}


def header(precision: str, subgroups: bool = False, enable_subgroups: bool = True) -> str:
    """The lines the runtime puts before every shader of the descriptor (runtime/src/backends/webgpu/backend.ts
    writes the same): FT, the float storage type; CT, the type of the contraction tiles; HALF, whether their
    products are computed in f16 (f32 accumulation across K steps); SUBGROUPS, whether the device has subgroup
    operations, and sg_add/sg_max/sg_min/sg_mul (an f32 combined over the subgroup) and sg_first (the subgroup's
    first active invocation), which without subgroups stand for a subgroup of one. wgpu-native's WGSL compiler
    takes subgroup operations without `enable subgroups;` and refuses that line (enable_subgroups=False)."""
    lines = ["enable f16;"] if precision == "f16" else []
    if subgroups and enable_subgroups:
        lines.append("enable subgroups;")
    t = "f16" if precision == "f16" else "f32"
    lines += [f"alias FT = {t};", f"alias CT = {t};", f"const HALF = {str(precision == 'f16').lower()};",
              f"const SUBGROUPS = {str(subgroups).lower()};"]
    lines += [f"fn sg_{k}(x: f32) -> f32 {{ return {f'{fn}(x)' if subgroups else 'x'}; }}" for k, fn in SUBGROUP_OPS.items()]
    lines.append(f"fn sg_first() -> bool {{ return {'subgroupExclusiveAdd(1u) == 0u' if subgroups else 'true'}; }}")
    return "\n".join(lines) + "\n"


# value kinds an expression node can have (backend/expr.py), and their WGSL types
WGSL_TYPE = {"f": "f32", "i": "i32", "b": "bool"}


def storage_type(dtype: str) -> str:
    """The WGSL element type of a tensor's buffer."""
    return "FT" if dtype in FLOAT_DTYPES else "i32"


def compute_type(dtype: str) -> str:
    """The WGSL type an accessor returns for a tensor (bool tensors are read as i32 0/1)."""
    return "f32" if dtype in FLOAT_DTYPES else "i32"


def f32_lit(v: float) -> str:
    v = float(v)
    if math.isnan(v):
        return "f_nan()"
    if math.isinf(v):
        return "f_inf()" if v > 0 else "(-f_inf())"
    if abs(v) > 3.4028234663852886e38:
        return "f_inf()" if v > 0 else "(-f_inf())"
    if v != 0 and abs(v) < 1.1754943508222875e-38:
        return "0.0" if v > 0 else "-0.0"  # WGSL rejects subnormal literals on some compilers
    s = repr(v)
    if "e" in s or "E" in s:
        mant, exp = s.lower().split("e")
        if "." not in mant:
            mant += ".0"
        s = f"{mant}e{int(exp)}"
    elif "." not in s:
        s += ".0"
    return f"f32({s})" if s.startswith("-") else s + "f"


def i32_lit(v) -> str:
    n = int(v)
    n = max(-(2**31), min(2**31 - 1, n))
    return f"i32({n})" if n < 0 else f"{n}i"


def literal(v, kind: str) -> str:
    v = _num(v)
    if kind == "f":
        return f32_lit(v)
    if kind == "i":
        return i32_lit(math.trunc(v) if math.isfinite(v) else 0)
    return "true" if v != 0 else "false"


def _num(v) -> float:
    if isinstance(v, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[v.strip().lower()]
    return float(v)


def convert(text: str, src: str, dst: str) -> str:
    """`text` of kind src as kind dst (WGSL value constructors do the work)."""
    if src == dst:
        return text
    if dst == "b":
        return f"({text} != {'0.0' if src == 'f' else '0i'})"
    return f"{WGSL_TYPE[dst]}({text})"


# Helper functions an expression may need, emitted once per shader when used.
HELPERS = {
    "isnan_f": "fn isnan_f(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }",
    "fmax": "fn fmax(a: f32, b: f32) -> f32 { if (isnan_f(a) || isnan_f(b)) { return f_nan(); } return max(a, b); }",
    "fmin": "fn fmin(a: f32, b: f32) -> f32 { if (isnan_f(a) || isnan_f(b)) { return f_nan(); } return min(a, b); }",
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
    "erf_f": """fn erf_f(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(y, -y, x < 0.0);
}""",
    "tanh_f": "fn tanh_f(x: f32) -> f32 { if (isnan_f(x)) { return x; } return tanh(clamp(x, -10.0, 10.0)); }",
    # numpy power: negative bases with integral exponents, 0^0 = 1, NaN for a negative base otherwise
    "pow_f": """fn pow_f(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (isnan_f(a) || isnan_f(b)) { return f_nan(); }
  if (a == 0.0) { return select(0.0, f_inf(), b < 0.0); }
  if (floor(b) == b && abs(b) <= 64.0) {  // integral exponents exactly, by repeated squaring
    var e = u32(abs(b)); var base = a; var p = 1.0;
    loop { if (e == 0u) { break; } if ((e & 1u) == 1u) { p = p * base; } base = base * base; e = e >> 1u; }
    return select(p, 1.0 / p, b < 0.0);
  }
  let r = exp2(b * log2(abs(a)));
  if (a > 0.0) { return r; }
  if (floor(b) != b) { return f_nan(); }
  return select(r, -r, abs(b % 2.0) == 1.0);
}""",
    "pow_i": """fn pow_i(a: i32, b: i32) -> i32 {
  var r = 1i; var base = a; var e = b;
  if (e < 0) { return select(0i, select(-1i, 1i, (e & 1) == 0), a == -1) + select(0i, 1i, a == 1); }
  loop { if (e == 0) { break; } if ((e & 1) == 1) { r = r * base; } base = base * base; e = e >> 1u; }
  return r;
}""",
    # numpy log at the edges (WGSL leaves log of 0 and of negatives undefined): -inf at 0, NaN below
    "log_f": "fn log_f(x: f32) -> f32 { if (x == 0.0) { return -f_inf(); } if (x < 0.0) { return f_nan(); } return log(x); }",
    "isinf_f": "fn isinf_f(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }",
    # shifts as numpy does them: unsigned types hold non-negative values here, so an arithmetic
    # right shift is also the logical one; a shift by the width or more empties the value
    "shl_i": "fn shl_i(a: i32, b: i32) -> i32 { if (b < 0i || b >= 32i) { return 0i; } return a << u32(b); }",
    "shr_i": "fn shr_i(a: i32, b: i32) -> i32 { if (b < 0i || b >= 32i) { return select(0i, -1i, a < 0i); } return a >> u32(b); }",
    "sign_f": "fn sign_f(x: f32) -> f32 { if (isnan_f(x)) { return x; } return sign(x); }",
    "div_i": "fn div_i(a: i32, b: i32) -> i32 { if (b == 0) { return 0i; } return a / b; }",
    "mod_i": "fn mod_i(a: i32, b: i32) -> i32 { if (b == 0) { return 0i; } return a % b; }",
    # C's fmod: NaN for a zero divisor, an infinite dividend or a NaN; a finite a over an infinite b is a
    # (WGSL's f32 % is a - b * trunc(a / b), which gets those wrong)
    "fmod_f": """fn fmod_f(a: f32, b: f32) -> f32 {
  if (b == 0.0 || isnan_f(a) || isnan_f(b) || isinf_f(a)) { return f_nan(); }
  if (isinf_f(b)) { return a; }
  return a % b;
}""",
}
HELPER_DEPS = {"fmax": ["isnan_f"], "fmin": ["isnan_f"], "tanh_f": ["isnan_f"], "pow_f": ["isnan_f"],
               "sign_f": ["isnan_f"], "fmod_f": ["isnan_f", "isinf_f"]}

# primitive -> {operand kind: template}; {0}, {1}, {2} are the rendered operands (already of
# that kind). A primitive whose result is bool takes operands of the promoted argument kind. The
# C-like forms come from expr.C_STYLE; this table adds what WGSL writes its own way.
RENDER = {
    **C_STYLE,
    "log": {"f": "log_f({0})"},
    "sqrt": {"f": "sqrt({0})"},
    "round": {"f": "round({0})", "i": "{0}"},  # WGSL round: half to even, like numpy
    "asint": {"f": "bitcast<i32>({0})"},
    "asfloat": {"i": "bitcast<f32>({0})"},
    "where": {"f": "select({2}, {1}, {0})", "i": "select({2}, {1}, {0})", "b": "select({2}, {1}, {0})"},
}


class WGSLRenderer(ExprRenderer):
    """Renders one expression tree to a WGSL expression of a given kind, collecting the helper
    functions it calls. ``inputs[i]`` is (WGSL text reading input i as its compute type, IR dtype)."""

    TABLE = RENDER
    OPERAND_KIND = {"not": "b", "and": "b", "or": "b", "xor": "b"}
    HELPERS = HELPERS
    HELPER_DEPS = HELPER_DEPS

    def __init__(self, inputs: list[tuple[str, str]] = ()):
        super().__init__([d for _, d in inputs], lambda i: inputs[i][0])

    literal = staticmethod(literal)
    convert = staticmethod(convert)

    def cast_context(self, operand, ctx: str | None) -> str | None:
        # a cast of a cast of a literal types the literal by the inner cast's dtype
        return self.dtype(operand) or ctx

    @classmethod
    def narrow(cls, text: str, dtype: str) -> str:
        if dtype == "uint8":
            return f"({text} & 255i)"
        if dtype == "int8":
            return f"(({text} << 24u) >> 24u)"
        return text

    @classmethod
    def store(cls, text: str, kind: str, dtype: str) -> str:
        if dtype == "bool":  # a bool buffer holds i32 0/1
            return f"select(0i, 1i, {convert(text, kind, 'b')})"
        return cls.cast(text, kind, dtype)


store_value = WGSLRenderer.store
