"""Symbolic dimensions: a dim may be a named size bound at run time (`seq`, `batch`) or an integer
expression of such names (`seq + past`, `(h - 1) // 2 + 1`).

An `Expr` is a polynomial with integer coefficients over atoms: a symbol, or a floor division /
remainder of an expression by a constant. Arithmetic with ints and other Exprs gives Exprs in one
canonical form (so two ways of writing the same size compare equal), and an Expr that turns out
constant is returned as a plain int: code written for int dims keeps working on the same values.

    seq = Sym("seq"); (seq + 1) * 2 - seq   →  seq + 2
    (2 * seq + 1) // 2                        →  seq
    (seq * 768) // (seq * 12)                 →  64

Comparisons decide from bounds: every symbol lies in [0, MAX_DIM]; a comparison the bounds cannot
decide (is `seq` < 5?) raises ShapeError, since the answer would differ between bindings. `==`
is structural (seq == 1 is False: broadcasting a symbol against 1 keeps the symbol). int() of a
non-constant Expr raises: a place that needs a fixed size says so instead of picking one.

The text form (`str()`) is what descriptors store and the runtime evaluates: integers, names,
`+ - * // %` and parentheses, with Python's floor semantics.
"""
from __future__ import annotations

import re
from typing import Mapping, Union

from ..errors import ShapeError

# A dim never exceeds this (tensors are < 2 GiB); bounds for deciding comparisons.
MAX_DIM = (1 << 31) - 1

Dim = Union[int, "Expr"]


class _Div:
    """An atom: floor(num / den) (op "//") or num mod den (op "%") with num an Expr, den an int > 0."""
    __slots__ = ("op", "num", "den", "key")

    def __init__(self, op: str, num: "Expr", den: int):
        self.op, self.num, self.den = op, num, den
        text = str(num)
        if not re.fullmatch(r"[A-Za-z0-9_*]+", text):
            text = f"({text})"
        self.key = f"({text} {op} {den})"

    def __eq__(self, other):
        return isinstance(other, _Div) and self.key == other.key

    def __hash__(self):
        return hash(self.key)

    def bounds(self) -> tuple[int, int]:
        lo, hi = _bounds(self.num)
        if self.op == "//":
            return lo // self.den, hi // self.den
        return (0, self.den - 1) if lo < 0 or hi - lo >= self.den or lo % self.den > hi % self.den \
            else (lo % self.den, hi % self.den)

    def evaluate(self, env) -> int:
        n = evaluate(self.num, env)
        return n // self.den if self.op == "//" else n % self.den


def _atom_key(a) -> str:
    return a if isinstance(a, str) else a.key


class Expr:
    """A polynomial: {monomial: coefficient}, a monomial a sorted tuple of atoms (repeats = powers)."""
    __slots__ = ("terms", "_str")

    def __init__(self, terms: Mapping[tuple, int]):
        self.terms = {m: c for m, c in terms.items() if c != 0}
        self._str = None

    # ---- construction -------------------------------------------------------------------
    @staticmethod
    def make(terms: Mapping[tuple, int]) -> Dim:
        e = Expr(terms)
        if not e.terms:
            return 0
        if list(e.terms) == [()]:
            return e.terms[()]
        return e

    @staticmethod
    def of(x) -> "Expr":
        if isinstance(x, Expr):
            return x
        if isinstance(x, bool) or not isinstance(x, int):
            try:
                x = int(x)  # numpy integers
            except (TypeError, ValueError):
                raise TypeError(f"a dim is an int or a symbolic expression, not {type(x).__name__}") from None
        return Expr({(): x})

    # ---- arithmetic ---------------------------------------------------------------------
    def __add__(self, other):
        try:
            o = Expr.of(other)
        except TypeError:
            return NotImplemented
        terms = dict(self.terms)
        for m, c in o.terms.items():
            terms[m] = terms.get(m, 0) + c
        return Expr.make(terms)

    __radd__ = __add__

    def __neg__(self):
        return Expr.make({m: -c for m, c in self.terms.items()})

    def __pos__(self):
        return self

    def __sub__(self, other):
        try:
            return self + (-Expr.of(other))
        except TypeError:
            return NotImplemented

    def __rsub__(self, other):
        try:
            return Expr.of(other) + (-self)
        except TypeError:
            return NotImplemented

    def __mul__(self, other):
        try:
            o = Expr.of(other)
        except TypeError:
            return NotImplemented
        terms: dict[tuple, int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in o.terms.items():
                m = tuple(sorted(m1 + m2, key=_atom_key))
                terms[m] = terms.get(m, 0) + c1 * c2
        return Expr.make(terms)

    __rmul__ = __mul__

    def __floordiv__(self, other):
        if isinstance(other, Expr):
            return _divide_exact(self, other)
        d = _int(other)
        if d is None:
            return NotImplemented
        if d == 0:
            raise ZeroDivisionError(f"{self} // 0")
        if d < 0:
            return (-self) // (-d)
        const = self.terms.get((), 0)
        rest = {m: c for m, c in self.terms.items() if m != ()}
        if all(c % d == 0 for c in rest.values()):  # floor((d·A + c) / d) = A + floor(c / d)
            return Expr.make({**{m: c // d for m, c in rest.items()}, (): const // d})
        return Expr.make({(_Div("//", self, d),): 1})

    def __rfloordiv__(self, other):
        n = _int(other)
        if n is None:
            return NotImplemented
        if n == 0:
            return 0
        raise ShapeError(f"cannot divide {n} by the symbolic size {self}")

    def __mod__(self, other):
        if isinstance(other, Expr):
            q = _divide_exact(self, other)  # raises unless exact
            return self - q * other
        d = _int(other)
        if d is None:
            return NotImplemented
        if d <= 0:
            raise ShapeError(f"{self} % {d}: the divisor must be positive")
        const = self.terms.get((), 0)
        rest = {m: c for m, c in self.terms.items() if m != ()}
        if all(c % d == 0 for c in rest.values()):
            return const % d
        return Expr.make({(_Div("%", self, d),): 1})

    def __truediv__(self, other):
        # ONNX shape arithmetic divides int64 tensors; only exact division keeps an integer size
        return self // other

    # ---- comparison ---------------------------------------------------------------------
    def __eq__(self, other):
        if isinstance(other, Expr):
            return self.terms == other.terms
        n = _int(other)
        return False if n is None else self.terms == Expr.of(n).terms

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(str(self))

    def _decide(self, other, op: str) -> bool:
        diff = self - other if isinstance(other, Expr) or _int(other) is not None else None
        if diff is None:
            raise TypeError(f"cannot compare {self} with {type(other).__name__}")
        if isinstance(diff, int):
            lo = hi = diff
        else:
            lo, hi = _bounds(diff)
        if op == "<":
            res = True if hi < 0 else False if lo >= 0 else None
        elif op == "<=":
            res = True if hi <= 0 else False if lo > 0 else None
        elif op == ">":
            res = True if lo > 0 else False if hi <= 0 else None
        else:
            res = True if lo >= 0 else False if hi < 0 else None
        if res is None:
            raise ShapeError(f"cannot decide whether {self} {op} {other}: it depends on the value of "
                             f"{', '.join(sorted(symbols(self) | symbols(other)))}")
        return res

    def __lt__(self, other):
        return self._decide(other, "<")

    def __le__(self, other):
        return self._decide(other, "<=")

    def __gt__(self, other):
        return self._decide(other, ">")

    def __ge__(self, other):
        return self._decide(other, ">=")

    def __bool__(self):
        return True  # a non-constant Expr is never the constant 0

    def __int__(self):
        raise ShapeError(f"the symbolic size {self} is used where a fixed size is needed")

    __index__ = __int__

    # ---- text ---------------------------------------------------------------------------
    def __str__(self):
        if self._str is None:
            parts = []
            for m, c in sorted(self.terms.items(), key=lambda mc: (-len(mc[0]), [_atom_key(a) for a in mc[0]])):
                body = "*".join(_atom_key(a) for a in m)
                if not body:
                    text = str(abs(c))
                elif abs(c) == 1:
                    text = body
                else:
                    text = f"{abs(c)}*{body}"
                parts.append(("- " if c < 0 else "+ ") + text)
            s = " ".join(parts)
            self._str = s[2:] if s.startswith("+ ") else "-" + s[2:]
        return self._str

    def __repr__(self):
        return f"Expr({str(self)!r})"


def _int(x):
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    try:
        import numpy as np
        if isinstance(x, np.integer):
            return int(x)
    except ImportError:  # pragma: no cover
        pass
    return None


def _divide_exact(num: Expr, den: Expr) -> Dim:
    """num / den when den is one term that divides every term of num; else a ShapeError."""
    if len(den.terms) == 1:
        ((dm, dc),) = den.terms.items()
        out = {}
        for m, c in num.terms.items():
            rest = list(m)
            try:
                for a in dm:
                    rest.remove(a)
            except ValueError:
                break
            if c % dc:
                break
            out[tuple(rest)] = c // dc
        else:
            return Expr.make(out)
    raise ShapeError(f"cannot divide the symbolic size {num} by {den} exactly")


def _bounds(e) -> tuple[int, int]:
    """Interval of an expression with every symbol in [0, MAX_DIM]."""
    if isinstance(e, int):
        return e, e
    lo = hi = 0
    for m, c in e.terms.items():
        mlo, mhi = 1, 1
        for a in m:
            alo, ahi = (0, MAX_DIM) if isinstance(a, str) else a.bounds()
            cands = (mlo * alo, mlo * ahi, mhi * alo, mhi * ahi)
            mlo, mhi = min(cands), max(cands)
        lo += min(c * mlo, c * mhi)
        hi += max(c * mlo, c * mhi)
    return lo, hi


def Sym(name: str) -> Expr:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ShapeError(f"{name!r} is not a valid dimension name (letters, digits and _, not starting with a digit)")
    return Expr({(name,): 1})


def is_symbolic(d) -> bool:
    return isinstance(d, Expr)


def symbols(d) -> set[str]:
    """The symbol names a dim (or a shape, or nested lists of dims) mentions."""
    if isinstance(d, Expr):
        out: set[str] = set()
        for m in d.terms:
            for a in m:
                out |= {a} if isinstance(a, str) else symbols(a.num)
        return out
    if isinstance(d, (list, tuple)):
        return set().union(*(symbols(x) for x in d)) if d else set()
    return set()


def evaluate(d, env: Mapping[str, int]) -> int:
    """The value of a dim under a binding {symbol: int}; a missing symbol is a ShapeError."""
    if not isinstance(d, Expr):
        return int(d)
    total = 0
    for m, c in d.terms.items():
        v = c
        for a in m:
            if isinstance(a, str):
                if a not in env:
                    raise ShapeError(f"no value for the dimension {a!r}")
                v *= int(env[a])
            else:
                v *= a.evaluate(env)
        total += v
    return total


def substitute(d, env: Mapping[str, Dim]) -> Dim:
    """Replace the symbols that `env` names (by ints or other expressions); the others stay."""
    if not isinstance(d, Expr):
        return d
    total: Dim = 0
    for m, c in d.terms.items():
        v: Dim = c
        for a in m:
            if isinstance(a, str):
                v = v * env.get(a, Expr({(a,): 1}))
            else:
                n = substitute(a.num, env)
                v = v * (n // a.den if a.op == "//" else n % a.den)
        total = total + v
    return total


_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*%()]))")


def parse(text: str) -> Dim:
    """The inverse of str(): '2*seq + 1', '(h - 1) // 2 + 1' → Expr (or int)."""
    tokens, pos = [], 0
    text = str(text)
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            if text[pos:].strip() == "":
                break
            raise ShapeError(f"cannot read the dimension {text!r} at {text[pos:]!r}")
        tokens.append(int(m.group(1)) if m.group(1) is not None else m.group(2) or m.group(3))
        pos = m.end()
    i = 0

    def peek():
        return tokens[i] if i < len(tokens) else None

    def take():
        nonlocal i
        i += 1
        return tokens[i - 1]

    def expr():
        v = term()
        while peek() in ("+", "-"):
            v = v + term() if take() == "+" else v - term()
        return v

    def term():
        v = factor()
        while peek() in ("*", "//", "%"):
            op = take()
            f = factor()
            v = v * f if op == "*" else v // f if op == "//" else v % f
        return v

    def factor():
        t = take() if peek() is not None else None
        if t == "-":
            return -factor()
        if t == "(":
            v = expr()
            if peek() != ")":
                raise ShapeError(f"cannot read the dimension {text!r}: unbalanced parentheses")
            take()
            return v
        if isinstance(t, int):
            return t
        if isinstance(t, str) and t not in ("+", "*", "//", "%", ")"):
            return Sym(t)
        raise ShapeError(f"cannot read the dimension {text!r}")

    v = expr()
    if i != len(tokens):
        raise ShapeError(f"cannot read the dimension {text!r}")
    return v


def dim_json(d):
    """A dim as descriptors store it: an int, or the expression's text."""
    return str(d) if isinstance(d, Expr) else int(d)


def int_array(values, shape=None):
    """An int64 array of `values`; where some value is symbolic, an object array of ints and Exprs
    (a *symbolic constant*: the value of a shape computation, e.g. Shape(x) for x of shape [1, seq])."""
    import numpy as np
    flat = list(np.asarray(values, dtype=object).reshape(-1)) if not isinstance(values, (list, tuple)) else list(values)
    out_shape = shape if shape is not None else np.shape(np.asarray(values, dtype=object))
    vals = [v if isinstance(v, Expr) else int(v) for v in flat]
    if any(isinstance(v, Expr) for v in vals):
        arr = np.empty(len(vals), dtype=object)
        arr[:] = vals
        return arr.reshape(out_shape)
    return np.array(vals, dtype=np.int64).reshape(out_shape)


def is_symbolic_array(a) -> bool:
    import numpy as np
    return isinstance(a, np.ndarray) and a.dtype == object and any(isinstance(v, Expr) for v in a.reshape(-1))


def broadcast_shapes(*shapes) -> tuple:
    """numpy's broadcasting rule on dims that may be symbolic: a 1 takes the other size; two sizes
    must be equal (a symbol against a fixed size > 1 would tie the symbol to it: refused)."""
    if not any(isinstance(d, Expr) for s in shapes for d in s):
        import numpy as np
        return tuple(np.broadcast_shapes(*shapes))
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        sizes = [d for d in dims if not (isinstance(d, int) and d == 1)]
        first = sizes[0] if sizes else 1
        if any(d != first for d in sizes):
            raise ShapeError(f"shapes {[list(s) for s in shapes]} do not broadcast (dims {dims} at axis {i - rank})")
        out.append(first)
    return tuple(out)


def prod(dims) -> Dim:
    """The product of dims that may be symbolic (1 for none)."""
    out: Dim = 1
    for d in dims:
        out = d * out if isinstance(d, Expr) else out * int(d)
    return out


def as_dim(x) -> Dim:
    """An int (numpy integers included), an Expr, or an expression's text ("32*h") as a dim."""
    if isinstance(x, Expr):
        return x
    if isinstance(x, str):
        return parse(x)
    return int(x)


def render(d, name=lambda s: s, floordiv: str = "//") -> str:
    """A dim as an expression text in another language: `name(symbol)` for each symbol and
    `floordiv` for floor division (C's "/" where the operands are sizes, never negative); every
    compound part in parentheses, so the text may stand anywhere an operand does."""
    if not isinstance(d, Expr):
        return str(int(d)) if int(d) >= 0 else f"({int(d)})"
    parts = []
    for m, c in sorted(d.terms.items(), key=lambda mc: (-len(mc[0]), [_atom_key(a) for a in mc[0]])):
        factors = [name(a) if isinstance(a, str) else
                   f"({render(a.num, name, floordiv)} {floordiv if a.op == '//' else '%'} {a.den})" for a in m]
        if abs(c) != 1 or not factors:
            factors.insert(0, str(abs(c)))
        parts.append(("-" if c < 0 else "+", "*".join(factors)))
    text = parts[0][1] if parts[0][0] == "+" else f"-{parts[0][1]}"
    for sign, body in parts[1:]:
        text += f" {sign} {body}"
    return f"({text})"
