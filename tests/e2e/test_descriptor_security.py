"""Damaged and hostile descriptors in the real runtime (Node and headless Chromium): no file
outside the descriptor is read, every file is checked before use, model.json must agree with the
graph. Each case fails to load with an error naming the file or tensor; none runs with wrong data."""
import json
import zlib

import numpy as np
import pytest

from webdnn import convert
from webdnn.runners import RuntimeRunError
from tests.cases import CASES



def _crc(data: bytes) -> str:
    return f"{zlib.crc32(data) & 0xffffffff:08x}"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    m = next(c for c in CASES if c.name == "conv_basic").model
    d = tmp_path_factory.mktemp("good") / "out"
    convert(m, d, backends=["js", "wasm"])
    return d


def _copy(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def _edit_model(d, fn):
    model = json.loads((d / "model.json").read_text())
    fn(model)
    (d / "model.json").write_text(json.dumps(model))


def _x(d):
    (spec,) = json.loads((d / "model.json").read_text())["inputs"]
    return {spec["name"]: np.random.default_rng(0).standard_normal(spec["shape"]).astype(np.float32)}


@pytest.mark.parametrize("host", ["node", "chromium"])
def test_weight_name_outside_the_descriptor_is_refused(runners, converted, tmp_path, host):
    d = _copy(converted, tmp_path / "d")
    secret = tmp_path / "secret.bin"
    secret.write_bytes((d / "weights_0.bin").read_bytes())  # right size and checksum: only the name is wrong
    _edit_model(d, lambda m: m["weights"][0].update(file="../secret.bin"))
    with pytest.raises(RuntimeRunError, match=r"\.\./secret\.bin"):
        runners[host].run(d, _x(d), backend="js")


@pytest.mark.parametrize("field", ["graph", "file"])
def test_graph_name_outside_is_refused_without_echoing_the_file(runners, converted, tmp_path, field):
    d = _copy(converted, tmp_path / "d")
    (tmp_path / "private.txt").write_text("PRIVATE-CONTENT not json")
    if field == "graph":
        _edit_model(d, lambda m: m["backends"]["js"].update(graph="../private.txt"))
    else:
        _edit_model(d, lambda m: m["backends"]["js"].update(graph=str(tmp_path / "private.txt")))
    with pytest.raises(RuntimeRunError) as e:
        runners["node"].run(d, _x(d), backend="js")
    assert "PRIVATE-CONTENT" not in str(e.value) and "private.txt" in str(e.value)


def test_flipped_wasm_byte_is_caught_by_its_checksum(runners, converted, tmp_path):
    d = _copy(converted, tmp_path / "d")
    for name in ("graph_wasm.wasm", "graph_wasm.relaxed.wasm"):
        b = bytearray((d / name).read_bytes())
        b[len(b) // 2] ^= 0x10
        (d / name).write_bytes(bytes(b))
    with pytest.raises(RuntimeRunError, match=r"graph_wasm(\.relaxed)?\.wasm.*CRC-32"):
        runners["node"].run(d, _x(d), backend="wasm")


def test_edited_graph_file_is_caught_by_its_checksum(runners, converted, tmp_path):
    d = _copy(converted, tmp_path / "d")
    g = (d / "graph_js.json").read_text()
    (d / "graph_js.json").write_text(g.replace('"offset":0', '"offset":8', 1))
    with pytest.raises(RuntimeRunError, match=r"graph_js\.json.*CRC-32"):
        runners["node"].run(d, _x(d), backend="js")


@pytest.mark.parametrize("crc", [None, "", "missing"])
def test_weight_checksum_is_mandatory(runners, converted, tmp_path, crc):
    d = _copy(converted, tmp_path / "d")

    def edit(m):
        if crc == "missing":
            del m["weights"][0]["crc32"]
        else:
            m["weights"][0]["crc32"] = crc
    _edit_model(d, edit)
    with pytest.raises(RuntimeRunError, match="crc32"):
        runners["node"].run(d, _x(d), backend="js")


@pytest.mark.parametrize("backend", ["js", "wasm"])
@pytest.mark.parametrize("what", ["shape", "dtype"])
def test_model_json_must_agree_with_the_graph(runners, converted, tmp_path, backend, what):
    d = _copy(converted, tmp_path / "d")
    if what == "shape":
        _edit_model(d, lambda m: m["inputs"][0].update(shape=[1, 3, 4, 4]))
    else:
        _edit_model(d, lambda m: m["inputs"][0].update(dtype="int32"))
    name = json.loads((d / "model.json").read_text())["inputs"][0]["name"]
    with pytest.raises(RuntimeRunError, match=name):
        runners["node"].run(d, {name: np.zeros([1, 3, 4, 4] if what == "shape" else [1, 3, 8, 8],
                                               np.float32 if what == "shape" else np.int32)}, backend=backend)


def test_intact_descriptor_still_runs_everywhere(runners, converted):
    a = runners["node"].run(converted, _x(converted), backend="js")
    b = runners["node"].run(converted, _x(converted), backend="wasm")
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5)
