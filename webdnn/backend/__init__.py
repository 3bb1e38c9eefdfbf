"""Backends: each lowers the optimized IR graph to what its runtime executes."""
from .js import lower as _js_lower

LOWERERS = {"js": _js_lower.lower}
BACKENDS = tuple(LOWERERS)
