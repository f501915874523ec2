#!/usr/bin/env bash
# Run HERE (a machine with network), from the repository root, before a GPU check: fetches
# what the lent GPU machine lacks (its image has torch, cupy, onnxruntime, msgpack,
# transformers, cmake and nvcc; not pyzmq, moderngl, glcontext, opencv (about 50 MB of the carry's 64 MiB: openvino does not fit beside it), the EGL loaders the
# world's renderer needs, nor libzmq/msgpack-c for building libreverie) into two git-ignored folders that the device call carries:
#   .whl/  wheels for that machine's Python 3.12
#   .gl/   libEGL/libGL loaders and libzmq/msgpack-c packages, unpacked there at the start of the run
# Then, with the device tool: run(command="bash tests/bench/gpu_check.sh", carry=[".whl", ".gl"]).
set -euo pipefail
grep -qxF '/.whl/' .git/info/exclude || echo /.whl/ >> .git/info/exclude
grep -qxF '/.gl/' .git/info/exclude || echo /.gl/ >> .git/info/exclude
rm -rf .whl && mkdir -p .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_26_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl pyzmq moderngl glcontext opencv-python-headless
mkdir -p .gl /tmp/amd64/partial
apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
apt-get "${apt_opts[@]}" update -qq
(cd .gl && apt-get "${apt_opts[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 \
  libzmq5 libzmq3-dev libsodium23 libpgm-5.3-0 libnorm1 libmsgpackc2 libmsgpack-dev)
du -sh .whl .gl
