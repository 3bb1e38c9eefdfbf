"""Graph, Tensor and Op: the IR every frontend produces and every backend consumes.

Shapes are tuples of ints and symbolic sizes (ir/symbolic.py: `seq`, `seq + past`, bound at run
time). A dim that depends on the input values is a string ("<op>:count"):
only the outputs of dynamic ops (ir/ops/dynamic.py) have such dims, and only graph outputs and
other dynamic ops may read them (`verify()` checks; ir/host.py splits them off as host steps).
"""
from __future__ import annotations

import itertools
from typing import Iterable, Sequence

import numpy as np

from .dtype import dtype_of, np_dtype
from .symbolic import Expr, int_array, is_symbolic_array
from ..errors import ShapeError


# No tensor may exceed this: a browser cannot hold it (wasm32 addresses 4 GiB in all, WebGPU buffers
# are far smaller), and a damaged or hostile file declaring 1e9 elements must fail here, not in a plan.
MAX_TENSOR_BYTES = 2 << 30


def check_size(what: str, shape, dtype: str) -> None:
    """A ShapeError naming the tensor (`what`) when it is negative-sized or larger than MAX_TENSOR_BYTES."""
    dims = [d for d in shape if not isinstance(d, (str, Expr))]  # symbolic sizes are checked when bound
    if any(d < 0 for d in dims):
        raise ShapeError(f"{what} has a negative dimension: shape {list(shape)}")
    nbytes = float(np.prod(dims, dtype=np.float64)) * np.dtype(np_dtype(dtype)).itemsize
    if nbytes > MAX_TENSOR_BYTES:
        raise ShapeError(f"{what} of shape {list(shape)} ({dtype}) would take {nbytes / 2**30:.1f} GiB; "
                         f"webdnn handles tensors of at most {MAX_TENSOR_BYTES >> 30} GiB")


def shape_fits(declared, actual) -> bool:
    """An actual shape matches a declared one whose string dims (data-dependent) match any size."""
    return len(declared) == len(actual) and all(isinstance(d, str) or d == n for d, n in zip(declared, actual))


def runs_on_host(d, reads_host: bool) -> bool:
    """An op of definition d is a host step (ir/host.py): a data-dependent op, or one that can run
    there and reads what a host step produced."""
    return d.dynamic or (d.host_capable and reads_host)


def data_dependent_use(op, t) -> str:
    from .ops import OPS
    hosts = ", ".join(sorted(k for k, d in OPS.items() if d.dynamic or d.host_capable))
    return (f"{op.type} node {op.name!r} reads {t.name!r}, which is computed after the backend's static plan "
            f"(its shape {list(t.shape)} or a value it derives from depends on the input values); such a tensor "
            f"may only be a graph output or an input of an op that runs there too ({hosts})")


class Tensor:
    """A value in the graph: a graph input, an op output, or a constant (``data`` is set)."""

    __slots__ = ("name", "shape", "dtype", "data")

    def __init__(self, name: str, shape: Sequence[int], dtype: str, data: np.ndarray | None = None):
        self.name = name
        self.shape = tuple(d if isinstance(d, (str, Expr)) else int(d) for d in shape)
        self.dtype = dtype
        self.data = data

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def is_dynamic(self) -> bool:
        """Some dim is known only at run time."""
        return any(isinstance(d, str) for d in self.shape)

    @property
    def is_symbolic(self) -> bool:
        """Some dim is a size bound at run time (ir/symbolic.py): `seq`, `seq + past`, ..."""
        return any(isinstance(d, Expr) for d in self.shape)

    @property
    def size(self):
        """The element count: an int, or an Expr for a symbolic shape."""
        if self.is_symbolic:
            n = 1
            for d in self.shape:
                n = d * n
            return n
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self):
        kind = "const " if self.is_constant else ""
        return f"<{kind}Tensor {self.name!r} {list(self.shape)} {self.dtype}>"


class Op:
    """One node: an op type from the registry, its inputs (None = absent optional), outputs, attrs."""

    __slots__ = ("type", "name", "inputs", "outputs", "attrs")

    def __init__(self, type: str, name: str, inputs, outputs, attrs):
        self.type = type
        self.name = name
        self.inputs: list[Tensor | None] = list(inputs)
        self.outputs: list[Tensor] = list(outputs)
        self.attrs: dict = dict(attrs)

    @property
    def definition(self):
        from .ops import get_op_def
        return get_op_def(self.type)

    def __repr__(self):
        ins = ", ".join(t.name if t is not None else "-" for t in self.inputs)
        outs = ", ".join(t.name for t in self.outputs)
        return f"<Op {self.type} {self.name!r} ({ins}) -> ({outs})>"


class Graph:
    def __init__(self, name: str = "graph"):
        self.name = name
        self.source: dict | None = None  # where the graph came from (format, file, opset)
        # symbolic sizes of the inputs -> the value the fixed backends were built for (convert())
        self.symbols: dict[str, int] = {}
        self.symbol_ranges: dict[str, tuple[int, int]] = {}  # the sizes a symbol may take (--input-shape seq=1..512)
        # the source computes on 8-bit values (integer, quantize/dequantize ops): its weights that are
        # exactly 8-bit (encoding.exact_int8) may run on 8-bit products where a backend has them
        self.quantized = False
        # constant weights whose products the source lets round their activations to 8 bits (MatMulNBits with
        # accuracy_level 4: int8 compute): a backend may take them so where that is faster
        self.int8_activations: set[str] = set()
        self.inputs: list[Tensor] = []
        self.outputs: list[Tensor] = []
        self.ops: list[Op] = []
        self._names: set[str] = set()
        self._counter = itertools.count()

    # ---- construction -------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        name = base
        while name in self._names:
            name = f"{base}_{next(self._counter)}"
        self._names.add(name)
        return name

    def _op_name(self, base: str) -> str:
        # op names have their own namespace, so an op may share its output's name
        if not hasattr(self, "_op_names"):
            self._op_names: set[str] = set()
        name = base
        while name in self._op_names:
            name = f"{base}_{next(self._counter)}"
        self._op_names.add(name)
        return name

    def add_input(self, name: str, shape: Sequence[int], dtype: str = "float32") -> Tensor:
        check_size(f"input {name!r}", shape, dtype)
        t = Tensor(self.unique_name(name), shape, dtype)
        self.inputs.append(t)
        return t

    def constant(self, data, name: str = "const", dtype: str | None = None) -> Tensor:
        arr = np.asarray(data)
        dtype = dtype or dtype_of(arr)
        if is_symbolic_array(arr):  # a symbolic constant (ir/symbolic.py): its sizes stay expressions
            if dtype not in ("int64", "int32", "float32", "float16"):
                raise ShapeError(f"constant {name!r}: a symbolic size cannot be {dtype}")
            arr = int_array(arr)
        else:
            arr = np.array(arr, dtype=np_dtype(dtype), order="C")
        return Tensor(self.unique_name(name), arr.shape, dtype, arr)

    def add_op(self, type: str, inputs: Sequence[Tensor | None], attrs: dict | None = None,
               name: str | None = None, output_names: Sequence[str] | None = None,
               index: int | None = None) -> list[Tensor]:
        """Create an op, infer its output shapes/dtypes with its own definition, append it."""
        from .ops import get_op_def
        d = get_op_def(type)
        op = Op(type, self._op_name(name or type.lower()), inputs, [], d.with_defaults(attrs or {}))
        for t in op.inputs:
            if t is not None and t.is_dynamic and not runs_on_host(d, True):
                raise ShapeError(data_dependent_use(op, t))
        specs = d.checked_infer(op)
        names = list(output_names or [])
        for i, (shape, dtype) in enumerate(specs):
            base = names[i] if i < len(names) else f"{op.name}_out{i}" if len(specs) > 1 else f"{op.name}_out"
            check_size(f"output {base!r} of {type} node {op.name!r}", shape, dtype)
            op.outputs.append(Tensor(self.unique_name(base), shape, dtype))
        if index is None:
            self.ops.append(op)
        else:
            self.ops.insert(index, op)
        return op.outputs

    # ---- queries ------------------------------------------------------------------------
    def tensors(self) -> Iterable[Tensor]:
        seen = set()
        for t in itertools.chain(self.inputs, *((i for i in op.inputs if i is not None) for op in self.ops),
                                 *(op.outputs for op in self.ops), self.outputs):
            if id(t) not in seen:
                seen.add(id(t))
                yield t

    def constants(self) -> list[Tensor]:
        return [t for t in self.tensors() if t.is_constant]

    def producers(self) -> dict[int, Op]:
        return {id(t): op for op in self.ops for t in op.outputs}

    def consumers(self) -> dict[int, list[Op]]:
        res: dict[int, list[Op]] = {}
        for op in self.ops:
            for t in op.inputs:
                if t is not None:
                    res.setdefault(id(t), []).append(op)
        return res

    # ---- rewriting ----------------------------------------------------------------------
    def replace_uses(self, old: Tensor, new: Tensor) -> None:
        """Make every consumer (and the graph outputs) read `new` instead of `old`."""
        for op in self.ops:
            op.inputs = [new if t is old else t for t in op.inputs]
        if any(t is old for t in self.outputs):
            if new.is_constant or new in self.inputs or any(t is new for t in self.outputs):
                # an output must stay a distinct, computed tensor with its own name: copy
                (copy,) = self._identity_for_output(new, old.name)
                new = copy
            else:
                # keep the public output name
                self._names.discard(new.name)
                new.name = old.name
            self.outputs = [new if t is old else t for t in self.outputs]

    def _identity_for_output(self, src: Tensor, name: str) -> list[Tensor]:
        op = Op("Identity", self._op_name(f"{name}_identity"), [src], [], {})
        out = Tensor(name, src.shape, src.dtype)
        op.outputs.append(out)
        self.ops.append(op)
        return [out]

    def remove_op(self, op: Op) -> None:
        self.ops.remove(op)

    def toposort(self) -> None:
        """Order ops so that every op comes after the producers of its inputs."""
        producers = self.producers()
        order, state = [], {}
        for root in self.ops:
            stack = [(root, False)]
            while stack:
                op, done = stack.pop()
                if done:
                    if state.get(id(op)) != 2:
                        state[id(op)] = 2
                        order.append(op)
                    continue
                if state.get(id(op)) == 2:
                    continue
                if state.get(id(op)) == 1:
                    raise ShapeError(f"graph has a cycle through {op}")
                state[id(op)] = 1
                stack.append((op, True))
                for t in reversed(op.inputs):
                    p = producers.get(id(t)) if t is not None else None
                    if p is not None and state.get(id(p)) != 2:
                        if state.get(id(p)) == 1:
                            raise ShapeError(f"graph has a cycle through {p}")
                        stack.append((p, False))
        self.ops = order

    # ---- checking -----------------------------------------------------------------------
    def verify(self) -> None:
        """Check ordering, names, and every op's output shapes/dtypes against its own inference."""
        from .ops import get_op_def
        available = {id(t) for t in self.inputs}
        names: dict[str, Tensor] = {}

        def check_name(t: Tensor):
            other = names.setdefault(t.name, t)
            if other is not t:
                raise ShapeError(f"two different tensors are named {t.name!r}")

        for t in self.inputs:
            check_name(t)
            if t.is_constant:
                raise ShapeError(f"graph input {t.name!r} must not be a constant")
        for op in self.ops:
            d = get_op_def(op.type)
            for t in op.inputs:
                if t is None:
                    continue
                check_name(t)
                if not t.is_constant and id(t) not in available:
                    raise ShapeError(f"{op} reads {t.name!r} before it is produced")
                if t.is_dynamic and not runs_on_host(d, True):
                    raise ShapeError(data_dependent_use(op, t))
                if t.is_constant and (tuple(t.data.shape) != t.shape or (dtype_of(t.data) != t.dtype
                                                                         and not is_symbolic_array(t.data))):
                    raise ShapeError(f"constant {t.name!r} says {list(t.shape)} {t.dtype} but holds "
                                     f"{list(t.data.shape)} {t.data.dtype}")
            specs = d.checked_infer(op)
            if len(specs) != len(op.outputs):
                raise ShapeError(f"{op} has {len(op.outputs)} outputs, its definition gives {len(specs)}")
            for t, (shape, dtype) in zip(op.outputs, specs):
                check_name(t)
                if id(t) in available:
                    raise ShapeError(f"tensor {t.name!r} is produced twice")
                if tuple(shape) != t.shape or dtype != t.dtype:
                    raise ShapeError(f"{op}: output {t.name!r} is {list(t.shape)} {t.dtype}, "
                                     f"inference says {list(shape)} {dtype}")
                if t.is_dynamic and not runs_on_host(d, True):
                    raise ShapeError(f"{t.name!r} has a non-static shape {t.shape}")
                available.add(id(t))
        for t in self.outputs:
            if not t.is_constant and id(t) not in available:
                raise ShapeError(f"graph output {t.name!r} is never produced")

    def summary(self) -> dict:
        from collections import Counter
        counts = Counter(op.type for op in self.ops)
        params = sum(t.size for t in self.constants())
        return {"ops": len(self.ops), "op_counts": dict(counts), "params": params}

    def __repr__(self):
        return f"<Graph {self.name!r}: {len(self.inputs)} inputs, {len(self.ops)} ops, {len(self.outputs)} outputs>"
