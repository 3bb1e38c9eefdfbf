"""Per-backend lowering options, scoped to a `with` block (and to the thread or task that runs it)."""
from __future__ import annotations

import contextlib
import contextvars

from ..errors import ConversionError


class Options:
    """``with OPTS.scope(key=value): convert(...)`` sets options for the conversions inside the
    block; ``OPTS.get()`` reads the current ones. Unknown keys fail at once."""

    def __init__(self, backend: str, keys: tuple[str, ...]):
        self.backend, self.keys = backend, keys
        self._var = contextvars.ContextVar(f"{backend}_options", default={})

    def get(self) -> dict:
        return self._var.get()

    @contextlib.contextmanager
    def scope(self, **kw):
        bad = set(kw) - set(self.keys)
        if bad:
            raise ConversionError(f"unknown {self.backend} option(s) {sorted(bad)}")
        token = self._var.set({**self._var.get(), **kw})
        try:
            yield
        finally:
            self._var.reset(token)
