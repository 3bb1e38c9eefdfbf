#!/usr/bin/env bash
# Downloads, on a machine that reaches PyPI, the wheels the GPU machine (Python 3.12, x86_64,
# torch already installed, no network) needs for bench/gpu/run.py: wgpu (bundles wgpu-native)
# and onnx, with their dependencies, and the peer, onnxruntime's WebGPU plugin EP (onnxruntime-ep-webgpu,
# Dawn; it needs onnxruntime >= 1.24.4 there), into .whl/ at the repository root (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY_VERSION:-3.12}
python3 -m pip download -q --only-binary=:all: --python-version "$PY" \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "wgpu==0.32.0" "onnx==1.23.2" "numpy>=1.24"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" --platform manylinux_2_28_x86_64 \
  -d .whl "onnxruntime-ep-webgpu==0.4.0"
du -sh .whl && ls .whl
