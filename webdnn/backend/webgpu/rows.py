"""A row group as one kernel (backend/lowering.py RowGroup: LayerNorm, RMSNorm, a softmax written as
ops): a workgroup per row. Each Reduce is a loop of the workgroup's threads over the row, combined in
workgroup memory; each value per row is a scalar every thread holds; values of whole rows are never
stored: an expression over the inputs and the row's scalars, recomputed where they are read. Only the
group's output is written.

    LayerNorm:  m = Σx / C;  q = Σx·x / C;  s = sqrt(q - m² + ε);  y[j] = (x[j] - m) / s · γ[j] + β[j]
"""
from __future__ import annotations

from ..expr import kind_of
from ..kernels import uniform_value
from ...ir.symbolic import is_symbolic_array
from .indices import MAX_GROUPS_X, Dispatch, Shader, broadcast_offset, decompose, is_sym, size_of, u
from .reduce import COOP, FLOAT_KINDS, SG_SLOTS, _coop_combine
from .wgsl import WGSLRenderer, literal, store_value

KINDS = ("sum", "mean", "max", "min", "prod", "sumsquare", "l1", "l2")
MAX_GROUPS = MAX_GROUPS_X


def fits(g) -> bool:
    """Reduce kinds of one pass (not logsumexp / logsum's edge cases), no constant of sizes known only at
    run time (the number of rows and the row length may be)."""
    if any(t.is_constant and is_symbolic_array(t.data) for o in g.ops for t in o.inputs if t is not None):
        return False
    return all(o.attrs["kind"] in KINDS for o in g.ops if o.type == "Reduce")


def rows(step, ctx):
    g = step.rows
    full = g.full
    C = full[-1]
    n_rows = size_of(full[:-1])
    sh = Shader(ctx.part_elems, ctx.roots)
    yb = sh.bind("y", g.output, write=True)
    made = {id(t): o for o in g.ops for t in o.outputs}
    row_of = {}   # id(tensor) -> the scalar variable holding its row's value
    bound, helpers = {}, set()
    rl, ri = decompose("row", full[:-1], "r")

    def external(t, j: str) -> str:
        v = uniform_value(t)
        if v is not None:
            return literal(v, "f")
        b = bound.get(id(t))
        if b is None:
            b = bound[id(t)] = sh.bind(f"x{len(bound)}", t)
        shape = tuple(t.shape)
        if shape == full:
            return b.get(f"base + {j}")
        return b.get(broadcast_offset(shape, [*ri, j]))

    def value(t, j: str) -> str:
        """WGSL text of tensor t at element j of the row (a row scalar where t has one value per row)."""
        if id(t) in row_of:
            return row_of[id(t)]
        op = made.get(id(t))
        if op is None:
            return external(t, j)
        r = WGSLRenderer([(value(x, j), x.dtype) for x in op.inputs])
        text = f"({r.render(op.attrs['expr'], 'f', 'float32')})"
        helpers.update(r.helpers)
        return text

    lines = list(rl) + [f"let base = row * {u(C)};"]
    for k, op in enumerate(g.ops):
        t = op.outputs[0]
        if op.type == "Reduce":
            init, fmap, comb, fin = FLOAT_KINDS[op.attrs["kind"]]
            acc = f"a{k}"
            lines += [f"var {acc} = {init};",
                      f"for (var j = lid; j < {u(C)}; j = j + {u(COOP)}) {{",
                      f"  let xv = {value(op.inputs[0], 'j')};",
                      f"  {acc} = {comb.format(a=acc, b=fmap.format(x='xv'))};", "}"]
            n = f"f32({u(C)})" if is_sym(C) else literal(C, "f")
            lines += _coop_combine(acc, comb, "red") + ["workgroupBarrier();", f"let v{k} = {fin.format(acc=acc, n=n)};"]
            row_of[id(t)] = f"v{k}"
        elif tuple(t.shape) != tuple(full) and t is not g.output:  # one value per row
            lines.append(f"let v{k} = {value(t, '0u')};")
            row_of[id(t)] = f"v{k}"
    out = value(g.output, "j")
    lines += [f"for (var j = lid; j < {u(C)}; j = j + {u(COOP)}) {{",
              f"  {yb.set('base + j', store_value(out, kind_of('float32'), g.output.dtype))}", "}"]
    r = WGSLRenderer()
    r.helpers = helpers
    sh.helpers.append(r.helper_code())
    sh.helpers.append(f"var<workgroup> red: array<f32, {COOP}>;\n{SG_SLOTS}")
    # rows known only at run time: (count, 1, 1) folded by the runtime into two dimensions (`wrap`)
    wide = is_sym(n_rows) or n_rows > MAX_GROUPS
    groups = (n_rows, 1, 1) if is_sym(n_rows) else (MAX_GROUPS, -(-n_rows // MAX_GROUPS), 1) if wide else (n_rows, 1, 1)
    body = "\n".join([f"@compute @workgroup_size({COOP})",
                      "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
                      f"  let row = {'wid.y * ' + u(MAX_GROUPS) + ' + wid.x' if wide else 'wid.x'};",
                      f"  if (row >= {u(n_rows)}) {{ return; }}",  # the same for the whole workgroup: uniform
                      *("  " + ln for ln in lines), "}"])
    return [Dispatch(step.label, sh.code(body), sh.binding_list(), groups, workgroup_bytes=4 * COOP + 4, invocations=COOP,
                     wrap=is_sym(n_rows))]
