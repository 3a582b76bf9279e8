#!/usr/bin/env bash
# Fetch the wheels tools/gpu_check.sh needs on a GPU machine with no package
# index, for CPython 3.12 on x86-64, at the versions this project is tested with.
#
#   bash tools/gpu_wheels.sh               # .whl/: keras, namex, optree, typing-extensions (~3 MB)
#   bash tools/gpu_wheels.sh --tensorflow  # also tensorflow-cpu and what it lacks there, with
#                                          # the TensorFlow wheel split into .tfparts/N/ (< 60 MiB each)
#
# The device tool carries at most 64 MiB a call, and the TensorFlow wheel is
# ~274 MB: carry `.whl` and one `.tfparts/N` per call, back to back while the
# machine is warm, copying each part to /tmp/tfparts (see the README's
# "Keras backends"); gpu_check.sh joins and checks them (SHA256SUMS) and installs.
set -euo pipefail
py=${PYTHON:-python3}
fetch() {
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$@"
}
rm -rf .whl .tfparts
# typing-extensions: optree imports it; the GPU machine has it, but not every machine does.
fetch .whl keras==3.15.1 namex==0.1.0 optree==0.20.0 typing-extensions==4.15.0
if [[ ${1:-} == --tensorflow ]]; then
    # What tensorflow-cpu and tf_keras import that the GPU machine's image lacks
    # (libclang is a build-time need of TensorFlow's and is left out).
    fetch .whl tf-keras==2.21.0 astunparse==1.6.3 gast==0.7.0 google-pasta==0.2.0 termcolor==3.3.0
    tmp=$(mktemp -d)
    fetch "$tmp" tensorflow-cpu==2.21.0
    wheel=$(cd "$tmp" && ls tensorflow_cpu-*.whl)
    mkdir -p .tfparts
    (cd "$tmp" && split -b 55M -d -a 1 "$wheel" part- && sha256sum "$wheel" >SHA256SUMS)
    for part in "$tmp"/part-*; do
        n=${part##*-}
        mkdir -p ".tfparts/$n"
        mv "$part" ".tfparts/$n/"
        cp "$tmp/SHA256SUMS" ".tfparts/$n/"
    done
    rm -rf "$tmp"
    ls -l .tfparts/*
fi
ls -l .whl
