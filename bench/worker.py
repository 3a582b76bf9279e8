"""The child process that measures one cell: `python -m bench.worker JOB.json`.

Each cell runs in a fresh process so that Keras' global state (dtype policy,
backend), TensorFlow's thread pools and any worker processes a pipeline starts
cannot leak from one measurement into the next, and so the parent can enforce
a timeout and clean up by killing the process group.

The job file names the cell, the run's settings and the DataSpec. The worker
prints progress events as `@pipebench {json}` lines on stdout and writes its
result atomically to the job's `result_path`.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

EVENT_PREFIX = "@pipebench "


def emit(event: str, **fields) -> None:
    print(EVENT_PREFIX + json.dumps({"event": event, **fields}), flush=True)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")


def framework_info() -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
        "gpus": [gpu.name for gpu in gpus],
    }


def run_trial(job: dict, trial: int, val: tuple, info: dict) -> dict:
    """Build the pipeline and the identical model, train, and return the raw record."""
    from bench.data import DataSpec
    from bench.measure import fit_recorder
    from bench.models import build_model, set_precision
    from pipelines import augment
    from pipelines.base import PipelineRequest, get_variant

    cell, settings = job["cell"], job["settings"]
    spec = DataSpec.from_json(job["spec"])
    variant = get_variant(cell["variant"])
    set_precision(cell["precision"], has_gpu=bool(info["gpus"]))
    request = PipelineRequest(
        spec=spec, batch_size=settings["batch_size"], seed=settings["seed"] + trial,
        augmentation=cell["augmentation"], options=job["options"], cache_dir=Path(job["scratch_dir"]),
    )
    started = time.perf_counter()
    fit_input = variant.build(request)
    build_s = time.perf_counter() - started
    layers = augment.keras_layers(settings["seed"]) if cell["augmentation"] == "keras_layers" else ()
    model, weights_hash = build_model(
        settings["model"], spec.image_size, spec.num_classes, settings["seed"], layers
    )
    recorder = fit_recorder(lambda e: emit("epoch", trial=trial, **e))
    model.fit(
        fit_input.x, fit_input.y, epochs=settings["epochs"], steps_per_epoch=fit_input.steps_per_epoch,
        validation_data=val, validation_batch_size=settings["batch_size"],
        callbacks=[recorder], verbose=0, **fit_input.fit_kwargs,
    )
    return finish_trial(trial, recorder, build_s, weights_hash, len(spec.train_files), settings["epochs"])


def finish_trial(trial, recorder, build_s, weights_hash, num_train, epochs) -> dict:
    """The trial's record, with a note when the input delivered fewer images than asked."""
    from bench.results import trial_throughput

    expected = num_train * epochs
    delivered = sum(e["images"] for e in recorder.epochs)
    note = None
    if delivered < expected:
        note = (f"input delivered {delivered} of {expected} images asked for "
                f"({len(recorder.epochs)} of {epochs} epochs ran); throughput counts delivered images")
    return {
        "trial": trial, "status": "ok", "error": None, "build_s": build_s,
        "first_batch_s": recorder.first_batch_s, "initial_weights_sha256": weights_hash,
        "epochs": recorder.epochs, "images_expected": expected, "note": note,
        **trial_throughput(recorder.epochs),
    }


def run_cell(job: dict) -> dict:
    """All trials of one cell; a failing trial is recorded with its error and ends the cell."""
    import numpy as np

    from bench.data import DataSpec
    from pipelines.decode import decode_all

    info = framework_info()
    spec = DataSpec.from_json(job["spec"])
    val = (decode_all(spec.val_files, spec.image_size), np.asarray(spec.val_labels, np.int32))
    trials = []
    for trial in range(job["settings"]["trials"]):
        emit("trial", trial=trial)
        try:
            trials.append(run_trial(job, trial, val, info))
        except Exception as exc:  # recorded, not raised: the run goes on with other cells
            traceback.print_exc()
            trials.append({"trial": trial, "status": "failed", "error": one_line(exc), "epochs": []})
            break
    status = "ok" if all(t["status"] == "ok" for t in trials) else "failed"
    error = next((t["error"] for t in trials if t["error"]), None)
    return {**job["cell"], "status": status, "error": error, "framework": info, "trials": trials}


def main(argv: list[str]) -> int:
    from bench.results import atomic_write_text

    job = json.loads(Path(argv[0]).read_text())
    try:
        result = run_cell(job)
    except Exception as exc:
        traceback.print_exc()
        result = {**job["cell"], "status": "failed", "error": one_line(exc), "trials": []}
    atomic_write_text(Path(job["result_path"]), json.dumps(result, default=str))
    emit("done", status=result["status"])
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv[1:]))
