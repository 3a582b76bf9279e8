#!/usr/bin/env bash
# Fetch, into .whl/, the wheels that tools/gpu_check.sh needs on a GPU machine
# with no registry: what `pipebench run --backend jax` imports beyond the
# machine's own packages (keras, namex, optree; typing-extensions, which optree needs, to be sure), for CPython 3.12 on x86-64.
# The versions are the ones this project is tested with; about 3 MB in all.
set -euo pipefail
py=${PYTHON:-python3}
rm -rf .whl
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0 typing-extensions==4.15.0
ls -l .whl
