"""Run a descriptor from Python through the JavaScript runtime.

    from webdnn.runners import get_runner
    with get_runner("node") as r:                       # or "chromium"
        outs = r.run("out/", {"x": x}, backend="js")     # {"y": np.ndarray}
        print(r.last_ms)                                 # runtime-measured run() time, ms

A runner owns one long-lived JavaScript host (a `node` process, or one headless Chromium) and
is reused for many runs and many descriptors; loaded descriptors are cached inside the host.
Outputs are reshaped to the shapes in model.json and given its dtypes.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import WebDNNError, InputError
from ..descriptor import read_model
from ..ir.graph import shape_fits

__all__ = [
    "shaped", "Runner", "RuntimeRunError", "RuntimeNotBuiltError", "get_runner", "runtime_dist",
    "run", "RUNNERS", "read_model",
]

RUNNERS = ("node", "chromium", "native")

_PKG_DIR = Path(__file__).resolve().parent.parent          # webdnn/
_REPO_DIR = _PKG_DIR.parent

# model.json dtype -> (numpy storage dtype, JS typed array) as the runtime stores it
STORAGE = {
    "float32": (np.float32, "Float32Array"),
    "float16": (np.float32, "Float32Array"),
    "int32": (np.int32, "Int32Array"),
    "int64": (np.int32, "Int32Array"),
    "int8": (np.int8, "Int8Array"),
    "uint8": (np.uint8, "Uint8Array"),
    "bool": (np.uint8, "Uint8Array"),
}

TYPED_ARRAYS = {
    "Float32Array": np.float32, "Float64Array": np.float64, "Float16Array": np.float16,
    "Int32Array": np.int32, "Uint32Array": np.uint32, "Int16Array": np.int16,
    "Uint16Array": np.uint16, "Int8Array": np.int8, "Uint8Array": np.uint8,
    "Uint8ClampedArray": np.uint8, "BigInt64Array": np.int64, "BigUint64Array": np.uint64,
}


class RuntimeRunError(WebDNNError):
    """The JavaScript runtime threw (load error, shape error, ...); carries the JS message.

    Attributes: ``js_message`` (the error's message as thrown), ``js_stack`` (its stack, if
    any), ``logs`` (recent stderr / console errors of the JS host, for diagnostics).
    """

    def __init__(self, message: str, js_stack: str | None = None, logs: Sequence[str] = ()):
        self.js_message = message
        self.js_stack = js_stack
        self.logs = list(logs)
        text = message
        if self.logs:
            text += "\n--- JS host log (last lines) ---\n" + "\n".join(self.logs[-20:])
        super().__init__(text)


class RuntimeNotBuiltError(WebDNNError, FileNotFoundError):
    """The runtime's JavaScript build (runtime/dist) is missing."""


def runtime_dist(require: Sequence[str] = ("webdnn.mjs", "webdnn.js")) -> Path:
    """The directory holding the built runtime (webdnn.mjs, webdnn.js).

    ``$WEBDNN_RUNTIME_DIST`` if set, else ``webdnn/_runtime/`` inside an installed package,
    else ``<repo>/runtime/dist``.
    """
    env = os.environ.get("WEBDNN_RUNTIME_DIST")
    candidates = [Path(env)] if env else [_PKG_DIR / "_runtime", _REPO_DIR / "runtime" / "dist"]
    for d in candidates:
        if all((d / f).is_file() for f in require):
            return d
    looked = ", ".join(str(d) for d in candidates)
    raise RuntimeNotBuiltError(
        f"the WebDNN JavaScript runtime is not built (looked for {', '.join(require)} in "
        f"{looked}); build it with `npm ci && npm run build` in {_REPO_DIR / 'runtime'}")


def descriptor_stamp(descriptor_dir: Path) -> str:
    """Changes whenever a file of the descriptor is rewritten; keys the JS-side caches."""
    h = hashlib.sha1()
    try:
        entries = sorted(os.scandir(descriptor_dir), key=lambda e: e.name)
    except OSError:
        return "0"
    for e in entries:
        try:
            st = e.stat()
        except OSError:
            continue
        h.update(f"{e.name}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    return h.hexdigest()[:16]


def backend_order(backend: str | Sequence[str] | None) -> list[str]:
    if backend is None:
        return []
    if isinstance(backend, str):
        return [b.strip() for b in backend.split(",") if b.strip()]
    return [str(b) for b in backend]


def _spec_shape(spec: dict) -> tuple[int, ...]:
    return tuple(int(s) for s in spec.get("shape", []))


def prepare_inputs(model: dict, inputs: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray, str, list | None]]:
    """Inputs as (name, flat C-contiguous array in the runtime's storage dtype, typed array name,
    the shape to give the runtime: for an input with symbolic sizes ("dims"), else None)."""
    specs = {s["name"]: s for s in model["inputs"]}

    def expected() -> str:
        return ", ".join(f"{n} {list(_spec_shape(s))} {s.get('dtype')}" for n, s in specs.items())

    unknown = [n for n in inputs if n not in specs]
    if unknown:
        raise InputError(f"unknown input(s) {unknown}; the model's inputs are: {expected()}")
    missing = [n for n in specs if n not in inputs]
    if missing:
        raise InputError(f"missing input(s) {missing}; the model's inputs are: {expected()}")
    out = []
    for name, spec in specs.items():
        dtype = spec.get("dtype", "float32")
        if dtype not in STORAGE:
            raise InputError(f"input {name!r} has dtype {dtype!r}, which the runtime cannot store")
        storage, typed = STORAGE[dtype]
        a = np.asarray(inputs[name])
        if dtype == "bool":
            a = a != 0
        if dtype == "int64" and a.size and a.dtype.kind in "iu":
            lo, hi = int(a.min()), int(a.max())
            if lo < -2**31 or hi >= 2**31:
                raise InputError(f"input {name!r} (int64) has values in [{lo}, {hi}], outside "
                                 f"the int32 range the runtime stores int64 in")
        flat = np.ascontiguousarray(a.astype(storage, copy=False)).reshape(-1)
        if any(isinstance(d, str) for d in spec.get("dims", [])):  # its sizes bind at run time
            out.append((name, flat, typed, [int(d) for d in a.shape]))
            continue
        shape = _spec_shape(spec)
        if a.size == int(np.prod(shape)) and a.shape != shape and a.ndim != 1:
            # same element count, different layout: almost always a transposed input (NHWC vs NCHW)
            raise InputError(f"input {name!r} expects shape {list(shape)}, got {list(a.shape)}")
        # a wrong element count is left to the runtime, whose error names the expected shape
        out.append((name, flat, typed, None))
    return out


def shaped(flat: np.ndarray, shape) -> np.ndarray:
    """Flat output data with the shape the runtime reported (when it reported one that fits)."""
    if shape is not None and int(np.prod(shape, dtype=np.int64)) == flat.size:
        return flat.reshape([int(d) for d in shape])
    return flat


def finish_outputs(model: dict, raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Typed-array data from the runtime -> arrays with model.json's shapes and dtypes. An output
    with a data-dependent dim or a symbolic size (a string in model.json) keeps the shape the runtime
    reported."""
    result = {}
    for spec in model["outputs"]:
        name = spec["name"]
        if name not in raw:
            raise RuntimeRunError(f"the runtime returned no output {name!r} "
                                  f"(it returned {sorted(raw)})")
        flat = raw[name]
        if any(isinstance(d, str) for d in spec.get("shape", []) + spec.get("dims", [])):
            shape = spec.get("dims") or spec["shape"]  # dims: the symbolic sizes, where some backend binds them
            if not shape_fits(shape, flat.shape):
                raise RuntimeRunError(f"output {name!r}: the runtime returned shape {list(flat.shape)}, "
                                      f"model.json says {shape}")
            shape = flat.shape
        else:
            shape = _spec_shape(spec)
        if flat.size != int(np.prod(shape, dtype=np.int64)):
            raise RuntimeRunError(f"output {name!r}: the runtime returned {flat.size} elements, "
                                  f"model.json says shape {list(shape)}")
        dtype = spec.get("dtype", "float32")
        a = flat.reshape(shape)
        if dtype == "bool":
            a = a != 0
        else:
            a = a.astype(np.dtype(dtype), copy=False)
        result[name] = a
    return result


class Runner:
    """Runs descriptors in one long-lived JavaScript host. Use :func:`get_runner`.

    After each :meth:`run`: ``last_ms`` is the runtime's own measurement of ``runner.run()``
    (performance.now() around it, in ms); ``last_load_ms`` the time ``WebDNN.load`` took if this
    run loaded the descriptor (0.0 when it was cached); ``last_roundtrip_ms`` the wall time of
    the whole call seen from Python; ``last_backend`` the backend that ran (``backendName``) and
    ``last_backend_info`` how it ran where the host reports it (``backendInfo``: the wasm backend's
    thread count, for one). ``timings`` collects ``last_ms`` of every run.
    """

    name = "base"

    def __init__(self):
        self.last_ms: float | None = None
        self.last_load_ms: float | None = None
        self.last_roundtrip_ms: float | None = None
        self.last_backend: str | None = None
        self.last_backend_info: dict | None = None
        self.timings: list[float] = []
        self._last_all_ms: list[float] = []
        self._closed = False

    # -- to implement -------------------------------------------------------------------------

    def _run(self, descriptor_dir: Path, stamp: str, backends: list[str],
             inputs: list[tuple[str, np.ndarray, str]], repeat: int = 1,
             warmup: int = 0) -> dict:
        """Run in the host; returns {"outputs": {name: flat ndarray}, "ms": [...],
        "loadMs": float, "backendName": str}."""
        raise NotImplementedError

    def _load(self, descriptor_dir: Path, stamp: str, backends: list[str]) -> dict:
        raise NotImplementedError

    def close(self) -> None:
        self._closed = True

    # -- public API -----------------------------------------------------------------------------

    def run(self, descriptor_dir: Path | str, inputs: Mapping[str, np.ndarray],
            backend: str | Sequence[str] = "js") -> dict[str, np.ndarray]:
        """Run a descriptor once; returns {output name: ndarray} in model.json order.

        ``backend`` is a backend name or a list of them in order of preference (the runtime's
        ``backendOrder``); ``last_backend`` says which one ran.
        """
        return self._execute(descriptor_dir, inputs, backend, repeat=1, warmup=0)

    def bench(self, descriptor_dir: Path | str, inputs: Mapping[str, np.ndarray],
              backend: str | Sequence[str] = "js", repeat: int = 10,
              warmup: int = 2) -> list[float]:
        """Time ``repeat`` runs (after ``warmup`` untimed ones) inside the host; returns the
        per-run times in ms (inputs are sent once, so no transfer cost is included)."""
        if repeat < 1 or warmup < 0:
            raise ValueError("repeat must be >= 1 and warmup >= 0")
        self._execute(descriptor_dir, inputs, backend, repeat=repeat, warmup=warmup)
        return list(self._last_all_ms)

    def profile(self, descriptor_dir: Path | str, inputs: Mapping[str, np.ndarray],
                backend: str | Sequence[str] = "wasm", passes: int = 5) -> list[tuple[str, float]]:
        """Time every kernel of one run, one by one (the runtime's Runner.profile(); the wasm
        backend can): [(label "<op type> <name>[ + <epilogue>]", median ms over `passes`)]."""
        if passes < 1:
            raise ValueError("passes must be >= 1")
        self._execute(descriptor_dir, inputs, backend, repeat=1, warmup=1, profile=passes)
        return [(str(k), float(ms)) for k, ms in self._last_profile]

    def load(self, descriptor_dir: Path | str, backend: str | Sequence[str] = "js") -> dict:
        """Load (and cache) a descriptor without running it; returns what the runtime reports:
        {"backendName", "inputNames", "outputNames", "inputViews": [{name, shape, dtype}],
        "loadMs"}."""
        self._check_open()
        d = Path(descriptor_dir).resolve()
        read_model(d)
        return self._load(d, descriptor_stamp(d), backend_order(backend))

    def _execute(self, descriptor_dir, inputs, backend, repeat, warmup, profile=0):
        self._check_open()
        t0 = time.perf_counter()
        d = Path(descriptor_dir).resolve()
        model = read_model(d)
        prepared = prepare_inputs(model, inputs)
        extra = {"profile": profile} if profile else {}  # only hosts that can profile take the argument
        raw = self._run(d, descriptor_stamp(d), backend_order(backend), prepared,
                        repeat=repeat, warmup=warmup, **extra)
        self._last_profile = raw.get("profile") or []
        outputs = finish_outputs(model, raw["outputs"])
        ms = [float(m) for m in raw.get("ms", [])]
        self._last_all_ms = ms
        self.last_ms = ms[-1] if ms else None
        self.timings.extend(ms)
        self.last_load_ms = float(raw.get("loadMs") or 0.0)
        self.last_backend = raw.get("backendName")
        self.last_backend_info = raw.get("backendInfo")
        self.last_roundtrip_ms = (time.perf_counter() - t0) * 1000.0
        return outputs

    def _check_open(self):
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<{type(self).__name__}{' closed' if self._closed else ''}>"


def get_runner(where: str, **kwargs) -> Runner:
    """A runner for ``where`` ('node', 'chromium', or 'native': the webgpu backend through
    wgpu-native); keyword arguments go to its constructor."""
    if where == "node":
        from .node import NodeRunner
        return NodeRunner(**kwargs)
    if where == "chromium":
        from .chromium import ChromiumRunner
        return ChromiumRunner(**kwargs)
    if where == "native":
        from .native import NativeRunner
        return NativeRunner(**kwargs)
    raise ValueError(f"unknown runner {where!r}; valid runners are: {', '.join(RUNNERS)}")


def run(descriptor_dir: Path | str, inputs: Mapping[str, np.ndarray], where: str = "node",
        backend: str | Sequence[str] = "js") -> dict[str, np.ndarray]:
    """One-shot convenience: start a runner, run once, close it."""
    with get_runner(where) as r:
        return r.run(descriptor_dir, inputs, backend=backend)
