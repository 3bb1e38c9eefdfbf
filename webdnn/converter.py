"""convert(): model → IR → optimized IR → per-backend lowering → descriptor directory."""
from __future__ import annotations

import time
from pathlib import Path

from . import descriptor
from .backend import LOWERERS
from .errors import ConversionError, ModelFileError, WebDNNError
from .ir.host import split_host
from .options import ConvertOptions
from .passes.pipeline import optimize


def load_graph(model, input_shapes=None, constant_inputs=None, example_inputs=None, prototxt=None):
    """Pick the frontend by file type (or object type) and import the model as an IR graph. Whatever
    a damaged or hostile file makes a reading library raise becomes one ModelFileError line."""
    try:
        return _import(model, input_shapes, constant_inputs, example_inputs, prototxt)
    except WebDNNError:
        raise
    except Exception as e:
        is_file = isinstance(model, (str, Path))
        text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ModelFileError(f"{model if is_file else type(model).__name__}: the model could not be imported "
                             f"({type(e).__name__}: {text})"
                             + ("; the file is damaged or uses a form webdnn does not read" if is_file else "")) from e


def _import(model, input_shapes, constant_inputs, example_inputs, prototxt=None):
    import onnx
    from .frontend.caffe import is_caffe_file
    from .frontend.keras import is_keras_file
    from .frontend.pytorch import is_torch_module
    onnx_model = isinstance(model, onnx.ModelProto) or str(model).lower().endswith(".onnx")
    if constant_inputs and not onnx_model:
        raise ConversionError(f"pinning inputs to constants works for ONNX models; {sorted(constant_inputs)} cannot be "
                              f"pinned in this {'torch module' if is_torch_module(model) else 'model'}")
    if prototxt is not None and not is_caffe_file(model):
        raise ConversionError(f"a prototxt goes with a Caffe .caffemodel, not with {str(model)!r}")
    from .frontend.chainer import is_chainer_link
    if is_chainer_link(model):
        from .frontend.chainer import import_chainer
        return import_chainer(model, example_inputs, input_shapes)
    if is_torch_module(model):
        from .frontend.pytorch import import_torch
        return import_torch(model, example_inputs, input_shapes=input_shapes)
    if onnx_model:
        from .frontend.onnx import import_onnx
        return import_onnx(model, input_shapes, constant_inputs)
    if is_keras_file(model):
        from .frontend.keras import import_keras
        return import_keras(model, input_shapes)
    if is_caffe_file(model):
        from .frontend.caffe import import_caffe
        return import_caffe(model, prototxt, input_shapes)
    raise ConversionError(f"cannot tell the format of {str(model)!r}: expected a .onnx, .h5, .keras or .caffemodel "
                          f"file, or a torch.nn.Module")


def convert(model, out_dir, options: ConvertOptions | None = None, *, progress=None, example_inputs=None,
            **option_values) -> dict:
    """Convert `model` into a descriptor in `out_dir`; returns a summary dict.

    `model`: an .onnx / .h5 / .keras / .caffemodel path (with `prototxt=` its network definition), an
    onnx.ModelProto, a torch.nn.Module or a chainer.Link (then `example_inputs`, a tensor or a tuple of
    tensors, gives the input shapes).
    `options`: a ConvertOptions; single options may also be given by name (backends=["wasm"],
    precision="f16", ...), overriding those in `options`.

    progress(stage, detail) is called as the stages go by (the CLI prints it). `out_dir` must be new,
    empty or an earlier descriptor; options.force lets it be any folder (descriptor.write)."""
    options = (options or ConvertOptions()).with_(**option_values) if option_values else (options or ConvertOptions())
    say = progress or (lambda stage, detail="": None)
    descriptor.check_output(Path(out_dir), options.force)  # before minutes of work, not after
    t0 = time.perf_counter()
    say("load", str(model) if isinstance(model, (str, Path)) else type(model).__name__)
    graph = load_graph(model, options.input_shapes, options.constant_inputs, example_inputs, options.prototxt)
    before = graph.summary()
    say("optimize", f"{before['ops']} ops")
    optimize(graph, log=lambda name, changed: say("pass", f"{name}{' (changed)' if changed else ''}"))
    graph.verify()
    static, host = split_host(graph)
    lowered, left_out = {}, {}
    for b in options.backends:
        say("lower", b)
        try:
            lowered[b] = LOWERERS[b](static, options)
        except ConversionError as e:
            if not options.optional_backends:
                raise
            left_out[b] = str(e)
    if not lowered:
        raise ConversionError("no backend can take this model: " + "; ".join(f"{b}: {e}" for b, e in left_out.items()))
    say("write", str(out_dir))
    model_json = descriptor.write(graph, out_dir, lowered, weights=options.weights, host=host, force=options.force,
                                  protect=[m for m in (model, options.prototxt) if isinstance(m, (str, Path))])
    after = graph.summary()
    error = encoding_error(graph, options.weights, model_json["inputs"]) if options.weights != "raw" else None
    return {"out": str(out_dir), "ops_before": before["ops"], "ops": after["ops"], "op_counts": after["op_counts"],
            "params": after["params"], "bytes": descriptor.size_report(out_dir), "seconds": time.perf_counter() - t0,
            "inputs": model_json["inputs"], "outputs": model_json["outputs"],
            # the activation memory each backend planned (backends without a static plan are absent)
            "activation_bytes": {b: low.memory for b, low in lowered.items() if low.memory is not None},
            "left_out": left_out,  # {backend: why} for optional backends that could not take the model
            "weight_bytes": model_json["stats"]["weight_encodings"],  # {encoding: stored bytes}
            "weight_error": error}  # the outputs' largest error the encoding causes (None: raw)


def encoding_error(graph, weights: str, input_specs, seed: int = 0) -> dict:
    """How much `weights` (a lossy encoding) changes the outputs: the numpy references run on one
    seeded random input with the constants as stored and as decoded. -> {"max_abs", "max_rel"}: the
    largest difference over the outputs, absolute and relative to the largest output magnitude."""
    import numpy as np

    from .encoding import decode, encode
    from .ir.reference import run
    from .verify import seeded_inputs
    inputs = seeded_inputs(input_specs, seed)
    exact = run(graph, inputs)
    saved = {}
    try:
        for t in graph.constants():
            fields, payload = encode(t.name, t.data, t.dtype, weights)
            if fields["encoding"] in ("f16", "int8", "int4"):
                saved[id(t)] = (t, t.data)
                t.data = decode(fields, payload, t.data.shape, t.dtype).astype(t.data.dtype)
        lossy = run(graph, inputs) if saved else exact
    finally:
        for t, data in saved.values():
            t.data = data
    worst_abs = worst_rel = 0.0
    for name, e in exact.items():
        e = np.asarray(e, np.float64)
        a = np.asarray(lossy[name], np.float64)
        fin = np.isfinite(e) & np.isfinite(a)
        if e.dtype.kind != "f" or not fin.any():
            continue
        err = float(np.abs(a[fin] - e[fin]).max())
        worst_abs = max(worst_abs, err)
        worst_rel = max(worst_rel, err / max(float(np.abs(e[fin]).max()), 1e-30))
    return {"max_abs": worst_abs, "max_rel": worst_rel}
