"""The original WebDNN command line for Keras models, on top of `webdnn convert`:

    python ./bin/convert_keras.py resnet50.h5 --input_shape '(1,224,224,3)' --out output
    python -m webdnn.convert_keras resnet50.h5 --input_shape '(1,224,224,3)' --out output

Reads .h5 (Keras 2, or Keras 3's legacy writer) and .keras files without TensorFlow or Keras.
"""
from __future__ import annotations

import argparse
import sys

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


def _shape_args(model: str, shapes: list[str] | None) -> list[str]:
    """--input_shape values as `webdnn convert --input-shape NAME=D1,...` arguments."""
    if not shapes:
        return []
    named = ["=" in s for s in shapes]
    if all(named) or len(shapes) == 1:
        return [a for s in shapes for a in ("--input-shape", s)]
    if any(named):
        raise WebDNNError("give every --input_shape a name (NAME=(1,224,224,3)) or none")
    from .frontend.keras import read_file, KerasImporter
    kfile = read_file(model)
    try:
        names = [n for n, _, _ in KerasImporter(kfile)._input_layers()]
    finally:
        kfile.close()
    if len(names) != len(shapes):
        raise WebDNNError(f"{len(shapes)} --input_shape given; the model has {len(names)} input(s) {names}")
    return [a for n, s in zip(names, shapes) for a in ("--input-shape", f"{n}={s}")]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convert_keras.py", description="Convert a Keras model (.h5 or .keras) into a "
                                "WebDNN descriptor directory.")
    p.add_argument("kerasmodel", help="Keras model file (.h5 or .keras) saved with model.save()")
    p.add_argument("--input_shape", action="append", metavar="'(1,224,224,3)'",
                   help="input shape with the batch size, channels last as in Keras; repeat for several inputs "
                        "(in input order, or NAME=(...)); default: the model's own, batch 1")
    p.add_argument("--out", "-o", default="output", help="output descriptor directory (default: output)")
    p.add_argument("--backend", default=None,
                   help="comma-separated: webgpu, webassembly (wasm), fallback (js); default: every available backend")
    p.add_argument("--encoding", default="raw", choices=["raw", "f16"], help="weight encoding (default raw float32)")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder that holds no descriptor")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    return p


def main(argv=None) -> int:
    from . import cli
    args = build_parser().parse_args(argv)
    try:
        backends = _backends(args.backend)
        shape_args = _shape_args(args.kerasmodel, args.input_shape)
    except WebDNNError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return cli.main(["convert", args.kerasmodel, "-o", args.out, "--backend", ",".join(backends), "--weights",
                     args.encoding, *shape_args, *(["-q"] if args.quiet else []), *(["--force"] if args.force else [])])


if __name__ == "__main__":
    sys.exit(main())
