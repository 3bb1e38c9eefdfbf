"""C rendering for the wasm backend: the renderer table (one entry per expression primitive of
docs/descriptor.md, scalar C and, where wasm SIMD has it, f32x4 C), the expression renderer, and
the one helper that turns broadcasting into loop strides."""
from __future__ import annotations

import math

import numpy as np

from ...ir.ops.elementwise import PRIMITIVES, expr_dtype

# dtype -> C storage type (docs/descriptor.md: f16 is stored as f32, int64 as int32, bool as uint8)
CTYPE = {"float32": "float", "float16": "float", "int32": "int32_t", "int64": "int32_t", "int8": "int8_t",
         "uint8": "uint8_t", "bool": "uint8_t"}
ESIZE = {"float32": 4, "float16": 4, "int32": 4, "int64": 4, "int8": 1, "uint8": 1, "bool": 1}


def cls_of(dtype: str | None) -> str | None:
    """Value class a node computes in: 'f' (float), 'i' (int32 arithmetic), 'b' (0/1 in an int32)."""
    if dtype is None:
        return None
    return "f" if dtype in ("float32", "float16") else "b" if dtype == "bool" else "i"


# primitive -> {class: C template}; {0}, {1}, {2} are the arguments, already in the node's class
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
    "lt": {"*": "({0} < {1})"}, "le": {"*": "({0} <= {1})"}, "gt": {"*": "({0} > {1})"},
    "ge": {"*": "({0} >= {1})"}, "eq": {"*": "({0} == {1})"},
    "and": {"*": "(({0} != 0) & ({1} != 0))"}, "or": {"*": "(({0} != 0) | ({1} != 0))"},
    "xor": {"*": "(({0} != 0) ^ ({1} != 0))"},
    "where": {"*": "(({0}) != 0 ? {1} : {2})"},
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

CTYPE_OF_CLS = {"f": "float", "i": "int32_t", "b": "int32_t"}


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
    v = int(np.int32(np.int64(int(v)) & 0xffffffff)) if abs(int(v)) >= 2**31 else int(v)
    return f"({v})" if v >= 0 else f"(int32_t)({v})" if v != -2**31 else "(int32_t)0x80000000u"


def _convert(code: str, frm: str, to: str) -> str:
    if frm == to or (frm in "ib" and to in "ib"):
        return code
    if to == "f":
        return f"(float)({code})"
    return f"wd_f2i({code})"


def render(expr, in_dtypes, leaf, hint: str) -> tuple[str, str]:
    """Scalar C for `expr`: (code, class). leaf(i) gives the C value of input i in its own class."""
    op = expr[0]
    if op == "in":
        return leaf(expr[1]), cls_of(in_dtypes[expr[1]])
    if op == "const":
        c = cls_of(hint) or "f"
        return (c_float(expr[1]) if c == "f" else c_int(expr[1])), c
    if op == "cast":
        to = expr[1]
        code, c = render(expr[2], in_dtypes, leaf, hint)
        if to == "bool":
            return f"(({code}) != 0)", "b"
        if to in ("float32", "float16"):
            code = _convert(code, c, "f")
            return (f"wd_round_half({code})" if to == "float16" else code), "f"
        code = _convert(code, c, "i")
        if to == "int8":
            code = f"(int32_t)(int8_t)({code})"
        elif to == "uint8":
            code = f"(int32_t)(uint8_t)({code})"
        return code, "i"
    if op in ("asint", "asfloat"):  # the bits of a float32 as int32, or the reverse
        frm, to = ("f", "i") if op == "asint" else ("i", "f")
        code, c = render(expr[1], in_dtypes, leaf, "float32" if frm == "f" else "int32")
        return SCALAR[op][frm].format(_convert(code, c, frm)), to
    arity, _, kind = PRIMITIVES[op]
    node_dt = expr_dtype(expr, in_dtypes) or hint
    node_c = cls_of(node_dt) or "f"
    if op == "where":
        cc, ccls = render(expr[1], in_dtypes, leaf, "bool")
        a, ac = render(expr[2], in_dtypes, leaf, node_dt)
        b, bc = render(expr[3], in_dtypes, leaf, node_dt)
        return SCALAR[op]["*"].format(cc, _convert(a, ac, node_c), _convert(b, bc, node_c)), node_c
    if kind == "bool":
        arg_dt = next((d for d in (expr_dtype(a, in_dtypes) for a in expr[1:]) if d is not None), None) or hint
        args = [render(a, in_dtypes, leaf, arg_dt) for a in expr[1:]]
        arg_c = "f" if any(c == "f" for _, c in args) else "i"
        codes = [_convert(code, c, arg_c) for code, c in args]
        table = SCALAR[op]
        tmpl = table.get("*") or table.get(arg_c) or table.get("i")
        return tmpl.format(*codes), "b"
    args = [render(a, in_dtypes, leaf, node_dt) for a in expr[1:]]
    codes = [_convert(code, c, node_c) for code, c in args]
    table = SCALAR[op]
    tmpl = table.get(node_c) or table.get("i" if node_c == "b" else node_c)
    if tmpl is None:
        raise ValueError(f"primitive {op!r} has no C form for {node_dt}")
    return tmpl.format(*codes), node_c


def vectorizable(expr, in_dtypes) -> bool:
    """True when every node is float32 and has an f32x4 form."""
    op = expr[0]
    if op == "in":
        return in_dtypes[expr[1]] == "float32"
    if op == "const" or _float_literal(expr):
        return True
    if op not in VECTOR:
        return False
    return all(vectorizable(a, in_dtypes) for a in expr[1:])


def _float_literal(expr) -> bool:
    """A literal cast to float32 (passes/simplify_elementwise writes inlined constants so)."""
    return expr[0] == "cast" and expr[1] == "float32" and expr[2][0] == "const"


def render_vector(expr, leaf) -> str:
    """f32x4 C for a vectorizable expression; leaf(i) gives input i as an f32x4."""
    op = expr[0]
    if op == "in":
        return leaf(expr[1])
    if op == "const" or _float_literal(expr):
        return f"wasm_f32x4_splat({c_float(expr[-1][1] if op == 'cast' else expr[1])})"
    return VECTOR[op].format(*(render_vector(a, leaf) for a in expr[1:]))


def store(code: str, cls: str, dtype: str) -> str:
    """The value converted to the output's storage type."""
    if dtype == "bool":
        return f"(uint8_t)(({code}) != 0)"
    if dtype in ("float32", "float16"):
        code = _convert(code, cls, "f")
        return f"wd_round_half({code})" if dtype == "float16" else code
    code = _convert(code, cls, "i")
    return f"({CTYPE[dtype]})({code})"


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
