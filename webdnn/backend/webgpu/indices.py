"""The one place WGSL index arithmetic is generated (the IndicesHelper idea): tensor bindings
and their accessors, flat offset <-> indices, broadcasting, and the global invocation index.

Shapes are compile-time constants, so every stride is a literal. A tensor larger than one
storage binding may hold is bound as several consecutive parts; its accessors pick the part,
so kernels never see the split.

In a graph with symbolic sizes (ir/symbolic.py) a size may be an Expr: `u()` writes it as WGSL
arithmetic on the sizes uniform, `wd_sz[i / 4][i % 4]` holding symbol i (in sorted order; the
runtime writes them for each binding), so a shader compiles once for every size. Such a tensor is
one part (the runtime refuses a binding that makes it larger than a storage binding may be), and a
flat kernel over a symbolic count is dispatched as `flat_groups` says (groups an expression).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...ir.symbolic import Expr, prod
from .wgsl import compute_type, storage_type

WORKGROUP = 256          # invocations of the flat (one thread per element) kernels
MAX_GROUPS_X = 65535     # maxComputeWorkgroupsPerDimension (WebGPU default)


# the symbols of the graph being lowered, in sorted order (lower.symbol_slots sets it)
SYMBOLS: list[str] = []
MAX_SYMBOLS = 16  # the sizes uniform: array<vec4<u32>, 4>
SIZES_BINDING = "#sizes"  # its [tensor, part] entry in a dispatch's bindings


def _dim(d):
    return d if isinstance(d, Expr) else int(d)


def strides(shape) -> list:
    s, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        s[i] = acc
        acc = acc * _dim(shape[i])
    return s


def size_of(shape):
    return prod([_dim(d) for d in shape]) if len(shape) else 1


def _sym(name: str) -> str:
    i = SYMBOLS.index(name)
    return f"wd_sz[{i // 4}].{'xyzw'[i % 4]}"


def wgsl_size(d: Expr) -> str:
    """A symbolic size as u32 WGSL: positive terms first (u32 has no unary minus), then the
    subtracted ones (an intermediate may wrap; a size itself never is negative)."""
    def term(m, c):
        factors = [_sym(a) if isinstance(a, str) else
                   f"({wgsl_size(a.num)} {'/' if a.op == '//' else '%'} {a.den}u)" for a in m]
        if c != 1 or not factors:
            factors.insert(0, f"{c}u")
        return " * ".join(factors)
    pos = [term(m, c) for m, c in d.terms.items() if c > 0]
    neg = [term(m, -c) for m, c in d.terms.items() if c < 0]
    text = " + ".join(pos) if pos else "0u"
    for t in neg:
        text += f" - {t}"
    return f"({text})"


def u(n) -> str:
    if isinstance(n, Expr):
        return wgsl_size(n)
    return f"{int(n)}u"


def si(n) -> str:
    """A size as an i32 operand: a literal, or a symbolic size from the sizes uniform."""
    return f"i32({wgsl_size(n)})" if isinstance(n, Expr) else f"{int(n)}i"


def is_sym(n) -> bool:
    return isinstance(n, Expr)


def n_parts(size, part_elems: int) -> int:
    if isinstance(size, Expr):
        return 1
    return max(1, -(-max(size, 1) // part_elems))


@dataclass
class TensorBinding:
    var: str            # WGSL identifier prefix
    tensor: str         # tensor name in the descriptor
    shape: tuple
    dtype: str
    write: bool
    part_elems: int
    vec4: bool = False  # bound as array<vec4<FT>> (size a multiple of 4, aligned accesses only)
    constant: bool = False     # weights are bound read-only; activations read_write (see Shader)
    array: str | None = None   # the binding variables' prefix when another tensor's are shared

    @property
    def size(self) -> int:
        return size_of(self.shape)

    @property
    def parts(self) -> int:
        return n_parts(self.size, self.part_elems)

    def declarations(self, first: int) -> list[str]:
        if self.array is not None:
            return []
        access = "read" if self.constant else "read_write"
        st = storage_type(self.dtype)
        elem = f"vec4<{st}>" if self.vec4 else st
        return [f"@group(0) @binding({first + p}) var<storage, {access}> {self.var}_{p}: array<{elem}>;"
                for p in range(self.parts)]

    @property
    def n_bindings(self) -> int:
        return 0 if self.array is not None else self.parts

    def accessors(self) -> str:
        ct, st, n, P = compute_type(self.dtype), storage_type(self.dtype), self.parts, self.part_elems
        arr = self.array or self.var
        lines = []
        if not self.vec4:
            last = self.size - (n - 1) * P
            body = _read_part(n, P, last, lambda p, j: f"{ct}({arr}_{p}[{j}])")
            lines.append(f"fn {self.var}_get(i: u32) -> {ct} {{ {body} }}")
            if self.write:
                body = _select_part(n, P, lambda p, j: f"{arr}_{p}[{j}] = {st}(v);")
                lines.append(f"fn {self.var}_set(i: u32, v: {ct}) {{ {body} }}")
        else:
            # i counts vec4 elements; parts are multiples of 4 elements
            P4 = P // 4
            last4 = self.size // 4 if is_sym(self.size) else max(1, (self.size - (n - 1) * P) // 4)
            body = _read_part(n, P4, last4, lambda p, j: f"vec4<{ct}>({arr}_{p}[{j}])")
            lines.append(f"fn {self.var}_get4(i: u32) -> vec4<{ct}> {{ {body} }}")
            if self.write:
                body = _select_part(n, P4, lambda p, j: f"{arr}_{p}[{j}] = vec4<{st}>(v);")
                lines.append(f"fn {self.var}_set4(i: u32, v: vec4<{ct}>) {{ {body} }}")
        return "\n".join(lines)

    def get(self, i: str) -> str:
        return f"{self.var}_get({i})"

    def set(self, i: str, v: str) -> str:
        return f"{self.var}_set({i}, {v});"


@dataclass
class PackedBinding(TensorBinding):
    """A constant bound as the bytes --weights int8 stores for it (graph "encoded"): one array<u32>
    of `words` words, read by word (`<var>_get(i) -> u32`); the kernel unpacks scales and values."""
    words: int = 1

    @property
    def parts(self) -> int:
        return 1

    def declarations(self, first: int) -> list[str]:
        return [f"@group(0) @binding({first}) var<storage, read> {self.var}_0: array<u32>;"]

    def accessors(self) -> str:
        return f"fn {self.var}_get(i: u32) -> u32 {{ return {self.var}_0[min(i, {u(self.words - 1)})]; }}"


def _select_part(n: int, P: int, stmt) -> str:
    """A store into the part that holds element i (if / else if chain, no early return)."""
    if n == 1:
        return stmt(0, "i")
    out = []
    for p in range(n):
        j = "i" if p == 0 else f"i - {u(p * P)}"
        cond = f"if (i < {u((p + 1) * P)}) " if p < n - 1 else ""
        out.append(f"{cond}{{ {stmt(p, j)} }}")
    return " else ".join(out)


def _read_part(n: int, P: int, last: int, load) -> str:
    """Element i of a tensor in n parts: every part is read at a clamped index and the right value
    selected, so no invocation takes a branch or reads out of bounds, not even one whose result
    is discarded (SwiftShader returned stale values to other invocations after such reads)."""
    if n == 1:
        return f"return {load(0, f'min(i, {u(last - 1)})')};"
    expr = load(n - 1, f"min(i - min(i, {u((n - 1) * P)}), {u(last - 1)})")
    for p in range(n - 2, -1, -1):
        lo = f"i - min(i, {u(p * P)})" if p else "i"
        expr = f"select({expr}, {load(p, f'min({lo}, {u(P - 1)})')}, i < {u((p + 1) * P)})"
    return f"return {expr};"


# ---- index arithmetic ---------------------------------------------------------------------

def decompose(flat: str, shape, prefix: str) -> tuple[list[str], list[str]]:
    """WGSL lines that split `flat` (a u32 expression < size) into one index per axis; returns
    (lines, index expressions). Axes of extent 1 get the literal 0u."""
    shape = [_dim(d) for d in shape]
    st = strides(shape)
    lines, names = [], []
    if not flat.isidentifier():
        flat = f"({flat})"
    rest = flat
    live = [k for k, d in enumerate(shape) if d != 1]
    for n, k in enumerate(live):
        name = f"{prefix}{k}"
        if n == len(live) - 1:
            lines.append(f"let {name} = {rest};" if n else f"let {name} = {flat};")
        else:
            lines.append(f"let {name} = {rest} / {u(st[k])};")
            lines.append(f"let {prefix}r{k} = {rest} % {u(st[k])};")
            rest = f"{prefix}r{k}"
        names.append(name)
    idx = ["0u"] * len(shape)
    for k, name in zip(live, names):
        idx[k] = name
    # the first live axis needs no modulo (flat < size); later ones come from the remainders
    return lines, idx


def offset(indices, strides_) -> str:
    """Σ indices[k] * strides[k] as WGSL, dropping zero terms."""
    terms = []
    for i, s in zip(indices, strides_):
        if i == "0u" or s == 0:
            continue
        terms.append(i if s == 1 else f"{i} * {u(s)}")
    return " + ".join(terms) if terms else "0u"


def broadcast_offset(in_shape, out_indices) -> str:
    """Offset into a tensor of `in_shape` broadcast (numpy rules) to the output's indices."""
    in_shape = [_dim(d) for d in in_shape]
    lead = len(out_indices) - len(in_shape)
    st = strides(in_shape)
    idx = [("0u" if d == 1 else out_indices[lead + k]) for k, d in enumerate(in_shape)]
    return offset(idx, st)


def global_index(groups_x, per_group: int = WORKGROUP) -> str:
    """The flat invocation index of a kernel dispatched with `flat_groups(...)`."""
    if is_sym(groups_x) or groups_x >= MAX_GROUPS_X or groups_x == 0:
        return f"(wid.y * {u(MAX_GROUPS_X)} + wid.x) * {u(per_group)} + lid"
    return f"wid.x * {u(per_group)} + lid"


def flat_groups(n, per_group: int = WORKGROUP) -> tuple:
    """Workgroups for n invocations; for a symbolic n, (count, 1, 1) where the dispatch is marked
    `wrap`: the runtime dispatches count groups as (min(count, 65535), ceil(count / 65535), 1),
    which global_index's two-dimensional form reads back."""
    if is_sym(n):
        return ((n + per_group - 1) // per_group, 1, 1)
    groups = max(1, -(-n // per_group))
    if groups <= MAX_GROUPS_X - 1:
        return (groups, 1, 1)
    return (MAX_GROUPS_X, -(-groups // MAX_GROUPS_X), 1)


ENTRY_FLAT = ("@compute @workgroup_size({wg})\n"
              "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{")


# NaN and infinities are read from private variables: WGSL compilers evaluate a bitcast of a
# literal at compile time and reject a non-finite result
PRELUDE = ("var<private> NAN_BITS: u32 = 0x7fc00000u;\nvar<private> INF_BITS: u32 = 0x7f800000u;\n"
           "fn f_nan() -> f32 { return bitcast<f32>(NAN_BITS); }\nfn f_inf() -> f32 { return bitcast<f32>(INF_BITS); }")


@dataclass
class Shader:
    """Collects bindings and helper code of one kernel and assembles its WGSL.

    Activations are all bound read_write: WebGPU validates usage per buffer, and a read-only
    and a writable binding of the one arena buffer in a dispatch would conflict. Bindings must
    not overlap either, so a tensor is bound once, and a tensor sharing another's bytes (a
    Reshape's output; ``roots`` maps it to the tensor that owns them) reuses that binding."""
    part_elems: int
    roots: dict = field(default_factory=dict)
    bindings: list[TensorBinding] = field(default_factory=list)
    helpers: list[str] = field(default_factory=list)
    sizes: bool = False  # the code reads the sizes uniform (set by code())

    def bind(self, var: str, tensor, write: bool = False, vec4: bool = False) -> TensorBinding:
        root = self.roots.get(tensor.name, tensor.name)
        for b in self.bindings:
            if b.tensor == tensor.name and b.vec4 == vec4:
                b.write = b.write or write
                return b
        owner = next((b for b in self.bindings if b.array is None and self.roots.get(b.tensor, b.tensor) == root
                      and b.vec4 == vec4), None)
        b = TensorBinding(var, tensor.name, tuple(tensor.shape), tensor.dtype, write, self.part_elems, vec4,
                          constant=tensor.is_constant, array=owner.var if owner else None)
        self.bindings.append(b)
        return b

    def bind_packed(self, var: str, tensor, stored_bytes: int) -> PackedBinding:
        """Binds a constant as its stored bytes (PackedBinding)."""
        for b in self.bindings:
            if b.tensor == tensor.name and isinstance(b, PackedBinding):
                return b
        b = PackedBinding(var, tensor.name, tuple(tensor.shape), tensor.dtype, False, self.part_elems, constant=True,
                          words=-(-stored_bytes // 4))
        self.bindings.append(b)
        return b

    def binding_list(self) -> list[list]:
        """[tensor, part] per @binding, in order; call after code() (it drops unused bindings). The
        sizes uniform of a shader that reads symbolic sizes comes last, as [SIZES_BINDING, 0]."""
        out = [[b.tensor, p] for b in self.bindings for p in range(b.n_bindings)]
        return out + [[SIZES_BINDING, 0]] if self.sizes else out

    def code(self, body: str) -> str:
        # a pipeline's `auto` layout leaves out bindings the code never touches, so a bound
        # tensor that no code reads or writes (e.g. an input an expression ignores) is unbound
        rest = "\n".join([*(h for h in self.helpers if h), body])
        used = {b.array or b.var for b in self.bindings
                if any(f"{b.var}_{f}(" in rest for f in ("get", "set", "get4", "set4"))}
        self.bindings = [b for b in self.bindings if (b.array or b.var) in used]
        decls, n = [], 0
        for b in self.bindings:
            decls += b.declarations(n)
            n += b.n_bindings
        self.sizes = "wd_sz[" in rest or any("wd_sz[" in b.accessors() for b in self.bindings)
        if self.sizes:
            decls.append(f"@group(0) @binding({n}) var<uniform> wd_sz: array<vec4<u32>, {MAX_SYMBOLS // 4}>;")
        parts = ["\n".join(decls), PRELUDE, "\n".join(b.accessors() for b in self.bindings), rest]
        return "\n".join(p for p in parts if p) + "\n"


@dataclass
class Dispatch:
    """One compute dispatch: its WGSL (without the precision header), its bindings as
    [tensor, part] in binding order, and its workgroup counts."""
    name: str
    code: str
    bindings: list
    groups: tuple
    workgroup_bytes: int = 0     # workgroup memory it declares
    invocations: int = WORKGROUP  # workgroup size
    wrap: bool = False           # groups[0] is a symbolic count to fold into (x, y) at run time (flat_groups)
    when: tuple | list | None = None  # (size, low, high): dispatched only where low <= size <= high (None: unbounded);
    #                                   a list of those: where every one holds


def flat_kernel(name: str, sh: Shader, n: int, lines: list[str], wg: int = WORKGROUP) -> Dispatch:
    """A kernel with one invocation per element gi < n; `lines` is the body after the bounds check."""
    groups = flat_groups(n, wg)
    body = "\n".join([ENTRY_FLAT.format(wg=wg), f"  let gi = {global_index(groups[0] if groups[1] == 1 else MAX_GROUPS_X, wg)};",
                      f"  if (gi >= {u(n)}) {{ return; }}", *("  " + ln for ln in lines), "}"])
    return Dispatch(name, sh.code(body), sh.binding_list(), groups, wrap=is_sym(groups[0]))


def lines_along(shape, axis: int) -> tuple[int, int, int]:
    """(number of lines, axis length, stride along the axis) of the independent lines along `axis`."""
    outer = size_of(shape[:axis])
    inner = size_of(shape[axis + 1:])
    return outer * inner, _dim(shape[axis]), inner


def line_base(line: str, length: int, inner: int) -> str:
    """Offset of the first element of line `line` (lines_along's numbering)."""
    if inner == 1:
        return f"{line} * {u(length)}"
    return f"({line} / {u(inner)}) * {u(length * inner)} + {line} % {u(inner)}"
