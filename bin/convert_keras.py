#!/usr/bin/env python3
"""Convert a Keras model into a WebDNN descriptor (the original command line):

    python ./bin/convert_keras.py resnet50.h5 --input_shape '(1,224,224,3)' --out output
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), ".."))  # run from a checkout too

from webdnn.convert_keras import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
