#!/usr/bin/env bash
# Everything a lent GPU machine has to measure, in one call of the device tool (at most 600 s a call):
#   bash bench/gpu/device.sh "$OUT"            # there; carry [".whl", ".gl"] (README.md: prepare_wheels.sh, loader debs)
#   bash bench/gpu/device.sh /tmp/dev --quick  # here: checks the script on lavapipe, measures nothing
# 1. run.py: the wasm benchmark's model set and a language model's one-token step against onnxruntime's WebGPU
#    EP, the GEMM tiles, ResNet50 / MobileNetV2 against PyTorch (results.md/.json under OUT/gpu, written as it goes)
# 2. dynamic.py: symbolic against fixed sizes on webgpu (OUT/dynamic.md, a row at a time)
# Each part has its own time limit, so a slow part costs only itself; OUT/summary.txt says how each ended.
set -u
OUT=${1:?usage: bench/gpu/device.sh OUT [--quick]}
QUICK=${2:-}
cd "$(dirname "$0")/../.."
mkdir -p "$OUT"
if ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --find-links .whl wgpu onnx onnxruntime-ep-webgpu > "$OUT/pip.log" 2>&1 \
    || echo "pip: exit $? (see pip.log)" >> "$OUT/summary.txt"
fi
NV=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$NV" ]; then export VK_DRIVER_FILES=$NV; fi
if command -v nvidia-smi >/dev/null; then nvidia-smi -L >> "$OUT/summary.txt" 2>&1; else echo "no nvidia-smi" >> "$OUT/summary.txt"; fi
if [ "$QUICK" = "--quick" ]; then
  RUN=(--quick --gemm 0 --models "" --no-decode); RUN_S=300
  DYN=(--models MobileNetV3-Small --pairs 3 --warmup 1); DYN_S=240
else
  RUN=(--sweep-tiles); RUN_S=420
  DYN=(--models BERT-Small,MobileNetV3-Small,ConvNeXt-Tiny --pairs 10 --warmup 3); DYN_S=120
fi
ended() {  # what: exit status: one line of the summary
  case $2 in
    0) echo "$1: done" ;;
    124) echo "$1: stopped at its limit of $3 s (what it measured is kept)" ;;
    *) echo "$1: failed, exit $2 (see its log)" ;;
  esac >> "$OUT/summary.txt"
}
timeout "$RUN_S" python3 bench/gpu/run.py "${RUN[@]}" --out "$OUT/gpu" > "$OUT/run.log" 2>&1
ended run.py $? "$RUN_S"
timeout "$DYN_S" python3 bench/dynamic.py --backends webgpu "${DYN[@]}" --out "$OUT/dynamic" > "$OUT/dynamic.md" 2> "$OUT/dynamic.log"
ended dynamic.py $? "$DYN_S"
cat "$OUT/summary.txt"
