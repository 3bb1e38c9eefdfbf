"""ONNX conformance: the official ONNX node tests (model, inputs, expected outputs) through
convert + run on each backend, compared with the one tolerance table.

    python -m webdnn.conformance --backends reference,js,wasm,webgpu,webgpu@chromium,webgl@chromium --write docs/conformance.md

A case is *excluded* (not applicable) only for a reason listed in EXCLUDED below; every other
case counts, and an op we do not convert counts as a failure.
"""
from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from .errors import DynamicValueError, UnsupportedOpsError, WebDNNError
from .testing import compare

# reason key -> the sentence docs/conformance.md prints
EXCLUDED = {
    "training": "training-only (optimizers, gradients, training-mode Dropout/BatchNormalization)",
    "random": "random output (the test's values come from one RNG stream)",
    "non-tensor": "string, sequence, map or optional types",
    "dtype": "element types the runtime has no storage for (float8, 4-bit, 2-bit, bfloat16, int16, 16/32/64-bit unsigned, complex)",
    "ml-domain": "classical-ML domain ai.onnx.ml (trees, encoders), not deep learning",
}
TRAINING_OPS = {"Adagrad", "Adam", "Momentum", "Gradient"}
RANDOM_OPS = {"Bernoulli", "RandomUniform", "RandomUniformLike", "RandomNormal", "RandomNormalLike", "Multinomial"}
STORABLE = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.INT8,
            onnx.TensorProto.UINT8, onnx.TensorProto.INT32, onnx.TensorProto.INT64,
            onnx.TensorProto.BOOL}


@dataclass
class Case:
    name: str
    model: onnx.ModelProto
    inputs: dict
    outputs: dict


@dataclass
class Result:
    status: str  # pass | fail | unsupported | error | excluded
    detail: str = ""
    frozen: tuple = ()  # inputs pinned as constants (they carry shapes/axes/pads)


def collect(pattern: str | None = None) -> list[Case]:
    from onnx.backend.test.case.node import collect_testcases
    cases = []
    for c in collect_testcases():
        if pattern and not re.search(pattern, c.name):
            continue
        if not c.data_sets:
            continue
        ins, outs = c.data_sets[0]
        inits = {t.name for t in c.model.graph.initializer}
        in_names = [i.name for i in c.model.graph.input if i.name not in inits]
        out_names = [o.name for o in c.model.graph.output]
        arr = lambda v: onnx.numpy_helper.to_array(v) if isinstance(v, onnx.TensorProto) else v  # noqa: E731
        cases.append(Case(c.name, c.model, {k: arr(v) for k, v in zip(in_names, ins)},
                          {k: arr(v) for k, v in zip(out_names, outs)}))
    return cases


def _value_types(model):
    g = model.graph
    for vi in list(g.input) + list(g.output):
        yield vi.type


def exclusion(case: Case) -> str | None:
    m = case.model
    ops = {n.op_type for n in m.graph.node}
    domains = {n.domain for n in m.graph.node}
    if ops & TRAINING_OPS or "training" in case.name:
        return "training"
    if ops & RANDOM_OPS:
        return "random"
    if "ai.onnx.ml" in domains:
        return "ml-domain"
    for t in _value_types(m):
        kind = t.WhichOneof("value")
        if kind != "tensor_type":
            return "non-tensor"
        if t.tensor_type.elem_type == onnx.TensorProto.STRING:
            return "non-tensor"
        if t.tensor_type.elem_type not in STORABLE:
            return "dtype"
    for n in m.graph.node:  # casts to or constants of exotic types inside the graph
        for a in n.attribute:
            if a.name == "to" and a.i and a.i not in STORABLE and a.i != onnx.TensorProto.STRING:
                return "dtype"
            if a.name == "to" and a.i == onnx.TensorProto.STRING:
                return "non-tensor"
    return None


def convert_case(case: Case, out_dir=None, backends=(), **options):
    """Import (pinning parameter inputs the model feeds at run time), optimize, optionally write
    (`options`: ConvertOptions fields). -> (graph, feeds, frozen input names)."""
    from .converter import convert, load_graph
    from .passes.pipeline import optimize
    frozen: dict = {}
    for _ in range(len(case.inputs) + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                graph = optimize(load_graph(case.model, constant_inputs=frozen))
                if out_dir is not None:
                    convert(case.model, out_dir, backends=backends, constant_inputs=frozen, **options)
            feeds = {k: v for k, v in case.inputs.items() if k not in frozen}
            return graph, feeds, tuple(frozen)
        except DynamicValueError as e:
            name = e.tensor if e.tensor in case.inputs else None
            pending = [k for k in case.inputs if k not in frozen and (name is None or k == name)]
            if name is None:  # derived from an input: pin every non-float or scalar input
                pending = [k for k in pending if np.asarray(case.inputs[k]).dtype.kind not in "f"
                           or np.size(case.inputs[k]) == 1]
            if not pending:
                raise
            frozen.update({k: np.asarray(case.inputs[k]) for k in pending})
    raise WebDNNError("could not pin the parameter inputs")


def _check(case: Case, got: dict, backend: str) -> str | None:
    for name, expected in case.outputs.items():
        e = np.asarray(expected)
        if name not in got:
            return f"output {name!r} missing"
        a = np.asarray(got[name])
        if e.dtype == np.float64:
            e = e.astype(np.float32)
        if e.dtype == np.bool_:
            a = a.astype(bool)
        msg = compare(a, e, backend, name)
        if msg:
            return msg
    return None


def run(cases: list[Case], backend: str, runner=None, progress=None) -> dict[str, Result]:
    """Run every case on `backend` ("reference" = the numpy references; else through `runner`;
    "webgpu@chromium" names the backend and where it runs)."""
    from concurrent.futures import ThreadPoolExecutor
    backend = backend.partition("@")[0]

    from .ir import reference
    results = {}
    tmp = tempfile.TemporaryDirectory(prefix="webdnn-conformance-")
    todo = []
    for case in cases:
        why = exclusion(case)
        if why:
            results[case.name] = Result("excluded", why)
        else:
            todo.append(case)

    relaxed = _node_has_relaxed_simd()

    def prepare(case):  # conversions run ahead on every core (a wasm build waits on its compiler)
        out = Path(tmp.name) / case.name if backend != "reference" else None
        try:
            # Node runs these: a relaxed-SIMD build would go unused where Node lacks relaxed SIMD
            return out, convert_case(case, out, backends=(backend,) if out else (), relaxed=relaxed)
        except Exception as e:  # noqa: BLE001 - re-raised below, where it is recorded
            return out, e

    pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) if backend != "reference" else None
    prepared = pool.map(prepare, todo) if pool else map(prepare, todo)
    for i, (case, (out, conv)) in enumerate(zip(todo, prepared)):
        if progress:
            progress(i, len(todo), case.name)
        frozen = ()
        try:
            if isinstance(conv, Exception):
                raise conv
            graph, feeds, frozen = conv
            if backend == "reference":
                got = reference.run(graph, feeds)
            else:
                got = runner.run(out, feeds, backend=backend)
            msg = _check(case, got, backend)
            results[case.name] = Result("fail" if msg else "pass", msg or "", frozen)
        except UnsupportedOpsError as e:
            ops = sorted({k[0] for k in e.unsupported})
            results[case.name] = Result("unsupported", ", ".join(ops), frozen)
        except Exception as e:  # noqa: BLE001 - every failure is recorded, none stops the suite
            results[case.name] = Result("error", f"{type(e).__name__}: {str(e).splitlines()[0][:300]}", frozen)
    if pool:
        pool.shutdown()
    tmp.cleanup()
    return {c.name: results[c.name] for c in cases}


@functools.lru_cache(maxsize=None)
def _node_has_relaxed_simd() -> bool:
    import subprocess
    probe = ("const v=[0xfd,12,...Array(16).fill(0)];const b=[...v,...v,...v,0xfd,0x85,0x02,0x0b];"
             "const c=[1,b.length+1,0,...b];process.exit(WebAssembly.validate(new Uint8Array([0,97,115,109,1,0,0,0,"
             "1,5,1,96,0,1,123,3,2,1,0,10,c.length,...c]))?0:1)")
    try:
        return subprocess.run(["node", "-e", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return True  # cannot tell: build both


def expected_failures(results: dict[str, dict[str, Result]]) -> dict[str, dict[str, str]]:
    """{backend: {case: why}} for every applicable case that does not pass."""
    return {b: {name: f"{r.status}: {r.detail}" for name, r in sorted(res.items()) if r.status not in ("pass", "excluded")}
            for b, res in results.items()}


def _case_ops(cases):
    return {c.name: sorted({n.op_type for n in c.model.graph.node}) for c in cases}


def summarize(cases: list[Case], results: dict[str, dict[str, Result]]) -> dict:
    ops_of = _case_ops(cases)
    out = {}
    for backend, res in results.items():
        counts = collections.Counter(r.status for r in res.values())
        applicable = sum(v for k, v in counts.items() if k != "excluded")
        by_op = collections.defaultdict(lambda: [0, 0])
        for name, r in res.items():
            if r.status == "excluded" or name.endswith("_expanded") or "_expanded_" in name:
                continue
            op = _primary_op(name, ops_of[name])
            by_op[op][1] += 1
            by_op[op][0] += r.status == "pass"
        out[backend] = {"counts": dict(counts), "applicable": applicable, "passed": counts.get("pass", 0),
                        "by_op": {k: tuple(v) for k, v in sorted(by_op.items())},
                        "frozen": sum(1 for r in res.values() if r.frozen and r.status == "pass")}
    return out


def _primary_op(case_name: str, ops: list[str]) -> str:
    if len(ops) == 1:
        return ops[0]
    low = case_name.lower().replace("_", "")
    for op in sorted(ops, key=len, reverse=True):
        if op.lower() in low:
            return op
    return ops[0]


def markdown(cases, results, command: str) -> str:
    summ = summarize(cases, results)
    backends = list(results)
    first = results[backends[0]]
    excl = collections.Counter(r.detail for r in first.values() if r.status == "excluded")
    lines = ["# ONNX conformance", "",
             "The official ONNX node tests (`onnx.backend.test.case.node.collect_testcases()`, onnx "
             f"{onnx.__version__}: {len(cases)} cases, each a model with inputs and expected outputs), converted "
             "and run on each backend and compared with the tolerance table in `webdnn/testing.py`.", "",
             f"Made by `{command}`.", "",
             "| backend | passed | applicable | rate |", "| --- | --- | --- | --- |"]
    for b in backends:
        s = summ[b]
        rate = 100 * s["passed"] / max(1, s["applicable"])
        lines.append(f"| {b} | {s['passed']} | {s['applicable']} | {rate:.1f} % |")
    lines += ["", "Where a backend runs: `reference` is the numpy oracle in Python; `js` and `wasm` run in one Node "
              "process through the JavaScript runtime (`wasm` single-threaded or not as Node's core count says; its "
              "relaxed-SIMD build where Node has relaxed SIMD); `webgpu` runs the same generated WGSL and memory plan "
              "natively through `wgpu` (here on Mesa lavapipe, a CPU Vulkan driver), as `webdnn run --in native` "
              "does; `webgpu@chromium` and `webgl@chromium` run the webgpu and webgl backends of the JavaScript "
              "runtime in headless Chromium (SwiftShader: Vulkan for WebGPU, ANGLE for WebGL2).", "",
              "## Not applicable", "", "| reason | cases |", "| --- | --- |"]
    for key, n in excl.most_common():
        lines.append(f"| {EXCLUDED[key]} | {n} |")
    lines += ["", "Inputs that carry shapes, axes, pads or similar parameters are pinned as constants "
              "(`constant_inputs`), since shapes are static in a descriptor; "
              f"{summ[backends[0]]['frozen']} passing cases use that.", "",
              "## Failures by kind", ""]
    for b in backends:
        res = results[b]
        counts = collections.Counter(r.status for r in res.values())
        lines.append(f"- **{b}**: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    lines += ["", "Ops not converted yet (cases that use them):", ""]
    unsup = collections.Counter()
    for r in first.values():
        if r.status == "unsupported":
            for op in r.detail.split(", "):
                unsup[op] += 1
    lines.append(", ".join(f"{op} ({n})" for op, n in unsup.most_common()) or "none")
    lines += ["", "## Per op", "",
              "Cases per op (the `_expanded` function-body variants are counted in the totals above, not here); "
              "an op fully passes when all of its cases pass.", "",
              "| op | " + " | ".join(backends) + " |", "| --- |" + " --- |" * len(backends)]
    all_ops = sorted(set().union(*(summ[b]["by_op"] for b in backends)))
    for op in all_ops:
        cells = []
        for b in backends:
            p, t = summ[b]["by_op"].get(op, (0, 0))
            cells.append(f"{p}/{t}" + (" ✓" if p == t and t else ""))
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# where each backend's cases run: the JS runtime in Node, webgpu natively (wgpu; Mesa lavapipe here);
# "backend@host" picks another host, e.g. webgpu@chromium (headless Chromium, SwiftShader)
HOSTS = {"js": "node", "wasm": "node", "webgpu": "native"}


def host_of(backend: str) -> str | None:
    name, _, host = backend.partition("@")
    return host or HOSTS.get(name)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m webdnn.conformance", description=__doc__.splitlines()[0])
    p.add_argument("--backends", default="reference,js")
    p.add_argument("-k", "--pattern", help="only cases whose name matches this regex")
    p.add_argument("--write", help="write the markdown report here (e.g. docs/conformance.md)")
    p.add_argument("--json", help="write every case's result as JSON here")
    p.add_argument("--expected", help="write the expected-failure list (every non-passing applicable case and "
                                      "why) here, e.g. tests/conformance/expected_failures.json")
    p.add_argument("-v", "--verbose", action="store_true", help="print each non-passing case")
    args = p.parse_args(argv)
    cases = collect(args.pattern)
    results = {}
    hosts = {}
    try:
        for b in args.backends.split(","):
            t0 = time.perf_counter()
            where = host_of(b)
            if where and where not in hosts:
                from .runners import get_runner
                hosts[where] = get_runner(where)
            results[b] = run(cases, b, hosts.get(where))
            s = summarize(cases, {b: results[b]})[b]
            print(f"{b}: {s['passed']}/{s['applicable']} applicable cases pass "
                  f"({time.perf_counter() - t0:.0f}s); {s['counts']}")
            if args.verbose:
                for name, r in sorted(results[b].items()):
                    if r.status not in ("pass", "excluded"):
                        print(f"  {r.status:<11} {name}: {r.detail}")
    finally:
        for r in hosts.values():
            r.close()
    if args.json:
        Path(args.json).write_text(json.dumps({b: {k: vars(r) for k, r in res.items()} for b, res in results.items()},
                                              indent=1, default=list))
    if args.expected:
        Path(args.expected).write_text(json.dumps(expected_failures(results), indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.expected}")
    if args.write:
        cmd = "python -m webdnn.conformance " + " ".join(argv if argv is not None else sys.argv[1:])
        Path(args.write).write_text(markdown(cases, results, cmd.strip()))
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
