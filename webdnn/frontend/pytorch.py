"""PyTorch frontend: an ``nn.Module`` is exported with torch.onnx (the TorchScript exporter,
``dynamo=False``, which needs no onnxscript) and the ONNX model goes through the ONNX frontend.

    import webdnn
    webdnn.convert(model, torch.randn(1, 3, 224, 224), "output")

Shapes are static: they are the example inputs' shapes, or, without example inputs, the
``input_shapes`` given (then float32 inputs of those shapes are traced). torch is an optional
dependency (``pip install 'webdnn[torch]'``); it is imported only when a module is converted.
"""
from __future__ import annotations

import inspect
import io
import warnings

from ..errors import ConversionError

DEFAULT_OPSET = 17


def _torch():
    try:
        import torch
    except ImportError:
        raise ConversionError("converting a PyTorch module needs torch: `pip install 'webdnn[torch]'`") from None
    return torch


def is_torch_module(model) -> bool:
    """True for an nn.Module, without importing torch when the caller has not."""
    import sys
    module = getattr(getattr(sys.modules.get("torch"), "nn", None), "Module", None)
    # (torch being imported by another thread has no nn.Module yet, and no module of it exists yet)
    return module is not None and isinstance(model, module)


def _as_args(torch, example_inputs) -> tuple:
    if example_inputs is None:
        raise ConversionError("converting a PyTorch module needs example inputs: "
                              "webdnn.convert(module, example_inputs, out_dir) (or input_shapes, without them)")
    if isinstance(example_inputs, (list, tuple)):
        args = tuple(example_inputs)
    else:
        args = (example_inputs,)
    out = []
    for i, a in enumerate(args):
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif hasattr(a, "__array__"):
            out.append(torch.as_tensor(a))
        else:
            raise ConversionError(f"example input {i} is a {type(a).__name__}; give tensors (or numpy arrays)")
    return tuple(out)


def _forward_names(module, required_only: bool = False) -> list[str]:
    """forward()'s positional parameter names, in order (those without a default value only)."""
    try:
        params = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and not (required_only and p.default is not p.empty)]


def _input_names(module, n: int) -> list[str]:
    """The forward() parameter names, so the descriptor's inputs read like the Python code."""
    names = _forward_names(module)[:n]
    if len(names) < n or len(set(names)) < n:
        names = ["x"] if n == 1 else [f"x{i}" for i in range(n)]
    return names


def _shaped_inputs(torch, module, example_inputs, input_shapes: dict, input_names=None) -> tuple:
    """The example inputs checked against input_shapes ({input name: shape}; "" names the only
    input), or, when there are none, float32 inputs of those shapes."""
    shapes = {k: [int(d) for d in v] for k, v in input_shapes.items()}
    if example_inputs is not None:
        args = _as_args(torch, example_inputs)
        n = len(args)
    elif "" in shapes:
        n = 1
    else:  # the shapes name the first inputs of forward(), in order
        every = list(input_names) if input_names else _forward_names(module)
        n = max(every.index(k) + 1 for k in shapes) if set(shapes) <= set(every) else len(shapes)
    names = list(input_names) if input_names else _input_names(module, n)
    if "" in shapes:
        required = _forward_names(module, required_only=True)
        if n != 1 or len(shapes) != 1 or len(required) > 1:
            raise ConversionError(f"an input shape without a name needs a module with one input; this one has "
                                  f"{names if n != 1 else required}")
        shapes = {names[0]: shapes.pop("")}
    unknown = sorted(set(shapes) - set(names))
    if unknown:
        every = list(input_names) if input_names else (_forward_names(module) or names)
        raise ConversionError(f"input_shapes name {unknown}, but the module's inputs are {every}")
    if example_inputs is not None:
        for name, a in zip(names, args):
            if name in shapes and list(a.shape) != shapes[name]:
                raise ConversionError(f"input {name!r}: the example input has shape {list(a.shape)}, "
                                      f"input_shapes gives {shapes[name]}")
        return args
    missing = [name for name in names if name not in shapes]
    if missing:
        raise ConversionError(f"no example inputs and no input shape for {missing} (the module's inputs are {names})")
    gen = torch.Generator().manual_seed(0)  # the trace should not depend on a global random state
    return tuple(torch.randn(*shapes[name], generator=gen, dtype=torch.float32) for name in names)


def export_onnx(module, example_inputs, input_names=None, output_names=None, opset: int = DEFAULT_OPSET):
    """nn.Module + example inputs → onnx.ModelProto (eval mode, no gradients, constants folded)."""
    import onnx
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise ConversionError(f"expected a torch.nn.Module, got {type(module).__name__}")
    args = _as_args(torch, example_inputs)
    names = list(input_names) if input_names else _input_names(module, len(args))
    was_training = module.training
    module.eval()
    buf = io.BytesIO()
    try:
        # no torch.no_grad(): under it nn.MultiheadAttention takes a fused fast path that cannot be exported
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation chatter
            torch.onnx.export(module, args, buf, input_names=names, output_names=list(output_names) if output_names else None,
                              opset_version=opset, do_constant_folding=True, dynamo=False)
    except ConversionError:
        raise
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:500]  # the rest is a dump of the traced graph
        raise ConversionError(f"torch.onnx.export failed for {type(module).__name__}: {type(e).__name__}: {first}") from None
    finally:
        module.train(was_training)
    return onnx.load_from_string(buf.getvalue())


def import_torch(module, example_inputs, input_names=None, output_names=None, opset: int = DEFAULT_OPSET, *,
                 input_shapes: dict | None = None):
    """Export through ONNX and convert with the ONNX frontend; returns the IR graph.

    input_shapes ({input name: shape}, "" for the only input) must agree with example_inputs; without
    example inputs, float32 inputs of those shapes are traced."""
    from .onnx import import_onnx
    if input_shapes:
        torch = _torch()
        if not isinstance(module, torch.nn.Module):
            raise ConversionError(f"expected a torch.nn.Module, got {type(module).__name__}")
        example_inputs = _shaped_inputs(torch, module, example_inputs, input_shapes, input_names)
    proto = export_onnx(module, example_inputs, input_names, output_names, opset)
    graph = import_onnx(proto)
    torch = _torch()
    graph.source = {"format": "pytorch", "module": type(module).__name__, "torch": torch.__version__, "opset": opset}
    return graph
