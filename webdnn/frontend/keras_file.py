"""Reading Keras model files with h5py and zipfile (no TensorFlow, no Keras): the model's config
JSON, its Keras version, and each layer's weights in the layer's own order.

- ``.h5`` (Keras 2, or Keras 3's legacy writer): attribute ``model_config``; group
  ``model_weights/<layer>`` whose ``weight_names`` attribute lists the layer's arrays.
- ``.keras`` (Keras 3 zip): ``config.json``, ``metadata.json`` and ``model.weights.h5`` with
  ``layers/<key>/vars/<i>``; an RNN's cell and a wrapper's inner layers are child groups.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConversionError, ModelFileError

# A member of a .keras zip or an HDF5 dataset may expand at most this much beyond its stored size
# (weights barely compress; a bomb expands a thousandfold) ...
MAX_EXPANSION = 100
# ... except below this size, where any ratio is harmless
SMALL_BYTES = 64 << 20


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise ConversionError("reading Keras files needs h5py: `pip install h5py`") from None
    return h5py


def _text(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray):
        return _text(v.reshape(-1)[0]) if v.size else ""
    return str(v)


def _array(ds) -> np.ndarray:
    a = np.asarray(ds[()])
    if a.dtype.kind == "f" and a.dtype != np.float32:
        a = a.astype(np.float32)
    return a


def to_snake_case(name: str) -> str:
    """Keras' own rule; a .keras weights file names its groups this way."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class LegacyWeights:
    """Weights of an .h5 model file: one group per top-level layer, whose ``weight_names``
    attribute lists its arrays in the layer's own order (nested models hold their layers' too)."""

    def __init__(self, group):
        self.group = group

    def layer(self, path) -> list[np.ndarray]:
        names = [p[0] for p in path]
        grp = self.group.get(names[0])
        if grp is None:
            return []
        wnames = [_text(n) for n in grp.attrs.get("weight_names", [])]
        if len(names) > 1:
            wnames = [n for n in wnames if self._owned_by(n, names)]
        return [_array(grp[n]) for n in wnames]

    @staticmethod
    def _owned_by(weight_name: str, names: list[str]) -> bool:
        # 'outer/inner/kernel:0' (Keras 3) or 'inner/kernel:0' (Keras 2) belongs to outer → inner
        comps = weight_name.split("/")[:-1]
        last = names[-1]
        if last not in comps:
            return False
        i = len(comps) - 1 - comps[::-1].index(last)
        return all(c in names for c in comps[:i])


class V3Weights:
    """Weights of a .keras file (model.weights.h5): ``layers/<key>/vars/<i>``, sub-objects (an RNN's
    ``cell``, a wrapper's ``layer``) as child groups, nested models under their own ``layers``."""

    CHILD_ORDER = ("cell", "forward_layer", "backward_layer", "layer")

    def __init__(self, root):
        self.root = root
        self._names: dict = {}

    def _find(self, container, name: str, key: str):
        layers = container.get("layers")
        if layers is None:
            return None
        index = self._names.get(layers.name)
        if index is None:  # newer writers record the layer's own name on its vars group
            index = {}
            for k in layers:
                v = layers[k].get("vars")
                if v is not None and "name" in v.attrs:
                    index.setdefault(_text(v.attrs["name"]), k)
            self._names[layers.name] = index
        k = index.get(name, key)
        return layers.get(k)

    def layer(self, path) -> list[np.ndarray]:
        grp = self.root
        for name, key in path:
            grp = self._find(grp, name, key)
            if grp is None:
                return []
        return self._flatten(grp)

    def _flatten(self, grp) -> list[np.ndarray]:
        out = []
        v = grp.get("vars")
        if v is not None:
            out += [_array(v[k]) for k in sorted(v, key=int)]
        children = [k for k in grp if k not in ("vars", "layers")]
        children.sort(key=lambda k: (self.CHILD_ORDER.index(k) if k in self.CHILD_ORDER else len(self.CHILD_ORDER), k))
        for k in children:
            out += self._flatten(grp[k])
        return out


@dataclass
class KerasFile:
    config: dict
    weights: object
    keras_version: str
    format: str  # "h5" or "keras"
    handle: object = None
    backend: str = "tensorflow"  # the Keras backend that wrote the file, where the file says (h5 only)

    @property
    def major(self) -> int:
        try:
            return int(self.keras_version.split(".")[0])
        except ValueError:
            return 2

    def close(self):
        if self.handle is not None:
            self.handle.close()


def _self_contained(f, where: str) -> None:
    """Refuse every HDF5 feature that reaches outside the file (external links, external storage,
    virtual datasets) and datasets that would expand far beyond what the file stores (a declared
    shape with no data behind it, a compression bomb), before any byte is read."""
    h5py = _h5py()
    problems: list[str] = []  # raising inside h5py's visit callbacks would be mangled: collect, then raise

    def link(name):
        ln = f.get(name, getlink=True)
        if isinstance(ln, h5py.ExternalLink):
            problems.append(f"'/{name}' is an HDF5 external link to {ln.filename!r}; webdnn reads nothing "
                            f"outside the model file")

    def obj(name, o):
        if not isinstance(o, h5py.Dataset):
            return
        if o.external:
            problems.append(f"dataset '/{name}' keeps its data in external file(s) {[e[0] for e in o.external]}; "
                            f"webdnn reads nothing outside the model file")
        elif o.is_virtual:
            problems.append(f"dataset '/{name}' is an HDF5 virtual dataset (data from other files); webdnn reads "
                            f"nothing outside the model file")
        else:
            nbytes = int(np.prod(o.shape, dtype=np.float64) * o.dtype.itemsize) if o.shape is not None else 0
            stored = o.id.get_storage_size()
            if nbytes > SMALL_BYTES and nbytes > MAX_EXPANSION * stored:
                problems.append(f"dataset '/{name}' of shape {list(o.shape)} would expand to {nbytes} bytes from "
                                f"{stored} stored (damaged or hostile file)")

    try:
        f.visit_links(link)
        if not problems:
            f.visititems(obj)
    except Exception as e:  # h5py raises OSError/RuntimeError/KeyError/TypeError on damaged structure
        raise ModelFileError(f"{where}: damaged HDF5 structure: {type(e).__name__}: {e}") from None
    if problems:
        raise ModelFileError(f"{where}: {problems[0]}")


def _zip_member(z, name: str, where: str) -> bytes:
    """A zip member, read with a bound on its expanded size (a 1 MB zip must not become gigabytes)."""
    info = z.getinfo(name)
    limit = max(SMALL_BYTES, MAX_EXPANSION * info.compress_size)
    if info.file_size > limit:
        raise ModelFileError(f"{where}: zip member {name!r} would expand from {info.compress_size} to "
                             f"{info.file_size} bytes (damaged or hostile file)")
    with z.open(info) as fh:
        data = fh.read(limit + 1)  # the header's file_size may lie: never read past the bound
    if len(data) > limit:
        raise ModelFileError(f"{where}: zip member {name!r} expands beyond {limit} bytes (damaged or hostile file)")
    return data


def _config(text, where: str) -> dict:
    try:
        config = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise ModelFileError(f"{where}: the model configuration is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise ModelFileError(f"{where}: the model configuration is a JSON {type(config).__name__}, not an object")
    return config


def read_file(path) -> KerasFile:
    """Open a Keras model file (.h5 or .keras) with a clear error on anything else; the file must be
    self-contained (see _self_contained)."""
    h5py = _h5py()
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"model file {str(path)!r} does not exist")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if "config.json" not in names:
                    raise ModelFileError(f"{path}: a zip file without config.json (is it a .keras model?)")
                config = _config(_zip_member(z, "config.json", str(path)), str(path))
                meta = _config(_zip_member(z, "metadata.json", str(path)), str(path)) if "metadata.json" in names else {}
                weights = _zip_member(z, "model.weights.h5", str(path)) if "model.weights.h5" in names else None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, OSError, EOFError, ValueError,
                NotImplementedError, RuntimeError, zlib.error) as e:
            raise ModelFileError(f"{path}: not a valid .keras file: {type(e).__name__}: {e}") from None
        if weights is None:
            raise ModelFileError(f"{path}: the .keras file holds no model.weights.h5")
        try:
            f = h5py.File(io.BytesIO(weights), "r")
        except Exception as e:
            raise ModelFileError(f"{path}: model.weights.h5 is not a valid HDF5 file: {type(e).__name__}: {e}") from None
        _self_contained(f, f"{path}:model.weights.h5")
        return KerasFile(config, V3Weights(f), _text(meta.get("keras_version", "3")), "keras", f)
    try:
        f = h5py.File(path, "r")
    except Exception as e:
        raise ModelFileError(f"{path}: not an HDF5 or .keras file (truncated or corrupted?): {e}") from None
    try:
        _self_contained(f, str(path))
        if "model_config" not in f.attrs:
            raise ConversionError(f"{path}: the file holds weights only, no model configuration; save the whole "
                                  f"model with model.save(...) rather than model.save_weights(...)")
        config = _config(_text(f.attrs["model_config"]), str(path))
        version = _text(f.attrs.get("keras_version", "2"))
        grp = f["model_weights"] if "model_weights" in f else f
        backend = _text(grp.attrs.get("backend", "tensorflow"))
    except ConversionError:
        f.close()
        raise
    except Exception as e:
        f.close()
        raise ModelFileError(f"{path}: damaged Keras file: {type(e).__name__}: {e}") from None
    return KerasFile(config, LegacyWeights(grp), version, "h5", f, backend)
