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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConversionError


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


def read_file(path) -> KerasFile:
    """Open a Keras model file (.h5 or .keras) with a clear error on anything else."""
    h5py = _h5py()
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"model file {str(path)!r} does not exist")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if "config.json" not in names:
                    raise ConversionError(f"{path}: a zip file without config.json (is it a .keras model?)")
                config = json.loads(z.read("config.json"))
                meta = json.loads(z.read("metadata.json")) if "metadata.json" in names else {}
                weights = z.read("model.weights.h5") if "model.weights.h5" in names else None
        except (zipfile.BadZipFile, json.JSONDecodeError, KeyError) as e:
            raise ConversionError(f"{path}: not a valid .keras file: {type(e).__name__}: {e}") from None
        if weights is None:
            raise ConversionError(f"{path}: the .keras file holds no model.weights.h5")
        f = h5py.File(io.BytesIO(weights), "r")
        return KerasFile(config, V3Weights(f), str(meta.get("keras_version", "3")), "keras", f)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ConversionError(f"{path}: not an HDF5 or .keras file (truncated or corrupted?): {e}") from None
    if "model_config" not in f.attrs:
        f.close()
        raise ConversionError(f"{path}: the file holds weights only, no model configuration; save the whole model "
                              f"with model.save(...) rather than model.save_weights(...)")
    config = json.loads(_text(f.attrs["model_config"]))
    version = _text(f.attrs.get("keras_version", "2"))
    grp = f["model_weights"] if "model_weights" in f else f
    backend = _text(grp.attrs.get("backend", "tensorflow"))
    return KerasFile(config, LegacyWeights(grp), version, "h5", f, backend)
