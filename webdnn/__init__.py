"""webdnn: convert a trained model into a descriptor directory that runs in the browser."""
__version__ = "0.1.0"

from .errors import WebDNNError, ConversionError, UnsupportedOpsError, ShapeError  # noqa: E402,F401


def convert(model, *args, **kwargs):
    """Convert a model into a descriptor directory; returns a summary dict.

        convert("model.onnx" | "model.h5" | "model.keras" | onnx.ModelProto, out_dir[, options], **fields)
        convert(torch_module | chainer_link, example_inputs, out_dir[, options], **fields)

    options: a webdnn.options.ConvertOptions; fields: any of its fields by name (backends,
    input_shapes, constant_inputs, weights, precision, max_binding_bytes, relaxed, force),
    overriding the object's; progress (see webdnn.converter.convert)."""
    import os

    from .converter import convert as _convert
    from .frontend.chainer import is_chainer_link
    from .frontend.pytorch import is_torch_module
    from .options import ConvertOptions
    args = list(args)
    if args and isinstance(args[-1], ConvertOptions):
        kwargs["options"] = args.pop()
    traced = is_torch_module(model) or is_chainer_link(model)
    if traced and len(args) == 2:
        kwargs["example_inputs"], out_dir = args
    elif len(args) == 1:
        (out_dir,) = args
        if traced and not isinstance(out_dir, (str, os.PathLike)):
            raise TypeError("a torch module is converted with convert(module, example_inputs, out_dir, ...) "
                            "or convert(module, out_dir, input_shapes={...})")
    elif not args and "out_dir" in kwargs:
        out_dir = kwargs.pop("out_dir")
    else:
        raise TypeError("convert(model, out_dir[, options], ...) or "
                        "convert(torch_module, example_inputs, out_dir[, options], ...)")
    return _convert(model, out_dir, **kwargs)
