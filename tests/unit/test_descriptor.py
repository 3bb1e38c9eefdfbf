import json
import zlib

import numpy as np
import pytest

from webdnn import convert
from webdnn.converter import load_graph
from webdnn.descriptor import read_model, write
from webdnn.backend import LOWERERS
from webdnn.errors import ConversionError, WebDNNError
from webdnn.ir import Graph
from webdnn.ir.ops.elementwise import call, inp
from tests.cases import CASES


def graph_with(consts):
    g = Graph()
    x = g.add_input("x", [4])
    expr, ins = inp(0), [x]
    for i, c in enumerate(consts):
        ins.append(g.constant(c, f"c{i}"))
        expr = call("add", expr, call("cast", "float32", inp(i + 1)))
    (y,) = g.add_op("Elementwise", ins, {"expr": expr})
    g.outputs = [y]
    return g


def test_model_json_and_weights(tmp_path):
    g = graph_with([np.arange(4, dtype=np.float32), np.full(4, 0.5, np.float32), np.array([1, -2, 3, 4], np.int64)])
    model = write(g, tmp_path, {"js": LOWERERS["js"](g)}, chunk_bytes=16)
    assert model["version"] == 2 and model["inputs"] == [{"name": "x", "shape": [4], "dtype": "float32"}]
    doc = json.loads((tmp_path / "graph_js.json").read_text())
    c = doc["constants"]
    assert c["c1"]["encoding"] == "fill" and c["c1"]["value"] == 0.5 and c["c1"]["bytes"] == 0
    assert c["c0"]["encoding"] == "raw" and c["c2"]["encoding"] == "raw" and c["c2"]["bytes"] == 16  # int64 as int32
    assert c["c0"]["offset"] % 8 == 0 and c["c2"]["offset"] % 8 == 0
    blob = b""
    assert len(model["weights"]) == 2  # 32 bytes in chunks of 16
    for w in model["weights"]:
        data = (tmp_path / w["file"]).read_bytes()
        assert len(data) == w["bytes"] and f"{zlib.crc32(data):08x}" == w["crc32"]
        blob += data
    off = c["c2"]["offset"]
    assert np.frombuffer(blob[off:off + 16], "<i4").tolist() == [1, -2, 3, 4]
    assert model["backends"]["js"] == {"graph": "graph_js.json", "weights": [0, 1]}
    (graph_entry,) = model["files"]  # every file besides the chunks has its checksum too
    data = (tmp_path / "graph_js.json").read_bytes()
    assert graph_entry == {"file": "graph_js.json", "bytes": len(data), "crc32": f"{zlib.crc32(data):08x}"}
    assert read_model(tmp_path)["version"] == 2


def test_int64_out_of_range_is_refused(tmp_path):
    g = graph_with([np.array([1, 2**40, 3, 4], np.int64)])
    with pytest.raises(ConversionError, match="32-bit"):
        write(g, tmp_path, {"js": LOWERERS["js"](g)})


def test_f16_weights_halve_the_bytes(tmp_path):
    m = next(c for c in CASES if c.name == "conv_basic").model
    raw = convert(m, tmp_path / "raw")
    half = convert(m, tmp_path / "half", weights="f16")
    assert json.loads((tmp_path / "half" / "graph_js.json").read_text())["constants"]
    half_bytes = (tmp_path / "half" / "weights_0.bin").stat().st_size
    raw_bytes = (tmp_path / "raw" / "weights_0.bin").stat().st_size
    assert half_bytes <= raw_bytes / 2 + 16  # + alignment padding
    assert raw["bytes"]["js"] > half["bytes"]["js"]


def test_read_model_rejects_other_versions(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps({"format": "webdnn-descriptor", "version": 99}))
    with pytest.raises(WebDNNError, match="version 99"):
        read_model(tmp_path)


def test_free_lists_drop_activations_after_last_use(tmp_path):
    m = next(c for c in CASES if c.name == "conv_basic").model
    convert(m, tmp_path)
    doc = json.loads((tmp_path / "graph_js.json").read_text())
    freed = [n for k in doc["kernels"] for n in k["free"]]
    assert "x" in freed and not set(doc["outputs"]) & set(freed)


# ---- the writer stages and swaps: a user's files are never deleted, a failure changes nothing ----

def _conv(tmp_path):
    return next(c for c in CASES if c.name == "conv_basic").model


def test_convert_refuses_a_folder_that_is_not_a_descriptor(tmp_path):
    """`webdnn convert graph_model.onnx -o .` used to delete the model (it matched graph_*.*)."""
    m = _conv(tmp_path)
    src = tmp_path / "graph_model.onnx"
    src.write_bytes(m.SerializeToString())
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(WebDNNError, match="not empty and holds no webdnn descriptor"):
        convert(str(src), tmp_path)
    assert src.read_bytes() == m.SerializeToString() and (tmp_path / "notes.txt").read_text() == "mine"
    # --force writes beside the user's files and touches none of them
    convert(str(src), tmp_path, force=True)
    assert src.read_bytes() == m.SerializeToString() and (tmp_path / "notes.txt").read_text() == "mine"
    assert read_model(tmp_path)["version"] == 2


def test_reconverting_never_deletes_what_a_tampered_model_json_lists(tmp_path):
    m = _conv(tmp_path)
    out = tmp_path / "out"
    convert(m, out)
    src = out / "model.onnx"
    src.write_bytes(m.SerializeToString())
    (out / "notes.txt").write_text("mine")
    model = json.loads((out / "model.json").read_text())
    model["files"] += [{"file": "model.onnx", "bytes": 1, "crc32": "00000000"},
                       {"file": "notes.txt", "bytes": 1, "crc32": "00000000"}]
    (out / "model.json").write_text(json.dumps(model))
    convert(str(src), out)
    assert src.read_bytes() == m.SerializeToString() and (out / "notes.txt").read_text() == "mine"


def test_the_model_file_is_never_overwritten(tmp_path):
    from webdnn import descriptor
    m = _conv(tmp_path)
    g = load_graph(m)
    src = tmp_path / "graph_js.json"  # as if the model had a descriptor file's name
    src.write_text("the model")
    with pytest.raises(WebDNNError, match="would replace the model file"):
        descriptor.write(g, tmp_path, {"js": LOWERERS["js"](g)}, force=True, protect=[src])
    assert src.read_text() == "the model"


def test_convert_into_a_file_or_over_a_folder_entry_fails_cleanly(tmp_path):
    m = _conv(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(WebDNNError, match="exists and is not a folder"):
        convert(m, tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"
    out = tmp_path / "out"
    convert(m, out)
    (out / "graph_x").mkdir()  # a sub-folder named like a descriptor file is neither deleted nor fatal
    convert(m, out)
    assert (out / "graph_x").is_dir()
    (out / "graph_js.json").unlink()
    (out / "graph_js.json").mkdir()
    with pytest.raises(WebDNNError, match="is a folder or a link"):
        convert(m, out)


def test_reconverting_replaces_only_the_old_descriptor_and_is_atomic(tmp_path, monkeypatch):
    m = _conv(tmp_path)
    out = tmp_path / "out"
    convert(m, out, backends=["js", "wasm"])
    (out / "index.html").write_text("my page")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "graph_wasm.wasm" in before
    # a failure half way through writing leaves the old descriptor exactly as it was
    from webdnn import descriptor
    real = descriptor._dumps
    calls = []

    def boom(obj, **kw):
        calls.append(1)
        if len(calls) > 1:
            raise OSError("disk full")
        return real(obj, **kw)
    monkeypatch.setattr(descriptor, "_dumps", boom)
    with pytest.raises(OSError, match="disk full"):
        convert(m, out, backends=["js"])
    monkeypatch.setattr(descriptor, "_dumps", real)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".staging")]
    # a good re-conversion removes the files only the old model.json listed, keeps the user's page
    convert(m, out, backends=["js"])
    names = {p.name for p in out.iterdir()}
    assert "graph_wasm.wasm" not in names and "graph_wasm.json" not in names
    assert (out / "index.html").read_text() == "my page"
    assert list(read_model(out)["backends"]) == ["js"]


def test_read_file_checks_names_and_checksums(tmp_path):
    from webdnn.descriptor import read_file
    m = _conv(tmp_path)
    out = tmp_path / "out"
    convert(m, out)
    (tmp_path / "secret.bin").write_bytes(b"secret")
    model = read_model(out)
    assert read_file(out, model, "graph_js.json") == (out / "graph_js.json").read_bytes()
    for bad in ("../secret.bin", "/etc/passwd", "sub/x.bin", ".hidden", ""):
        with pytest.raises(WebDNNError, match="not a plain file name"):
            read_file(out, model, bad)
    with pytest.raises(WebDNNError, match="not listed"):
        read_file(out, model, "secret.bin")
    (out / "graph_js.json").write_bytes((out / "graph_js.json").read_bytes().replace(b'"offset":0', b'"offset":8'))
    with pytest.raises(WebDNNError, match="damaged or stale"):
        read_file(out, model, "graph_js.json")
