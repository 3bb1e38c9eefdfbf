"""convert(): model → IR → optimized IR → per-backend lowering → descriptor directory."""
from __future__ import annotations

import time
import warnings
from pathlib import Path

from . import descriptor
from .backend import LOWERERS
from .errors import ConversionError, ModelFileError, ShapeError, WebDNNError
from .ir.host import split_host
from .options import ConvertOptions
from .passes.pipeline import optimize


def load_graph(model, input_shapes=None, constant_inputs=None, example_inputs=None, prototxt=None,
               symbolic=False):
    """Pick the frontend by file type (or object type) and import the model as an IR graph. Whatever
    a damaged or hostile file makes a reading library raise becomes one ModelFileError line.
    symbolic: the model's open dims stay symbolic sizes (ONNX; other formats have fixed shapes)."""
    try:
        return _import(model, input_shapes, constant_inputs, example_inputs, prototxt, symbolic)
    except WebDNNError:
        raise
    except Exception as e:
        is_file = isinstance(model, (str, Path))
        text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise ModelFileError(f"{model if is_file else type(model).__name__}: the model could not be imported "
                             f"({type(e).__name__}: {text})"
                             + ("; the file is damaged or uses a form webdnn does not read" if is_file else "")) from e


def _import(model, input_shapes, constant_inputs, example_inputs, prototxt=None, symbolic=False):
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
        return import_onnx(model, input_shapes, constant_inputs, symbolic=symbolic)
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
    graph, sym, fixed_notes = _load_graphs(model, options, example_inputs, say)
    before = graph.summary()
    say("optimize", f"{before['ops']} ops")
    optimize(graph, log=lambda name, changed: say("pass", f"{name}{' (changed)' if changed else ''}"))
    graph.verify()
    static, host = split_host(graph)
    sym_static, sym_host = _optimize_symbolic(sym, static, fixed_notes) if sym is not None else (None, None)
    lowered, left_out = {}, {}
    for b in options.backends:
        say("lower", b)
        try:
            if b in SYMBOLIC_BACKENDS and sym_static is not None:
                try:
                    lowered[b] = LOWERERS[b](sym_static, options)
                    continue
                except (ConversionError, ShapeError) as e:
                    warnings.warn(f"the {b} backend is built for the fixed sizes: {str(e).splitlines()[0]}")
            lowered[b] = LOWERERS[b](static, options)
        except ConversionError as e:
            if not options.optional_backends:
                raise
            left_out[b] = str(e)
    if sym_static is not None:
        took = [b for b, low in lowered.items() if low.doc.get("symbols")]
        fixed = [b for b in lowered if b not in took]
        sizes = ", ".join(f"{k}={v}" for k, v in sorted(sym_static.symbols.items()))
        warnings.warn(f"the inputs have symbolic sizes: {', '.join(took) or 'no backend'} take{'s' if len(took) == 1 else ''} "
                      f"any" + (f", {', '.join(fixed)} {'is' if len(fixed) == 1 else 'are'} built for {sizes}" if fixed else
                                f" (defaults {sizes})") + " (fix a size with --input-shape NAME=N)")
    if not lowered:
        raise ConversionError("no backend can take this model: " + "; ".join(f"{b}: {e}" for b, e in left_out.items()))
    say("write", str(out_dir))
    took_symbolic = any(low.doc.get("symbols") for low in lowered.values())
    # host steps run on the actual shapes; with a backend that binds sizes, their tensors keep the symbolic dims
    model_json = descriptor.write(graph, out_dir, lowered, weights=options.weights,
                                  host=sym_host if took_symbolic and sym_host is not None else host, force=options.force,
                                  protect=[m for m in (model, options.prototxt) if isinstance(m, (str, Path))],
                                  symbolic=sym if took_symbolic else None)  # with its host steps' outputs
    after = graph.summary()
    error = (encoding_error(graph, options.weights, model_json["inputs"], axes=descriptor.int8_axes(graph, lowered))
             if options.weights != "raw" else None)
    return {"out": str(out_dir), "ops_before": before["ops"], "ops": after["ops"], "op_counts": after["op_counts"],
            "params": after["params"], "bytes": descriptor.size_report(out_dir), "seconds": time.perf_counter() - t0,
            "inputs": model_json["inputs"], "outputs": model_json["outputs"],
            # the activation memory each backend planned (backends without a static plan are absent)
            "activation_bytes": {b: low.memory for b, low in lowered.items() if low.memory is not None},
            "left_out": left_out,  # {backend: why} for optional backends that could not take the model
            "weight_bytes": model_json["stats"]["weight_encodings"],  # {encoding: stored bytes}
            "quantized": graph.quantized,  # the source computes on 8-bit values (its own 8-bit weights kept)
            "weight_error": error}  # the outputs' largest error the encoding causes (None: raw)


# the backends that bind symbolic sizes at run time; the others are built for fixed ones
SYMBOLIC_BACKENDS = ("js", "wasm", "webgpu")


def _load_graphs(model, options, example_inputs, say):
    """-> (the graph with fixed shapes, the graph with symbolic sizes or None, the fixed import's
    warnings when it is not the only graph). When the js backend is written, an ONNX model's open
    dims stay symbolic for it (it binds them at run time); the other backends get them fixed (1, or
    as --input-shape says). A model without open dims is imported once."""
    args = (model, options.input_shapes, options.constant_inputs, example_inputs, options.prototxt)
    if not set(SYMBOLIC_BACKENDS) & set(options.backends):
        return load_graph(*args), None, []
    try:
        sym = load_graph(*args, symbolic=True)
    except WebDNNError as e:
        fixed = load_graph(*args)  # the fixed import fails with its own message if it fails too
        warnings.warn(f"the model's open dims are fixed on every backend: {str(e).splitlines()[0]}", stacklevel=3)
        return fixed, None, []
    if not any(t.is_symbolic for t in sym.inputs):
        return sym, None, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fixed = load_graph(*args)
    return fixed, sym, [w.message for w in caught]


def _optimize_symbolic(sym, fixed, fixed_notes):
    """(the symbolic graph optimized for the backends that bind sizes, without its host steps; its host
    section or None), its sizes' defaults taken from the fixed graph (`fixed`: its static part);
    (None, None) where it cannot be kept symbolic (then the fixed import's notes stand, with the reason)."""
    from .ir.symbolic import Expr
    for s_in, f_in in zip(sym.inputs, fixed.inputs):
        for d, n in zip(s_in.shape, f_in.shape):
            if isinstance(d, Expr) and list(d.terms) == [(str(d),)] and d.terms[(str(d),)] == 1:
                sym.symbols.setdefault(str(d), int(n))
    try:
        optimize(sym)
        sym.verify()
        static, host = split_host(sym)
        if [t.name for t in static.outputs] != [t.name for t in fixed.outputs]:
            raise ConversionError("its outputs differ from the fixed graph's")
    except (ConversionError, ShapeError) as e:
        for n in fixed_notes:
            warnings.warn(n, stacklevel=3)
        warnings.warn(f"the model's open dims are fixed on every backend: {str(e).splitlines()[0]}", stacklevel=3)
        return None, None
    return static, host


def encoding_error(graph, weights: str, input_specs, seed: int = 0, axes: dict | None = None) -> dict:
    """How much `weights` (a lossy encoding) changes the outputs: the numpy references run on one
    seeded random input with the constants as stored and as decoded. -> {"max_abs", "max_rel"}: the
    largest difference over the outputs, absolute and relative to the largest output magnitude."""
    import numpy as np

    from .encoding import decode, encode, output_axes
    from .ir.reference import run
    from .verify import seeded_inputs
    inputs = seeded_inputs(input_specs, seed)
    exact = run(graph, inputs)
    saved = {}
    axes = (output_axes(graph) if axes is None else axes) if weights == "int8" else {}
    try:
        for t in graph.constants():
            fields, payload = encode(t.name, t.data, t.dtype, weights, axes.get(t.name))
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
