"""Recurrent (RNN, LSTM, GRU over a whole sequence; ir/ops/recurrent.py): one dispatch, a workgroup per
sequence of the batch that walks the time steps itself.

    per step t:  z = P[n, t] + h · R   (each thread the units j = lid, lid + WG, ...; G gates per unit)
                 h' from z (and c for an LSTM)  →  Y[n, t], and the other half of hs
                 workgroupBarrier(): every unit's h' is written before the next step reads h

h lives in workgroup memory, twice (the step reads one half and writes the other), so a layer of
U units needs 8·U bytes of it; an LSTM's c stays in each thread's registers. The step count is
read where it is needed (a symbolic T from the sizes uniform), so one shader runs any length.
Larger layers are unrolled into steps of IR ops instead (passes/unroll_recurrent.py)."""
from __future__ import annotations

from ...ir.ops.recurrent import KINDS
from .indices import Dispatch, Shader, u

MAX_WORKGROUP_BYTES = 16384  # WebGPU's default maxComputeWorkgroupStorageSize


def fits(op) -> bool:
    """Whether the kernel takes this Recurrent op (its h, twice, in workgroup memory)."""
    return 8 * op.inputs[1].shape[0] <= MAX_WORKGROUP_BYTES


def recurrent(step, ctx):
    op = step.op
    p, r, rb, h0, c0 = (list(op.inputs) + [None] * 5)[:5]
    kind, reverse = op.attrs["kind"], op.attrs["reverse"]
    G = KINDS[kind]
    N, T, _ = p.shape
    U = int(r.shape[0])
    GU = G * U
    wg = 64 if U <= 64 else 128 if U <= 128 else 256
    per = -(-U // wg)  # units per thread
    sh = Shader(ctx.part_elems, ctx.roots)
    yb = sh.bind("y", op.outputs[0], write=True)
    hb = sh.bind("hT", op.outputs[1], write=True)
    cb = sh.bind("cT", op.outputs[2], write=True) if kind == "LSTM" else None
    pb, rbind = sh.bind("p", p), sh.bind("r", r)
    bb = sh.bind("rb", rb) if rb is not None else None
    h0b = sh.bind("h0", h0) if h0 is not None else None
    c0b = sh.bind("c0", c0) if c0 is not None else None

    lines = ["let n = wid.x;", f"var c: array<f32, {per}>;"]
    for k in range(per):
        j = f"lid + {u(k * wg)}" if k else "lid"
        lines += [f"{{ let j = {j}; if (j < {u(U)}) {{",
                  f"  hs[j] = {h0b.get(f'n * {u(U)} + j') if h0b else '0.0'};",
                  f"  c[{k}] = {c0b.get(f'n * {u(U)} + j') if c0b else '0.0'};", "} }"]
    lines += ["workgroupBarrier();", "var cur = 0u;",
              f"for (var s = 0u; s < {u(T)}; s = s + 1u) {{",
              f"  let t = {u(T)} - 1u - s;" if reverse else "  let t = s;",
              f"  let pbase = (n * {u(T)} + t) * {u(GU)};",
              f"  let hin = cur * {u(U)};", f"  let hout = (1u - cur) * {u(U)};"]
    for k in range(per):
        j = f"lid + {u(k * wg)}" if k else "lid"
        body = [f"let j = {j};", f"if (j < {u(U)}) {{"]
        body += [f"  var z{g} = 0.0;" for g in range(G)]
        body += [f"  for (var m = 0u; m < {u(U)}; m = m + 1u) {{",
                 "    let hm = hs[hin + m];",
                 f"    let rrow = m * {u(GU)} + j;",
                 *(f"    z{g} = fma(hm, {rbind.get(f'rrow + {u(g * U)}' if g else 'rrow')}, z{g});" for g in range(G)),
                 "  }"]
        x = [pb.get(f"pbase + {u(g * U)} + j" if g else "pbase + j") for g in range(G)]
        if kind == "RNN":
            body += [f"  let hn = tanh({x[0]} + z0);"]
        elif kind == "LSTM":
            body += [f"  let ig = 1.0 / (1.0 + exp(-({x[0]} + z0)));",
                     f"  let fg = 1.0 / (1.0 + exp(-({x[1]} + z1)));",
                     f"  let gg = tanh({x[2]} + z2);",
                     f"  let og = 1.0 / (1.0 + exp(-({x[3]} + z3)));",
                     f"  c[{k}] = fg * c[{k}] + ig * gg;",
                     f"  let hn = og * tanh(c[{k}]);"]
        else:  # GRU, linear_before_reset: r gates (h·R + rb)
            hr = [f"z{g}" + (f" + {bb.get(f'{u(g * U)} + j' if g else 'j')}" if bb else "") for g in range(G)]
            body += [f"  let zg = 1.0 / (1.0 + exp(-({x[0]} + {hr[0]})));",
                     f"  let rg = 1.0 / (1.0 + exp(-({x[1]} + {hr[1]})));",
                     f"  let cand = tanh({x[2]} + rg * ({hr[2]}));",
                     "  let hn = (1.0 - zg) * cand + zg * hs[hin + j];"]
        body += ["  hs[hout + j] = hn;", f"  {yb.set(f'(n * {u(T)} + t) * {u(U)} + j', 'hn')}", "}"]
        lines += ["  {"] + ["    " + ln for ln in body] + ["  }"]
    lines += ["  workgroupBarrier();", "  cur = 1u - cur;", "}"]
    for k in range(per):
        j = f"lid + {u(k * wg)}" if k else "lid"
        lines += [f"{{ let j = {j}; if (j < {u(U)}) {{", f"  {hb.set(f'n * {u(U)} + j', 'hs[cur * ' + u(U) + ' + j]')}"]
        if cb is not None:
            lines.append(f"  {cb.set(f'n * {u(U)} + j', f'c[{k}]')}")
        lines.append("} }")
    sh.helpers.append(f"var<workgroup> hs: array<f32, {2 * U}>;")
    code = "\n".join([f"@compute @workgroup_size({wg})",
                      "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {",
                      *("  " + ln for ln in lines), "}"])
    return [Dispatch(op.name, sh.code(code), sh.binding_list(), (N, 1, 1), workgroup_bytes=8 * U, invocations=wg)]
