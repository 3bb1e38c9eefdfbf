"""The `webdnn` command: convert | run | verify | serve | demo | bench."""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from .errors import WebDNNError
from .ir.symbolic import parse
from .options import SizeRange


def parse_input_shapes(items) -> dict:
    """["x=1,3,224,224", "y=1,10"] → {"x": [1,3,224,224], ...}; a single unnamed shape is allowed;
    "seq=128" fixes a named dim, "seq=1..512" declares its range (options.SizeRange)."""
    shapes = {}
    for item in items or []:
        name, sep, dims = item.rpartition("=")
        dims = dims.strip().strip("()[]")
        if sep and ".." in dims:  # seq=1..512: the range a symbolic size may take
            lo, _, hi = dims.partition("..")
            try:
                shapes[name] = SizeRange(int(lo), int(hi))
            except (ValueError, WebDNNError) as e:
                raise WebDNNError(f"--input-shape {item!r}: expected NAME=LOW..HIGH (e.g. seq=1..512): {e}") from None
            continue
        try:  # a dim is a size or an expression of names (32*h: a multiple of 32 known at run time)
            shape = [int(d) if d.strip().isdigit() else parse(d.strip())
                     for d in (dims.split(",") if "," in dims else dims.replace("x", ",").split(",")) if d.strip()]
        except (ValueError, WebDNNError):
            raise WebDNNError(f"--input-shape {item!r}: expected NAME=D1,D2,... (e.g. x=1,3,224,224 or "
                              f"x=1,3,32*h,32*w)") from None
        shapes[name if sep else ""] = shape
    return shapes


def read_arrays(path, what: str) -> dict:
    """{name: array} from an .npz file, or {None: array} from an .npy file; a file numpy cannot read as
    such (missing, damaged, pickled objects, another format) is a one-line error naming `what`."""
    import numpy as np
    try:
        if str(path).endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        a = np.load(path, allow_pickle=False)
        if not isinstance(a, np.ndarray):
            raise ValueError("not an .npy array")
        return {None: a}
    except (OSError, ValueError, EOFError) as e:
        raise WebDNNError(f"{what}: cannot read {path} as a numpy .npy/.npz file ({e})") from None


def parse_constants(items) -> dict:
    """["rate=16000", "mask=m.npy"] → {"rate": array(16000), "mask": <m.npy>}: inputs pinned at conversion
    (a number, a comma-separated list of numbers, or an .npy file); the model's dtype is applied later."""
    import numpy as np
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise WebDNNError(f"--constant {item!r}: expected NAME=VALUE or NAME=FILE.npy")
        if value.endswith(".npy"):
            out[name] = read_arrays(value, f"--constant {name}")[None]
            continue
        try:
            nums = [float(v) if any(c in v.lower() for c in ".en") else int(v) for v in value.strip("[]()").split(",")]
        except ValueError:
            raise WebDNNError(f"--constant {item!r}: {value!r} is neither a number, a list of numbers nor an .npy file") from None
        out[name] = np.array(nums[0] if len(nums) == 1 and "," not in value else nums)
    return out


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_convert(args) -> int:
    from .converter import convert
    shapes = parse_input_shapes(args.input_shape)  # an unnamed shape ("") is resolved by the importer
    t0 = time.perf_counter()

    def progress(stage, detail=""):
        if not args.quiet:
            print(f"  [{time.perf_counter() - t0:6.2f}s] {stage:<9} {detail}", file=sys.stderr, flush=True)

    from .backend import BACKENDS
    from .options import ConvertOptions
    backends = tuple(b.strip() for b in args.backend.split(",") if b.strip()) if args.backend else BACKENDS
    options = ConvertOptions(backends=backends, input_shapes=shapes, constant_inputs=parse_constants(args.constant) or None,
                             weights=args.weights, precision=args.precision, force=args.force,
                             optional_backends=not args.backend, prototxt=args.prototxt,
                             webgl_max_texture=args.webgl_max_texture)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = convert(args.model, args.out, options, progress=progress)
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    for b, why in summary["left_out"].items():
        print(f"note: backend {b} left out: {why}", file=sys.stderr)
    print(f"converted {args.model} -> {summary['out']} in {summary['seconds']:.2f}s")
    def dims(t):  # the sizes the js and wasm backends bind at run time
        return f" (any size: [{', '.join(map(str, t['dims']))}])" if "dims" in t else ""

    for t in summary["inputs"]:
        print(f"  input  {t['name']}: {t['shape']} {t['dtype']}{dims(t)}")
    for t in summary["outputs"]:
        print(f"  output {t['name']}: {t['shape']} {t['dtype']}{dims(t)}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary["op_counts"].items(), key=lambda kv: -kv[1]))
    print(f"  ops: {summary['ops_before']} imported -> {summary['ops']} after optimization ({counts})")
    print(f"  params: {summary['params']:,}")
    for b, act in summary["activation_bytes"].items():
        print(f"  activations ({b}): {_fmt_bytes(act['planned_peak'])} planned peak (static plan with reuse) "
              f"vs {_fmt_bytes(act['sum'])} if every tensor had its own memory")
    for b, n in summary["bytes"].items():
        print(f"  backend {b}: {_fmt_bytes(n)} to download (model.json + graph + weights)")
    enc = ", ".join(f"{k} {_fmt_bytes(v)}" for k, v in sorted(summary["weight_bytes"].items()) if v)
    print(f"  weights: {enc or 'none stored'} (float32 would be {_fmt_bytes(4 * summary['params'])})")
    if summary.get("quantized") and summary["weight_bytes"].get("int8"):
        print("  quantized model: its 8-bit weights are stored as they are (int8, exactly), and the wasm and webgpu "
              "backends multiply them as --weights int8 does")
    if summary.get("quantized") and summary["weight_bytes"].get("int4") and args.weights != "int4":
        print("  quantized model: its 4-bit weights are stored as they are (int4, exactly); the wasm and webgpu "
              "backends keep those of MatMuls 4-bit in memory and multiply by them as stored, js decodes them at load")
    if summary["weight_error"] is not None:
        e = summary["weight_error"]
        print(f"  --weights {args.weights}: largest output change on a random input {e['max_abs']:.3g} "
              f"({100 * e['max_rel']:.3g} % of the largest output)")
    return 0


def _load_inputs(items, model) -> dict:
    names = [t["name"] for t in model["inputs"]]
    inputs = {}
    for i, item in enumerate(items or []):
        name, sep, path = item.partition("=")
        if not sep:
            name, path = (names[i] if i < len(names) else f"#{i}"), item
        if name not in names:
            raise WebDNNError(f"--input {item!r}: the model's inputs are {names}")
        arrays = read_arrays(path, f"--input {item}")
        if None in arrays:
            inputs[name] = arrays[None]
        else:
            inputs.update(arrays)
    missing = [n for n in names if n not in inputs]
    if missing:
        raise WebDNNError(f"missing input(s) {missing}; give --input NAME=FILE.npy for each")
    return inputs


def cmd_run(args) -> int:
    import numpy as np
    from .descriptor import read_model
    from .runners import get_runner
    model = read_model(args.descriptor)
    inputs = _load_inputs(args.input, model)
    if args.profile:
        if args.where != "node":
            raise WebDNNError("--profile runs in Node (--in node)")
        with get_runner("node", **_node_env(args)) as runner:
            kernels = runner.profile(args.descriptor, inputs, backend=args.backend)
            _print_profile(kernels, runner.last_backend, (runner.last_backend_info or {}).get("threads"))
        return 0
    with get_runner(args.where, **_node_env(args)) as runner:
        outs = runner.run(args.descriptor, inputs, backend=args.backend)
        ms = getattr(runner, "last_ms", None)
    print(f"ran {args.descriptor} on {args.backend} in {args.where}" + (f" ({ms:.1f} ms)" if ms is not None else ""))
    for name, a in outs.items():
        flat = a.reshape(-1)
        head = ", ".join(f"{v:.6g}" for v in flat[:8]) + (", ..." if flat.size > 8 else "")
        extra = f"  argmax {int(np.argmax(flat))}" if flat.size > 1 and a.dtype.kind == "f" else ""
        print(f"  {name}: {list(a.shape)} {a.dtype} [{head}]{extra}")
    if args.output:
        out = Path(args.output)
        if out.suffix == ".npz" or len(outs) > 1:
            np.savez(out.with_suffix(".npz"), **outs)
            print(f"saved {out.with_suffix('.npz')}")
        else:
            np.save(out, next(iter(outs.values())))
            print(f"saved {out}")
    return 0


def _node_env(args) -> dict:
    """The Node host's environment: --threads sets the wasm backend's thread count."""
    import os
    if args.threads is None:
        return {}
    if args.where != "node":
        raise WebDNNError("--threads sets the wasm backend's threads in Node (--in node); a page takes "
                          "backendOptions: {wasm: {threads}}")
    if args.threads < 1:
        raise WebDNNError(f"--threads must be 1 or more, not {args.threads}")
    return {"env": {**os.environ, "WEBDNN_WASM_THREADS": str(args.threads)}}


def _print_profile(kernels, backend, threads=None) -> None:
    """Time per op kind (a contraction with a fused epilogue is its own kind), then the slowest kernels."""
    total = sum(ms for _, ms in kernels) or 1.0
    kinds: dict[str, list[float]] = {}
    for label, ms in kernels:
        kind = label.split(" ", 1)[0] + (" + epilogue" if " + " in label else "")
        kinds.setdefault(kind, []).append(ms)
    on = f"{backend}, {threads} thread{'s' if threads != 1 else ''}" if threads else backend
    print(f"profile on {on}: {len(kernels)} kernels, {total:.2f} ms in all (each kernel alone, median of 5 passes)")
    print(f"  {'op kind':<24} {'kernels':>7} {'ms':>9} {'share':>6}")
    for kind, mss in sorted(kinds.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {kind:<24} {len(mss):>7} {sum(mss):>9.2f} {sum(mss) / total:>6.1%}")
    print("  slowest kernels:")
    for label, ms in sorted(kernels, key=lambda k: -k[1])[:10]:
        print(f"    {ms:>8.2f} ms  {label}")


def cmd_verify(args) -> int:
    from .verify import PLACES, format_rows, verify
    places = [w.strip() for w in args.where.split(",") if w.strip()]
    bad = [w for w in places if w not in PLACES]
    if bad:
        raise WebDNNError(f"--in {args.where!r}: unknown place(s) {bad}; places: {', '.join(PLACES)}")
    inputs = {}
    for item in args.input or []:
        name, sep, path = item.partition("=")
        if not sep:
            raise WebDNNError(f"--input {item!r}: expected NAME=FILE.npy")
        arrays = read_arrays(path, f"--input {item}")
        if None not in arrays:
            raise WebDNNError(f"--input {item!r}: expected NAME=FILE.npy (one array)")
        inputs[name] = arrays[None]
    backends = tuple(b.strip() for b in args.backend.split(",") if b.strip()) if args.backend else None
    rows = verify(args.model, args.out, backends, places, parse_input_shapes(args.input_shape) or None,
                  parse_constants(args.constant) or None, inputs, args.seed, args.repeat, prototxt=args.prototxt)
    print(format_rows(rows))
    ran = [r for r in rows if r.result != "skipped"]
    if not ran:
        raise WebDNNError("nothing could run: " + "; ".join(f"{r.where}: {r.note}" for r in rows) if rows
                          else "the descriptor has none of the asked backends")
    failed = [r for r in ran if r.result != "pass"]
    print(f"{len(ran) - len(failed)} of {len(ran)} passed" + (f", {len(rows) - len(ran)} skipped" if len(rows) > len(ran) else ""))
    return 1 if failed else 0


def cmd_serve(args) -> int:
    from .serve import serve_forever
    serve_forever(Path(args.descriptor), args.port)
    return 0


def cmd_demo(args) -> int:
    from .demo import main as demo_main
    return demo_main(out=Path(args.out), where=args.where.split(","))


class _Parser(argparse.ArgumentParser):
    """No abbreviated options (`--input-shap` is a typo, not --input-shape); the subcommands' parsers
    are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .backend import BACKENDS
    p = _Parser(prog="webdnn", description="Run trained neural networks in the web browser.")
    p.add_argument("--version", action="version", version=f"webdnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("convert", help="convert a model file into a descriptor directory")
    c.add_argument("model", help="model file (.onnx, Keras .h5 / .keras, or Caffe .caffemodel)")
    c.add_argument("--prototxt", metavar="FILE", help="the network definition of a Caffe .caffemodel (deploy.prototxt)")
    c.add_argument("-o", "--out", required=True, help="output descriptor directory")
    c.add_argument("--backend", help="comma-separated backends to generate (default: every backend that can take "
                                      "the model: " + ",".join(BACKENDS) + ")")
    c.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,...",
                   help="set the shape of an input whose dims the model leaves open (repeatable), "
                        "e.g. --input-shape x=1,3,224,224")
    c.add_argument("--constant", action="append", metavar="NAME=VALUE|FILE.npy",
                   help="pin an input to a value at conversion (repeatable): it is folded into the model and is no "
                        "longer an input, e.g. --constant sample_rate=16000")
    c.add_argument("--weights", default="raw", choices=["raw", "f16", "int8", "int4"],
                   help="weight encoding: raw float32 (default), f16, int8 (a scale per channel) or int4 (a scale per "
                        "32 values); the quantized ones store float32 weights of 256 values or more")
    c.add_argument("--precision", default="f32", choices=["f32", "f16"],
                   help="webgpu storage precision: f16 runs in half precision where the GPU has shader-f16, "
                        "f32 elsewhere (default f32)")
    c.add_argument("--webgl-max-texture", type=int, metavar="N",
                   help="the largest texture side a webgl descriptor asks of the device (default 2048, what every WebGL2 device has; larger "
                        "tensors span several textures)")
    c.add_argument("--force", action="store_true",
                   help="write into a non-empty folder that holds no descriptor (files of the same name are replaced, "
                        "no other file is touched)")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    c.set_defaults(fn=cmd_convert)

    r = sub.add_parser("run", help="run a descriptor through the JavaScript runtime")
    r.add_argument("descriptor")
    r.add_argument("--input", action="append", metavar="[NAME=]FILE.npy", help="input array(s) (.npy or .npz)")
    r.add_argument("--output", help="save the output(s) to this .npy (.npz for several)")
    r.add_argument("--backend", default="js")
    r.add_argument("--in", dest="where", default="node", choices=["node", "chromium", "native"],
                   help="where the runtime runs (default node; native: the webgpu backend through wgpu)")
    r.add_argument("--profile", action="store_true",
                   help="time every kernel alone and print the time per op kind (wasm backend, in Node)")
    r.add_argument("--threads", type=int, default=None,
                   help="the wasm backend's threads in Node (default: the core count)")
    r.set_defaults(fn=cmd_run)

    v = sub.add_parser("verify", help="convert a model and check it on every backend, in Node, Chromium and natively, "
                                      "against onnxruntime (or the numpy references)")
    v.add_argument("model", help="model file (.onnx, Keras .h5 / .keras, Caffe .caffemodel) or a descriptor directory")
    v.add_argument("--prototxt", metavar="FILE", help="as for convert")
    v.add_argument("-o", "--out", help="keep the descriptor here (default: a temporary folder)")
    v.add_argument("--backend", help="comma-separated backends (default: every backend that can take the model)")
    v.add_argument("--in", dest="where", default="node,chromium,native",
                   help="where to run, comma-separated (default node,chromium,native; a place not installed is skipped)")
    v.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,...", help="as for convert")
    v.add_argument("--constant", action="append", metavar="NAME=VALUE|FILE.npy", help="as for convert")
    v.add_argument("--input", action="append", metavar="NAME=FILE.npy", help="an input to use instead of a seeded one")
    v.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    v.add_argument("--repeat", type=int, default=5, help="timed runs per backend, the median is shown (default 5)")
    v.set_defaults(fn=cmd_verify)

    s = sub.add_parser("serve", help="serve a descriptor directory on 127.0.0.1 (COOP/COEP headers set)")
    s.add_argument("descriptor")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(fn=cmd_serve)

    d = sub.add_parser("demo", help="convert the bundled digits classifier and run it on every backend")
    d.add_argument("--out", default="out/digits", help="where to write the descriptor and demo page")
    d.add_argument("--in", dest="where", default="node,chromium", help="where to run: node, chromium or both")
    d.set_defaults(fn=cmd_demo)

    from .bench import add_parser as add_bench_parser
    add_bench_parser(sub)
    return p


def one_line_errors(fn, *args) -> int:
    """Run a command: a user's error is one `error:` line (exit 2); a defect of webdnn's is one line
    too (exit 1), with the whole traceback on request (WEBDNN_DEBUG=1)."""
    try:
        return fn(*args)
    except WebDNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if os.environ.get("WEBDNN_DEBUG"):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"error: internal error ({type(e).__name__}: {first}); set WEBDNN_DEBUG=1 to see the traceback "
              f"and please report it", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the subcommand's parser, with its usage and the option probably meant
        import difflib
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
        known = [o for a in sub._actions for o in a.option_strings]
        hints = [f"{x} (did you mean {m[0]}?)" if (m := difflib.get_close_matches(x.split("=")[0], known, 1)) else x
                 for x in extra]
        sub.error(f"unrecognized arguments: {' '.join(hints)}")
    return one_line_errors(args.fn, args)
