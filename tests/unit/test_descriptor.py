import json
import zlib

import numpy as np
import pytest

from webdnn import convert
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
    assert model["version"] == 1 and model["inputs"] == [{"name": "x", "shape": [4], "dtype": "float32"}]
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
    assert read_model(tmp_path)["version"] == 1


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
