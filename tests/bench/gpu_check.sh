#!/usr/bin/env bash
# Run ON the lent GPU machine (the device tool), from the repository root, after
# tests/bench/gpu_prep.sh here: every GPU test, then the GPU benchmarks (docs/benchmarks.md, "On a GPU"), the
# JSON of each written under $OUT (or ./gpu-out) for docs/benchmarks.md. About 8-10 min.
set -uo pipefail
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 REVERIE_CACHE=/tmp/reverie-cache
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1
{ nvidia-smi -L; python3 -c "import torch, cupy; print('torch', torch.__version__, torch.cuda.get_device_name(), 'cupy', cupy.__version__)"; } | tee "$OUT/device.txt"
# 1. The GPU tests (skipped on CPU machines): CUDA IPC ring, native GPU mode, model I/O on the device, backends.
python3 -m pytest -q -m gpu -rs tests/test_cuda_ipc.py tests/test_native_cuda.py tests/test_model_stylize.py \
  tests/test_model_backends.py tests/test_bench_and_demo.py 2>&1 | tee "$OUT/gpu-tests.txt"
# 2. The bridge on the GPU: 1,000 frames at 1080p, host copies per frame, overhead per frame.
python3 -m reverie bench bridge --transport cuda --json --size 1920x1080 --frames 1000 2>&1 | tail -1 | tee "$OUT/bench-bridge-cuda.json"
python3 -m reverie bench bridge --json --size 1920x1080 --frames 1000 2>&1 | tail -1 | tee "$OUT/bench-bridge-shm.json"
# 3. The model end to end through the CUDA ring at MirageLSD's 768x432 and at 1280x704, 1/2/4 steps,
#    the model at the game's resolution (--work-height = the frame's height).
for size in 768x432 1280x704; do
  python3 -m reverie bench model --device cuda --json --size "$size" --work-height "${size#*x}" --steps 1,2,4 \
    --backend torch --frames 300 2>&1 | tail -1 | tee "$OUT/bench-model-cuda-$size.json"
done
# 4. The 1080p game frame through the model (448x256 working size, guided upsampling) on the GPU.
#    (OpenVINO is not carried: its wheel does not fit the carry beside OpenCV's.)
python3 -m reverie bench model --device cuda --json --size 1920x1080 --backend torch --frames 300 2>&1 | tail -1 \
  | tee "$OUT/bench-model-cuda-1920x1080.json"
#    The same for the 9.3-GFLOP network under training (model/training/v2/latest): the 40 ms bar at 1080p.
python3 -m reverie bench model --device cuda --json --size 1920x1080 --backend torch --weights model/training/v2/latest \
  --frames 300 2>&1 | tail -1 | tee "$OUT/bench-model-cuda-1920x1080-v2.json"
# 5. The shipped network's training step on the GPU machine (the gpu preset, a few steps: it runs, and how fast).
( time python3 -m reverie train --preset gpu --steps 4 --out /tmp/gpu-train ) 2>&1 | tail -4 | tee "$OUT/train-gpu-preset.txt"
