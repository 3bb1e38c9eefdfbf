"""Backends: each lowers the optimized IR graph to what its runtime executes."""
from .js import lower as _js_lower
from .webgpu import lower as _webgpu_lower
from .wasm import lower as _wasm_lower
from .webgl import lower as _webgl_lower

LOWERERS = {"js": _js_lower.lower, "webgpu": _webgpu_lower, "webgl": _webgl_lower, "wasm": _wasm_lower}
BACKENDS = tuple(LOWERERS)
