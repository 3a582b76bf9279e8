#!/usr/bin/env bash
# The JAX backend on an NVIDIA GPU machine without TensorFlow (issue 9).
#
# Runs the non-TensorFlow variants (in_memory_numpy, sequence), and the tf.data
# ones too where TensorFlow (CPU) is importable, with Keras on JAX, float32 and
# mixed_float16, and keeps what the README's measurement notes
# need: the GPU (nvidia-smi), package versions, the run's log, results.json,
# results.csv and report.html. Wheels the machine lacks (keras, namex, optree, typing-extensions:
# `bash tools/gpu_wheels.sh` fetches them into .whl/), and tensorflow-cpu when
# its parts are in $TFPARTS (default /tmp/tfparts), are installed into
# /tmp/site with --no-deps, so nothing already installed is touched.
#
#   bash tools/gpu_check.sh [extra `pipebench run` arguments]
#
# Results go to $OUT (set by the device tool) or results/gpu-check/.
set -uo pipefail
out=${OUT:-results/gpu-check}
py=${PYTHON:-python3}
mkdir -p "$out"
wheels=()
compgen -G ".whl/*.whl" >/dev/null && wheels+=(.whl/*.whl)
# The TensorFlow wheel, carried in parts (tools/gpu_wheels.sh --tensorflow).
parts=${TFPARTS:-/tmp/tfparts}
if [[ -f $parts/SHA256SUMS ]]; then
    read -r sum wheel <"$parts/SHA256SUMS"
    cat "$parts"/part-* >"/tmp/$wheel"
    (cd /tmp && echo "$sum  $wheel" | sha256sum -c --quiet) ||
        { echo "gpu_check: the parts in $parts do not join into $wheel (one missing?)" >&2; exit 1; }
    wheels+=("/tmp/$wheel")
fi
if ((${#wheels[@]})); then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "${wheels[@]}" || { echo "gpu_check: installing the wheels failed" >&2; exit 1; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 PIPEBENCH_CACHE=${PIPEBENCH_CACHE:-/tmp/pbcache}
# JAX takes 75% of the GPU's memory at start-up unless told not to; without
# this the telemetry's GPU memory would show the reservation, not the use.
export XLA_PYTHON_CLIENT_PREALLOCATE=false

{
    date -u +"%Y-%m-%dT%H:%M:%SZ"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || echo "nvidia-smi: not found"
    nproc
    "$py" - <<'EOF'
import importlib, importlib.util, os, platform
os.environ["KERAS_BACKEND"] = "jax"
print("python", platform.python_version())
for name in ("jax", "jaxlib", "keras", "numpy", "pandas", "pynvml", "tensorflow"):
    spec = importlib.util.find_spec(name)
    if spec is None:
        print(name, "not installed")
        continue
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # report and go on: the run below names what fails
        print(name, "not importable:", exc)
        continue
    print(name, getattr(module, "__version__", "?"))
import jax
print("jax devices", jax.devices())
EOF
} 2>&1 | tee "$out/env.txt"

runs=/tmp/gpu-check-runs
rm -rf "$runs"
variants=in_memory_numpy,sequence
if "$py" -c "import tensorflow" 2>/dev/null; then
    # tf.data feeding a JAX model on the GPU; TensorFlow itself stays on the CPU.
    variants+=,tf_data_naive,tf_data_tuned,tfrecord,image_dataset_from_directory
fi
"$py" -m bench run --backend jax --variants "$variants" \
    --precisions float32,mixed_float16 --results-dir "$runs" --label gpu-check "$@" 2>&1 | tee "$out/run.log"
status=${PIPESTATUS[0]}
for run_dir in "$runs"/*/; do
    cp "$run_dir"results.json "$run_dir"results.csv "$run_dir"report.html "$out"/ 2>/dev/null
done
"$py" - "$out/results.json" <<'EOF' 2>&1 | tee "$out/summary.txt"
import sys
from bench.results.store import load_frame
frame = load_frame(sys.argv[1])
ok = frame[frame.status == "ok"]
table = ok.groupby(["variant", "precision", "mode"]).agg(
    images_per_sec=("images_per_sec_median", "first"), ci_low=("images_per_sec_ci_low", "first"),
    ci_high=("images_per_sec_ci_high", "first"), gpu_util_percent=("gpu_util_percent", "median"),
    cpu_percent=("cpu_percent", "median"), trials=("trial", "count"))
print(table.round(1).to_string())
bad = frame[frame.status != "ok"][["variant", "precision", "mode", "status", "error"]]
if len(bad):
    print(bad.to_string())
EOF
exit "$status"
