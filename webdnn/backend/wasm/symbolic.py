"""The wasm backend on a graph with symbolic sizes (ir/symbolic.py): the same kernels, with every
size that depends on the symbols computed in C from `wd_sym[]`, which the runtime sets before a
run, and the activations placed by a plan made at run time.

    fixed graph:     wd_base + 4096                      (the static plan's offset)
    symbolic graph:  wd_arena + wd_off[7] + 2*wd_sym[1]  (group 7 of the plan wd_bind() made)

The memory plan is the static one's idea computed later: storage groups (a tensor and the Reshapes
that alias it) with their sizes as expressions and the kernels they live over; wd_bind() evaluates
the sizes and places the groups (best fit, wd_plan_arena) above everything else in memory, so the
arena can grow. A kernel whose shapes stay fixed in a symbolic graph is emitted as in a fixed one."""
from __future__ import annotations

from ...errors import ConversionError, ShapeError
from ...ir.symbolic import Expr, render
from . import render as R
from ..memory import visit_uses
from .emit import GEMV_PACK_BYTES, Program, align_up

# the most a plan made at run time may place (a wasm32 memory ends at 4 GiB; the module may grow to 2)
MAX_ARENA_BYTES = 2 << 30

# the column-panel copies of constant matrices kept for products of run-time rows (SymProgram.panel_copy)
PANEL_COPY_BYTES = 32 << 20

# what the wasm kernels take with symbolic sizes (Conv and Pool: a symbolic batch only)
SYMBOLIC_KERNELS = {"MatMul", "Elementwise", "Reduce", "Softmax", "Transpose", "Slice", "Expand", "Concat", "Split",
                    "Gather", "Reshape", "Identity", "CumSum", "ArgReduce", "Conv", "ConvTranspose", "Pool",
                    "Recurrent"}
ITEM = {"int64": 4, "float16": 4, "bool": 1, "float32": 4, "int32": 4, "int8": 1, "uint8": 1}


def sym_bytes(t):
    return t.size * ITEM[t.dtype]


def plan_groups(graph, steps):
    """-> (place: tensor name -> (group, byte offset inside it), groups: [(bytes, first, last)]) for
    the activations of a symbolic graph. A Reshape's output shares its input's group."""
    root: dict[int, object] = {}

    def find(t):
        while id(t) in root:
            t = root[id(t)]
        return t

    for s in steps:
        if s.type == "Reshape" and not s.op.inputs[0].is_constant:
            root[id(s.op.outputs[0])] = s.op.inputs[0]
    index, sizes, first, last, members = {}, [], [], [], {}

    def touch(t, i):
        r = find(t)
        g = index.get(id(r))
        if g is None:
            g = index[id(r)] = len(sizes)
            sizes.append(sym_bytes(r))
            first.append(i)
            last.append(i)
        first[g], last[g] = min(first[g], i), max(last[g], i)
        if sym_bytes(t) != sizes[g]:
            raise ConversionError(f"wasm backend: {t.name!r} and the tensor whose bytes it shares differ in size "
                                  f"({sym_bytes(t)} and {sizes[g]})")
        members[t.name] = g

    for t in graph.outputs:
        if t.is_constant:
            raise ConversionError(f"wasm backend: graph output {t.name!r} is a constant")
    visit_uses(graph, steps, touch)
    return {name: (g, 0) for name, g in members.items()}, list(zip(sizes, first, last))


class SymProgram(Program):
    """A Program whose sizes may be symbolic: dims render as C over wd_sym[], activations live at
    wd_arena + wd_off[group], tables of symbolic values are filled when their step starts."""

    symbolic = True

    def __init__(self, offsets: dict[str, int], symbols: list[str], place: dict, sizes: dict | None = None):
        super().__init__(offsets)
        self.symbols = symbols
        self.place = place
        self.sizes = dict(sizes or {})  # symbolic constants by name: arrays wd_bind() fills
        self.size_arrays = {name: f"wd_c{i}" for i, name in enumerate(sorted(self.sizes))}
        self.panel_copies: dict[str, int] = {}  # constant B -> offset in wd_prep of its copy in column panels
        self.panel_bytes = 0

    def panel_copy(self, b) -> bool:
        """A product whose rows are known only at run time multiplies a float constant B: keep a copy of
        B in the column panels of wd_gemv_packed (made at load) for runs with fewer than 4 rows, up to
        PANEL_COPY_BYTES in all; whether that copy exists."""
        if b.name in self.panel_copies:
            return True
        if not (b.is_constant and R.CTYPE[b.dtype] == "float" and b.data.ndim == 2):
            return False
        K, N = b.shape
        if K * N * 4 > GEMV_PACK_BYTES or self.panel_bytes + K * N * 4 > PANEL_COPY_BYTES:
            return False
        at = self.prep
        self.prep = align_up(self.prep + K * N * 4)
        self.temp = max(self.temp, K * N * 4)
        self.panel_bytes += K * N * 4
        self.prepare += [f"  wd_copy(wd_prep + {at}, (const float*)(wd_base + {self.offsets[b.name]}), {K * N * 4});",
                         f"  wd_pack_b_panels((float*)(wd_prep + {at}), {K}, {N}, (float*)wd_temp);"]
        self.panel_copies[b.name] = at
        return True

    def dim(self, d):
        if isinstance(d, Expr):
            try:
                return render(d, lambda s: f"wd_sym[{self.symbols.index(s)}]", "/")
            except ValueError:
                raise ConversionError(f"wasm backend: the size {d} names a symbol the inputs do not bind") from None
        return d

    def ptr(self, t, const=False) -> str:
        if t is not None and t.name in self.size_arrays:
            return f"(({'const ' if const else ''}{R.CTYPE[t.dtype]}*){self.size_arrays[t.name]})"
        if t is None or t.is_constant or t.name in self.offsets:
            return super().ptr(t, const)
        g, inner = self.place[t.name]
        q = "const " if const else ""
        return f"(({q}{R.CTYPE[t.dtype]}*)(wd_arena + wd_off[{g}] + {self.dim(inner)}))"

    def table(self, ctype: str, values, name: str) -> str:
        values = list(values)
        if not any(isinstance(v, Expr) for v in values):
            return super().table(ctype, values, name)
        self.decls.append(f"static {ctype} {name}[{max(1, len(values))}];")
        self.pre += [f"  {name}[{i}] = ({ctype}){self.dim(v)};" for i, v in enumerate(values)]
        return name

    def in_place(self, step) -> set:
        return set()  # no views inside other tensors: every piece is copied

    def copy(self, x, y) -> str:
        if not x.is_constant and x.name in self.place and self.place[x.name] == self.place.get(y.name):
            return ""  # the plan put the output in the input's bytes
        return f"  wd_copy({self.ptr(y)}, {self.ptr(x, True)}, {self.dim(sym_bytes(y))});"


def bind_source(p: SymProgram, groups, align: int) -> list[str]:
    """C: the tables of the run-time plan and wd_bind(), which places the groups for the sizes in
    wd_sym[] and returns the address the arena's end needs."""
    n = max(1, len(groups))
    try:  # in 64 bits: sizes that would overflow the 2 GiB the arena may take are refused, not wrapped
        sizes = [render(b, lambda s: f"(int64_t)wd_sym[{p.symbols.index(s)}]", "/") for b, _, _ in groups]
    except (ShapeError, ValueError) as e:
        raise ConversionError(f"wasm backend: {e}") from None
    firsts = ", ".join(str(f) for _, f, _ in groups) or "0"
    lasts = ", ".join(str(last) for _, _, last in groups) or "0"
    lines = [f"static int32_t wd_sym[{max(1, len(p.symbols))}];",
             f"static uint32_t wd_off[{n}], wd_gsize[{n}], wd_gtmp[{2 * n}];",
             f"static int32_t wd_gorder[{n}];",
             f"static const int32_t wd_gfirst[{n}] = {{{firsts}}}, wd_glast[{n}] = {{{lasts}}};",
             "static char* wd_arena;",
             *[f"static {R.CTYPE[p.sizes[n].dtype]} {a}[{max(1, p.sizes[n].data.size)}];" for n, a in p.size_arrays.items()],
             "/* the symbols' values are written here before wd_bind() */",
             "WD_EXPORT(wd_sizes_address) unsigned wd_sizes_address(void) { return (unsigned)(uintptr_t)wd_sym; }",
             "WD_EXPORT(wd_bind) unsigned wd_bind(void) {  /* 0: the sizes need more memory than a module has */"]
    lines += ["  int64_t total = 0, s;"]
    for g, sz in enumerate(sizes):
        lines += [f"  s = {sz}; if (s < 0 || s > {MAX_ARENA_BYTES}) return 0; total += s;",
                  f"  wd_gsize[{g}] = (uint32_t)s;"]
    lines += ["  if (total > (3LL << 30)) return 0;  /* the plan adds in 32 bits: keep it clear of 4 GiB */"]
    for name, arr in p.size_arrays.items():  # constants computed from the sizes
        lines += [f"  {arr}[{i}] = {p.dim(v)};" for i, v in enumerate(p.sizes[name].data.reshape(-1))]
    lines += [f"  uint32_t bytes = wd_plan_arena({len(groups)}, wd_gsize, wd_gfirst, wd_glast, wd_off, wd_gorder, wd_gtmp, "
              f"{align});",
              f"  if (bytes > {MAX_ARENA_BYTES}) return 0;",
              "  return (unsigned)(uintptr_t)(wd_arena + bytes);",
              "}"]
    return lines
