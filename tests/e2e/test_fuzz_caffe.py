"""Seeded fuzz of the Caffe frontend: truncated and bit-flipped .caffemodel files, and prototxt
files with damaged text. Every case must convert or end in a WebDNNError of one line (an
UnsupportedLayersError lists every layer type, one per line, by design); a traceback or a hang
fails, and the two input files are never changed."""
import random
import signal

import numpy as np

from webdnn import convert
from webdnn.errors import UnsupportedOpsError, WebDNNError

from ..caffe_nets import Net
from .test_fuzz_convert import Hang, _alarm, mutate

SEED = 20261206
CASES = 160
CASE_SECONDS = 20


def seed_net():
    n = Net("fuzz", {"data": (1, 2, 8, 8)}, seed=0)
    x = n.layer("Convolution", "conv", "data", blobs=[n.randn(4, 2, 3, 3), n.randn(4)],
                convolution_param={"num_output": 4, "kernel_size": [3], "pad": [1], "stride": [2]})
    n.layer("BatchNorm", "bn", x, top=x, blobs=[n.randn(4), np.abs(n.randn(4)) + 0.5, np.array([1.0])])
    n.layer("ReLU", "relu", x, top=x)
    x = n.layer("Pooling", "pool", x, pooling_param={"pool": "MAX", "kernel_size": 2, "stride": 2})
    x = n.layer("InnerProduct", "fc", x, blobs=[n.randn(3, 16), n.randn(3)], inner_product_param={"num_output": 3})
    n.layer("Softmax", "prob", x)
    return n


def mutate_text(text: str, rng: random.Random) -> str:
    """A deleted span, a duplicated line, a changed number or a changed name."""
    kind = rng.randrange(4)
    if kind == 0:
        i = rng.randrange(len(text))
        return text[:i] + text[i + rng.randint(1, 40):]
    lines = text.splitlines()
    k = rng.randrange(len(lines))
    if kind == 1:
        return "\n".join(lines[:k + 1] + lines[k:])
    if kind == 2:
        digits = [i for i, ch in enumerate(text) if ch.isdigit()]
        i = rng.choice(digits)
        return text[:i] + rng.choice(["0", "9", "-1", "99999", "1.5"]) + text[i + 1:]
    names = [i for i, ch in enumerate(text) if ch == '"']
    i = rng.choice(names)
    return text[:i + 1] + rng.choice(["x", "conv", "data", "prob", ""]) + text[i + 1:]


def test_fuzz_caffe(tmp_path):
    model, proto = seed_net().write(tmp_path / "seed")
    weights, text = model.read_bytes(), proto.read_text()
    rng = random.Random(SEED)
    signal.signal(signal.SIGALRM, _alarm)
    outcomes = {"converted": 0, "refused": 0}
    failures = []
    for i in range(CASES):
        case = tmp_path / f"case{i}"
        case.mkdir()
        m, p = case / "m.caffemodel", case / "m.prototxt"
        damaged_weights = i % 2 == 0
        m.write_bytes(mutate(weights, rng) if damaged_weights else weights)
        p.write_text(text if damaged_weights else mutate_text(text, rng))
        before = (m.read_bytes(), p.read_bytes())
        signal.alarm(CASE_SECONDS)
        try:
            convert(str(m), case / "out", backends=["js"], prototxt=str(p))
            outcomes["converted"] += 1
        except Hang:
            failures.append(f"case {i}: conversion did not finish in {CASE_SECONDS} s")
        except UnsupportedOpsError:
            outcomes["refused"] += 1
        except WebDNNError as e:
            outcomes["refused"] += 1
            if "\n" in str(e) or not str(e):
                failures.append(f"case {i}: error of {len(str(e).splitlines())} lines: {str(e)[:300]!r}")
        except Exception as e:  # noqa: BLE001 - the point of the test
            failures.append(f"case {i}: {type(e).__name__}: {str(e)[:300]}")
        finally:
            signal.alarm(0)
        if (m.read_bytes(), p.read_bytes()) != before:
            failures.append(f"case {i}: an input file changed")
    assert not failures, "\n".join(failures)
    assert outcomes["converted"] and outcomes["refused"], outcomes
