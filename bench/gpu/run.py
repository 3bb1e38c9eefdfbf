"""GPU measurement of the webgpu backend: its generated WGSL, run through wgpu-native by the
native runner, against PyTorch eager (float32, TF32 off) on the same GPU in the same run.

    python bench/gpu/run.py --out bench/gpu/results          # on the GPU machine (see README.md)
    python bench/gpu/run.py --quick --out /tmp/gpu-bench     # small sizes: checks the script on any adapter

Measures GEMM n×n×n (default 4096) and ResNet50 / MobileNetV2 at batch 1 and 8 (224×224) against PyTorch,
checks that both sides compute the same numbers; with onnxruntime's WebGPU plugin EP installed
(onnxruntime-ep-webgpu), also those models and the wasm benchmark's model set (bench/models.py, batch 1:
--set) host array to host array against it, the peer a web developer would pick. Writes results.json and
results.md. Timings taken on a CPU adapter (lavapipe, SwiftShader) are flagged: they say nothing about GPU
speed; Dawn takes no CPU adapter, so there the peer's columns are left out, with the reason.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGETS = {"gemm_fraction_of_torch": 0.70, "resnet50_b1_latency_ratio": 0.5}  # the GEMM's with the automatic tile choice


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- torch side ---------------------------------------------------------------------------------

def torch_setup():
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False   # f32 means f32: no TF32 tensor-core rounding
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    return torch, dev


def torch_time(torch, dev, fn, repeat, warmup, sync_each=True):
    """Median ms of fn() (each run synchronized: latency), and the mean over back-to-back runs."""
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    each = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        sync()
        each.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync()
    return statistics.median(each), (time.perf_counter() - t) * 1000 / repeat


# ---- webgpu side --------------------------------------------------------------------------------

def webgpu_time(runner, d, inputs, repeat, warmup):
    """(median ms of one synchronized run on the GPU queue, mean ms back to back, median ms of a
    whole run() from host arrays to host arrays)."""
    each = [runner.gpu_ms(d, inputs, repeat=1, warmup=0 if i else warmup) for i in range(repeat)]
    back_to_back = runner.gpu_ms(d, inputs, repeat=repeat, warmup=1)
    e2e = runner.bench(d, inputs, backend="webgpu", repeat=max(3, repeat // 4), warmup=1)
    return statistics.median(each), back_to_back, statistics.median(e2e)


# ---- the peer: onnxruntime's WebGPU execution provider ----------------------------------------------------

def ort_webgpu():
    """(make(path) -> onnxruntime session on the WebGPU plugin EP (onnxruntime-ep-webgpu: Dawn, the C++ WebGPU EP
    that onnxruntime-web ships), None), or (None, why not). Sessions are made with CPU fallback off, so every
    node runs on the GPU; a model that needs the fallback is timed with it and flagged."""
    try:
        import onnxruntime as ort
        import onnxruntime_ep_webgpu as ep
    except ImportError as e:
        return None, f"not installed ({e.name}; pip install onnxruntime-ep-webgpu, onnxruntime >= 1.24.4)"
    try:
        ort.register_execution_provider_library("webgpu", ep.get_library_path())
    except Exception as e:  # noqa: BLE001 - the plugin's own message says why
        return None, f"the plugin does not load: {str(e).splitlines()[0]}"
    device = next((d for d in ort.get_ep_devices() if d.ep_name == ep.get_ep_name()), None)
    if device is None:
        return None, "no WebGPU EP device (Dawn found no GPU adapter; it rejects CPU adapters such as lavapipe)"

    def make(path, fallback=False):
        so = ort.SessionOptions()
        so.add_provider_for_devices([device], {})
        if not fallback:
            so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
        return ort.InferenceSession(str(path), sess_options=so)
    return make, None


def ort_time(sess, feeds, repeat, warmup) -> float:
    """Median ms of session.run from host arrays to host arrays."""
    for _ in range(warmup):
        sess.run(None, feeds)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def peer(make_ort, onnx_path, feeds, reference, args) -> dict:
    """onnxruntime WebGPU EP on one .onnx: host→host median ms, its largest relative difference from
    `reference` (webdnn's outputs, by name), and whether it needed the CPU fallback."""
    if make_ort is None:
        return {}
    try:
        sess, fallback = make_ort(onnx_path), False
        outs = sess.run(None, feeds)
    except Exception:  # noqa: BLE001 - a node the EP lacks: time it as a user would get it, and say so
        sess, fallback = make_ort(onnx_path, fallback=True), True
        outs = sess.run(None, feeds)
    outs = dict(zip([o.name for o in sess.get_outputs()], outs))
    err = max(rel_err(reference[k], outs[k]) for k in reference if k in outs)
    ms = ort_time(sess, feeds, args.repeat, args.warmup)
    return {"ort_e2e_ms": ms, "ort_rel_err": err, "ort_cpu_fallback": fallback}


def bound_bytes(graph: dict, precision: str = "f32") -> int:
    """The bytes one run's dispatches bind (each dispatch's inputs and outputs, once per dispatch: the traffic
    a run cannot avoid, whatever its kernels re-read from caches), from graph_webgpu.json's plan."""
    parts = graph["memory"][precision]["tensors"]
    total = 0
    for d in graph["dispatches"]:
        for name, part in d["bindings"]:
            if name in parts and part < len(parts[name]):
                total += int(parts[name][part][2])
    return total


def _bench_models():
    """bench/models.py (its own name: this folder's models.py is the torch one)."""
    import importlib.util
    if "webdnn_bench_models" not in sys.modules:
        spec = importlib.util.spec_from_file_location("webdnn_bench_models", REPO / "bench" / "models.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["webdnn_bench_models"] = module
        spec.loader.exec_module(module)
    return sys.modules["webdnn_bench_models"]


def set_bench(name, runner, make_ort, args, tmp: Path) -> dict:
    """One model of the wasm benchmark's set (bench/models.py, as exported there: batch 1) on both: webdnn's
    GPU time and host→host time, the WebGPU EP's host→host time, on the same .onnx and inputs."""
    import onnx
    from webdnn import convert
    bench_models = _bench_models()
    m = bench_models.MODELS[name]()
    feeds = bench_models.feeds(m)
    onnx_path = tmp / f"set_{name}.onnx"
    onnx.save(m, onnx_path)
    d = tmp / f"set_{name}"
    t0 = time.perf_counter()
    convert(str(onnx_path), d, backends=["webgpu"])
    convert_s = time.perf_counter() - t0
    got = runner.run(d, feeds, backend="webgpu")
    lat, b2b, e2e = webgpu_time(runner, d, feeds, args.repeat, args.warmup)
    graph = json.loads((d / "graph_webgpu.json").read_text())
    res = {"model": name, "batch": 1, "dispatches": len(graph["dispatches"]), "bound_mb": bound_bytes(graph) / 2**20,
           "convert_s": convert_s,
           "webgpu_latency_ms": lat, "webgpu_back_to_back_ms": b2b, "webgpu_e2e_ms": e2e,
           **peer(make_ort, onnx_path, feeds, got, args)}
    if "ort_e2e_ms" in res:
        res["e2e_ratio"] = e2e / res["ort_e2e_ms"]
    if name in args.f16.split(","):
        # --precision f16 (half storage, f16 GEMM products) against this f32 descriptor, on the same runner
        d16 = tmp / f"set_{name}_f16"
        convert(str(onnx_path), d16, backends=["webgpu"], precision="f16")
        got16 = runner.run(d16, feeds, backend="webgpu")
        lat16, _, e2e16 = webgpu_time(runner, d16, feeds, args.repeat, args.warmup)
        res.update({"f16_precision_run": runner.loaded(d16).precision, "f16_latency_ms": lat16, "f16_e2e_ms": e2e16,
                    "f16_speedup": lat / lat16, "f16_rel_err": max(rel_err(got16[k], got[k]) for k in got)})
        log(f"  {name} --precision f16 ({res['f16_precision_run']}): webgpu {lat16:.2f} ms: "
            f"{res['f16_speedup']:.2f}x f32, rel diff {res['f16_rel_err']:.1e}")
    log(f"  {name}: webgpu {lat:.2f} ms (host→host {e2e:.2f}); "
        + (f"peer host→host {res['ort_e2e_ms']:.2f}: ratio {res['e2e_ratio']:.2f}, rel diff "
           f"{res['ort_rel_err']:.1e}{' (CPU fallback)' if res['ort_cpu_fallback'] else ''}" if "ort_e2e_ms" in res
           else "no peer") + f"; {res['dispatches']} dispatches")
    return res


DECODE = {  # bench/models.py name -> the conversions timed: (label, convert options)
    "GPT2-decode": [("f32", {}), ("f16", {"precision": "f16"}), ("--weights int4", {"weights": "int4"}),
                    ("--weights int4, f16", {"weights": "int4", "precision": "f16"})],
    "GPT2-decode-int4": [("own 4-bit", {}), ("own 4-bit, f16", {"precision": "f16"})],
}


def decode_bench(runner, make_ort, args, tmp: Path) -> list[dict]:
    """A language model's one-token step (bench/models.py GPT2-decode: 4 layers of 512, vocabulary 8192, a cache
    of 127 positions; every product has one row, so every weight is read once per token) in float32, in half
    precision, with --weights int4, and as onnxruntime's quantizer writes it (GPT2-decode-int4: MatMulNBits, its
    own 4-bit weights): webdnn's GPU and host→host times, and the WebGPU EP's host→host time on each .onnx.
    The target (issue: int4 on webgpu not slower than f16 on the step) reads off the rows."""
    import onnx
    from webdnn import convert
    bm = _bench_models()
    rows = []
    for name, variants in DECODE.items():
        m = bm.MODELS[name]()
        feeds = bm.feeds(m)
        onnx_path = tmp / f"decode_{name}.onnx"
        onnx.save(m, onnx_path)
        for i, (label, kw) in enumerate(variants):
            d = tmp / f"decode_{name}_{i}"
            convert(str(onnx_path), d, backends=["webgpu"], **kw)
            got = runner.run(d, feeds, backend="webgpu")
            lat, b2b, e2e = webgpu_time(runner, d, feeds, args.repeat, args.warmup)
            graph = json.loads((d / "graph_webgpu.json").read_text())
            model = json.loads((d / "model.json").read_text())
            row = {"model": name, "variant": label, "precision": runner.loaded(d).precision,
                   "weight_mb": sum(model["stats"]["weight_encodings"].values()) / 2**20,
                   "dispatches": len(graph["dispatches"]), "webgpu_latency_ms": lat, "webgpu_e2e_ms": e2e}
            if i == 0:  # the peer once per .onnx, against webdnn's float32 outputs
                row.update(peer(make_ort, onnx_path, feeds, got, args))
            log(f"  {name} ({label}, {row['precision']}): webgpu {lat:.2f} ms, host→host {e2e:.2f}"
                + (f"; peer host→host {row['ort_e2e_ms']:.2f}" if "ort_e2e_ms" in row else ""))
            rows.append(row)
    return rows


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def gemm(n, runner, torch, dev, args, tmp: Path, tiles=None):
    from onnx import TensorProto, helper
    from webdnn import convert
    from webdnn.backend.webgpu import contraction
    g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"])], "gemm",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ta, tb = torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev)
    ty = ta @ tb
    t_lat, t_b2b = torch_time(torch, dev, lambda: ta @ tb, args.repeat, args.warmup)
    flop = 2.0 * n ** 3
    res = {"n": n, "torch_ms": t_b2b, "torch_tflops": flop / t_b2b / 1e9, "webgpu": []}
    pick = contraction.pick_tile
    shaders = {}
    warm = False
    for name in (tiles or [None]):
        d = tmp / f"gemm_{n}_{name or 'auto'}"
        if name is not None:
            contraction.pick_tile = lambda *_a, _t=contraction.TILES[name]: _t
        try:
            convert(model, d, backends=["webgpu"])
        finally:
            contraction.pick_tile = pick
        y = runner.run(d, {"a": a, "b": b}, backend="webgpu")["y"]
        err = rel_err(y, ty.cpu().numpy())
        if not warm:  # the GPU's clocks ramp up under load: the first configuration timed is not to pay for that
            end = time.perf_counter() + (0.2 if args.quick else 2.0)
            while time.perf_counter() < end:
                runner.run(d, {"a": a, "b": b}, backend="webgpu")
            warm = True
        _, b2b, _ = webgpu_time(runner, d, {"a": a, "b": b}, max(3, args.repeat // 2), args.warmup)
        code = json.loads((d / "graph_webgpu.json").read_text())["shaders"]
        same = next((k for k, c in shaders.items() if c == code), None)
        shaders[name or "auto"] = code
        entry = {"tile": name or "auto", "ms": b2b, "tflops": flop / b2b / 1e9, "rel_err": err,
                 "fraction_of_torch": t_b2b / b2b, **({"same_kernel_as": same} if same else {})}
        log(f"  gemm {n}³ tile {entry['tile']}: {b2b:.2f} ms {entry['tflops']:.2f} TFLOP/s "
            f"({entry['fraction_of_torch']:.0%} of torch {res['torch_tflops']:.2f}), rel err {err:.1e}")
        res["webgpu"].append(entry)
    res["best"] = max(res["webgpu"], key=lambda e: e["tflops"])
    return res


def model_bench(name, batch, image, runner, torch, dev, args, tmp: Path, make_ort=None):
    from models import build
    from webdnn import convert
    m = build(name)
    x = np.random.default_rng(1).standard_normal((batch, 3, image, image), dtype=np.float32)
    onnx_path = tmp / f"{name}_{batch}.onnx"
    with torch.no_grad():
        torch.onnx.export(m, torch.from_numpy(x), str(onnx_path), opset_version=13, dynamo=False,
                          input_names=["x"], output_names=["y"])
    d = tmp / f"{name}_{batch}"
    t0 = time.perf_counter()
    convert(str(onnx_path), d, backends=["webgpu"], input_shapes={"x": list(x.shape)})
    convert_s = time.perf_counter() - t0
    md = m.to(dev)
    tx = torch.from_numpy(x).to(dev)
    with torch.no_grad():
        ty = md(tx).float().cpu().numpy()
        t_lat, t_b2b = torch_time(torch, dev, lambda: md(tx), args.repeat, args.warmup)
        t_e2e, _ = torch_time(torch, dev, lambda: md(torch.from_numpy(x).to(dev)).cpu(), max(3, args.repeat // 4), 1)
    t0 = time.perf_counter()
    y = runner.run(d, {"x": x}, backend="webgpu")["y"]
    first_s = time.perf_counter() - t0
    lat, b2b, e2e = webgpu_time(runner, d, {"x": x}, args.repeat, args.warmup)
    graph = json.loads((d / "graph_webgpu.json").read_text())
    res = {"model": name, "batch": batch, "image": image, "rel_err": rel_err(y, ty),
           "dispatches": len(graph["dispatches"]), "shaders": len(graph["shaders"]), "bound_mb": bound_bytes(graph) / 2**20,
           "convert_s": convert_s, "first_run_s": first_s,
           "webgpu_latency_ms": lat, "webgpu_back_to_back_ms": b2b, "webgpu_e2e_ms": e2e,
           "torch_latency_ms": t_lat, "torch_back_to_back_ms": t_b2b, "torch_e2e_ms": t_e2e}
    res["latency_ratio"] = lat / t_lat
    res.update(peer(make_ort, onnx_path, {"x": x}, {"y": y}, args))
    if "ort_e2e_ms" in res:
        res["e2e_ratio"] = e2e / res["ort_e2e_ms"]
    log(f"  {name} b{batch}: webgpu {lat:.2f} ms (b2b {b2b:.2f}, e2e {e2e:.2f}) vs torch {t_lat:.2f} ms "
        f"(b2b {t_b2b:.2f}, e2e {t_e2e:.2f}): ratio {res['latency_ratio']:.2f}; rel err {res['rel_err']:.1e}; "
        f"{res['dispatches']} dispatches")
    return res


def markdown(r: dict) -> str:
    env = r["environment"]
    lines = ["# webgpu backend on a GPU: measurement", "",
             f"- adapter: {env['adapter'].get('device')} ({env['adapter'].get('backend_type')}, "
             f"{env['adapter'].get('adapter_type')}); torch {env['torch']} on {env['torch_device_name']}",
             f"- {env['when']}; repeat {r['args']['repeat']}, warm-up {r['args']['warmup']}; TF32 off",
             ""]
    if not env["gpu"]:
        lines += ["**The adapter is not a GPU: these timings check the script, they measure nothing.**", ""]
    g = r.get("gemm")
    if g:
        auto = next((e for e in g["webgpu"] if e["tile"] == "auto"), g["best"])
        lines += [f"## GEMM {g['n']}×{g['n']}×{g['n']} f32", "",
                  "| tile | ms | TFLOP/s | of torch | rel err |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {e['tile']}{' (= ' + e['same_kernel_as'] + ')' if e.get('same_kernel_as') else ''} | {e['ms']:.2f} | "
                  f"{e['tflops']:.3g} | {e['fraction_of_torch']:.0%} | {e['rel_err']:.1e} |" for e in g["webgpu"]]
        lines += [f"| torch (cuBLAS) | {g['torch_ms']:.2f} | {g['torch_tflops']:.3g} | 100% | |", "",
                  f"Target ≥ {TARGETS['gemm_fraction_of_torch']:.0%} of torch with the automatic tile choice: "
                  f"{'met' if auto['fraction_of_torch'] >= TARGETS['gemm_fraction_of_torch'] else 'NOT met'} "
                  f"({auto['fraction_of_torch']:.0%}; the best tile: {g['best']['tile']}, "
                  f"{g['best']['fraction_of_torch']:.0%}).", ""]
    if r.get("models"):
        lines += ["## Models, f32, latency per run (ms, median; input already on the GPU)", "",
                  "| model | batch | webgpu | torch eager | ratio | webgpu back-to-back | torch back-to-back | "
                  "webgpu host→host | torch host→host | dispatches | MB bound | rel err |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for m in r["models"]:
            lines.append(f"| {m['model']} | {m['batch']} | {m['webgpu_latency_ms']:.2f} | {m['torch_latency_ms']:.2f} | "
                         f"{m['latency_ratio']:.2f} | {m['webgpu_back_to_back_ms']:.2f} | {m['torch_back_to_back_ms']:.2f} | "
                         f"{m['webgpu_e2e_ms']:.2f} | {m['torch_e2e_ms']:.2f} | {m['dispatches']} | {m['bound_mb']:.1f} | "
                         f"{m['rel_err']:.1e} |")
        with_peer = [m for m in r["models"] if "ort_e2e_ms" in m]
        if with_peer:
            lines += ["", "The same models against onnxruntime's WebGPU EP, host→host (ms, median):", "",
                      "| model | batch | webdnn | onnxruntime WebGPU EP | ratio | EP rel diff |", "| --- | --- | --- | --- | --- | --- |"]
            lines += [f"| {m['model']} | {m['batch']} | {m['webgpu_e2e_ms']:.2f} | {m['ort_e2e_ms']:.2f}"
                      f"{' (CPU fallback)' if m['ort_cpu_fallback'] else ''} | {m['e2e_ratio']:.2f} | {m['ort_rel_err']:.1e} |"
                      for m in with_peer]
        r50 = [m for m in r["models"] if m["model"] == "resnet50" and m["batch"] == 1]
        if r50:
            ok = r50[0]["latency_ratio"] <= TARGETS["resnet50_b1_latency_ratio"]
            lines += ["", f"Target ResNet50 batch-1 latency ≤ {TARGETS['resnet50_b1_latency_ratio']}× torch eager: "
                          f"{'met' if ok else 'NOT met'} "
                          f"(ratio {r50[0]['latency_ratio']:.2f})."]
    if r.get("decode"):
        lines += ["", "## A language model's one-token step (GPT2-decode, batch 1)", "",
                  "| model | conversion | precision run | weights MB | webdnn GPU | webdnn host→host | EP host→host | dispatches |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for m in r["decode"]:
            ep = (f"{m['ort_e2e_ms']:.2f}{' (CPU fallback)' if m['ort_cpu_fallback'] else ''}"
                  if "ort_e2e_ms" in m else "")
            lines.append(f"| {m['model']} | {m['variant']} | {m['precision']} | {m['weight_mb']:.1f} | "
                         f"{m['webgpu_latency_ms']:.2f} | {m['webgpu_e2e_ms']:.2f} | {ep} | {m['dispatches']} |")
    if r.get("set"):
        lines += ["", "## The wasm benchmark's model set against onnxruntime's WebGPU EP (batch 1, f32)", "",
                  f"onnxruntime WebGPU EP: {r.get('peer') or 'measured'}.", "",
                  "| model | webdnn GPU | webdnn host→host | EP host→host | ratio (host→host) | EP rel diff | dispatches | MB bound |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for m in r["set"]:
            if "ort_e2e_ms" in m:
                peer_cols = (f"{m['ort_e2e_ms']:.2f}{' (CPU fallback)' if m['ort_cpu_fallback'] else ''} | "
                             f"{m['e2e_ratio']:.2f} | {m['ort_rel_err']:.1e}")
            else:
                peer_cols = "– | – | –"
            lines.append(f"| {m['model']} | {m['webgpu_latency_ms']:.2f} | {m['webgpu_e2e_ms']:.2f} | {peer_cols} | "
                         f"{m['dispatches']} | {m['bound_mb']:.1f} |")
        ratios = [m["e2e_ratio"] for m in r["set"] if "e2e_ratio" in m]
        if ratios:
            gm = float(np.exp(np.mean(np.log(ratios))))
            lines += ["", f"Geometric mean of the ratios: {gm:.2f} (target: every model ≤ 0.8)."]
        half = [m for m in r["set"] if "f16_latency_ms" in m]
        if half:
            lines += ["", "## --precision f16 against f32 (the same models, webdnn GPU time, ms, median)", "",
                      "| model | f32 | f16 | precision run | speed-up | rel diff to f32 |", "| --- | --- | --- | --- | --- | --- |"]
            lines += [f"| {m['model']} | {m['webgpu_latency_ms']:.2f} | {m['f16_latency_ms']:.2f} | {m['f16_precision_run']} | "
                      f"{m['f16_speedup']:.2f}× | {m['f16_rel_err']:.1e} |" for m in half]
            lines += ["", "Target: ≥ 1.4× on ResNet50 and DeiT-Tiny where the adapter has shader-f16."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(REPO / "bench" / "gpu" / "results"), help="directory for results.json / .md")
    p.add_argument("--quick", action="store_true", help="small sizes (GEMM 256, 64×64 images, batch 1, few repeats)")
    p.add_argument("--gemm", type=int, default=4096, help="GEMM size n (0: skip)")
    p.add_argument("--models", default="resnet50,mobilenetv2", help="comma-separated; empty: skip")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--image", type=int, default=224)
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--sweep-tiles", action="store_true", help="time the GEMM with every tile configuration")
    p.add_argument("--no-decode", dest="decode", action="store_false",
                   help="skip the language-model step (GPT2-decode: f32, f16, --weights int4, its MatMulNBits form)")
    p.add_argument("--set", default="ResNet50,MobileNetV2,SqueezeNet1.1,EfficientNet-B0,ConvNeXt-Tiny,DeiT-Tiny,Swin-T,"
                   "MobileViT-S,BERT-Small,YOLOv8n", help="models of bench/models.py against onnxruntime's WebGPU EP "
                   "(batch 1); empty: skip")
    p.add_argument("--f16", default="ResNet50,DeiT-Tiny", help="models of --set also timed converted with --precision f16")
    args = p.parse_args(argv)
    if args.quick:
        args.gemm, args.image, args.batches, args.repeat, args.warmup = min(args.gemm, 256), 64, "1", 3, 1
        args.set = "SqueezeNet1.1" if args.set == p.get_default("set") else args.set
        args.f16 = "SqueezeNet1.1" if args.f16 == p.get_default("f16") else args.f16
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import wgpu
    from webdnn.runners.native import NativeRunner
    from webdnn.backend.webgpu import contraction
    torch, dev = torch_setup()
    runner = NativeRunner()
    info = runner.adapter_info
    is_gpu = str(info.get("adapter_type", "")).upper() not in ("CPU", "UNKNOWN") and "llvmpipe" not in str(info.get("device"))
    env = {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "python": platform.python_version(),
           "platform": platform.platform(), "wgpu": wgpu.__version__,
           "adapter": {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in info.items()},
           "adapters": [str(a.info.get("device")) for a in wgpu.gpu.enumerate_adapters_sync()],
           "gpu": is_gpu, "torch": torch.__version__, "torch_device": dev,
           "torch_device_name": torch.cuda.get_device_name() if dev == "cuda" else platform.processor() or "cpu",
           "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}}
    log(f"adapter: {env['adapter'].get('device')} ({env['adapter'].get('backend_type')}); torch on {env['torch_device_name']}")
    if not is_gpu:
        log("warning: the wgpu adapter is not a GPU; timings check the script only")
    if dev != "cuda":
        log("warning: torch sees no CUDA device; it runs on the CPU")
    make_ort, why = ort_webgpu()
    if make_ort is None and args.quick:  # exercise the peer's code on onnxruntime's CPU EP, said as such
        import onnxruntime as ort
        log(f"onnxruntime WebGPU EP: {why}; --quick times onnxruntime's CPU EP in its place (a check of the script)")
        why = f"{why}: onnxruntime's CPU EP in its place (--quick: a check of the script, not a measurement)"
        make_ort = lambda path, fallback=False: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # noqa: E731
    elif make_ort is None:
        log(f"onnxruntime WebGPU EP: {why}; its columns are left out")
    results = {"environment": env, "args": vars(args), "targets": TARGETS, "peer": why}

    def save():  # after every measurement: a run cut short by its time limit keeps what it measured
        (out / "results.json").write_text(json.dumps(results, indent=1))
        (out / "results.md").write_text(markdown(results))

    with tempfile.TemporaryDirectory(prefix="webdnn-gpu-bench-") as tmp:
        tmp = Path(tmp)
        # what no GPU run has measured yet comes first: a run cut short by its limit keeps that
        results["set"] = []
        for name in [s for s in args.set.split(",") if s]:
            results["set"].append(set_bench(name, runner, make_ort, args, tmp))
            save()
        if args.decode:
            results["decode"] = decode_bench(runner, make_ort, args, tmp)
            save()
        if args.gemm:
            tiles = list(contraction.TILES) if args.sweep_tiles else None
            results["gemm"] = gemm(args.gemm, runner, torch, dev, args, tmp, (tiles or []) + [None] if tiles else None)
            save()
        results["models"] = []
        for name in [s for s in args.models.split(",") if s]:
            for b in [int(s) for s in args.batches.split(",") if s]:
                results["models"].append(model_bench(name, b, args.image, runner, torch, dev, args, tmp, make_ort))
                save()
    save()
    log(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    print(markdown(results))
    runner.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
