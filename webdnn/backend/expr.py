"""One typed walk over elementwise expression trees (ir/ops/elementwise.py), for every dialect.

The walk infers each node's dtype and value kind, types literals by their context, picks the
operand kind of each primitive and inserts the conversions; a dialect subclass supplies only its
table (primitive -> {operand kind: template}) and the text of literals, conversions, casts and
stores (tinygrad's CStyleLanguage -> WGSLRenderer is the model: a subclass overrides what differs).

Value kinds: "f" float arithmetic (float32/float16, and literals with no typed context), "i"
integer arithmetic (int8 ... int64), "b" bool. Bool tensors are stored as 0/1 integers.
"""
from __future__ import annotations

from ..ir.dtype import FLOAT_DTYPES
from ..ir.ops.elementwise import BITS_OF, PRIMITIVES, expr_dtype

_RANK = {"b": 0, "i": 1, "f": 2}  # numpy promotion order of the kinds: bool < int < float


def kind_of(dtype: str | None) -> str:
    """The kind a node of `dtype` computes in (None: an untyped literal, a float)."""
    if dtype is None or dtype in FLOAT_DTYPES:
        return "f"
    return "b" if dtype == "bool" else "i"


def any_kind(template: str) -> dict[str, str]:
    """A table entry whose text does not depend on the operand kind."""
    return {"f": template, "i": template, "b": template}


class ExprRenderer:
    """Renders expression trees as text of one dialect.

    ``in_dtypes[i]`` is input i's IR dtype and ``leaf(i)`` its text, read as its kind (a bool
    input as its stored 0/1 integer)."""

    # primitive -> {operand kind: template}; {0}, {1}, {2} are the operands, already of that kind
    TABLE: dict[str, dict[str, str]] = {}
    # primitives whose operands take one kind whatever their own (e.g. logical ops on bools)
    OPERAND_KIND: dict[str, str] = {}
    # helper functions a template may call: name -> definition (dependencies listed first), and the
    # helpers each one calls; a rendering collects the names it used in `helpers`
    HELPERS: dict[str, str] = {}
    HELPER_DEPS: dict[str, list[str]] = {}

    def __init__(self, in_dtypes=(), leaf=None):
        self.in_dtypes = list(in_dtypes)
        self.leaf = leaf
        self.helpers: set[str] = set()

    def need(self, name: str) -> None:
        """Record that the text calls helper `name` (and what it calls)."""
        if name in self.helpers:
            return
        for dep in self.HELPER_DEPS.get(name, []):
            self.need(dep)
        self.helpers.add(name)

    def helper_code(self) -> str:
        """The definitions of the helpers used, in dependency order."""
        return "\n".join(self.HELPERS[n] for n in self.HELPERS if n in self.helpers)

    # ---- what a dialect supplies -----------------------------------------------------------
    @classmethod
    def literal(cls, v, kind: str) -> str:
        """A scalar (a number, or 'nan' / 'inf' / '-inf') as a literal of `kind`."""
        raise NotImplementedError

    @classmethod
    def convert(cls, text: str, src: str, dst: str) -> str:
        """`text` of kind src as kind dst."""
        raise NotImplementedError

    @classmethod
    def narrow(cls, text: str, dtype: str) -> str:
        """A value already of kind_of(dtype) rounded to what `dtype` holds (int8 wraps, ...)."""
        return text

    @classmethod
    def cast(cls, text: str, kind: str, dtype: str) -> str:
        """A value of `kind` cast to `dtype` (its result has kind_of(dtype))."""
        return cls.narrow(cls.convert(text, kind, kind_of(dtype)), dtype)

    @classmethod
    def store(cls, text: str, kind: str, dtype: str) -> str:
        """A value of `kind` as what a tensor of `dtype` stores."""
        return cls.cast(text, kind, dtype)

    def cast_context(self, operand, ctx: str | None) -> str | None:
        """The context of a cast's operand: the cast's own, as the numpy reference evaluates it."""
        return ctx

    def condition(self, expr) -> str:
        """The text of a `where` condition."""
        return self.render(expr, "b", "bool")

    def apply(self, op: str, kind: str, args: list[str]) -> str:
        template = self.TABLE[op][kind]
        for name in self.HELPERS:
            if name + "(" in template:
                self.need(name)
        return template.format(*args)

    def subtree(self, expr, ctx: str | None) -> tuple[str, str] | None:
        """A dialect's own (text, kind) for a whole subtree (one function for a common composite), or None."""
        return None

    # ---- the walk -------------------------------------------------------------------------
    def dtype(self, expr) -> str | None:
        return expr_dtype(expr, self.in_dtypes)

    def render(self, expr, want: str, ctx: str | None = None) -> str:
        """The text of `expr` as kind `want`; ctx types constant-only subtrees."""
        text, kind = self.node(expr, ctx)
        return self.convert(text, kind, want)

    def node(self, expr, ctx: str | None) -> tuple[str, str]:
        """(text, kind) of `expr`; ctx is the dtype its literals take where nothing types them."""
        op = expr[0]
        own = self.subtree(expr, ctx)
        if own is not None:
            return own
        if op == "in":
            dt = self.in_dtypes[expr[1]]
            text = self.leaf(expr[1])
            return (self.convert(text, "i", "b"), "b") if dt == "bool" else (text, kind_of(dt))
        if op == "const":
            kind = kind_of(ctx)
            return self.literal(expr[1], kind), kind
        if op == "cast":
            text, kind = self.node(expr[2], self.cast_context(expr[2], ctx))
            return self.cast(text, kind, expr[1]), kind_of(expr[1])
        if op not in PRIMITIVES:
            raise ValueError(f"unknown expression primitive {op!r}")
        result = PRIMITIVES[op][2]
        args = expr[1:]
        if result in BITS_OF:  # asint / asfloat: the bits of one 32-bit type as the other
            src = BITS_OF[result]
            return self.apply(op, kind_of(src), [self.render(args[0], kind_of(src), src)]), kind_of(result)
        node_dt = self.dtype(expr) or ctx
        if op == "where":
            kind = self._pick(op, kind_of(node_dt))
            values = [self.render(a, kind, node_dt) for a in args[1:]]
            return self.apply(op, kind, [self.condition(args[0]), *values]), kind
        if result == "bool":
            # operands in their promoted kind; a literal among them takes its sibling's dtype
            known = [d for d in (self.dtype(a) for a in args) if d is not None]
            arg_ctx = known[0] if known else ctx
            kind = self.OPERAND_KIND.get(op) or max((kind_of(d) for d in known or [ctx]), key=_RANK.get)
            kind = self._pick(op, kind)
            return self.apply(op, kind, [self.render(a, kind, arg_ctx) for a in args]), "b"
        kind = self._pick(op, kind_of(node_dt))
        return self.apply(op, kind, [self.render(a, kind, node_dt) for a in args]), kind

    def _pick(self, op: str, kind: str) -> str:
        """The table's kind for operands of `kind`: bools compute as integers (numpy promotes
        them), and a kind the table lacks (exp of an int, which the IR refuses) falls back so
        the renderer stays total."""
        forms = self.TABLE.get(op)
        if forms is None:
            raise ValueError(f"{type(self).__name__}: no form for expression primitive {op!r}")
        if kind in forms:
            return kind
        if kind == "b" and "i" in forms:
            return "i"
        return "f" if "f" in forms else "i" if "i" in forms else next(iter(forms))


# The forms every C-like GPU dialect (WGSL, GLSL) writes the same way; a dialect's table starts from
# these and overrides or adds what differs (tinygrad's CStyleLanguage idea). The helpers named here
# (tanh_f, div_i, fmod_f ...) give numpy's results where the dialect's builtins do not; each dialect
# defines them in its HELPERS.
C_STYLE = {
    "neg": {"f": "(-{0})", "i": "(-{0})"},
    "abs": {"f": "abs({0})", "i": "abs({0})"},
    "exp": {"f": "exp({0})"},
    "reciprocal": {"f": "(1.0 / {0})"},
    "sin": {"f": "sin({0})"}, "cos": {"f": "cos({0})"}, "tan": {"f": "tan({0})"},
    "asin": {"f": "asin({0})"}, "acos": {"f": "acos({0})"}, "atan": {"f": "atan({0})"},
    "sinh": {"f": "sinh({0})"}, "cosh": {"f": "cosh({0})"},
    "asinh": {"f": "asinh({0})"}, "acosh": {"f": "acosh({0})"}, "atanh": {"f": "atanh({0})"},
    "bnot": {"i": "(~{0})"},
    "band": {"i": "({0} & {1})"}, "bor": {"i": "({0} | {1})"}, "bxor": {"i": "({0} ^ {1})"},
    "not": {"b": "(!{0})"},
    "add": {"f": "({0} + {1})", "i": "({0} + {1})"},
    "sub": {"f": "({0} - {1})", "i": "({0} - {1})"},
    "mul": {"f": "({0} * {1})", "i": "({0} * {1})"},
    "lt": {"f": "({0} < {1})", "i": "({0} < {1})"},
    "le": {"f": "({0} <= {1})", "i": "({0} <= {1})"},
    "gt": {"f": "({0} > {1})", "i": "({0} > {1})"},
    "ge": {"f": "({0} >= {1})", "i": "({0} >= {1})"},
    "eq": {"f": "({0} == {1})", "i": "({0} == {1})", "b": "({0} == {1})"},
    "and": {"b": "({0} && {1})"},
    "or": {"b": "({0} || {1})"},
    "xor": {"b": "({0} != {1})"},
    "floor": {"f": "floor({0})", "i": "{0}"},
    "ceil": {"f": "ceil({0})", "i": "{0}"},
    "tanh": {"f": "tanh_f({0})"},
    "erf": {"f": "erf_f({0})"},
    "sign": {"f": "sign_f({0})", "i": "sign({0})"},
    "isinf": {"f": "isinf_f({0})", "i": "false", "b": "false"},
    "isnan": {"f": "isnan_f({0})", "i": "false", "b": "false"},
    "shl": {"i": "shl_i({0}, {1})"},
    "shr": {"i": "shr_i({0}, {1})"},
    "div": {"f": "({0} / {1})", "i": "div_i({0}, {1})"},
    "pow": {"f": "pow_f({0}, {1})", "i": "pow_i({0}, {1})"},
    "max": {"f": "fmax({0}, {1})", "i": "max({0}, {1})"},
    "min": {"f": "fmin({0}, {1})", "i": "min({0}, {1})"},
    "idiv": {"f": "trunc({0} / {1})", "i": "div_i({0}, {1})"},
    "imod": {"f": "fmod_f({0}, {1})", "i": "mod_i({0}, {1})"},  # truncated, the sign of the dividend
}
