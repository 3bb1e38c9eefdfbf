"""Write (and read back) a descriptor directory, format version 1 (docs/descriptor.md)."""
from __future__ import annotations

import json
import math
import shutil
import zlib
from pathlib import Path

from . import __version__
from .encoding import encode
from .errors import WebDNNError

FORMAT_VERSION = 1
CHUNK_BYTES = 16 << 20
ALIGN = 8


def _json_safe(obj):
    """JSON has no NaN/Infinity: non-finite numbers are written as "nan", "inf", "-inf"."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _dumps(obj, **kw) -> str:
    return json.dumps(_json_safe(obj), allow_nan=False, **kw)


def _tensor_meta(t):
    return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}


def write(graph, out_dir, lowered: dict[str, tuple[dict, list]], weights: str = "raw",
          chunk_bytes: int = CHUNK_BYTES, host: dict | None = None) -> dict:
    """lowered: backend -> (graph doc, constant tensors[, {file name: bytes}]): a backend may bring
    files of its own (the wasm module), named graph_<backend>.*. host: the host steps that run
    after any backend (ir/host.py). Returns the model.json dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("weights_*.bin"):
        old.unlink()
    for old in out.glob("graph_*.*"):
        old.unlink()

    # one blob for every backend; a constant shared by several backends is stored once
    blob = bytearray()
    placed: dict[str, dict] = {}
    backend_ranges: dict[str, list[tuple[int, int]]] = {}
    for backend, (doc, constants, *files) in lowered.items():
        for name, data in (files[0] if files else {}).items():
            (out / name).write_bytes(data)
        entries, ranges = {}, []
        for t in constants:
            if t.name not in placed:
                fields, data = encode(t.name, t.data, t.dtype, weights)
                offset = len(blob) if data else 0
                blob += data
                blob += b"\0" * (-len(blob) % ALIGN)
                placed[t.name] = {"shape": list(t.shape), "dtype": t.dtype, **fields, "offset": offset, "bytes": len(data)}
            e = placed[t.name]
            entries[t.name] = e
            if e["bytes"]:
                ranges.append((e["offset"], e["offset"] + e["bytes"]))
        doc = dict(doc, constants=entries)
        (out / f"graph_{backend}.json").write_text(_dumps(doc, separators=(",", ":")))
        backend_ranges[backend] = ranges

    files = []
    for i in range(0, max(len(blob), 1), chunk_bytes):
        chunk = bytes(blob[i:i + chunk_bytes])
        if not chunk and files:
            break
        name = f"weights_{len(files)}.bin"
        (out / name).write_bytes(chunk)
        files.append({"file": name, "bytes": len(chunk), "crc32": f"{zlib.crc32(chunk) & 0xffffffff:08x}"})

    # offsets address the concatenation of ALL chunks, so every backend lists all of them;
    # a backend whose constants are all fill-encoded needs none
    backends = {b: {"graph": f"graph_{b}.json", "weights": list(range(len(files))) if backend_ranges[b] else []}
                for b in lowered}
    summary = graph.summary()
    model = {
        "format": "webdnn-descriptor", "version": FORMAT_VERSION, "converter": f"webdnn {__version__}",
        "inputs": [_tensor_meta(t) for t in graph.inputs], "outputs": [_tensor_meta(t) for t in graph.outputs],
        "backends": backends, "weights": files,
        "source": graph.source or {}, "stats": {"ops": summary["ops"], "params": summary["params"],
                                               "weight_bytes": len(blob)},
    }
    if host:
        model["host"] = host
    (out / "model.json").write_text(_dumps(model, indent=1))
    return model


def read_model(desc_dir) -> dict:
    path = Path(desc_dir) / "model.json"
    if not path.is_file():
        raise WebDNNError(f"{desc_dir} is not a descriptor directory (no model.json)")
    model = json.loads(path.read_text())
    if model.get("format") != "webdnn-descriptor" or model.get("version") != FORMAT_VERSION:
        raise WebDNNError(f"{path}: descriptor format {model.get('format')!r} version {model.get('version')!r}; "
                          f"this webdnn reads webdnn-descriptor version {FORMAT_VERSION}")
    return model


def size_report(desc_dir) -> dict[str, int]:
    """Bytes a page downloads per backend: model.json + graph file + its weight chunks."""
    d = Path(desc_dir)
    model = read_model(d)
    base = (d / "model.json").stat().st_size
    return {b: base + sum(f.stat().st_size for f in d.glob(f"graph_{b}.*"))
            + sum(model["weights"][i]["bytes"] for i in info["weights"])
            for b, info in model["backends"].items()}


def copy_runtime(out_dir, dist: Path) -> None:
    """Put the runtime scripts next to a descriptor (for a self-contained demo page)."""
    for name in ("webdnn.js", "webdnn.mjs"):
        if (dist / name).is_file():
            shutil.copy2(dist / name, Path(out_dir) / name)
