"""Hostile and damaged model files: the converter reads nothing outside the file it is given,
bounds what a file may expand to, and ends every failure in one WebDNNError line."""
import io
import json
import os
import subprocess
import sys
import zipfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from webdnn import convert  # noqa: E402
from webdnn.errors import ConversionError, ModelFileError, ShapeError, WebDNNError  # noqa: E402

SECRET = b"TOP-SECRET-" * 8


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    import keras
    d = tmp_path_factory.mktemp("keras")
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")], name="m")
    m.save(d / "m.h5")
    m.save(d / "m.keras")
    return d / "m.h5", d / "m.keras"


def _h5_weight(f):
    """The path of the Dense kernel dataset inside a Keras .h5."""
    found = []
    f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) and n.endswith("kernel") else None)
    return found[0]


def _copy(src, dst):
    dst.write_bytes(src.read_bytes())
    return dst


def _never_published(out):
    for p in out.rglob("*") if out.exists() else []:
        if p.is_file():
            assert b"TOP-SECRET" not in p.read_bytes(), p


# ---- 1. HDF5 features that reach outside the file -----------------------------------------------

@pytest.mark.parametrize("kind", ["external_storage", "external_link", "virtual"])
def test_h5_reaching_outside_the_file_is_refused(keras_files, tmp_path, kind):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(SECRET)
    model = _copy(keras_files[0], tmp_path / "hostile.h5")
    with h5py.File(model, "r+") as f:
        path = _h5_weight(f)
        shape = f[path].shape
        del f[path]
        if kind == "external_storage":
            f.create_dataset(path, shape=shape, dtype="f4", external=[(str(secret), 0, 4 * int(np.prod(shape)))])
        elif kind == "external_link":
            f[path] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/kernel")
            with h5py.File(tmp_path / "other.h5", "w") as o:
                o["kernel"] = np.frombuffer(SECRET[:48], np.float32).reshape(shape)
        else:
            with h5py.File(tmp_path / "other.h5", "w") as o:
                o["kernel"] = np.frombuffer(SECRET[:48], np.float32).reshape(shape)
            layout = h5py.VirtualLayout(shape=shape, dtype="f4")
            layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "kernel", shape=shape)
            f.create_virtual_dataset(path, layout)
    out = tmp_path / "out"
    with pytest.raises(ModelFileError, match="outside the model file|virtual dataset"):
        convert(str(model), out)
    assert not out.exists()
    _never_published(tmp_path / "out")


def test_keras_zip_holding_an_h5_with_external_storage_is_refused(keras_files, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(SECRET)
    with zipfile.ZipFile(keras_files[1]) as z:
        members = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "r+") as f:
        path = _all_datasets(f)[0]  # .keras: layers/<key>/vars/<i>
        shape = f[path].shape
        del f[path]
        f.create_dataset(path, shape=shape, dtype="f4", external=[(str(secret), 0, 4 * int(np.prod(shape)))])
    members["model.weights.h5"] = buf.getvalue()
    model = tmp_path / "hostile.keras"
    with zipfile.ZipFile(model, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.raises(ModelFileError, match="outside the model file"):
        convert(str(model), tmp_path / "out")


def _all_datasets(f):
    found = []
    f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
    return found


# ---- 7. damaged files end in one line -------------------------------------------------------------

def test_keras_zip_bomb_is_bounded(keras_files, tmp_path):
    with zipfile.ZipFile(keras_files[1]) as z:
        members = {n: z.read(n) for n in z.namelist()}
    model = tmp_path / "bomb.keras"
    with zipfile.ZipFile(model, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", members["config.json"])
        z.writestr("model.weights.h5", b"\0" * (200 << 20))  # 200 MB of zeros in ~200 KB
    assert model.stat().st_size < 1 << 20
    with pytest.raises(ModelFileError, match="would expand"):
        convert(str(model), tmp_path / "out")


def test_h5_dataset_declaring_far_more_than_it_stores_is_refused(keras_files, tmp_path):
    model = _copy(keras_files[0], tmp_path / "big.h5")
    with h5py.File(model, "r+") as f:
        f.create_dataset("model_weights/padding", shape=(10**9,), dtype="f4")  # nothing stored behind it
    with pytest.raises(ModelFileError, match="would expand"):
        convert(str(model), tmp_path / "out")


@pytest.mark.parametrize("config", ["{not json", "[1, 2]", json.dumps({"class_name": 5, "config": "x"})])
def test_bad_keras_config_is_one_error(keras_files, tmp_path, config):
    model = _copy(keras_files[0], tmp_path / "bad.h5")
    with h5py.File(model, "r+") as f:
        f.attrs["model_config"] = config
    with pytest.raises(WebDNNError) as e:
        convert(str(model), tmp_path / "out")
    assert "\n" not in str(e.value)


def test_truncated_h5_is_one_error(keras_files, tmp_path):
    data = keras_files[0].read_bytes()
    for cut in (len(data) // 3, len(data) - 100):
        model = tmp_path / f"cut{cut}.h5"
        model.write_bytes(data[:cut])
        with pytest.raises(WebDNNError) as e:
            convert(str(model), tmp_path / f"out{cut}")
        assert "\n" not in str(e.value)


def _onnx(initializer, name_x="x"):
    x = helper.make_tensor_value_info(name_x, TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    node = helper.make_node("Add", [name_x, "w"], ["y"])
    g = helper.make_graph([node], "g", [x], [y], [initializer])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_initializer_shorter_than_its_dims_is_one_error(tmp_path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 4], b"\0" * 16, raw=True)
    w.raw_data = b"\0" * 8  # 8 bytes for 16
    path = tmp_path / "short.onnx"
    path.write_bytes(_onnx(w).SerializeToString())
    with pytest.raises(ModelFileError, match="'w'.*damaged data"):
        convert(str(path), tmp_path / "out")


def test_onnx_non_utf8_name_is_one_error(tmp_path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 4], np.ones(4, np.float32).tobytes(), raw=True)
    data = _onnx(w, name_x="xq").SerializeToString().replace(b"xq", b"\xff\xfe")
    path = tmp_path / "name.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelFileError) as e:
        convert(str(path), tmp_path / "out")
    assert "\n" not in str(e.value)


# ---- 8. absurd sizes are refused with the tensor's name and size --------------------------------

def test_huge_constant_of_shape_names_the_tensor(tmp_path):
    shape = helper.make_tensor("s", TensorProto.INT64, [1], [10**9])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [10**9])
    g = helper.make_graph([helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["c", "x"], ["y"])],
                          "g", [x], [y], [shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ConversionError, match=r"ConstantOfShape.*\[1000000000\].*3\.7 GiB"):
        convert(m, tmp_path / "out")


def test_huge_input_names_the_input(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1000, 1000, 1000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1000, 1000, 1000])
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ShapeError, match=r"input 'x' .*GiB"):
        convert(m, tmp_path / "out")


# ---- CLI: one line, never a traceback -----------------------------------------------------------

def _cli(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "webdnn", *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    return r.returncode, r.stderr.strip()


def test_cli_errors_are_one_line(keras_files, tmp_path):
    (tmp_path / "file").write_text("x")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(keras_files[0].read_bytes()[:2000])
    cases = [
        ("convert", "-q", str(keras_files[0]), "-o", str(tmp_path / "file")),   # -o an existing file
        ("convert", "-q", str(bad), "-o", str(tmp_path / "o2")),           # truncated .h5
        ("serve", str(tmp_path / "missing")),                              # a missing folder
        ("serve", str(tmp_path), "--port", "99999"),                       # no such port
    ]
    for args in cases:
        rc, err = _cli(*args)
        assert rc == 2 and err.startswith("error: ") and "Traceback" not in err, (args, err)
        assert len(err.splitlines()) == 1, (args, err)
    assert (tmp_path / "file").read_text() == "x"


def test_cli_serve_on_a_busy_port_is_one_line(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        rc, err = _cli("serve", str(tmp_path), "--port", str(s.getsockname()[1]))
    finally:
        s.close()
    assert rc == 2 and "cannot listen" in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("where", ["../secret.bin", "/abs", "link.bin"])
def test_onnx_external_data_outside_the_model_folder_is_refused(tmp_path, where):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    location = {"../secret.bin": "../secret.bin", "/abs": str(secret), "link.bin": "link.bin"}[where]
    if where == "link.bin":
        (folder / "link.bin").symlink_to(secret)
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 4], b"\0" * 16, raw=True)
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    (folder / "m.onnx").write_bytes(_onnx(w).SerializeToString())
    with pytest.raises(ModelFileError, match="external weight data"):
        convert(str(folder / "m.onnx"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
