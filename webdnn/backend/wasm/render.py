"""C rendering for the wasm backend: the renderer tables (one entry per expression primitive of
docs/descriptor.md, scalar C and, where wasm SIMD has it, f32x4 C) with C's literals and casts
over the typed walk of backend/expr.py, and the one helper that turns broadcasting into loop
strides."""
from __future__ import annotations

import math
import re

from ...ir.dtype import INT_DTYPES
from ...ir.ops.elementwise import PRIMITIVES, expr_inputs
from ..expr import ExprRenderer, any_kind, kind_of

# dtype -> C storage type (docs/descriptor.md: f16 is stored as f32, int64 as int32, bool as uint8)
CTYPE = {"float32": "float", "float16": "float", "int32": "int32_t", "int64": "int32_t", "int8": "int8_t",
         "uint8": "uint8_t", "bool": "uint8_t"}
ESIZE = {"float32": 4, "float16": 4, "int32": 4, "int64": 4, "int8": 1, "uint8": 1, "bool": 1}


# primitive -> {kind: C template}; {0}, {1}, {2} are the arguments, already of that kind (a bool
# is a 0/1 int32, so "b" operands use the "i" form)
SCALAR = {
    "neg": {"f": "(-{0})", "i": "(int32_t)(0u - (uint32_t){0})"},
    "abs": {"f": "__builtin_fabsf({0})", "i": "wd_absi({0})"},
    "exp": {"f": "wd_expf({0})"},
    "log": {"f": "wd_logf({0})"},
    "sqrt": {"f": "__builtin_sqrtf({0})"},
    "reciprocal": {"f": "(1.0f / {0})"},
    "floor": {"f": "__builtin_floorf({0})", "i": "{0}"},
    "ceil": {"f": "__builtin_ceilf({0})", "i": "{0}"},
    "round": {"f": "__builtin_rintf({0})", "i": "{0}"},  # f32.nearest: half to even
    "tanh": {"f": "wd_tanhf({0})"},
    "erf": {"f": "wd_erff({0})"},
    "sin": {"f": "wd_sinf({0})"},
    "cos": {"f": "wd_cosf({0})"},
    "sign": {"f": "wd_signf({0})", "i": "wd_signi({0})"},
    "tan": {"f": "wd_tanf({0})"},
    "asin": {"f": "wd_asinf({0})"},
    "acos": {"f": "wd_acosf({0})"},
    "atan": {"f": "wd_atanf({0})"},
    "sinh": {"f": "wd_sinhf({0})"},
    "cosh": {"f": "wd_coshf({0})"},
    "asinh": {"f": "wd_asinhf({0})"},
    "acosh": {"f": "wd_acoshf({0})"},
    "atanh": {"f": "wd_atanhf({0})"},
    "isinf": {"f": "(__builtin_fabsf({0}) == __builtin_inff())", "i": "0"},
    "asint": {"f": "__builtin_bit_cast(int32_t, {0})"},
    "asfloat": {"i": "__builtin_bit_cast(float, {0})"},
    "bnot": {"i": "(~{0})"},
    "not": {"f": "({0} == 0.0f)", "i": "({0} == 0)"},
    "isnan": {"f": "({0} != {0})", "i": "0"},
    "add": {"f": "({0} + {1})", "i": "(int32_t)((uint32_t){0} + (uint32_t){1})"},
    "sub": {"f": "({0} - {1})", "i": "(int32_t)((uint32_t){0} - (uint32_t){1})"},
    "mul": {"f": "({0} * {1})", "i": "(int32_t)((uint32_t){0} * (uint32_t){1})"},
    "div": {"f": "({0} / {1})", "i": "wd_idivi({0}, {1})"},  # numpy: true division, then truncated
    "pow": {"f": "wd_powf({0}, {1})", "i": "wd_powi({0}, {1})"},
    "max": {"f": "wd_maxf({0}, {1})", "i": "wd_maxi({0}, {1})"},  # f32.max propagates NaN
    "min": {"f": "wd_minf({0}, {1})", "i": "wd_mini({0}, {1})"},
    "idiv": {"f": "wd_idivf({0}, {1})", "i": "wd_idivi({0}, {1})"},
    "imod": {"f": "wd_imodf({0}, {1})", "i": "wd_imodi({0}, {1})"},
    "shl": {"i": "wd_shl({0}, {1})"},
    "shr": {"i": "wd_shr({0}, {1})"},
    "band": {"i": "({0} & {1})"},
    "bor": {"i": "({0} | {1})"},
    "bxor": {"i": "({0} ^ {1})"},
    "lt": any_kind("({0} < {1})"), "le": any_kind("({0} <= {1})"), "gt": any_kind("({0} > {1})"),
    "ge": any_kind("({0} >= {1})"), "eq": any_kind("({0} == {1})"),
    "and": any_kind("(({0} != 0) & ({1} != 0))"), "or": any_kind("(({0} != 0) | ({1} != 0))"),
    "xor": any_kind("(({0} != 0) ^ ({1} != 0))"),
    "where": any_kind("(({0}) != 0 ? {1} : {2})"),
}

# f32x4 forms (float32 only); a tree with any other primitive runs the scalar loop
VECTOR = {
    "neg": "wasm_f32x4_neg({0})", "abs": "wasm_f32x4_abs({0})", "sqrt": "wasm_f32x4_sqrt({0})",
    "reciprocal": "wasm_f32x4_div(wasm_f32x4_splat(1.0f), {0})", "floor": "wasm_f32x4_floor({0})",
    "ceil": "wasm_f32x4_ceil({0})", "round": "wasm_f32x4_nearest({0})",
    "add": "wasm_f32x4_add({0}, {1})", "sub": "wasm_f32x4_sub({0}, {1})", "mul": "wasm_f32x4_mul({0}, {1})",
    "div": "wasm_f32x4_div({0}, {1})", "max": "wasm_f32x4_max({0}, {1})", "min": "wasm_f32x4_min({0}, {1})",
    "exp": "wd_exp4({0})", "log": "wd_log4({0})", "tanh": "wd_tanh4({0})", "erf": "wd_erf4({0})",  # csrc/vmath.h
}
assert set(SCALAR) == set(PRIMITIVES), set(PRIMITIVES) ^ set(SCALAR)



def c_float(v) -> str:
    if isinstance(v, str):
        v = float(v)
    v = float(v)
    if math.isnan(v):
        return '__builtin_nanf("")'
    if math.isinf(v):
        return "__builtin_inff()" if v > 0 else "(-__builtin_inff())"
    return f"((float){v!r})"


def c_int(v) -> str:
    v = float(v) if isinstance(v, str) else v
    if isinstance(v, float) and not math.isfinite(v):
        return "0"
    v = (int(v) + 2**31) % 2**32 - 2**31  # wraps to int32 as a C conversion does
    return f"({v})" if v >= 0 else f"(int32_t)({v})" if v != -2**31 else "(int32_t)0x80000000u"


class CRenderer(ExprRenderer):
    """Scalar C: floats compute in float, everything else in int32_t (a bool as 0/1)."""

    TABLE = SCALAR

    @classmethod
    def literal(cls, v, kind: str) -> str:
        return c_float(v) if kind == "f" else c_int(v)

    @classmethod
    def convert(cls, text: str, src: str, dst: str) -> str:
        if src == dst or (src in "ib" and dst in "ib"):
            return text
        return f"(float)({text})" if dst == "f" else f"wd_f2i({text})"

    @classmethod
    def narrow(cls, text: str, dtype: str) -> str:
        if dtype == "float16":  # stored as float32, rounded to what a half holds
            return f"wd_round_half({text})"
        return f"(int32_t)({CTYPE[dtype]})({text})" if dtype in ("int8", "uint8") else text

    @classmethod
    def cast(cls, text: str, kind: str, dtype: str) -> str:
        return f"(({text}) != 0)" if dtype == "bool" else super().cast(text, kind, dtype)

    @classmethod
    def store(cls, text: str, kind: str, dtype: str) -> str:
        if dtype == "bool":
            return f"(uint8_t)(({text}) != 0)"
        if kind_of(dtype) == "f":
            return cls.cast(text, kind, dtype)
        return f"({CTYPE[dtype]})({cls.convert(text, kind, 'i')})"

    def condition(self, expr) -> str:
        return self.node(expr, "bool")[0]  # the ternary tests any scalar against zero

    SIGMOID = "wd_sigmoidf({0})"

    def subtree(self, expr, ctx):
        # the logistic sigmoid as the IR writes it, reciprocal(1 + exp(-x)): one vmath function (no overflow clamp;
        # the scalar form is lane 0 of the vector one, so a loop's tail agrees with its body)
        if expr[0] == "reciprocal" and expr[1][0] == "add":
            one = [i for i, a in enumerate(expr[1][1:]) if a[0] == "const" and float(a[1]) == 1.0]
            if one:
                e = expr[1][2 - one[0]]
                if e[0] == "exp" and e[1][0] == "neg":
                    return self.SIGMOID.format(self.render(e[1][1], "f", ctx)), "f"
        return None


# an f32x4 literal as VectorRenderer.literal writes it, not NaN
_LITERAL = re.compile(r"wasm_f32x4_splat\(\(\(float\)-?[0-9.e+-]+\)\)|wasm_f32x4_splat\(\(?-?__builtin_inff\(\)\)?\)")


class VectorRenderer(CRenderer):
    """f32x4 C for trees of float32 inputs, literals and the primitives wasm SIMD has."""

    TABLE = {op: {"f": t} for op, t in VECTOR.items()}
    SIGMOID = "wd_sigmoid4({0})"

    @classmethod
    def literal(cls, v, kind: str) -> str:
        return f"wasm_f32x4_splat({c_float(v)})"

    def apply(self, op: str, kind: str, args: list[str]) -> str:
        # max / min against a literal (ReLU, clips, quantization's clamps): pmax / pmin, one x86 instruction
        # where max / min take several; the same result but for max(-0, 0) = -0 (pmax(a, b) is a < b ? b : a,
        # so a NaN in the other operand comes through; a NaN literal is left to max / min)
        if op in ("max", "min"):
            a, b = args
            if _LITERAL.fullmatch(a) and not _LITERAL.fullmatch(b):
                a, b = b, a
            if _LITERAL.fullmatch(b):
                return f"wasm_f32x4_p{op}({a}, {b})"
        return super().apply(op, kind, args)

    def vectorizable(self, expr, scalars=frozenset()) -> bool:
        op = expr[0]
        if op == "in":
            return self.in_dtypes[expr[1]] == "float32"
        if op == "const":
            return True
        if op == "cast":  # a literal cast to float32 (passes/simplify_elementwise writes so), or an integer
            a = expr[2]   # input broadcast from one element (a zero point), which its leaf splats as float;
            if expr[1] == "float32" and self.dtype(a) == "float32":  # float32 to float32: nothing to do in C
                return self.vectorizable(a, scalars)
            return expr[1] == "float32" and (a[0] == "const" or (
                a[0] == "in" and a[1] in scalars and self.in_dtypes[a[1]] in INT_DTYPES))
        return op in self.TABLE and all(self.vectorizable(a, scalars) for a in expr[1:])


# ---- the functions the kernel emitters call -----------------------------------------------------
def render(expr, in_dtypes, leaf, hint: str) -> tuple[str, str]:
    """Scalar C for `expr`: (code, kind). leaf(i) gives the C value of input i in its own kind."""
    return CRenderer(in_dtypes, leaf).node(expr, hint)


def store(code: str, kind: str, dtype: str) -> str:
    """The value converted to the output's storage type."""
    return CRenderer.store(code, kind, dtype)


def vectorizable(expr, in_dtypes, scalars=frozenset()) -> bool:
    """True when every node is float32 and has an f32x4 form. scalars: inputs read as one element for
    every output; an integer one of them may be cast to float32 (render_vector's leaf splats it as float)."""
    return VectorRenderer(in_dtypes).vectorizable(expr, frozenset(scalars))


def render_vector(expr, leaf) -> str:
    """f32x4 C for a vectorizable expression; leaf(i) gives input i as an f32x4."""
    in_dtypes = ["float32"] * (max(expr_inputs(expr), default=-1) + 1)
    return VectorRenderer(in_dtypes, leaf).render(expr, "f", "float32")


# ---- broadcasting -> loop strides (the one index helper) ---------------------------------------
def broadcast_strides(in_shape, out_shape) -> list[int]:
    """Element stride of an input (numpy broadcasting, right-aligned) along each output dim."""
    in_shape, out_shape = tuple(in_shape), tuple(out_shape)
    lead = len(out_shape) - len(in_shape)
    st, acc = [0] * len(in_shape), 1
    for k in range(len(in_shape) - 1, -1, -1):
        st[k] = acc if in_shape[k] != 1 else 0
        acc *= in_shape[k]
    return [0] * lead + st


def collapse(shape, strides_list):
    """Merge adjacent dims that every stride list walks contiguously; drop size-1 dims.
    Returns (dims, [strides per list])."""
    dims, out = [], [[] for _ in strides_list]
    for k, d in enumerate(shape):
        if d == 1:
            continue
        if dims and all(s[k] * d == o[-1] for s, o in zip(strides_list, out)):
            dims[-1] *= d
            for s, o in zip(strides_list, out):
                o[-1] = s[k]
            continue
        dims.append(d)
        for s, o in zip(strides_list, out):
            o.append(s[k])
    return dims, out
