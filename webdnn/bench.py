"""`webdnn bench`: webdnn against onnxruntime-web, side by side, in ONE headless Chromium.

For each model (bench/models.py: ResNet50, MobileNetV2, SqueezeNet1.1, random weights) it converts
the same .onnx file with webdnn, then times in a fresh cross-origin-isolated page each webdnn
backend and onnxruntime-web's wasm backend (with 1 and with N threads): load time, first run,
median and min of the timed runs after warm-up, and the bytes a page downloads (code, weights);
then both wasm runtimes in one page, their runs alternating, for a per-pair latency ratio.
It writes docs/benchmarks.md (with the command that made it) and a log-scale bar chart.

onnxruntime-web comes from npm (`npm ci` in bench/); its own .wasm files are served from
bench/node_modules through the local server. matplotlib draws the chart (a bench-only dependency).
"""
from __future__ import annotations

import datetime
import gzip
import importlib.util
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from . import __version__
from .errors import WebDNNError

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
ORT_DIST = BENCH / "node_modules" / "onnxruntime-web" / "dist"
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def _models_module():
    spec = importlib.util.spec_from_file_location("webdnn_bench_models", BENCH / "models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _gz(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), 9))


def _cpu_name() -> str:
    """"AMD EPYC (family 23, model 1, 2.0 GHz, AVX2)": a virtual machine may report only the brand, and
    the generation (family/model), clock and vector width are what ratios depend on."""
    try:
        info = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
        name = info.get("model name", "")
        if name:
            flags = info.get("flags", "").split()
            vec = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "AVX" if "avx" in flags else ""
            extra = [f"family {info['cpu family']}, model {info['model']}" if "cpu family" in info else "",
                     f"{float(info['cpu MHz']) / 1000:.1f} GHz" if info.get("cpu MHz") else "", vec]
            return f"{name} ({', '.join(e for e in extra if e)})" if any(extra) else name
    except (OSError, ValueError):
        pass
    return platform.processor() or platform.machine()


def webdnn_bytes(desc: Path, backend: str, runtime: Path) -> dict:
    """What a page downloads for one backend: code (runtime script, model.json, graph file(s)) and weights."""
    model = json.loads((desc / "model.json").read_text())
    code_files = [runtime / "webdnn.min.js", desc / "model.json", *sorted(desc.glob(f"graph_{backend}.*"))]
    if backend == "wasm":  # a page downloads one of the two modules: Chromium takes the relaxed-SIMD one
        g = json.loads((desc / "graph_wasm.json").read_text())
        skip = g["module"] if g.get("moduleRelaxed") else g.get("moduleRelaxed")
        code_files = [f for f in code_files if f.name != skip]
    weights = sum(model["weights"][i]["bytes"] for i in model["backends"][backend]["weights"])
    return {"code": sum(f.stat().st_size for f in code_files), "code_gz": sum(_gz(f) for f in code_files),
            "weights": weights}


def ort_bytes(onnx_path: Path) -> dict:
    files = [ORT_DIST / f for f in ORT_FILES]
    return {"code": sum(f.stat().st_size for f in files), "code_gz": sum(_gz(f) for f in files),
            "weights": onnx_path.stat().st_size}


def write_inputs(mods, onnx_path: Path, where: Path, url: str) -> list[dict]:
    """The model's inputs (bench/models.py feeds(): the same data for both frameworks) as raw files the
    page fetches: [{name, shape, dtype, url}]."""
    import onnx
    where.mkdir(parents=True, exist_ok=True)
    specs = []
    for name, a in mods.feeds(onnx.load(str(onnx_path), load_external_data=False)).items():
        f = where / f"{len(specs)}.bin"
        f.write_bytes(a.tobytes())
        specs.append({"name": name, "shape": list(a.shape), "dtype": str(a.dtype), "url": f"{url}{f.name}"})
    return specs


def prepare(work: Path, names, backends, say, encodings=()) -> dict:
    """-> {model: (onnx path, descriptor dir, input specs, [converted backends], {encoding: weight_error})}.
    encodings: weight encodings besides raw to convert the wasm backend with ({name}.wasm.{encoding})."""
    from .converter import convert
    mods = _models_module()
    paths = mods.write_all(work / "onnx")
    out = {}
    for name in names:
        if name not in paths:
            raise WebDNNError(f"unknown benchmark model {name!r}; known: {', '.join(paths)}")
        desc = work / "webdnn" / name
        done = []
        for b in backends:  # one backend at a time: a backend that cannot convert it is reported, not fatal
            t0 = time.perf_counter()
            try:
                convert(paths[name], work / "webdnn" / f"{name}.{b}", backends=[b], force=True)
                done.append(b)
                say(f"converted {name} for {b} in {time.perf_counter() - t0:.1f} s")
            except Exception as e:  # noqa: BLE001 - reported in the results
                say(f"cannot convert {name} for {b}: {type(e).__name__}: {e}")
        errors = {}
        for enc in (encodings if "wasm" in done else ()):
            try:
                r = convert(paths[name], work / "webdnn" / f"{name}.wasm.{enc}", backends=["wasm"], weights=enc, force=True)
                errors[enc] = r["weight_error"]
                say(f"converted {name} for wasm with --weights {enc}")
            except Exception as e:  # noqa: BLE001 - reported in the results
                say(f"cannot convert {name} for wasm with --weights {enc}: {type(e).__name__}: {e}")
        inputs = write_inputs(mods, Path(paths[name]), work / "inputs" / name, f"/work/inputs/{name}/")
        out[name] = (Path(paths[name]), desc, inputs, done, errors)
    return out


def run_all(args) -> dict:
    from playwright.sync_api import sync_playwright

    from .runners import runtime_dist
    from .runners.chromium import CHROMIUM, DEFAULT_ARGS
    from .serve import Server

    if not (ORT_DIST / "ort.wasm.min.js").is_file():
        raise WebDNNError(f"onnxruntime-web is not installed: run `npm ci` in {BENCH}")
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if not args.quiet else (lambda m: None)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    names = [m for m in args.models.split(",") if m] or list(_models_module().MODELS)
    backends = [b for b in args.backends.split(",") if b]
    cores = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    load_before = _loadavg()
    encodings = [e for e in (getattr(args, "weights", "") or "").split(",") if e and e != "raw"]
    models = prepare(work, names, backends, say, encodings)
    runtime = runtime_dist()
    server = Server(BENCH, mounts={"/webdnn/": runtime, "/ort/": ORT_DIST, "/work/": work}).start()
    results, paired, weights = [], [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(DEFAULT_ARGS), headless=True)
            version = browser.version

            def measure(fn, req):
                page = browser.new_page()
                try:
                    page.goto(server.url + "bench.html", wait_until="load")
                    if not page.evaluate("self.crossOriginIsolated"):
                        raise WebDNNError("the benchmark page is not cross-origin isolated")
                    # evaluate() itself never times out: the page races the measurement against a timer
                    return page.evaluate(f"""(r) => Promise.race([{fn}(r), new Promise((_, reject) => setTimeout(
                        () => reject(new Error('timed out after {args.timeout:g} s')), {args.timeout * 1000}))])""", req)
                finally:
                    page.close()

            for name, (onnx_path, _, inputs, done, errors) in models.items():
                common = {"inputs": inputs, "warmup": args.warmup, "repeat": args.repeat}
                configs = []
                for b in done:
                    for t in (threads if b == "wasm" else [1]):
                        configs.append(("webdnn", b, t))
                configs += [("onnxruntime-web", "wasm", t) for t in threads]
                for fw, b, t in configs:
                    say(f"{name}: {fw} {b} {t} thread(s) ...")
                    try:
                        if fw == "webdnn":
                            desc = work / "webdnn" / f"{name}.{b}"
                            r = measure("benchWebdnn", {**common, "url": f"/work/webdnn/{name}.{b}/", "backend": b,
                                                        "threads": t})
                            size = webdnn_bytes(desc, b, runtime)
                        else:
                            r = measure("benchOrt", {**common, "url": f"/work/onnx/{name}.onnx", "threads": t})
                            size = ort_bytes(onnx_path)
                    except Exception as e:  # noqa: BLE001 - a failed configuration is reported
                        say(f"  failed: {e}")
                        results.append({"model": name, "framework": fw, "backend": b, "threads": t,
                                        "error": str(e).splitlines()[0][:200]})
                        continue
                    r.pop("runs", None)
                    results.append({"model": name, "framework": fw, "backend": b, "threads": t, **r, **size})
                    say(f"  load {r['loadMs']:.0f} ms, first {r['firstMs']:.0f} ms, median {r['median']:.1f} ms, "
                        f"min {r['min']:.1f} ms")
                for t in (threads if "wasm" in done else []):
                    say(f"{name}: webdnn wasm and onnxruntime-web wasm alternating, {t} thread(s) ...")
                    try:
                        r = measure("benchPaired", {**common, "webdnnUrl": f"/work/webdnn/{name}.wasm/",
                                                    "onnxUrl": f"/work/onnx/{name}.onnx", "threads": t})
                    except Exception as e:  # noqa: BLE001 - reported, the separate rows still stand
                        say(f"  failed: {e}")
                        continue
                    paired.append({"model": name, "threads": t, **r})
                    say(f"  webdnn {r['webdnnMedian']:.1f} ms, onnxruntime-web {r['ortMedian']:.1f} ms, "
                        f"median ratio {r['ratioMedian']:.2f}")
                for enc in errors:
                    for t in threads:
                        say(f"{name}: webdnn wasm with raw and with {enc} weights alternating, {t} thread(s) ...")
                        try:
                            r = measure("benchPairedWebdnn", {**common, "urls": [f"/work/webdnn/{name}.wasm/",
                                                                                 f"/work/webdnn/{name}.wasm.{enc}/"],
                                                              "threads": t})
                        except Exception as e:  # noqa: BLE001 - reported, the other rows still stand
                            say(f"  failed: {e}")
                            continue
                        sizes = [webdnn_bytes(work / "webdnn" / f"{name}.wasm{x}", "wasm", runtime)["weights"]
                                 for x in ("", f".{enc}")]
                        weights.append({"model": name, "threads": t, "weights": enc, **r, "rawBytes": sizes[0],
                                        "bytes": sizes[1], "error": errors[enc]})
                        say(f"  raw {r['medians'][0]:.1f} ms, {enc} {r['medians'][1]:.1f} ms, "
                            f"median ratio {r['ratioMedian']:.2f}, output cosine {r['cosine']:.5f}")
            browser.close()
    finally:
        server.close()
    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "cpu": _cpu_name(), "cores": cores,
            "load": [load_before, _loadavg()],
            "chromium": version, "webdnn": __version__, "ort": _ort_version(), "warmup": args.warmup,
            "repeat": args.repeat, "command": args.command_line}
    return {"meta": meta, "results": results, "paired": paired, "weights": weights}


def _loadavg():
    try:
        return round(os.getloadavg()[0], 1)
    except (OSError, AttributeError):
        return None


def _ort_version() -> str:
    try:
        return json.loads((ORT_DIST.parent / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def _label(r) -> str:
    if r["framework"] == "webdnn":
        return f"webdnn {r['backend']}" + (f" ×{r['threads']}" if r["backend"] == "wasm" else "")
    return f"onnxruntime-web wasm ×{r['threads']}"


def _kb(n) -> str:
    return f"{n / 1024:,.0f} KB" if n < 10 * 2**20 else f"{n / 2**20:,.1f} MB"


def ratios(results, paired=()) -> list[dict]:
    """webdnn wasm vs onnxruntime-web wasm at equal thread counts (the latency ratio from the alternating
    runs where there are some)."""
    ort = {(r["model"], r["threads"]): r for r in results if r["framework"] != "webdnn" and "error" not in r}
    pair = {(r["model"], r["threads"]): r["ratioMedian"] for r in paired}
    out = []
    for r in results:
        if r["framework"] == "webdnn" and r["backend"] == "wasm" and "error" not in r:
            o = ort.get((r["model"], r["threads"]))
            if o:
                out.append({"model": r["model"], "threads": r["threads"], "median": r["median"] / o["median"],
                            "paired": pair.get((r["model"], r["threads"])),
                            "min": r["min"] / o["min"],
                            "cold": (r["loadMs"] + r["firstMs"]) / (o["loadMs"] + o["firstMs"]),
                            "code_gz": r["code_gz"], "ort_code_gz": o["code_gz"]})
    return out


def measured_command(argv: list[str]) -> str:
    """The command line as the report shows it: what was measured, without where the files went
    (--out, --png, --work)."""
    out, skip = ["webdnn", "bench"], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--out", "--png", "--work"):
            skip = True
        elif not a.startswith(("--out=", "--png=", "--work=")):
            out.append(shlex.quote(a))
    return " ".join(out)


def write_markdown(data: dict, path: Path, png: Path | None) -> None:
    meta, results = data["meta"], data["results"]
    L = ["# Benchmarks: webdnn vs onnxruntime-web", "",
         f"Made by `{meta['command']}` on {meta['date']}: {meta['cpu']} ({meta['cores']} cores), headless Chromium "
         f"{meta['chromium']}, webdnn {meta['webdnn']}, onnxruntime-web {meta['ort']} (npm). One browser session; each "
         f"row is measured in a fresh cross-origin-isolated page. Times in ms: load (`WebDNN.load` / "
         f"`InferenceSession.create`, downloads included, from the local server), the first run, then the median and "
         f"the minimum of {meta['repeat']} runs after {meta['warmup']} warm-up runs (the browser first runs baseline wasm "
         f"code and compiles the optimized code of hot functions in the background, for both runtimes; the warm-up lets "
         f"that finish, and the first run is reported apart). Models: bench/models.py "
         f"(architectures from their papers, random weights; bench/README.md lists them with their inputs), batch 1; "
         f"the same .onnx file and the same input data for both. "
         f"Code is what a page downloads besides weights (runtime script, graph and wasm files; for onnxruntime-web "
         f"ort.wasm.min.js, its .mjs loader and its .wasm), gzip -9 in parentheses.", ""]
    load = meta.get("load") or [None, None]
    if load[0] is not None:
        L += [f"The machine's load average was {load[0]} before and {load[1]} after the run ({meta['cores']} cores; "
              f"the benchmark's own threads count in it): a median can include runs that waited for a core; the "
              f"minimum is the least disturbed run. Compare ratios of the same column, taken in the same session.", ""]
    if png is not None:
        L += [f"![median latency, log scale]({os.path.relpath(png, path.parent)})", ""]
    L += ["Where the time goes, per op kind, for the models that were slowest against onnxruntime-web, before and "
          "after the kernel work on them: [profiles.md](profiles.md) (`webdnn run OUT --backend wasm --profile`).", "",
          "What symbolic sizes (one descriptor for any batch size or sequence length) cost against the fixed "
          "export: [dynamic.md](dynamic.md) (`python bench/dynamic.py`).", ""]
    paired = data.get("paired") or []
    rs = ratios(results, paired)
    if rs:
        L += ["## webdnn wasm / onnxruntime-web wasm (same thread count)", "",
              "The latency ratio from the alternating runs (below) is the headline; the others are from separate "
              "pages.", "",
              "| model | threads | latency ratio, alternating runs | median latency ratio, separate pages | "
              "min latency ratio | cold start ratio (load + first run) |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for r in rs:
            pr = f"{r['paired']:.2f}" if r["paired"] is not None else "–"
            L.append(f"| {r['model']} | {r['threads']} | {pr} | {r['median']:.2f} | {r['min']:.2f} | {r['cold']:.2f} |")
        L.append("")
        L += ["## Targets (issue #12)", "", "| target | measured | reached |", "| --- | --- | --- |"]
        for t in sorted({r["threads"] for r in rs}):
            vs = [(r["model"], r["paired"] if r["paired"] is not None else r["median"]) for r in rs if r["threads"] == t]
            for model, v in vs:
                L.append(f"| {model} ×{t}: latency ≤ 0.8× onnxruntime-web | {v:.2f}× | {'yes' if v <= 0.8 else 'no'} |")
            gm = math.exp(sum(math.log(v) for _, v in vs) / len(vs))
            L.append(f"| geometric mean over {len(vs)} models ×{t}: ≤ 0.6× | {gm:.2f}× | {'yes' if gm <= 0.6 else 'no'} |")
        L.append("")
    if paired:
        L += ["## Alternating runs in one page", "",
              f"webdnn wasm and onnxruntime-web wasm loaded in the same page at the same thread count, then "
              f"{meta['repeat']} pairs of runs (after {meta['warmup']} warm-up pairs), the two sides alternating. "
              f"A slow spell of the machine slows both runs of a pair, so the median of the per-pair ratios is the "
              f"steadiest comparison here.", "",
              "| model | threads | webdnn median | onnxruntime-web median | webdnn min | onnxruntime-web min | "
              "median of per-pair ratios |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in paired:
            L.append(f"| {r['model']} | {r['threads']} | {r['webdnnMedian']:,.1f} | {r['ortMedian']:,.1f} | "
                     f"{r['webdnnMin']:,.1f} | {r['ortMin']:,.1f} | {r['ratioMedian']:.2f} |")
        L.append("")
    for enc in dict.fromkeys(r["weights"] for r in data.get("weights") or []):
        L += [f"## --weights {enc} on wasm", "",
              f"The same model converted for wasm with float32 weights and with `--weights {enc}`, both loaded in one "
              f"page at the same thread count, {meta['repeat']} pairs of runs alternating (after {meta['warmup']} "
              f"warm-up pairs). Speed-up: float32 time / {enc} time, the median of the per-pair ratios. Cosine: the "
              f"least cosine similarity of an output of the {enc} descriptor to the float32 one's on the benchmark "
              f"input, both run by the wasm backend (the weights' rounding and, for int8, the activations' in the 8-bit "
              f"products). Weight change: the largest difference the encoding of the weights alone makes to the "
              f"outputs on a seeded random input, relative to the largest output (the converter's report).", "",
              f"| model | threads | float32 median | {enc} median | speed-up | weights float32 | weights {enc} | "
              f"cosine | weight change |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in data["weights"]:
            if r["weights"] == enc:
                err = f"{r['error']['max_rel'] * 100:.2f} %" if r.get("error") else "–"
                cos = f"{r['cosine']:.5f}" if r.get("cosine") is not None else "–"
                L.append(f"| {r['model']} | {r['threads']} | {r['medians'][0]:,.1f} | {r['medians'][1]:,.1f} | "
                         f"{1 / r['ratioMedian']:.2f}× | {_kb(r['rawBytes'])} | {_kb(r['bytes'])} | {cos} | {err} |")
        L.append("")
    for model in dict.fromkeys(r["model"] for r in results):
        L += [f"## {model}", "", "| runtime | load | first run | median | min | code (gzip) | weights |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in results:
            if r["model"] != model:
                continue
            if "error" in r:
                L.append(f"| {_label(r)} | failed: {r['error']} | | | | | |")
                continue
            L.append(f"| {_label(r)} | {r['loadMs']:,.0f} | {r['firstMs']:,.0f} | {r['median']:,.1f} | {r['min']:,.1f} | "
                     f"{_kb(r['code'])} ({_kb(r['code_gz'])}) | {_kb(r['weights'])} |")
        L.append("")
    path.write_text("\n".join(L) + "\n")


def write_chart(data: dict, png: Path) -> bool:
    """Grouped bars (one group per model), median latency on a log axis."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed (pip install matplotlib); no chart drawn", file=sys.stderr)
        return False
    ok = [r for r in data["results"] if "error" not in r]
    models = list(dict.fromkeys(r["model"] for r in ok))
    labels = list(dict.fromkeys(_label(r) for r in ok))
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(models) + 2), 4.2), dpi=120)
    width = 0.8 / max(1, len(labels))
    colors = plt.cm.tab10.colors
    for i, lab in enumerate(labels):
        xs, ys = [], []
        for j, m in enumerate(models):
            r = next((r for r in ok if r["model"] == m and _label(r) == lab), None)
            if r:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(r["median"])
        ax.bar(xs, ys, width, label=lab, color=colors[i % len(colors)])
    ax.set_yscale("log")
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models)
    ax.set_ylabel("median latency per image [ms] (log scale)")
    ax.set_title(f"Inference time in headless Chromium ({data['meta']['cores']} cores)")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return True


def main(args) -> int:
    data = run_all(args)
    out = Path(args.out)
    png = Path(args.png) if args.png else None
    if png is not None and not write_chart(data, png):
        png = None
    write_markdown(data, out, png)
    (Path(args.work) / "results.json").write_text(json.dumps(data, indent=1))
    print(f"wrote {out}" + (f" and {png}" if png else ""))
    for r in ratios(data["results"], data["paired"]):
        pr = f", alternating {r['paired']:.2f}×" if r["paired"] is not None else ""
        print(f"  {r['model']:<14} ×{r['threads']}: median {r['median']:.2f}×{pr} onnxruntime-web, "
              f"cold start {r['cold']:.2f}×")
    return 0


def add_parser(sub) -> None:
    b = sub.add_parser("bench", help="benchmark webdnn against onnxruntime-web in headless Chromium")
    b.add_argument("--models", default="", help="comma-separated (bench/models.py; default: all of them)")
    b.add_argument("--backends", default="wasm,js,webgpu", help="webdnn backends to time: wasm, js, webgpu, webgl (default wasm,js,webgpu)")
    b.add_argument("--threads", default="", help="wasm thread counts, e.g. 1,2 (default: 1 and the core count)")
    b.add_argument("--weights", default="raw",
                   help="weight encodings to time on wasm, e.g. raw,int8: each one besides raw is timed against raw "
                        "in one page, runs alternating (default raw)")
    b.add_argument("--repeat", type=int, default=20, help="timed runs after warm-up (default 20)")
    b.add_argument("--warmup", type=int, default=10,
                   help="untimed runs before (default 10: the browser runs a wasm function's baseline code until it "
                        "is hot and compiles its optimized code in the background, so a small model's first runs "
                        "time the compiler as much as the model)")
    b.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"))
    b.add_argument("--png", default=str(REPO / "docs" / "benchmarks.png"), help="chart ('' for none)")
    b.add_argument("--work", default=str(REPO / "out" / "bench"), help="models and descriptors go here")
    b.add_argument("--timeout", type=float, default=600, help="seconds one configuration may take (default 600)")
    b.add_argument("-q", "--quiet", action="store_true")

    def run(args):
        args.command_line = measured_command(sys.argv[2:])
        return main(args)
    b.set_defaults(fn=run)
