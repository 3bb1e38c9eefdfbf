"""GLSL ES 3.00 dialect: literals, conversions and the renderer table for elementwise expressions
(the typed walk itself is backend/expr.py's; wgsl.py is the same table for WGSL).

Every tensor lives in textures of one of two kinds: floats (float32/float16) in R32F texels, read
as `float`; everything else (int8/uint8/int32/int64/bool) in R32I texels, read as `int` (bools 0/1).
Arithmetic is done in highp float / int / bool. GLSL ES leaves some operations undefined where
numpy is not (integer % of negatives, division by zero, log of 0, the half-way case of round): the
helpers below define them as numpy does.
"""
from __future__ import annotations

import math

from ..expr import C_STYLE, ExprRenderer

GLSL_TYPE = {"f": "float", "i": "int", "b": "bool"}

# NaN / infinity from their bits: GLSL ES has no literal for them, and 0.0 / 0.0 may be folded away
NAN = "uintBitsToFloat(0x7fc00000u)"
INF = "uintBitsToFloat(0x7f800000u)"


def f32_lit(v: float) -> str:
    v = float(v)
    if math.isnan(v):
        return NAN
    if math.isinf(v) or abs(v) > 3.4028234663852886e38:
        return INF if v > 0 else f"(-{INF})"
    if v != 0 and abs(v) < 1.1754943508222875e-38:
        return "0.0" if v > 0 else "-0.0"  # subnormals flush on most GPUs anyway
    s = repr(v)
    if "e" in s or "E" in s:
        mant, exp = s.lower().split("e")
        if "." not in mant:
            mant += ".0"
        s = f"{mant}e{int(exp)}"
    elif "." not in s:
        s += ".0"
    return f"({s})" if s.startswith("-") else s


def i32_lit(v) -> str:
    n = max(-(2**31), min(2**31 - 1, int(v)))
    if n == -(2**31):
        return "(-2147483647 - 1)"  # the literal 2147483648 does not exist
    return f"({n})" if n < 0 else str(n)


def _num(v) -> float:
    if isinstance(v, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[v.strip().lower()]
    return float(v)


def literal(v, kind: str) -> str:
    v = _num(v)
    if kind == "f":
        return f32_lit(v)
    if kind == "i":
        return i32_lit(math.trunc(v) if math.isfinite(v) else 0)
    return "true" if v != 0 else "false"


def convert(text: str, src: str, dst: str) -> str:
    if src == dst:
        return text
    if dst == "b":
        return f"({text} != {'0.0' if src == 'f' else '0'})"
    if src == "b":
        return f"({text} ? {'1.0' if dst == 'f' else '1'} : {'0.0' if dst == 'f' else '0'})"
    if dst == "i":  # numpy's float -> int cast of NaN / inf is undefined; keep it defined (0 / clamped)
        return f"f2i({text})"
    return f"{GLSL_TYPE[dst]}({text})"


# Helper functions an expression may need, emitted once per program when used.
HELPERS = {
    "isnan_f": "bool isnan_f(float x) { return (floatBitsToUint(x) & 0x7fffffffu) > 0x7f800000u; }",
    "isinf_f": "bool isinf_f(float x) { return (floatBitsToUint(x) & 0x7fffffffu) == 0x7f800000u; }",
    "f2i": "int f2i(float x) { if (isnan_f(x)) { return 0; } return int(clamp(x, -2147483648.0, 2147483520.0)); }",
    "fmax": f"float fmax(float a, float b) {{ if (isnan_f(a) || isnan_f(b)) {{ return {NAN}; }} return max(a, b); }}",
    "fmin": f"float fmin(float a, float b) {{ if (isnan_f(a) || isnan_f(b)) {{ return {NAN}; }} return min(a, b); }}",
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
    "erf_f": """float erf_f(float x) {
  float a = abs(x);
  float t = 1.0 / (1.0 + 0.3275911 * a);
  float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return x < 0.0 ? -y : y;
}""",
    "tanh_f": "float tanh_f(float x) { if (isnan_f(x)) { return x; } return tanh(clamp(x, -10.0, 10.0)); }",
    "pow_f": f"""float pow_f(float a, float b) {{
  if (b == 0.0) {{ return 1.0; }}
  if (isnan_f(a) || isnan_f(b)) {{ return {NAN}; }}
  if (a == 0.0) {{ return b < 0.0 ? {INF} : 0.0; }}
  if (floor(b) == b && abs(b) <= 64.0) {{
    int e = int(abs(b)); float base = a; float p = 1.0;
    for (int k = 0; k < 7; k++) {{ if ((e & 1) == 1) {{ p *= base; }} base *= base; e >>= 1; }}
    return b < 0.0 ? 1.0 / p : p;
  }}
  float r = exp2(b * log2(abs(a)));
  if (a > 0.0) {{ return r; }}
  if (floor(b) != b) {{ return {NAN}; }}
  return mod(abs(b), 2.0) == 1.0 ? -r : r;
}}""",
    "pow_i": """int pow_i(int a, int b) {
  if (b < 0) { return (a == 1) ? 1 : (a == -1 ? ((b & 1) == 0 ? 1 : -1) : 0); }
  int r = 1; int base = a; int e = b;
  for (int k = 0; k < 32; k++) { if (e == 0) { break; } if ((e & 1) == 1) { r *= base; } base *= base; e >>= 1; }
  return r;
}""",
    "log_f": f"float log_f(float x) {{ if (x == 0.0) {{ return -{INF}; }} if (x < 0.0 || isnan_f(x)) {{ return {NAN}; }} return log(x); }}",
    "sqrt_f": f"float sqrt_f(float x) {{ if (x < 0.0 || isnan_f(x)) {{ return {NAN}; }} return sqrt(x); }}",
    "shl_i": "int shl_i(int a, int b) { if (b < 0 || b >= 32) { return 0; } return a << b; }",
    "shr_i": "int shr_i(int a, int b) { if (b < 0 || b >= 32) { return a < 0 ? -1 : 0; } return a >> b; }",
    "sign_f": "float sign_f(float x) { if (isnan_f(x)) { return x; } return sign(x); }",
    # integer division truncates toward zero, as numpy's cast of a float quotient and C do
    "div_i": """int div_i(int a, int b) {
  if (b == 0) { return 0; }
  int q = abs(a) / abs(b);
  return ((a < 0) != (b < 0)) ? -q : q;
}""",
    "mod_i": "int mod_i(int a, int b) { if (b == 0) { return 0; } return a - b * div_i(a, b); }",
    # C's fmod: NaN for a zero divisor, an infinite dividend or a NaN; a finite a over an infinite b is a
    "fmod_f": f"""float fmod_f(float a, float b) {{
  if (b == 0.0 || isnan_f(a) || isnan_f(b) || isinf_f(a)) {{ return {NAN}; }}
  if (isinf_f(b)) {{ return a; }}
  return a - b * trunc(a / b);
}}""",
}
HELPER_DEPS = {"fmax": ["isnan_f"], "fmin": ["isnan_f"], "tanh_f": ["isnan_f"], "pow_f": ["isnan_f"],
               "sign_f": ["isnan_f"], "fmod_f": ["isnan_f", "isinf_f"], "log_f": ["isnan_f"], "f2i": ["isnan_f"],
               "sqrt_f": ["isnan_f"], "mod_i": ["div_i"]}

# primitive -> {operand kind: template}: the C-like forms (expr.C_STYLE), and what this dialect writes its own way
RENDER = {
    **C_STYLE,
    "log": {"f": "log_f({0})"},
    "sqrt": {"f": "sqrt_f({0})"},
    "round": {"f": "roundEven({0})", "i": "{0}"},  # numpy rounds half to even; GLSL's round may not
    "asint": {"f": "floatBitsToInt({0})"},
    "asfloat": {"i": "intBitsToFloat({0})"},
    "where": {"f": "({0} ? {1} : {2})", "i": "({0} ? {1} : {2})", "b": "({0} ? {1} : {2})"},
}


class GLSLRenderer(ExprRenderer):
    """Renders one expression tree to a GLSL expression, collecting the helpers it calls.
    ``inputs[i]`` is (GLSL text reading input i as float / int, IR dtype)."""

    TABLE = RENDER
    OPERAND_KIND = {"not": "b", "and": "b", "or": "b", "xor": "b"}
    HELPERS = HELPERS
    HELPER_DEPS = HELPER_DEPS

    def __init__(self, inputs=()):
        super().__init__([d for _, d in inputs], lambda i: inputs[i][0])

    literal = staticmethod(literal)

    def convert(self, text: str, src: str, dst: str) -> str:  # noqa: D102 (needs the helper set)
        out = convert(text, src, dst)
        if out.startswith("f2i("):
            self.need("f2i")
        return out

    def cast_context(self, operand, ctx):
        return self.dtype(operand) or ctx

    @classmethod
    def narrow(cls, text: str, dtype: str) -> str:
        if dtype == "uint8":
            return f"({text} & 255)"
        if dtype == "int8":
            return f"(({text} << 24) >> 24)"
        return text

    def cast(self, text: str, kind: str, dtype: str) -> str:
        from ..expr import kind_of
        return self.narrow(self.convert(text, kind, kind_of(dtype)), dtype)

    def store(self, text: str, kind: str, dtype: str) -> str:
        """A value of `kind` as what a texture of `dtype` holds (bools as int 0/1)."""
        if dtype == "bool":
            return f"({self.convert(text, kind, 'b')} ? 1 : 0)"
        return self.cast(text, kind, dtype)


def helper_code(names) -> list[str]:
    """The helpers' definitions in dependency order (HELPERS lists dependencies first)."""
    return [HELPERS[n] for n in HELPERS if n in names]
