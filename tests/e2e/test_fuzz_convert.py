"""Seeded fuzz of the converter: truncated, bit-flipped and hostile ONNX, Keras .h5 and .keras files.

Every case must end in one of two ways: a converted descriptor whose output (run by the JavaScript
runtime in Node) matches the source framework run on the same damaged file, or a WebDNNError of
one line (UnsupportedOpsError lists every op, one per line, by design). A traceback, a hang or a
silent difference fails. Nothing outside the case's folder may change."""
import os
import random
import signal
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from webdnn import convert  # noqa: E402
from webdnn.errors import UnsupportedOpsError, WebDNNError  # noqa: E402
from webdnn.testing import compare  # noqa: E402

SEED = 20261204
CASE_SECONDS = 20


def onnx_seed() -> bytes:
    rng = np.random.RandomState(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 2, 3, 3], rng.randn(4, 2, 3, 3).astype(np.float32).ravel())
    b = helper.make_tensor("b", TensorProto.FLOAT, [4], rng.randn(4).astype(np.float32))
    fc = helper.make_tensor("fc", TensorProto.FLOAT, [16, 3], rng.randn(16, 3).astype(np.float32).ravel())
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "fc"], ["m"]),
        helper.make_node("Softmax", ["m"], ["y"], axis=1),
    ]
    g = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [w, b, fc])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def keras_seeds(d: Path) -> tuple[bytes, bytes]:
    import keras
    from keras import layers
    m = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(3, 3, activation="relu", name="conv"),
                          layers.Flatten(), layers.Dense(4, activation="softmax", name="fc")], name="fuzz")
    m.save(d / "seed.h5")
    m.save(d / "seed.keras")
    return (d / "seed.h5").read_bytes(), (d / "seed.keras").read_bytes()


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One of: truncation, 1-8 byte flips, a run of 0xff/0x00, a deleted or duplicated slice."""
    kind = rng.randrange(5)
    n = len(data)
    b = bytearray(data)
    if kind == 0:
        return bytes(b[:rng.randrange(n)])
    if kind == 1:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        return bytes(b)
    if kind == 2:
        i = rng.randrange(n)
        b[i:i + rng.randint(1, 16)] = bytes([rng.choice([0, 0xff])]) * rng.randint(1, 16)
        return bytes(b)
    i, j = sorted(rng.sample(range(n), 2))
    j = min(j, i + 64)
    return bytes(b[:i] + b[j:]) if kind == 3 else bytes(b[:j] + b[i:j] + b[j:])


def mutate_zip(data: bytes, rng: random.Random, d: Path) -> bytes:
    """A .keras file whose one member (config, metadata or weights) is damaged, re-zipped validly."""
    src = d / "src.keras"
    src.write_bytes(data)
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    name = rng.choice(sorted(members))
    members[name] = mutate(members[name], rng)
    out = d / "dst.keras"
    with zipfile.ZipFile(out, "w") as z:
        for n, v in members.items():
            z.writestr(n, v)
    return out.read_bytes()


def hostile_onnx(rng: random.Random) -> list[bytes]:
    """Structured mutations a byte flip rarely reaches: dims, attributes, names, initializers."""
    out = []
    base = onnx.load_from_string(onnx_seed())
    edits = [
        lambda m: m.graph.input[0].type.tensor_type.shape.dim[2].__setattr__("dim_value", 10**6),
        lambda m: m.graph.input[0].type.tensor_type.shape.dim[1].__setattr__("dim_value", 3),
        lambda m: m.graph.initializer[0].dims.__setitem__(0, 10**9),
        lambda m: m.graph.initializer[0].__setattr__("raw_data", b"\0" * 7) or m.graph.initializer[0].ClearField("float_data"),
        lambda m: m.graph.node[0].attribute[0].ints.__setitem__(0, -5),
        lambda m: m.graph.node[0].attribute[1].ints.__setitem__(0, 0),
        lambda m: m.graph.node[2].attribute[0].ints.__setitem__(0, 100),
        lambda m: m.graph.node[5].attribute[0].__setattr__("i", 7),
        lambda m: m.graph.node[4].input.__setitem__(1, "missing"),
        lambda m: m.graph.node[1].output.__setitem__(0, "x"),
        lambda m: m.graph.node[3].__setattr__("op_type", "NoSuchOp"),
        lambda m: m.opset_import[0].__setattr__("version", 99),
        lambda m: m.opset_import[0].__setattr__("version", 0),
        lambda m: m.graph.initializer[1].__setattr__("data_type", 13),
        lambda m: m.graph.initializer[1].__setattr__("data_type", 99),
        lambda m: m.graph.node.append(helper.make_node("ConstantOfShape", ["big"], ["z"])) or m.graph.initializer.append(
            helper.make_tensor("big", TensorProto.INT64, [2], [10**6, 10**6])) or m.graph.output.append(
            helper.make_tensor_value_info("z", TensorProto.FLOAT, None)),
        lambda m: m.graph.initializer[0].__setattr__("data_location", 1) or m.graph.initializer[0].external_data.add(
            key="location", value="../../../../etc/passwd"),
        lambda m: m.graph.initializer[0].__setattr__("data_location", 1) or m.graph.initializer[0].external_data.add(
            key="location", value="/etc/passwd"),
    ]
    for edit in edits:
        m = onnx.ModelProto()
        m.CopyFrom(base)
        edit(m)
        out.append(m.SerializeToString())
    return out


def cases(tmp: Path):
    rng = random.Random(SEED)
    onnx_bytes = onnx_seed()
    h5, keras_zip = keras_seeds(tmp)
    for data in hostile_onnx(rng):
        yield "onnx", data
    for _ in range(170):
        yield "onnx", mutate(onnx_bytes, rng)
    for _ in range(80):
        yield "h5", mutate(h5, rng)
    for _ in range(60):
        yield "keras", mutate_zip(keras_zip, rng, tmp)


def expected_output(kind: str, path: Path, x: np.ndarray):
    """The source framework's answer on the same damaged file, or None where it refuses the file."""
    try:
        if kind == "onnx":
            import onnxruntime as ort
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            return sess.run(None, {sess.get_inputs()[0].name: x})[0]
        import keras
        return np.asarray(keras.models.load_model(str(path), compile=False).predict(x, verbose=0))
    except Exception:
        return None


class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang()


def test_fuzz_conversions(tmp_path, runners):
    signal.signal(signal.SIGALRM, _alarm)
    outcomes = {"converted": 0, "compared": 0, "refused": 0}
    failures = []
    inputs = {"onnx": np.random.RandomState(1).randn(1, 2, 8, 8).astype(np.float32),
              "h5": np.random.RandomState(1).randn(1, 6, 6, 2).astype(np.float32)}
    inputs["keras"] = inputs["h5"]
    for i, (kind, data) in enumerate(cases(tmp_path)):
        case = tmp_path / f"case{i}"
        case.mkdir()
        model = case / f"model.{kind}"
        model.write_bytes(data)
        out = case / "out"
        signal.alarm(CASE_SECONDS)
        try:
            convert(str(model), out, backends=["js"])
        except Hang:
            failures.append(f"case {i} ({kind}): conversion did not finish in {CASE_SECONDS} s")
            continue
        except UnsupportedOpsError:
            outcomes["refused"] += 1
            continue
        except WebDNNError as e:
            outcomes["refused"] += 1
            if "\n" in str(e) or not str(e):
                failures.append(f"case {i} ({kind}): error of {len(str(e).splitlines())} lines: {str(e)[:300]!r}")
            continue
        except Exception as e:  # noqa: BLE001 - exactly what the test forbids
            failures.append(f"case {i} ({kind}): {type(e).__name__} escaped: {str(e)[:300]}")
            continue
        finally:
            signal.alarm(0)
        outcomes["converted"] += 1
        assert model.read_bytes() == data, f"case {i}: the model file changed"
        assert sorted(p.name for p in case.iterdir()) == sorted([model.name, "out"]), f"case {i}: stray files"
        x = inputs[kind]
        want = expected_output(kind, model, x)
        try:
            got = runners["node"].run(out, {"x" if kind == "onnx" else next(iter(_input_names(out))): x}, backend="js")
        except WebDNNError as e:
            failures.append(f"case {i} ({kind}): converted, but the runtime refused it: {str(e)[:300]}")
            continue
        if want is None:
            continue
        outcomes["compared"] += 1
        (y,) = got.values()
        msg = compare(y, want.reshape(y.shape) if want.size == y.size else want, "js", f"case {i} ({kind})")
        if msg:
            failures.append(msg)
    print(outcomes)
    assert sum(outcomes.values()) - outcomes["compared"] + len(failures) >= 300
    assert outcomes["compared"] >= 20, outcomes  # the comparison path is exercised, not only refusals
    assert not failures, "\n".join(failures[:20])


def _input_names(out: Path):
    from webdnn.descriptor import read_model
    return [t["name"] for t in read_model(out)["inputs"]]
