"""ConvertOptions: every choice a conversion makes, in one object that travels explicitly
convert() → importer → backend lowering (no global or context-variable state)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import ConversionError

PRECISIONS = ("f32", "f16")


@dataclass(frozen=True)
class SizeRange:
    """The sizes a named dim may take (input_shapes={"seq": SizeRange(1, 512)}, `--input-shape
    seq=1..512`): it stays symbolic where a backend binds sizes at run time, which refuses sizes
    outside it; fixed backends are built for `lo`."""
    lo: int
    hi: int

    def __post_init__(self):
        if not (isinstance(self.lo, int) and isinstance(self.hi, int) and 0 <= self.lo <= self.hi):
            raise ConversionError(f"a size range needs 0 <= low <= high, got {self.lo}..{self.hi}")


@dataclass(frozen=True)
class ConvertOptions:
    """backends: which backends to write ("js", "wasm", "webgpu", "webgl").
    input_shapes: {input name: shape} for inputs the model leaves open ("" names the only input); or
      {dim name: [size]} to fix a named dim everywhere, {dim name: SizeRange(lo, hi)} to bound it.
    constant_inputs: {input name: array} inputs fixed at conversion (folded into the graph).
    weights: the weight encoding (encoding.ENCODINGS: "raw", "f16", "int8", ...).
    precision: webgpu storage and math, "f32" or "f16" (an f16 descriptor keeps an f32 plan for
      adapters without shader-f16).
    max_binding_bytes: webgpu splits tensors larger than this into parts (None: the backend's default).
    webgl_max_texture: the largest texture side a webgl descriptor asks of the device; tensors of more
      than its square split over several textures (None: 2048, what every WebGL2 device has).
    relaxed: wasm also builds a relaxed-SIMD module (fused multiply-add) for engines that have it.
    force: the output folder may be any folder (descriptor.write explains what is replaced).
    optional_backends: a backend that cannot take the model is left out (convert()'s summary says why)
      instead of failing the conversion, as long as one backend is written (`webdnn convert` without
      --backend writes every backend this way).
    prototxt: the network definition (deploy.prototxt) of a Caffe .caffemodel; without it the
      caffemodel's own definition is used."""
    backends: tuple[str, ...] = ("js",)
    input_shapes: dict | None = None
    constant_inputs: dict | None = None
    weights: str = "raw"
    precision: str = "f32"
    max_binding_bytes: int | None = None
    webgl_max_texture: int | None = None
    relaxed: bool = True
    force: bool = False
    optional_backends: bool = False
    prototxt: str | None = None

    def __post_init__(self):
        backends = (self.backends,) if isinstance(self.backends, str) else tuple(self.backends)
        object.__setattr__(self, "backends", backends)
        from .backend import BACKENDS
        from .encoding import ENCODINGS
        bad = [b for b in backends if b not in BACKENDS]
        if bad or not backends:
            raise ConversionError(f"unknown backend(s) {bad}; available: {', '.join(BACKENDS)}")
        if self.weights not in ENCODINGS:
            raise ConversionError(f"unknown weight encoding {self.weights!r}; available: {', '.join(ENCODINGS)}")
        if self.precision not in PRECISIONS:
            raise ConversionError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.max_binding_bytes is not None and (not isinstance(self.max_binding_bytes, int)
                                                   or self.max_binding_bytes < 1024):
            raise ConversionError(f"max_binding_bytes must be an int of at least 1024, got {self.max_binding_bytes!r}")

        if self.webgl_max_texture is not None and (not isinstance(self.webgl_max_texture, int)
                                                   or not 2 <= self.webgl_max_texture <= 16384):
            raise ConversionError(f"webgl_max_texture must be an int in 2..16384, got {self.webgl_max_texture!r}")

    def with_(self, **changes) -> "ConvertOptions":
        """A copy with some options changed; an unknown name fails with the list of known ones."""
        names = [f.name for f in dataclasses.fields(self)]
        bad = sorted(set(changes) - set(names))
        if bad:
            raise TypeError(f"unknown conversion option(s) {bad}; options: {', '.join(names)}")
        return dataclasses.replace(self, **changes)

