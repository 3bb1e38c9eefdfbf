"""Dispatches per run of the webgpu backend, with and without the attention and row-normalization
kernels (docs/benchmarks.md "GPU"): what a run submits, countable without a GPU.

    python bench/gpu/dispatches.py --models DeiT-Tiny,BERT-Small [--work out/bench/onnx]
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def counts(path) -> tuple[int, int, int]:
    """(dispatches with the two fusions off, dispatches as converted, fused attention blocks)."""
    from webdnn.converter import load_graph
    from webdnn.ir.host import split_host
    from webdnn.passes.pipeline import optimize
    lower = importlib.import_module("webdnn.backend.webgpu.lower")
    g = load_graph(str(path))
    optimize(g)
    g, _ = split_host(g)
    names = [d["name"] for d in lower.lower(g).doc["dispatches"]]
    saved = lower.FUSION
    lower.FUSION = dataclasses.replace(saved, attention=None, rows=None)
    try:
        before = len(lower.lower(g).doc["dispatches"])
    finally:
        lower.FUSION = saved
    return before, len(names), sum(n.startswith("Attention") for n in names)


def main() -> int:
    from models import write_all  # bench/models.py
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="DeiT-Tiny,Swin-T,MobileViT-S,BERT-Small,EfficientFormer-L1,GPT2-decode,ConvNeXt-Tiny")
    p.add_argument("--work", default="out/bench/onnx", help="where the .onnx files are written and reused")
    args = p.parse_args()
    paths = write_all(args.work, args.models.split(","))
    print("| model | dispatches, separate kernels | dispatches, fused | fused attention blocks |")
    print("| --- | --- | --- | --- |")
    for name in args.models.split(","):
        before, after, att = counts(paths[name])
        print(f"| {name} | {before} | {after} | {att} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
