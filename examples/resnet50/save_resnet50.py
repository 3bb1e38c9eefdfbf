"""Save Keras' ResNet50 as resnet50.h5 (step one of the getting-started flow).

    python save_resnet50.py                  # ImageNet weights, downloaded by Keras
    python save_resnet50.py --weights none   # random weights (no download)

Any Keras backend works for saving (e.g. KERAS_BACKEND=torch); converting needs none.
"""
import argparse

from keras.applications import resnet50

parser = argparse.ArgumentParser()
parser.add_argument("--weights", default="imagenet", help="'imagenet' (default) or 'none'")
parser.add_argument("--out", default="resnet50.h5")
args = parser.parse_args()

model = resnet50.ResNet50(include_top=True, weights=None if args.weights == "none" else args.weights)
model.save(args.out)
print(f"saved {args.out}")
