"""The original WebDNN command line for Caffe models, on top of webdnn.converter.convert():

    python ./bin/convert_caffe.py bvlc.caffemodel --prototxt deploy.prototxt --input_shape '(1,3,224,224)' --out output
    python -m webdnn.convert_caffe bvlc.caffemodel --prototxt deploy.prototxt --out output

Reads the binary .caffemodel and its text network definition with the protobuf package (no Caffe).
"""
from __future__ import annotations

import argparse
import sys

from .convert_keras import add_common_arguments, convert_and_report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convert_caffe.py", description="Convert a Caffe model (.caffemodel with its "
                                "deploy.prototxt) into a WebDNN descriptor directory.")
    p.add_argument("caffemodel", help="Caffe weights (.caffemodel)")
    p.add_argument("--prototxt", help="the network definition (deploy.prototxt); default: the one in the caffemodel")
    p.add_argument("--input_shape", action="append", metavar="'(1,3,224,224)'",
                   help="input shape, channels first as in Caffe; repeat for several inputs (in input order, or "
                        "NAME=(...)); default: the shape the prototxt declares")
    add_common_arguments(p)
    return p


def main(argv=None) -> int:
    from .cli import one_line_errors
    args = build_parser().parse_args(argv)
    return one_line_errors(lambda a: convert_and_report(a.caffemodel, a, prototxt=a.prototxt), args)


if __name__ == "__main__":
    sys.exit(main())
