"""The webgpu backend: generated WGSL kernels, a static buffer plan and a dispatch list."""
from .lower import lower  # noqa: F401
