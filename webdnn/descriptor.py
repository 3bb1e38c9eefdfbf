"""Write (and read back) a descriptor directory, format version 1 (docs/descriptor.md)."""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import __version__
from .encoding import encode, int4_axes, output_axes
from .errors import ConversionError, WebDNNError
from .ir.symbolic import dim_json

if TYPE_CHECKING:
    from .backend.lowering import Lowered

FORMAT_VERSION = 2
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


def _tensor_meta(t, symbolic=None):
    """An input/output of model.json: its shape as the fixed backends run it, and where a backend
    takes other sizes, "dims": the shape with its symbolic sizes (docs/descriptor.md)."""
    meta = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
    if symbolic is not None and symbolic.is_symbolic:
        meta["dims"] = [d if isinstance(d, str) else dim_json(d) for d in symbolic.shape]  # str: data-dependent
    return meta


def _placed_entry(placed: dict, t):
    """The entry of a constant already stored under t's name with the same contents, else None."""
    for other, e in placed.get(t.name, ()):
        if other is t or (other.dtype == t.dtype and other.data.shape == t.data.shape
                           and np.array_equal(other.data, t.data, equal_nan=True)):
            return e
    return None


# every file name a descriptor uses: a plain name inside its directory (the runtime applies the same rule)
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# the names a descriptor's own files have: only such files of an earlier descriptor are ever removed
_OWN = re.compile(r"graph_[A-Za-z0-9_]+\.[A-Za-z0-9_.-]+|weights_[0-9]+\.bin")


def _checksum(name: str, data: bytes) -> dict:
    return {"file": name, "bytes": len(data), "crc32": f"{zlib.crc32(data) & 0xffffffff:08x}"}


def int8_axes(graph, lowered: dict[str, Lowered]) -> dict:
    """{constant name: the axis --weights int8 stores it along}: a contraction weight's output channels
    (encoding.output_axes), and what a backend's kernels read as stored (its graph's "encoded") where
    the backend's own graph uses the constant otherwise."""
    axes = output_axes(graph)
    for low in lowered.values():
        axes.update({name: e["axis"] for name, e in low.doc.get("encoded", {}).items() if e["encoding"] == "int8"})
    return axes


def int4_block_axes(graph, lowered: dict[str, Lowered]) -> dict:
    """{constant name: the axis --weights int4 runs its blocks along} (encoding.int4_axes), and what a backend's
    kernels read as stored."""
    axes = int4_axes(graph)
    for low in lowered.values():
        axes.update({name: e["axis"] for name, e in low.doc.get("encoded", {}).items()
                     if e["encoding"] == "int4" and "axis" in e})
    return axes


def write(graph, out_dir, lowered: dict[str, Lowered], weights: str = "raw",
          chunk_bytes: int = CHUNK_BYTES, host: dict | None = None, force: bool = False,
          protect=(), symbolic=None) -> dict:
    """lowered: backend -> its Lowered (graph doc, constant tensors, files of its own such as the wasm
    module, named graph_<backend>.*). host: the host steps that run
    after any backend (ir/host.py). symbolic: the graph with symbolic sizes that a backend (js) was
    lowered from, whose input/output shapes model.json records as "dims". Returns the model.json dict.

    The descriptor is written into a staging folder beside out_dir and swapped in only when
    complete (a failure leaves out_dir as it was). out_dir must be new, empty or a descriptor
    (`force` allows any folder: files of the same name are replaced, no other file is touched);
    of an earlier descriptor only the files its model.json lists are removed. `protect`: paths
    (the source model) that must not be overwritten."""
    out = Path(out_dir)
    previous = check_output(out, force)
    files: dict[str, bytes] = {}

    # one blob for every backend; a constant shared by several backends is stored once
    blob = bytearray()
    placed: dict[str, list] = {}  # name -> [(tensor, entry)]: backends' graphs may differ under one name
    # int8's channel axes (and the exact 8-bit weights' of any encoding), int4's block axes
    axes = int8_axes(graph, lowered) if weights != "int4" else int4_block_axes(graph, lowered)
    backend_ranges: dict[str, list[tuple[int, int]]] = {}
    listed = []
    for backend, low in lowered.items():
        doc, constants = low.doc, low.constants
        for name, data in low.files.items():
            files[name] = data
            listed.append(_checksum(name, data))
        entries, ranges = {}, []
        for t in constants:
            e = _placed_entry(placed, t)
            if e is None:
                fields, data = encode(t.name, t.data, t.dtype, weights, axes.get(t.name))
                offset = len(blob) if data else 0
                blob += data
                blob += b"\0" * (-len(blob) % ALIGN)
                e = {"shape": list(t.shape), "dtype": t.dtype, **fields, "offset": offset, "bytes": len(data)}
                placed.setdefault(t.name, []).append((t, e))
            entries[t.name] = e
            if e["bytes"]:
                ranges.append((e["offset"], e["offset"] + e["bytes"]))
        for name, want in doc.get("encoded", {}).items():  # the backend reads these bytes as stored
            got = entries.get(name, {})
            # int4's values are in another order with an "axis": the runtime holds them to it, so does this
            keys = set(want) | ({"axis", "scales", "zeros"} if want.get("encoding") == "int4" else set())
            if any(got.get(k) != want.get(k) for k in keys):
                raise ConversionError(f"{backend} backend: constant {name!r} is stored as "
                                      f"{ {k: got.get(k) for k in want} }, its kernels read {want}")
        doc = dict(doc, constants=entries)
        name = f"graph_{backend}.json"
        files[name] = _dumps(doc, separators=(",", ":")).encode()
        listed.append(_checksum(name, files[name]))
        backend_ranges[backend] = ranges

    chunks = []
    for i in range(0, max(len(blob), 1), chunk_bytes):
        chunk = bytes(blob[i:i + chunk_bytes])
        if not chunk and chunks:
            break
        name = f"weights_{len(chunks)}.bin"
        files[name] = chunk
        chunks.append(_checksum(name, chunk))

    by_encoding: dict[str, int] = {}
    for e in (e for same_name in placed.values() for _, e in same_name):
        by_encoding[e["encoding"]] = by_encoding.get(e["encoding"], 0) + e["bytes"]
    # offsets address the concatenation of ALL chunks, so every backend lists all of them;
    # a backend whose constants are all fill-encoded needs none
    backends = {b: {"graph": f"graph_{b}.json", "weights": list(range(len(chunks))) if backend_ranges[b] else []}
                for b in lowered}
    summary = graph.summary()
    sym = {t.name: t for t in (symbolic.inputs + symbolic.outputs)} if symbolic is not None else {}
    for b, low in lowered.items():
        if low.doc.get("symbols"):
            backends[b]["symbolic"] = True
    model = {
        "format": "webdnn-descriptor", "version": FORMAT_VERSION, "converter": f"webdnn {__version__}",
        "inputs": [_tensor_meta(t, sym.get(t.name)) for t in graph.inputs],
        "outputs": [_tensor_meta(t, sym.get(t.name)) for t in graph.outputs],
        "backends": backends, "weights": chunks, "files": sorted(listed, key=lambda e: e["file"]),
        "source": graph.source or {}, "stats": {"ops": summary["ops"], "params": summary["params"],
                                               "weight_bytes": len(blob), "weight_encodings": by_encoding},
    }
    if graph.quantized:  # the source computes on 8-bit values (webdnn verify compares such outputs by cosine)
        model["stats"]["quantized"] = True
    if host:
        model["host"] = host
    files["model.json"] = _dumps(model, indent=1).encode()
    _stage_and_swap(out, files, previous, protect)
    return model


def check_output(out: Path, force: bool) -> set[str]:
    """Refuse an output that is a file, or a non-empty folder that is not a descriptor (unless
    `force`). Returns the names the descriptor already there owns (its model.json lists them)."""
    if out.exists() and not out.is_dir():
        raise WebDNNError(f"the output {str(out)!r} exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return set()
    try:
        old = json.loads((out / "model.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        old = None
    if not isinstance(old, dict) or old.get("format") != "webdnn-descriptor":
        if force:
            return set()
        raise WebDNNError(f"the output folder {str(out)!r} is not empty and holds no webdnn descriptor; "
                          f"name a new or empty folder (or pass --force to write into it, replacing files "
                          f"of the same name only)")
    return _owned(old)


def _owned(model: dict) -> set[str]:
    """The descriptor file names an existing model.json lists (a damaged one cannot name a user's file)."""
    names = set()
    for key in ("weights", "files"):
        for e in model.get(key) or []:
            names.add(e.get("file") if isinstance(e, dict) else None)
    for b in (model.get("backends") or {}).values():
        names.add(b.get("graph") if isinstance(b, dict) else None)
    return {n for n in names if isinstance(n, str) and _OWN.fullmatch(n)}


def _stage_and_swap(out: Path, files: dict[str, bytes], previous: set[str], protect) -> None:
    """Write every file into a staging folder beside `out`, then move them in (model.json last) and
    remove what only the previous descriptor listed."""
    guarded = {Path(p).resolve() for p in protect}
    for name in set(files) | previous:
        if (out / name).resolve() in guarded:
            raise WebDNNError(f"writing the descriptor into {str(out)!r} would replace the model file "
                              f"{str(out / name)!r}; choose another output folder")
        if (out / name).is_dir() or (out / name).is_symlink():
            raise WebDNNError(f"{str(out / name)!r} is a folder or a link where the descriptor writes a file; "
                              f"choose another output folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".staging", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp's 0700 would stay on the folder once renamed to `out`
    try:
        for name, data in files.items():
            (stage / name).write_bytes(data)
        if not out.exists():
            try:
                stage.rename(out)
                return
            except OSError:  # raced with another writer: fall through and move file by file
                out.mkdir(parents=True, exist_ok=True)
        for name in sorted(files, key=lambda n: n == "model.json"):
            os.replace(stage / name, out / name)
        for name in previous - set(files):
            (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def read_model(desc_dir) -> dict:
    path = Path(desc_dir) / "model.json"
    if not path.is_file():
        raise WebDNNError(f"{desc_dir} is not a descriptor directory (no model.json)")
    try:
        model = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise WebDNNError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(model, dict) or model.get("format") != "webdnn-descriptor" or model.get("version") != FORMAT_VERSION:
        got = (model.get("format"), model.get("version")) if isinstance(model, dict) else (None, None)
        raise WebDNNError(f"{path}: descriptor format {got[0]!r} version {got[1]!r}; "
                          f"this webdnn reads webdnn-descriptor version {FORMAT_VERSION} (convert the model again)")
    for key in ("inputs", "outputs", "weights", "files"):
        if not isinstance(model.get(key), list):
            raise WebDNNError(f"{path}: {key!r} is missing or not a list")
    if not isinstance(model.get("backends"), dict):
        raise WebDNNError(f"{path}: 'backends' is missing or not an object")
    return model


def read_file(desc_dir, model: dict, name) -> bytes:
    """The bytes of a file the descriptor lists (a graph, a module or a weight chunk), resolved inside
    the descriptor and checked against its size and CRC-32 in model.json."""
    if not isinstance(name, str) or not _PLAIN.fullmatch(name):
        raise WebDNNError(f"model.json names the file {name!r}, which is not a plain file name inside the descriptor")
    entry = next((e for key in ("files", "weights") for e in model.get(key) or []
                  if isinstance(e, dict) and e.get("file") == name), None)
    if entry is None:
        raise WebDNNError(f"{name} is not listed in model.json 'files' or 'weights' (no checksum)")
    try:
        data = (Path(desc_dir) / name).read_bytes()
    except OSError as e:
        raise WebDNNError(f"cannot read {name} of the descriptor: {e.strerror or e}") from None
    crc = f"{zlib.crc32(data) & 0xffffffff:08x}"
    if len(data) != entry.get("bytes") or crc != str(entry.get("crc32", "")).lower():
        raise WebDNNError(f"{name}: {len(data)} bytes with CRC-32 {crc}, model.json says {entry.get('bytes')} bytes "
                          f"with CRC-32 {entry.get('crc32')} (damaged or stale file)")
    return data


def size_report(desc_dir) -> dict[str, int]:
    """Bytes a page downloads per backend: model.json + graph file + its weight chunks."""
    d = Path(desc_dir)
    model = read_model(d)
    base = (d / "model.json").stat().st_size
    own = {e["file"]: e["bytes"] for e in model["files"]}
    return {b: base + sum(n for f, n in own.items() if f.startswith(f"graph_{b}."))
            + sum(model["weights"][i]["bytes"] for i in info["weights"])
            for b, info in model["backends"].items()}


def copy_runtime(out_dir, dist: Path) -> None:
    """Put the runtime scripts next to a descriptor (for a self-contained demo page)."""
    for name in ("webdnn.js", "webdnn.mjs"):
        if (dist / name).is_file():
            shutil.copy2(dist / name, Path(out_dir) / name)
