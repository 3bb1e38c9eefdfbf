"""Error types. Each carries the data a user needs to fix the problem (ARCHITECTURE §3.7)."""


class WebDNNError(Exception):
    """Base class of every error webdnn raises on purpose."""


class ConversionError(WebDNNError):
    """The model cannot be converted (malformed file, dynamic shapes we cannot resolve, ...)."""


class ModelFileError(ConversionError):
    """The model file is damaged, hostile or not what its name says (one line: the file and why)."""


class ShapeError(ConversionError):
    """An op's inputs do not fit its attributes; the message prints shapes and attributes."""


class DynamicValueError(ConversionError):
    """A value that must be static (a shape, axes, pads …) depends on a run-time input.
    `tensor` names it; convert(..., constant_inputs={name: value}) can pin such an input."""

    def __init__(self, message: str, tensor: str):
        super().__init__(message)
        self.tensor = tensor


class UnsupportedOpsError(ConversionError):
    """Raised once, before any work, listing every unsupported op of a model."""

    def __init__(self, unsupported):
        # unsupported: {(op_type, domain, opset): [node names]}
        self.unsupported = unsupported
        total = sum(len(v) for v in unsupported.values())
        lines = [f"{total} node(s) use {len(unsupported)} unsupported op(s):"]
        for (op_type, domain, opset), names in sorted(unsupported.items()):
            shown = ", ".join(repr(n) for n in names[:5]) + (", ..." if len(names) > 5 else "")
            dom = f"{domain}::" if domain else ""
            lines.append(f"  {dom}{op_type} (opset {opset}): {len(names)} node(s): {shown}")
        super().__init__("\n".join(lines))


class InputError(WebDNNError, ValueError):
    """Inputs given at run time do not match the model (names, shapes, dtypes)."""
