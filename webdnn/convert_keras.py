"""The original WebDNN command line for Keras models, on top of webdnn.converter.convert():

    python ./bin/convert_keras.py resnet50.h5 --input_shape '(1,224,224,3)' --out output
    python -m webdnn.convert_keras resnet50.h5 --input_shape '(1,224,224,3)' --out output

Reads .h5 (Keras 2, or Keras 3's legacy writer) and .keras files without TensorFlow or Keras.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

from .errors import WebDNNError

# the original's backend names, and ours
BACKEND_NAMES = {"webgpu": "webgpu", "webgl": "webgl", "webassembly": "wasm", "wasm": "wasm", "fallback": "js", "js": "js"}


def _backends(spec: str | None) -> list[str]:
    from .backend import BACKENDS
    if spec is None:
        return list(BACKENDS)
    wanted, unknown = [], []
    for name in (s.strip() for s in spec.split(",") if s.strip()):
        b = BACKEND_NAMES.get(name.lower())
        if b is None:
            unknown.append(name)
        elif b not in wanted:
            wanted.append(b)
    if unknown:
        raise WebDNNError(f"unknown backend(s) {unknown}; known: {', '.join(BACKEND_NAMES)}")
    missing = [b for b in wanted if b not in BACKENDS]
    if missing:
        print(f"note: backend(s) {missing} are not available in this version; generating {[b for b in wanted if b in BACKENDS]}",
              file=sys.stderr)
    wanted = [b for b in wanted if b in BACKENDS]
    if not wanted:
        raise WebDNNError(f"none of the requested backends is available; available: {', '.join(BACKENDS)}")
    return wanted


def _input_shapes(shapes: list[str] | None):
    """--input_shape values as the importer's input_shapes: {name: shape} when every one is named,
    {"": shape} for one unnamed shape, or a list of shapes in the model's input order."""
    if not shapes:
        return None
    from .cli import parse_input_shapes
    parsed = [next(iter(parse_input_shapes([s]).items())) for s in shapes]
    named = [name != "" for name, _ in parsed]
    if all(named) or len(parsed) == 1:
        return dict(parsed)
    if any(named):
        raise WebDNNError("give every --input_shape a name (NAME=(1,224,224,3)) or none")
    return [shape for _, shape in parsed]


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    """The options the original's convert_*.py commands share."""
    p.add_argument("--out", "-o", default="output", help="output descriptor directory (default: output)")
    p.add_argument("--backend", default=None,
                   help="comma-separated: webgpu, webgl, webassembly (wasm), fallback (js); default: every available backend")
    p.add_argument("--encoding", default="raw", choices=["raw", "f16", "int8", "int4"],
                   help="weight encoding: raw float32 (default), f16, int8 or int4")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder that holds no descriptor")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convert_keras.py", description="Convert a Keras model (.h5 or .keras) into a "
                                "WebDNN descriptor directory.")
    p.add_argument("kerasmodel", help="Keras model file (.h5 or .keras) saved with model.save()")
    p.add_argument("--input_shape", action="append", metavar="'(1,224,224,3)'",
                   help="input shape with the batch size, channels last as in Keras; repeat for several inputs "
                        "(in input order, or NAME=(...)); default: the model's own, batch 1")
    add_common_arguments(p)
    return p


def main(argv=None) -> int:
    from .cli import one_line_errors
    return one_line_errors(_convert, build_parser().parse_args(argv))


def _convert(args) -> int:
    return convert_and_report(args.kerasmodel, args)


def convert_and_report(model, args, **options) -> int:
    """Convert with the shared options (and `options`), printing progress and a summary."""
    from .converter import convert
    t0 = time.perf_counter()

    def progress(stage, detail=""):
        if not args.quiet:
            print(f"  [{time.perf_counter() - t0:6.2f}s] {stage:<9} {detail}", file=sys.stderr, flush=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = convert(model, args.out, backends=_backends(args.backend),
                          input_shapes=_input_shapes(args.input_shape), weights=args.encoding, force=args.force,
                          progress=progress, **options)
    for w in caught:
        print(f"note: {w.message}", file=sys.stderr)
    print(f"converted {model} -> {summary['out']} in {summary['seconds']:.2f}s")
    for t in summary["inputs"]:
        print(f"  input  {t['name']}: {t['shape']} {t['dtype']}")
    for t in summary["outputs"]:
        print(f"  output {t['name']}: {t['shape']} {t['dtype']}")
    for b, n in summary["bytes"].items():
        print(f"  backend {b}: {n:,} bytes to download (model.json + graph + weights)")
    if summary["weight_error"] is not None:
        e = summary["weight_error"]
        print(f"  {args.encoding} weights: largest output change on a random input {e['max_abs']:.3g} "
              f"({100 * e['max_rel']:.3g} % of the largest output)")
    return 0

if __name__ == "__main__":
    sys.exit(main())
