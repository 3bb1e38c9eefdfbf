"""What symbolic sizes cost: each model exported twice, with open dims (torch.onnx.export's
dynamic_axes) and with fixed ones, both converted, then run alternately in one Node process (webgpu:
natively, through wgpu) at the fixed export's shape; prints the medians and the median of the per-pair ratios (symbolic / fixed).

    python bench/dynamic.py                                   # BERT-Small, MobileNetV3-Small, ConvNeXt-Tiny
    python bench/dynamic.py --models BERT-Small --backends wasm,js --threads 1,2 --pairs 15
    python bench/dynamic.py --backends webgpu                 # natively through wgpu (a real GPU for figures)

Models come from zoo.py (torch needed); the descriptors go to out/bench/dynamic/ and are reused."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import zoo  # noqa: E402


def _bert(dynamic: bool):
    import torch
    torch.manual_seed(11)
    ids = torch.randint(0, 30522, (1, 128))
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "last_hidden_state": {0: "batch", 1: "seq"}, "pooler_output": {0: "batch"}} if dynamic else None
    model = zoo.export(zoo.Bert(), [ids, torch.ones(1, 128, dtype=torch.int64)], ["input_ids", "attention_mask"],
                       ["last_hidden_state", "pooler_output"], 11, dynamic_axes=axes)
    feeds = {"input_ids": np.random.default_rng(0).integers(0, 30522, (1, 128)).astype(np.int64),
             "attention_mask": np.ones((1, 128), np.int64)}
    return model, feeds, {}


def _image(build, size, seed):
    def make(dynamic: bool):
        import torch
        torch.manual_seed(seed)
        axes = {"data": {0: "N"}, "logits": {0: "N"}} if dynamic else None
        model = zoo.export(build(), [torch.randn(1, 3, size, size)], ["data"], ["logits"], seed, dynamic_axes=axes)
        return model, {"data": np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)}, {}
    return make


def _yolo(dynamic: bool):
    """Symbolic image sides (multiples of 32, 416 by default) against the fixed 416x416 export."""
    import torch
    torch.manual_seed(16)
    axes = {"data": {0: "n", 2: "H", 3: "W"}, "detections": {0: "n", 2: "A"}} if dynamic else None
    model = zoo.export(zoo.YOLOv8(img=416, dynamic=dynamic), [torch.randn(1, 3, 416, 416)], ["data"], ["detections"],
                       16, dynamic_axes=axes)
    shapes = {"input_shapes": {"data": ["n", 3, "32*h", "32*w"], "h": [13], "w": [13]}} if dynamic else {}
    return model, {"data": np.random.default_rng(0).standard_normal((1, 3, 416, 416)).astype(np.float32)}, shapes


def _lstm(dynamic: bool):
    """SpeechLSTM over 64 frames, the frame count symbolic or fixed."""
    import torch
    torch.manual_seed(12)
    axes = {"data": {0: "n", 1: "frames"}, "logits": {0: "n", 1: "frames"}} if dynamic else None
    model = zoo.export(zoo.SpeechLSTM(), [torch.randn(1, 64, 80)], ["data"], ["logits"], 12, dynamic_axes=axes)
    return model, {"data": np.random.default_rng(0).standard_normal((1, 64, 80)).astype(np.float32)}, {}


MODELS = {"BERT-Small": _bert, "MobileNetV3-Small": _image(zoo.mobilenet_v3_small, 224, 5),
          "ConvNeXt-Tiny": _image(zoo.ConvNeXt, 224, 9), "YOLOv8n": _yolo, "LSTM": _lstm}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--backends", default="wasm")
    ap.add_argument("--threads", default="1,2", help="wasm thread counts")
    ap.add_argument("--pairs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--out", default="out/bench/dynamic")
    args = ap.parse_args(argv)
    from webdnn import convert
    from webdnn.runners import get_runner
    out = Path(args.out)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    print("| model | backend | threads | fixed ms | symbolic ms | symbolic / fixed |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name in args.models.split(","):
        feeds = None
        dirs = {}
        for kind in ("fixed", "symbolic"):
            d = out / f"{name}-{kind}-{'+'.join(backends)}"
            model, feeds, options = MODELS[name](kind == "symbolic")
            if not (d / "model.json").exists():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    convert(model, d, backends=backends, force=True, **options)
            dirs[kind] = d
        for backend in backends:
            for threads in (args.threads.split(",") if backend == "wasm" else ["-"]):
                if threads != "-":
                    os.environ["WEBDNN_WASM_THREADS"] = threads
                # one Node process per thread count (the variable is read at start); webgpu natively (wgpu)
                with get_runner("native" if backend == "webgpu" else "node") as r:
                    ms = {"fixed": [], "symbolic": []}
                    for kind in ms:
                        for _ in range(args.warmup):
                            r.run(dirs[kind], feeds, backend=backend)
                    for _ in range(args.pairs):
                        for kind in ms:
                            r.run(dirs[kind], feeds, backend=backend)
                            ms[kind].append(r.last_ms)
                ratio = statistics.median(s / f for s, f in zip(ms["symbolic"], ms["fixed"]))
                print(f"| {name} | {backend} | {threads} | {statistics.median(ms['fixed']):.2f} | "
                      f"{statistics.median(ms['symbolic']):.2f} | {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()
