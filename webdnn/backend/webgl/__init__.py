"""The webgl backend (GLSL ES 3.00 on WebGL2)."""
from .lower import lower

__all__ = ["lower"]
