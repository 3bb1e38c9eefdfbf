"""NativeRunner: executes a descriptor's graph_webgpu.json from Python through the `wgpu`
package (wgpu-native: Vulkan, Metal or D3D12), with the same WGSL, buffer plan and dispatch
list the browser runtime uses, so it is a second, independent executor of that file.

    with NativeRunner() as r:                        # one adapter and device per runner
        outs = r.run("out/", {"x": x}, backend="webgpu")

On a machine without a GPU, Mesa's lavapipe (`apt-get install mesa-vulkan-drivers`) provides
a Vulkan device on the CPU: right answers, CPU speed. ``pip install 'webdnn[native]'`` installs
wgpu.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from . import Runner, RuntimeRunError
from ..descriptor import read_file, read_model
from ..errors import WebDNNError
from ..backend.webgpu.indices import SIZES_BINDING
from ..backend.webgpu.plan import place_groups
from ..backend.webgpu.wgsl import header as wgsl_header
from ..ir.host import run_host
from ..ir.symbolic import evaluate, parse

FLOATS = ("float32", "float16")
# limits a descriptor may need beyond WebGPU's defaults
LIMIT_KEYS = {
    "maxStorageBuffersPerShaderStage": "max-storage-buffers-per-shader-stage",
    "maxComputeWorkgroupStorageSize": "max-compute-workgroup-storage-size",
    "maxComputeInvocationsPerWorkgroup": "max-compute-invocations-per-workgroup",
}


def _import_wgpu():
    # Mesa's Vulkan drivers probe for a Wayland display and print an error when
    # XDG_RUNTIME_DIR is unset (a headless machine, CI); compute needs no display
    if "XDG_RUNTIME_DIR" not in os.environ:
        os.environ["XDG_RUNTIME_DIR"] = tempfile.gettempdir()
    try:
        import wgpu  # noqa: F401
    except ImportError as e:
        raise WebDNNError("the native runner needs the `wgpu` package: pip install 'webdnn[native]' "
                          "(on a machine without a GPU also `apt-get install mesa-vulkan-drivers`)") from e
    return wgpu


def stored_constant(name: str, c: dict, want: dict, weights: bytes) -> bytes:
    """The stored bytes of a constant the kernels read as stored (int8: scales, then values; int4: block
    scales, then nibbles), checked against what the graph says they read (as the runtime checks them)."""
    from ..encoding import stored_bytes
    if c.get("encoding") not in ("int8", "int4") or any(c.get(k) != v for k, v in want.items()):
        raise WebDNNError(f"graph_webgpu.json: constant {name!r} is read as {want}, but stored as "
                          f"{c.get('encoding')} (axis {c.get('axis')}, block {c.get('block')})")
    n = stored_bytes(c.get("shape") or [], c)
    off = int(c.get("offset", 0))
    if c.get("bytes") != n or off + n > len(weights):
        raise WebDNNError(f"graph_webgpu.json: constant {name!r}: {c['encoding']} of shape {c.get('shape')} needs {n} "
                          f"bytes inside the weights")
    return bytes(weights[off:off + n])


def decode_constant(name: str, c: dict, weights: bytes) -> np.ndarray:
    """A constant of graph_<backend>.json as a flat array (float64 for floats, int64 for ints)."""
    n = int(np.prod(c["shape"], dtype=np.int64)) if c["shape"] else 1
    enc = c.get("encoding", "raw")
    if enc == "fill":
        v = c.get("value")
        if isinstance(v, str):
            v = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[v.lower()]
        return np.full(n, float(v) if c["dtype"] in FLOATS else int(v))
    off, nb = int(c.get("offset", 0)), int(c.get("bytes", 0))
    if off < 0 or off + nb > len(weights):
        raise WebDNNError(f"constant {name!r}: bytes [{off}, {off + nb}) lie outside the {len(weights)} weight bytes")
    raw = weights[off:off + nb]
    if enc in ("int8", "int4"):
        from ..encoding import decode
        return decode(c, bytes(raw), c["shape"], c["dtype"]).astype(np.float64).reshape(-1)
    if enc == "f16" or (c["dtype"] == "float16" and nb == 2 * n):
        return np.frombuffer(raw, "<f2", n).astype(np.float64)
    storage = {"float32": "<f4", "float16": "<f4", "int32": "<i4", "int64": "<i4", "int8": "i1",
               "uint8": "u1", "bool": "u1"}[c["dtype"]]
    return np.frombuffer(raw, storage, n)


def _to_gpu(a: np.ndarray, dtype: str, precision: str) -> bytes:
    """Flat values as the GPU stores them: floats as f32 (f16 in f16 mode), the rest as i32;
    padded to a multiple of 4 bytes."""
    if dtype in FLOATS:
        b = np.asarray(a, np.float16 if precision == "f16" else np.float32).tobytes()
    else:
        b = np.asarray(a).astype(np.int64).astype(np.int32).tobytes()
    return b + b"\0" * (-len(b) % 4)


def _from_gpu(raw, dtype: str, precision: str, n: int) -> np.ndarray:
    """GPU bytes -> the dtype the JS runtime hands out (Float32Array, Int32Array, Uint8Array …)."""
    if dtype in FLOATS:
        return np.frombuffer(raw, np.float16 if precision == "f16" else np.float32, n).astype(np.float32)
    v = np.frombuffer(raw, np.int32, n)
    return v.astype({"int8": np.int8, "uint8": np.uint8, "bool": np.uint8}.get(dtype, np.int32))


def bind_sizes(declared: dict, actual: dict, defaults: dict, ranges: dict | None = None) -> dict:
    """{symbol: size} from the inputs' actual shapes: plain-name dims bind their symbol, a dim affine
    in one unbound symbol (`32*h`) binds it where the size is a whole multiple, every other dim must
    then agree (the runtime's bindShapes, for the native runner)."""
    from ..ir.symbolic import symbols
    env, ranges = {}, ranges or {}

    def check_range(name, v, what):
        r = ranges.get(name)
        if r and not (r[0] <= v <= r[1]):
            raise WebDNNError(f"{what}, outside the range {r[0]}..{r[1]} {'of ' + name + ' ' if ' (' in what else ''}"
                              f"the model was converted for")

    for name, dims in declared.items():
        shape = actual.get(name)
        if shape is None:
            continue
        if len(shape) != len(dims):
            raise WebDNNError(f"input '{name}' has rank {len(dims)}, got shape {list(shape)}")
        for i, d in enumerate(dims):
            if isinstance(d, str) and d.isidentifier():
                if env.get(d, shape[i]) != shape[i]:
                    raise WebDNNError(f"input '{name}' dim {i} is '{d}' = {shape[i]}, but another input set '{d}' = {env[d]}")
                check_range(d, shape[i], f"input '{name}' dim {i} ('{d}') is {shape[i]}")
                env[d] = int(shape[i])
    for name, dims in declared.items():
        shape = actual.get(name)
        for i, d in enumerate(dims if shape is not None else ()):
            if isinstance(d, str) and not d.isidentifier():
                e = parse(d)
                open_ = [n for n in symbols(e) if n not in env]
                if len(open_) == 1:
                    b = evaluate(e, {**env, open_[0]: 0})
                    a = evaluate(e, {**env, open_[0]: 1}) - b
                    if a <= 0 or (shape[i] - b) % a or shape[i] < b:
                        raise WebDNNError(f"input '{name}' dim {i} is {shape[i]}; it must be {d} for a whole {open_[0]}")
                    env[open_[0]] = (shape[i] - b) // a
                    check_range(open_[0], env[open_[0]],
                                f"input '{name}' dim {i} is {shape[i]} ({d} with {open_[0]} = {env[open_[0]]})")
    for k, v in defaults.items():
        env.setdefault(k, int(v))
    for name, dims in declared.items():
        shape = actual.get(name)
        for i, d in enumerate(dims if shape is not None else ()):
            want = evaluate(parse(d), env) if isinstance(d, str) else d
            if want != shape[i]:
                raise WebDNNError(f"input '{name}' dim {i} must be {d} = {want}, got {shape[i]} (shape {list(shape)})")
    return env


class LoadedModel:
    """One descriptor on one device: pipelines, buffers and bind groups, created once."""

    def __init__(self, runner: "NativeRunner", d: Path, precision: str | None):
        wgpu = runner.wgpu
        self.dir = d
        self.wgpu = wgpu
        self.queue = runner.device.queue
        model = read_model(d)
        entry = model.get("backends", {}).get("webgpu")
        if entry is None:
            raise WebDNNError(f"{d} has no webgpu backend (it has: {', '.join(model.get('backends', {})) or 'none'}); "
                              f"convert with --backend webgpu")
        try:
            graph = json.loads(read_file(d, model, entry.get("graph")))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WebDNNError(f"{entry.get('graph')}: not valid JSON: {e}") from None
        if not isinstance(graph, dict) or graph.get("backend") != "webgpu" or graph.get("version") != 1:
            raise WebDNNError(f"{entry.get('graph')}: not a version 1 webgpu graph")
        self.model, self.graph = model, graph
        weights = b"".join(read_file(d, model, model["weights"][i]["file"]) for i in entry.get("weights", []))

        device = runner.device
        f16_ok = "shader-f16" in device.features
        want = precision or graph.get("precision", "f32")
        if want == "f16" and not f16_ok:
            want = "f32"
        if want not in graph["memory"]:
            raise WebDNNError(f"the descriptor has no {want} memory plan (it has {sorted(graph['memory'])})")
        self.precision = want
        mem = graph["memory"][want]
        lim = device.limits
        for key, wkey in LIMIT_KEYS.items():
            need = graph.get("limits", {}).get(key, 0)
            if need > lim[wkey]:
                raise WebDNNError(f"the model needs {key} = {need}; this device allows {lim[wkey]}")
        biggest = max((b["bytes"] for b in mem["buffers"]), default=0)
        if biggest > lim["max-buffer-size"]:
            raise WebDNNError(f"the model needs a {biggest}-byte buffer; this device allows {lim['max-buffer-size']}")

        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_DST | wgpu.BufferUsage.COPY_SRC
        self.buffers = [device.create_buffer(size=b["bytes"], usage=usage, label=f"{b['kind']}{i}")
                        for i, b in enumerate(mem["buffers"])]
        self.where = mem["tensors"]
        self.tensors = graph["tensors"]
        # weights: decoded and uploaded once; those the kernels read as stored (graph "encoded") as they are
        encoded = graph.get("encoded", {})
        for name, c in graph.get("constants", {}).items():
            if name not in self.where:
                continue
            if name in encoded:
                self._write_bytes(name, stored_constant(name, c, encoded[name], weights))
            else:
                self._write(name, decode_constant(name, c, weights), c["dtype"])

        # wgpu-native names the feature "subgroup" and takes the operations without `enable subgroups;`
        header = wgsl_header(want, "subgroup" in device.features, enable_subgroups=False)
        t0 = time.perf_counter()
        self.pipelines = []
        for i, code in enumerate(graph["shaders"]):
            try:
                module = device.create_shader_module(code=header + code, label=f"shader{i}")
                self.pipelines.append(device.create_compute_pipeline(
                    layout="auto", compute={"module": module, "entry_point": "main"}, label=f"shader{i}"))
            except Exception as e:
                users = [k["name"] for k in graph["dispatches"] if k["shader"] == i]
                raise WebDNNError(f"shader {i} (kernels {users[:3]}) does not compile: {e}") from None
        self.compile_s = time.perf_counter() - t0
        self.device, self.mem = device, mem
        self.readback, self.binding, self.out_sizes = None, None, {}
        self.where = dict(self.where)
        if "symbols" in graph:  # sizes bound at run time: the steps are built for each binding (_bind)
            if "arena" not in mem:
                raise WebDNNError('the webgpu graph has "symbols" but its memory plan has no "arena"')
            self.sizes = device.create_buffer(size=64, usage=wgpu.BufferUsage.UNIFORM | wgpu.BufferUsage.COPY_DST)
            self.arena_bytes = 0
        else:
            self._build(None)

    def _build(self, env):
        """Bind groups, workgroup counts and the readback for the tensors' current places."""
        wgpu, device, graph = self.wgpu, self.device, self.graph
        self.steps = []
        for k in graph["dispatches"]:
            pipe = self.pipelines[k["shader"]]
            when = k.get("when")
            conds = [] if when is None else when if isinstance(when, list) else [when]
            # a variant for ranges of sizes (a product's tile for its row count, attention's form for its rows and keys)
            values = [evaluate(parse(c["dim"]), env) if isinstance(c["dim"], str) else int(c["dim"]) for c in conds]
            if any(v < c.get("min", v) or v > c.get("max", v) for v, c in zip(values, conds)):
                continue
            groups = [evaluate(parse(g), env) if isinstance(g, str) else int(g) for g in k["groups"]]
            if k.get("wrap") and groups[0] > 65535:
                groups = [65535, -(-groups[0] // 65535), groups[2]]
            if max(groups) > 65535:
                raise WebDNNError(f"kernel '{k['name']}' needs {groups} workgroups at these sizes; at most 65535 per dimension")
            if min(groups) == 0:
                continue
            entries = []
            for j, (tname, part) in enumerate(k["bindings"]):
                if tname == SIZES_BINDING:
                    entries.append({"binding": j, "resource": {"buffer": self.sizes, "offset": 0, "size": 64}})
                    continue
                buf, off, nb = self.where[tname][part]
                entries.append({"binding": j, "resource": {"buffer": self.buffers[buf], "offset": off, "size": nb}})
            bg = device.create_bind_group(layout=pipe.get_bind_group_layout(0), entries=entries)
            self.steps.append((pipe, bg, tuple(groups), k["name"]))
        # outputs are copied into one readback buffer, one mapping per run
        self.out_slices, off = [], 0
        for name in graph["outputs"]:
            parts = []
            for buf, boff, nb in self.where[name]:
                parts.append((buf, boff, nb, off))
                off += -(-nb // 256) * 256
            self.out_slices.append((name, parts))
            spec = self.tensors.get(name) or graph["constants"][name]
            self.out_sizes[name] = [evaluate(parse(d), env) if isinstance(d, str) else int(d) for d in spec["shape"]]
        if self.readback is None or self.readback.size < off:
            self.readback = device.create_buffer(size=max(off, 16),
                                                 usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST)

    def _bind(self, shapes: dict):
        """A graph with symbolic sizes: the activations placed for the sizes the input shapes give
        (the arena grows as needed), the sizes uniform written, the steps built again."""
        graph, arena = self.graph, self.mem["arena"]
        symbols = graph["symbols"]
        declared = {n: graph["tensors"][n]["shape"] for n in graph["inputs"]}
        env = bind_sizes(declared, shapes, symbols, graph.get("ranges"))
        key = tuple(env[k] for k in sorted(symbols))
        if key == self.binding:
            return
        groups = [(max(4, -(-evaluate(parse(b), env) // 4) * 4) if isinstance(b, str) else max(4, int(b)), f, l)
                  for b, f, l in arena["groups"]]
        lim = self.device.limits
        at = ", ".join(f"{k}={env[k]}" for k in sorted(symbols))
        for name, g in arena["tensors"].items():
            if groups[g][0] > lim["max-storage-buffer-binding-size"]:
                raise WebDNNError(f"tensor '{name}' would take {groups[g][0]} bytes at {at}; this device binds at most "
                                  f"{lim['max-storage-buffer-binding-size']} bytes (maxStorageBufferBindingSize)")
        offsets, total = place_groups(groups)
        if total > lim["max-buffer-size"]:
            raise WebDNNError(f"the activations would take {total} bytes at {at}; this device allows buffers of at most "
                              f"{lim['max-buffer-size']} bytes (maxBufferSize)")
        if total > self.arena_bytes:
            usage = self.wgpu.BufferUsage.STORAGE | self.wgpu.BufferUsage.COPY_DST | self.wgpu.BufferUsage.COPY_SRC
            self.arena_bytes = max(16, -(-min(lim["max-buffer-size"], total if self.binding is None else total * 3 // 2) // 16) * 16)
            self.buffers[0] = self.device.create_buffer(size=self.arena_bytes, usage=usage, label="arena0")
        for name, g in arena["tensors"].items():
            self.where[name] = [[0, offsets[g], groups[g][0]]]
        values = np.zeros(16, np.uint32)
        values[:len(key)] = key
        self.queue.write_buffer(self.sizes, 0, values.tobytes())
        self._build(env)
        self.binding = key

    def _dtype(self, name):
        t = self.tensors.get(name) or self.graph["constants"][name]
        return t["dtype"]

    def _write(self, name, flat, dtype):
        self._write_bytes(name, _to_gpu(flat, dtype, self.precision))

    def _write_bytes(self, name, data):
        q = self.queue
        pos = 0
        for buf, off, nb in self.where[name]:
            chunk = data[pos:pos + nb]
            q.write_buffer(self.buffers[buf], off, chunk + b"\0" * (nb - len(chunk)))
            pos += nb

    def sync(self):
        """Wait until the queue has finished everything submitted (a 16-byte read waits for it)."""
        self.queue.read_buffer(self.buffers[0], 0, 16)

    def encode(self, device, readback: bool = True):
        enc = device.create_command_encoder()
        cp = enc.begin_compute_pass()
        for pipe, bg, groups, _ in self.steps:
            cp.set_pipeline(pipe)
            cp.set_bind_group(0, bg)
            cp.dispatch_workgroups(*groups)
        cp.end()
        if readback:
            for _, parts in self.out_slices:
                for buf, boff, nb, roff in parts:
                    enc.copy_buffer_to_buffer(self.buffers[buf], boff, self.readback, roff, nb)
        return enc.finish()

    def run(self, device, inputs) -> dict:
        fixed = {spec["name"]: [int(d) for d in spec["shape"]] for spec in self.model["inputs"]}
        if "symbols" in self.graph:
            try:
                self._bind({name: (shape if shape is not None else fixed[name]) for name, _arr, _typed, shape in inputs})
            except WebDNNError as e:  # sizes that do not bind, or do not fit the device: as the runtime says it
                raise RuntimeRunError(str(e)) from None
        for name, arr, _typed, shape in inputs:
            if "symbols" in self.graph:
                if np.asarray(arr).size:
                    self._write(name, arr, self._dtype(name))
                continue
            if shape is not None and shape != fixed[name]:  # a graph built for fixed sizes
                raise WebDNNError(f"input '{name}' has shape {shape}, but the webgpu backend of this descriptor "
                                  f"was built for {fixed[name]}; the js backend takes other sizes")
            self._write(name, arr, self._dtype(name))
        device.queue.submit([self.encode(device)])
        self.readback.map_sync(self.wgpu.MapMode.READ)
        try:
            raw = bytes(self.readback.read_mapped())
        finally:
            self.readback.unmap()
        out = {}
        for name, parts in self.out_slices:
            shape = self.out_sizes[name]
            n = int(np.prod(shape, dtype=np.int64))
            data = b"".join(bytes(raw[roff:roff + nb]) for _, _, nb, roff in parts)
            out[name] = _from_gpu(data, self._dtype(name), self.precision, n).reshape(shape)
        host = self.model.get("host")
        if host:  # data-dependent shapes: on the CPU, after the GPU (ir/host.py)
            given = {name: (np.asarray(arr).reshape(shape) if shape is not None else arr) for name, arr, _t, shape in inputs}
            values = run_host(host, {**given, **out})
            for s in host["steps"]:
                out.update({n: values[n] for n in s["outputs"]})
        return out


class NativeRunner(Runner):
    """Runs the webgpu backend of descriptors through wgpu-native.

    ``power_preference``: which adapter ("high-performance" or "low-power");
    ``precision``: force "f32" or "f16" (default: what the descriptor asks for, f32 when the
    device lacks shader-f16). ``subgroups``: use subgroup operations where the adapter has them
    (False: the workgroup-memory path everywhere). ``adapter_info`` describes the device.
    """

    name = "native"

    def __init__(self, power_preference: str = "high-performance", precision: str | None = None,
                 cache_size: int = 8, subgroups: bool = True):
        super().__init__()
        self.wgpu = _import_wgpu()
        adapter = self.wgpu.gpu.request_adapter_sync(power_preference=power_preference)
        if adapter is None:
            raise WebDNNError("wgpu found no GPU adapter (on a machine without a GPU: apt-get install mesa-vulkan-drivers)")
        self.adapter = adapter
        self.adapter_info = dict(adapter.info)
        features = [f for f in ("shader-f16", "timestamp-query", *(["subgroup"] if subgroups else []))
                    if f in adapter.features]
        limits = {k: adapter.limits[k] for k in (
            "max-buffer-size", "max-storage-buffer-binding-size", *LIMIT_KEYS.values())}
        self.device = adapter.request_device_sync(required_features=features, required_limits=limits)
        self.precision = precision
        self._cache: dict = {}
        self._cache_size = cache_size
        self.last_precision: str | None = None

    def loaded(self, descriptor_dir, stamp=None) -> LoadedModel:
        from . import descriptor_stamp
        d = Path(descriptor_dir).resolve()
        key = (d, stamp or descriptor_stamp(d), self.precision)
        m = self._cache.pop(key, None)
        if m is None:
            m = LoadedModel(self, d, self.precision)
        self._cache[key] = m
        while len(self._cache) > self._cache_size:
            self._cache.pop(next(iter(self._cache)))
        return m

    def _check_backend(self, backends):
        if backends and "webgpu" not in backends:
            raise WebDNNError(f"the native runner executes the webgpu backend only (asked for {', '.join(backends)})")

    def _load(self, descriptor_dir, stamp, backends):
        self._check_backend(backends)
        t0 = time.perf_counter()
        m = self.loaded(descriptor_dir, stamp)
        return {"backendName": "webgpu", "inputNames": m.graph["inputs"], "outputNames": m.graph["outputs"],
                "loadMs": (time.perf_counter() - t0) * 1000, "precision": m.precision}

    def _run(self, descriptor_dir, stamp, backends, inputs, repeat=1, warmup=0):
        self._check_backend(backends)
        t0 = time.perf_counter()
        key_before = len(self._cache)
        m = self.loaded(descriptor_dir, stamp)
        load_ms = (time.perf_counter() - t0) * 1000 if len(self._cache) != key_before else 0.0
        try:
            for _ in range(warmup):
                m.run(self.device, inputs)
            ms = []
            for _ in range(max(1, repeat)):
                t = time.perf_counter()
                out = m.run(self.device, inputs)
                ms.append((time.perf_counter() - t) * 1000)
        except WebDNNError:
            raise
        except Exception as e:
            raise RuntimeRunError(f"wgpu failed while running {descriptor_dir}: {e}") from None
        self.last_precision = m.precision
        return {"outputs": out, "ms": ms, "loadMs": load_ms, "backendName": "webgpu"}

    def gpu_ms(self, descriptor_dir, inputs: dict, repeat: int = 20, warmup: int = 3) -> float:
        """Mean time of one run on the GPU queue: `repeat` runs submitted back to back with the
        inputs already on the device and no readback, timed from submit to completion."""
        from . import prepare_inputs
        m = self.loaded(descriptor_dir)
        m.run(self.device, prepare_inputs(m.model, inputs))
        cmds = [m.encode(self.device, readback=False) for _ in range(repeat + warmup)]
        self.device.queue.submit(cmds[:warmup])
        m.sync()
        t = time.perf_counter()
        self.device.queue.submit(cmds[warmup:])
        m.sync()
        return (time.perf_counter() - t) * 1000 / repeat

    def close(self):
        if self._closed:
            return
        self._cache.clear()
        try:
            self.device.destroy()
        except Exception:
            pass
        super().close()
