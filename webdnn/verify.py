"""`webdnn verify MODEL`: will this model work in the browser? Converts it (or takes a descriptor),
runs it on every backend it has, in Node, in headless Chromium and natively (the webgpu backend
through wgpu) where those are installed, on seeded inputs, and compares each result with an oracle
under the one tolerance table (testing.TOLERANCES):

    backend  where     max abs err max rel err tolerance result        ms
    js       node          9.5e-07     9.2e-08     1e-04 pass        1.00
    wasm     chromium      1.9e-06     1.8e-07     1e-04 pass        0.41

The oracle is onnxruntime for an ONNX model (the numpy references of webdnn's own IR where
onnxruntime is not installed), Keras itself for a Keras file (else the numpy references), and the js backend in Node
for a bare descriptor (then the table says how the backends agree, not whether they are right).
The wasm backend of a descriptor whose products run on 8-bit weights (--weights int8/int4) is held
to the table's wasm-int8 row (wasm-int8-7bit where its relaxed-SIMD build ran, with 7-bit activations).
A model that computes on 8-bit values itself (quantized by its author) is held on every backend to a cosine
similarity of each output with the oracle's (testing.QUANTIZED_MODEL_COSINE; the tolerance column says cos). A place that is not installed is a "skipped" row, not a failure; a run that fails or a result out
of tolerance is "FAIL", and any FAIL makes the exit status 1."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import WebDNNError
from .testing import QUANTIZED_MODEL_COSINE, TOLERANCES, compare, compare_cosine

# where -> the backends that can run there, in the order the table lists them
PLACES = {"node": ("js", "wasm"), "chromium": ("js", "wasm", "webgpu", "webgl"), "native": ("webgpu",)}


@dataclass
class Row:
    backend: str
    where: str
    result: str  # "pass", "FAIL", "skipped"
    abs_err: float | None = None
    rel_err: float | None = None
    ms: float | None = None
    note: str = ""
    tolerance: str = ""  # the row of the tolerance table it was held to (default: the backend's)


def seeded_inputs(specs, seed: int) -> dict:
    """One array per model.json input: normal floats, small non-negative integers (valid indices for
    any embedding or gather), random booleans."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in specs:
        shape, dt = tuple(s["shape"]), s["dtype"]
        if dt.startswith("float"):
            out[s["name"]] = rng.standard_normal(shape).astype(dt)
        elif dt == "bool":
            out[s["name"]] = rng.random(shape) < 0.5
        else:
            out[s["name"]] = rng.integers(0, 2, shape).astype(dt)
    return out


def _oracle(model, descriptor: Path, inputs: dict, input_shapes, constants, prototxt=None):
    """(label, {output name: array}) of the reference results for `inputs`."""
    if model is None:
        from .runners import get_runner
        with get_runner("node") as r:
            return "js backend in Node (no source model given)", r.run(descriptor, inputs, backend="js")
    if str(model).lower().endswith(".onnx"):
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
        if ort is not None:
            sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
            feeds = {i.name: inputs[i.name] for i in sess.get_inputs() if i.name in inputs}
            for name, value in (constants or {}).items():
                want = next(i for i in sess.get_inputs() if i.name == name).type
                feeds[name] = np.asarray(value, dtype=_ORT_DTYPES.get(want, np.float32))
            names = [o.name for o in sess.get_outputs()]
            return f"onnxruntime {ort.__version__}", dict(zip(names, sess.run(names, feeds)))
    from .frontend.keras import is_keras_file
    if is_keras_file(model):
        got = _keras(model, inputs)
        if got is not None:
            return got
    from .converter import load_graph
    from .ir.reference import run
    graph = load_graph(model, input_shapes, constants, prototxt=prototxt)
    return "numpy references of the IR", run(graph, inputs)


def _keras(path, inputs: dict):
    """Keras itself on `inputs` (by its input layers' names), or None where Keras is not installed."""
    try:
        import keras
    except ImportError:
        return None
    m = keras.saving.load_model(str(path), compile=False)
    names = [getattr(t, "name", "").split(":")[0] for t in m.inputs]
    if sorted(names) != sorted(inputs):
        return None  # names keras reports differently: the numpy references decide instead
    outs = m.predict([inputs[n] for n in names] if len(names) > 1 else inputs[names[0]], verbose=0)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    return f"Keras {keras.__version__} ({keras.backend.backend()})", [np.asarray(o) for o in outs]


_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
               "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(float16)": np.float16,
               "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


def _errors(got: dict, expected: dict):
    """(max abs error, max error relative to the largest expected magnitude) over every float output."""
    worst_abs = worst_rel = 0.0
    for name, e in expected.items():
        a, e = np.asarray(got[name], np.float64), np.asarray(e, np.float64)
        if a.shape != e.shape:
            continue
        fin = np.isfinite(e) & np.isfinite(a)
        if not fin.any():
            continue
        err = float(np.abs(a[fin] - e[fin]).max())
        worst_abs = max(worst_abs, err)
        worst_rel = max(worst_rel, err / max(float(np.abs(e[fin]).max()), 1e-30))
    return worst_abs, worst_rel


def _runner(where: str):
    """A runner for `where`, or (None, why it is not available)."""
    from .runners import get_runner
    try:
        return get_runner(where), ""
    except (ImportError, FileNotFoundError, OSError, WebDNNError) as e:
        return None, str(e).splitlines()[0] if str(e) else type(e).__name__


def verify(model, out_dir=None, backends=None, places=("node", "chromium", "native"), input_shapes=None,
           constants=None, inputs=None, seed: int = 0, repeat: int = 5, log=print, prototxt=None) -> list[Row]:
    """Convert `model` (a model file, with `prototxt` for a .caffemodel; or a descriptor directory,
    then nothing is converted) into `out_dir` (default: a temporary folder), run it everywhere asked
    and compare; returns the rows."""
    from .descriptor import read_model
    src = Path(model)
    tmp = None
    if (src / "model.json").is_file():
        descriptor, source = src, None
    else:
        from .converter import convert
        from .options import ConvertOptions
        from .backend import BACKENDS
        if out_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="webdnn-verify-")
            out_dir = Path(tmp.name) / "descriptor"
        opts = ConvertOptions(backends=tuple(backends or BACKENDS), input_shapes=input_shapes,
                              constant_inputs=constants, optional_backends=backends is None, prototxt=prototxt)
        summary = convert(src, out_dir, opts)
        for b, why in summary["left_out"].items():
            log(f"note: backend {b} left out: {why}")
        descriptor, source = Path(out_dir), src
    try:
        m = read_model(descriptor)
        present = [b["name"] if isinstance(b, dict) else b for b in m["backends"]]
        feeds = seeded_inputs(m["inputs"], seed)
        feeds.update(inputs or {})
        label, expected = _oracle(source, descriptor, feeds, input_shapes, constants, prototxt)
        if isinstance(expected, list):  # Keras returns its outputs in order, as model.json lists them
            expected = {o["name"]: a for o, a in zip(m["outputs"], expected)}
        log(f"verify {model}: oracle {label}; inputs seeded with {seed}")
        rows = []
        for where in places:
            wanted = [b for b in PLACES[where] if b in present and (backends is None or b in backends)]
            if not wanted:
                continue
            runner, why = _runner(where)
            if runner is None:
                rows += [Row(b, where, "skipped", note=why) for b in wanted]
                continue
            with runner:
                for b in wanted:
                    if where == "chromium" and b == "webgpu" and not runner.webgpu:
                        rows.append(Row(b, where, "skipped", note="this Chromium has no WebGPU"))
                        continue
                    rows.append(_check(runner, descriptor, feeds, expected, b, where, repeat, _tolerance(descriptor, b)))
        return rows
    finally:
        if tmp is not None:
            tmp.cleanup()


QUANTIZED = "quantized"  # not a row of the table: outputs held to testing.QUANTIZED_MODEL_COSINE


def _tolerance(descriptor: Path, backend: str, relaxed: bool = False) -> str:
    """The tolerance row a backend of this descriptor is held to: QUANTIZED for a model that computes on
    8-bit values (its model.json stats say so: rounding its activations to 8 bits moves single elements by
    whole steps between any two implementations, so each output's cosine similarity is checked),
    "wasm-int8" where the wasm backend runs products on 8-bit weights (--weights int8/int4: their
    activations are rounded too), "wasm-int8-7bit" where it ran them in its relaxed-SIMD build
    (`relaxed`: activations to 7 bits; or --weights int4's 4-bit GEMV there, activations to 8 bits per
    block), else the backend's."""
    import json
    try:
        if json.loads((descriptor / "model.json").read_text()).get("stats", {}).get("quantized"):
            return QUANTIZED
    except (OSError, ValueError):
        pass
    if backend == "wasm":
        try:
            doc = json.loads((descriptor / "graph_wasm.json").read_text())
        except (OSError, ValueError):
            return backend
        stats = doc.get("stats", {})
        if stats.get("int8Products"):
            return "wasm-int8-7bit" if relaxed else "wasm-int8"
        if stats.get("int4ProductsA8") and relaxed:  # --weights int4's GEMV: A in 8 bits per block of 32
            return "wasm-int8-7bit"
    return backend


def _check(runner, descriptor, feeds, expected, backend, where, repeat, tolerance=None) -> Row:
    tolerance = tolerance or backend
    try:
        got = runner.run(descriptor, feeds, backend=backend)
        if runner.last_backend != backend:
            return Row(backend, where, "FAIL", note=f"the runtime chose {runner.last_backend} instead")
        if (runner.last_backend_info or {}).get("relaxedSimd"):
            tolerance = _tolerance(descriptor, backend, relaxed=True)
        ms = float(np.median(runner.bench(descriptor, feeds, backend=backend, repeat=repeat, warmup=1)))
    except Exception as e:  # a failed run is a result of this check, not a crash of it
        return Row(backend, where, "FAIL", note=f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    missing = [n for n in expected if n not in got]
    if missing:
        return Row(backend, where, "FAIL", note=f"outputs {missing} missing")
    problems = [p for n, e in expected.items()
                if (p := compare_cosine(got[n], e, n) if tolerance == QUANTIZED else compare(got[n], e, tolerance, n))]
    abs_err, rel_err = _errors(got, expected)
    return Row(backend, where, "FAIL" if problems else "pass", abs_err, rel_err, ms, "; ".join(problems), tolerance)


def format_rows(rows: list[Row]) -> str:
    head = f"{'backend':<8} {'where':<9} {'max abs err':>11} {'max rel err':>11} {'tolerance':>9} {'result':<7} {'ms':>8}"
    lines = [head]
    for r in rows:
        f = (lambda v: f"{v:.2g}" if v is not None else "-")
        key = r.tolerance or r.backend
        tol = f"{TOLERANCES[key][0]:.0e}" if key in TOLERANCES else f"cos{QUANTIZED_MODEL_COSINE:g}" if key == QUANTIZED else "-"
        ms = f"{r.ms:.2f}" if r.ms is not None else "-"
        lines.append(f"{r.backend:<8} {r.where:<9} {f(r.abs_err):>11} {f(r.rel_err):>11} {tol:>9} {r.result:<7} {ms:>8}"
                     + (f"  {r.note}" if r.note else ""))
    return "\n".join(lines)
