"""webdnn: convert a trained model into a descriptor directory that runs in the browser."""
__version__ = "0.1.0"

from .errors import WebDNNError, ConversionError, UnsupportedOpsError, ShapeError  # noqa: E402,F401


def convert(model, *args, **kwargs):
    """Convert a model into a descriptor directory; returns a summary dict.

        convert("model.onnx" | "model.h5" | "model.keras" | onnx.ModelProto, out_dir, **options)
        convert(torch_module, example_inputs, out_dir, **options)

    Options: a webdnn.options.ConvertOptions and/or its fields by name (backends, input_shapes,
    constant_inputs, weights, precision, max_binding_bytes, relaxed, force); progress (see
    webdnn.converter.convert)."""
    from .converter import convert as _convert
    from .frontend.pytorch import is_torch_module
    if is_torch_module(model) and len(args) == 2:
        kwargs["example_inputs"], out_dir = args
    elif is_torch_module(model) and "example_inputs" not in kwargs:
        raise TypeError("a torch module is converted with convert(module, example_inputs, out_dir, ...)")
    elif len(args) == 1:
        (out_dir,) = args
    elif not args and "out_dir" in kwargs:
        out_dir = kwargs.pop("out_dir")
    else:
        raise TypeError("convert(model, out_dir, ...) or convert(torch_module, example_inputs, out_dir, ...)")
    return _convert(model, out_dir, **kwargs)
