"""webdnn: convert a trained model into a descriptor directory that runs in the browser."""
__version__ = "0.1.0"

from .errors import WebDNNError, ConversionError, UnsupportedOpsError, ShapeError  # noqa: E402,F401


def convert(model, out_dir, **kwargs):
    """Convert a model (a path to an .onnx file, or an onnx.ModelProto) into a descriptor."""
    from .converter import convert as _convert
    return _convert(model, out_dir, **kwargs)
