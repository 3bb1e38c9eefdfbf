"""The lowered graph every backend consumes: the optimized IR as a list of kernel steps, with an
Elementwise op fused into the contraction or pool that feeds it (its epilogue). Fusion is decided
here, once; a backend states only what its kernels can take (`Fusion`) and then places buffers
and renders text for the steps.

    conv ─► t ─► Elementwise(t + r, relu) ─► y        step Conv, epilogue = the Elementwise,
                      ▲                          =►    slot = 0 (where t enters it),
                      r                                inputs (x, w, r), outputs (y)

The fused step takes the Elementwise op's place in the order: every input of both exists by then.

A backend whose kernels can (``Fusion.attention``) also gets attention as one step, the score and
probability matrices never stored:

    q ─► MatMul ─► s ─► [Elementwise (scale, mask)] ─► Softmax(last axis) ─► p ─► MatMul ─► o
    kᵀ ─┘                                                                        v ─┘
      =►  step "Attention": op = the second MatMul (and its own epilogue, if any), attention =
          (the first MatMul, its epilogue and slot, the Softmax); inputs (q, kᵀ, mask..., v, ...)

Where kᵀ is a Transpose read only there (exporters write k.transpose(-2, -1)), the step takes it too
(attention.key) and reads the Transpose's input through its permutation: kᵀ is never stored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from ..errors import ConversionError
from ..ir import Graph, Op, Tensor
from .kernels import kernel_attrs


@dataclass(frozen=True)
class Fusion:
    """What a backend's kernels can fuse. ``families``: op types whose kernels apply an epilogue
    where they store; ``dtypes``: output dtypes the epilogue may have (None: any);
    ``reads(op, t)``: whether the kernel of ``op`` can read the epilogue's other input ``t``
    where it stores (e.g. a broadcast its stores can follow; None: any)."""
    families: tuple[str, ...] = ()
    dtypes: tuple[str, ...] | None = None
    reads: Callable[[Op, Tensor], bool] | None = None
    # whether the backend takes this attention chain (the Attention, the second MatMul) as one step; None: never
    attention: Callable[["Attention", Op], bool] | None = None
    # whether the backend takes this row group as one step; None: never
    rows: Callable[["RowGroup"], bool] | None = None


@dataclass(eq=False)
class RowGroup:
    """Reduces over the last axis of rows of `full` shape ([..., C]) and the Elementwise ops between
    them, each producing whole rows (`full`) or a value per row (`full[:-1] + [1]`), in graph order;
    only `output` (whole rows) is read outside the group."""
    ops: list
    full: tuple
    output: Tensor


@dataclass(eq=False)
class Attention:
    """softmax(epilogue(q · kᵀ)) · v as one kernel: the first MatMul, the Elementwise fused into it
    (reading its result at `slot`; None: none), the Softmax over the scores' last axis; the second
    MatMul is the step's op."""
    scores: Op
    epilogue: Op | None
    slot: int
    softmax: Op
    key: Op | None = None  # the Transpose making kᵀ, read only by the scores (its input is read instead)

    @property
    def key_source(self) -> Tensor:
        """The tensor the kernel reads for kᵀ: the scores' B, or the input of the Transpose making it."""
        return self.key.inputs[0] if self.key is not None else self.scores.inputs[1]


@dataclass(eq=False)
class Step:
    """One kernel: an IR op, and the Elementwise op fused into where it stores (``epilogue``,
    reading the op's output at input ``slot``). ``inputs``/``outputs`` are the step's as the
    memory planner sees them: the fused intermediate tensor is in neither."""
    op: Op
    epilogue: Op | None = None
    slot: int = 0
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    attention: Attention | None = None
    rows: RowGroup | None = None

    @property
    def type(self) -> str:
        if self.rows is not None:
            return "Rows"
        return "Attention" if self.attention is not None else self.op.type

    @property
    def name(self) -> str:
        return self.attention.softmax.name if self.attention is not None else self.op.name

    @property
    def label(self) -> str:
        """"Conv conv1 + relu1": how profiles and kernel lists name the step."""
        return f"{self.type} {self.name}" + (f" + {self.epilogue.name}" if self.epilogue is not None else "")

    @cached_property
    def attrs(self) -> dict:
        """The op's kernel attributes (backend/kernels.py), computed once when a backend asks."""
        return kernel_attrs(self.op)


@dataclass
class LoweredGraph:
    """The optimized graph as kernel steps, in an order where every step's inputs exist."""
    graph: Graph
    steps: list[Step]

    @property
    def inputs(self) -> list:
        return self.graph.inputs

    @property
    def outputs(self) -> list:
        return self.graph.outputs

    def check_attrs(self, backend: str) -> None:
        """Compute every step's kernel attributes; the first failure becomes '<backend> backend: ...'."""
        for s in self.steps:
            try:
                s.attrs
            except ConversionError as e:
                raise ConversionError(f"{backend} backend: {e}") from None


def _epilogue_of(op: Op, consumers: dict, graph_outputs: set, fusion: Fusion):
    """(the Elementwise op to fuse into `op`, the slot it reads op's output at) or None."""
    if op.type not in fusion.families or len(op.outputs) != 1:
        return None
    t = op.outputs[0]
    users = consumers.get(id(t), [])
    if len(users) != 1 or users[0].type != "Elementwise" or id(t) in graph_outputs:
        return None
    ew = users[0]
    slots = [i for i, u in enumerate(ew.inputs) if u is t]
    if len(slots) != 1 or ew.outputs[0].shape != t.shape:
        return None
    if fusion.dtypes is not None and (t.dtype not in fusion.dtypes or ew.outputs[0].dtype not in fusion.dtypes):
        return None
    if fusion.reads is not None and not all(fusion.reads(op, u) for i, u in enumerate(ew.inputs) if i != slots[0]):
        return None
    return ew, slots[0]


def is_symbolic_step(step) -> bool:
    """Whether a step's tensors (its epilogue's included) have sizes bound at run time (ir/symbolic.py)."""
    ts = [*step.op.inputs, *step.op.outputs, *(step.epilogue.inputs if step.epilogue is not None else ())]
    return any(t is not None and t.is_symbolic for t in ts)


def _only_user(t, consumers, outputs):
    """The one op that reads `t` (once), where t is not a graph output; else None."""
    users = consumers.get(id(t), [])
    if len(users) != 1 or id(t) in outputs or sum(u is t for u in users[0].inputs) != 1:
        return None
    return users[0]


def _attention_chains(graph: Graph, consumers, outputs, fusion: Fusion) -> dict:
    """{id(second MatMul): Attention} for every chain the backend takes (module docstring)."""
    found = {}
    if fusion.attention is None:
        return found
    producer = {id(t): o for o in graph.ops for t in o.outputs}
    for op in graph.ops:
        if op.type != "MatMul":
            continue
        s = op.outputs[0]
        nxt = _only_user(s, consumers, outputs)
        ew, slot = None, 0
        if nxt is not None and nxt.type == "Elementwise" and nxt.outputs[0].shape == s.shape:
            ew, slot = nxt, [i for i, t in enumerate(nxt.inputs) if t is s][0]
            nxt = _only_user(nxt.outputs[0], consumers, outputs)
        if nxt is None or nxt.type != "Softmax" or nxt.attrs.get("log"):
            continue
        rank = len(s.shape)
        if nxt.attrs["axis"] not in (-1, rank - 1):
            continue
        pv = _only_user(nxt.outputs[0], consumers, outputs)
        if pv is None or pv.type != "MatMul" or pv.inputs[0] is not nxt.outputs[0]:
            continue
        if pv.outputs[0].shape[:-1] != s.shape[:-1]:  # one output row per query, no broadcast over it
            continue
        kt = op.inputs[1]
        t = producer.get(id(kt))
        key = t if t is not None and t.type == "Transpose" and _only_user(kt, consumers, outputs) is op else None
        for a in [Attention(op, ew, slot, nxt, key)] + ([Attention(op, ew, slot, nxt)] if key is not None else []):
            if fusion.attention(a, pv):  # with the Transpose where the backend takes it, else with kᵀ stored
                found[id(pv)] = a
                break
    return found


def _row_member(op, full: tuple) -> bool:
    """Whether `op` can be part of a row group over rows of shape `full`."""
    row = tuple(full[:-1]) + (1,)
    if op.type == "Reduce":
        x = op.inputs[0]
        return (tuple(x.shape) == full and op.attrs["keepdims"] and x.dtype == "float32"
                and list(op.definition.axes(op, len(full))) == [len(full) - 1])
    return (op.type == "Elementwise" and op.outputs[0].dtype == "float32"
            and tuple(op.outputs[0].shape) in (full, row)
            and all(t is not None and t.dtype == "float32" for t in op.inputs))


def _row_groups(graph: Graph, consumers, outputs, fusion: Fusion, taken: set) -> dict:
    """{id(the group's last op): RowGroup} for every group the backend takes (module docstring)."""
    if fusion.rows is None:
        return {}
    producer = {id(t): op for op in graph.ops for t in op.outputs}
    order = {id(op): i for i, op in enumerate(graph.ops)}
    found, used = {}, set(taken)
    for start in graph.ops:
        if start.type != "Reduce" or id(start) in used:
            continue
        full = tuple(start.inputs[0].shape)
        if len(full) < 1 or not _row_member(start, full):
            continue
        group = {id(start): start}
        grew = True
        while grew:
            grew = False
            for op in list(group.values()):
                for t in op.outputs:  # readers of what the group computes
                    for u in consumers.get(id(t), []):
                        if id(u) not in group and id(u) not in used and _row_member(u, full):
                            group[id(u)] = u
                            grew = True
                for t in op.inputs:  # computations whose every reader is in the group
                    w = producer.get(id(t))
                    if (w is not None and id(w) not in group and id(w) not in used and _row_member(w, full)
                            and id(t) not in outputs and all(id(c) in group for c in consumers.get(id(t), []))):
                        group[id(w)] = w
                        grew = True
        ops = sorted(group.values(), key=lambda o: order[id(o)])
        leaving = [t for o in ops for t in o.outputs
                   if id(t) in outputs or any(id(c) not in group for c in consumers.get(id(t), []))]
        if len(leaving) != 1 or tuple(leaving[0].shape) != full or leaving[0] is not ops[-1].outputs[0]:
            continue
        g = RowGroup(ops, full, leaving[0])
        if len(ops) > 1 and fusion.rows(g):
            found[id(ops[-1])] = g
            used |= set(group)
    return found


def lower_graph(graph: Graph, fusion: Fusion = Fusion()) -> LoweredGraph:
    """The steps of `graph` for a backend whose kernels can fuse what `fusion` says."""
    consumers = graph.consumers()
    outputs = {id(t) for t in graph.outputs}
    chains = _attention_chains(graph, consumers, outputs, fusion)
    inside = {id(o) for a in chains.values() for o in (a.scores, a.epilogue, a.softmax, a.key) if o is not None}
    groups = _row_groups(graph, consumers, outputs, fusion, inside | set(chains))
    inside |= {id(o) for g in groups.values() for o in g.ops}
    fused = {}  # id(Elementwise op) -> (the op it is fused into, slot)
    for op in graph.ops:
        if id(op) in inside or id(op) in chains:  # an Attention step's output is stored as it is
            continue
        found = _epilogue_of(op, consumers, outputs, fusion)
        if found is not None and id(found[0]) not in inside:  # of two ops feeding one epilogue the later takes it
            fused[id(found[0])] = (op, found[1])
    absorbed = {id(op) for op, _ in fused.values()} | inside
    steps = []
    for op in graph.ops:
        if id(op) in groups:
            g = groups[id(op)]
            made = {id(t) for o in g.ops for t in o.outputs}
            ins = []
            for o in g.ops:
                ins += [t for t in o.inputs if t is not None and id(t) not in made and all(t is not u for u in ins)]
            steps.append(Step(op, inputs=ins, outputs=[g.output], rows=g))
            continue
        if id(op) in absorbed and id(op) not in chains:
            continue
        if id(op) in chains:
            a = chains[id(op)]
            ins = [a.scores.inputs[0]] + ([a.key_source] if a.key_source is not a.scores.inputs[0] else [])
            if a.epilogue is not None:
                ins += [t for i, t in enumerate(a.epilogue.inputs) if i != a.slot]
            ins.append(op.inputs[1])
            steps.append(Step(op, inputs=ins, outputs=list(op.outputs), attention=a))
            continue
        if id(op) in fused:
            c, slot = fused[id(op)]
            extra = [t for i, t in enumerate(op.inputs) if i != slot]
            steps.append(Step(c, op, slot, [t for t in c.inputs if t is not None] + extra, list(op.outputs)))
        else:
            steps.append(Step(op, inputs=[t for t in op.inputs if t is not None], outputs=list(op.outputs)))
    return LoweredGraph(graph, steps)


@dataclass
class Lowered:
    """What a backend's lowering hands the descriptor writer: its graph document (without the
    constants' storage fields), the constant tensors it reads, extra files (e.g. the .wasm modules),
    and the activation memory it planned ({"planned_peak": bytes, "sum": bytes}; None: no static plan)."""
    doc: dict
    constants: list
    files: dict = field(default_factory=dict)
    memory: dict | None = None
