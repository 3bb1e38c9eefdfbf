#!/usr/bin/env python3
"""Convert a Caffe model into a WebDNN descriptor (the original command line):

    python ./bin/convert_caffe.py bvlc.caffemodel --prototxt deploy.prototxt --input_shape "(1,3,224,224)" --out output
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), ".."))  # run from a checkout too

from webdnn.convert_caffe import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
