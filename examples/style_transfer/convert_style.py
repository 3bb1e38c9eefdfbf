"""Convert a style model of chainer-fast-neuralstyle (a FastStyleNet saved with save_npz) into a
descriptor for this page:

    python convert_style.py composition.model --size 320x240 --out styles/composition

then add {"name": "composition", "model": "styles/composition"} to config.json. Needs Chainer
(`pip install chainer`; Chainer 7 runs with numpy < 1.24)."""
import argparse
import sys
from pathlib import Path

import chainer
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faststylenet import FastStyleNet  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout too
import webdnn  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a FastStyleNet .model file (chainer.serializers.save_npz)")
    p.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of the content image (multiples of 4)")
    p.add_argument("--out", required=True, help="the descriptor folder")
    args = p.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    net = FastStyleNet()
    chainer.serializers.load_npz(args.model, net)
    summary = webdnn.convert(net, np.zeros((1, 3, h, w), np.float32), args.out)
    print(f"converted {args.model} -> {summary['out']} ({w}×{h}); backends: {', '.join(summary['bytes'])}")


if __name__ == "__main__":
    main()
