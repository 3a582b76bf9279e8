"""The child process that measures one cell: `python -m bench.worker JOB.json`.

Each cell runs in a fresh process so that Keras' global state (dtype policy,
backend), TensorFlow's thread pools and any worker processes a pipeline starts
cannot leak from one measurement into the next, and so the parent can enforce
a timeout and clean up by killing the process group.

For every trial the worker runs each mode (see `bench.modes`) on a freshly
built pipeline and model, with the telemetry sampler marking each phase. It
prints progress events as `@pipebench {json}` lines on stdout and writes its
result atomically to the job's `result_path`.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

EVENT_PREFIX = "@pipebench "


def emit(event: str, **fields) -> None:
    print(EVENT_PREFIX + json.dumps({"event": event, **fields}), flush=True)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")


def framework_info() -> dict:
    """Versions and the accelerators the cell's Keras backend sees (TensorFlow only if installed)."""
    import keras
    import numpy as np

    from pipelines.base import module_available, tensorflow_available

    info = {"tensorflow": None, "jax": None, "keras": keras.__version__,
            "keras_backend": keras.backend.backend(), "numpy": np.__version__, "gpus": []}
    if tensorflow_available():
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        if info["keras_backend"] == "tensorflow":
            info["gpus"] = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    if module_available("jax") and info["keras_backend"] == "jax":
        import jax

        info["jax"] = jax.__version__
        info["gpus"] = [str(d) for d in jax.devices() if d.platform == "gpu"]
    return info


class Cell:
    """One cell's job, with what every mode of it needs built once."""

    def __init__(self, job: dict):
        import numpy as np

        from bench.data import DataSpec
        from bench.models import set_precision
        from bench.modes import ModeSettings
        from pipelines.base import get_variant
        from pipelines.decode import decode_all

        self.job, self.settings = job, job["settings"]
        self.spec = DataSpec.from_json(job["spec"])
        self.variant = get_variant(job["cell"]["variant"])
        self.info = framework_info()
        set_precision(job["cell"]["precision"], has_gpu=bool(self.info["gpus"]))
        self.val = (decode_all(self.spec.val_files, self.spec.image_size),
                    np.asarray(self.spec.val_labels, np.int32))
        batch = self.settings["batch_size"]
        self.model_batch = (decode_all(self.spec.train_files[:batch], self.spec.image_size),
                            np.asarray(self.spec.train_labels[:batch], np.int32))
        self.modes = ModeSettings(
            image_size=self.spec.image_size, num_classes=self.spec.num_classes, batch_size=batch,
            num_train=len(self.spec.train_files), probe_epochs=self.settings["probe_epochs"],
            step_s=self.settings["step_s"],
        )
        self.built = None
        self.warmup: dict | None = None

    def pipeline(self, trial: int):
        """A freshly built pipeline for this trial, and how long building took."""
        from pipelines.base import PipelineRequest

        request = PipelineRequest(
            spec=self.spec, batch_size=self.settings["batch_size"], seed=self.settings["seed"] + trial,
            augmentation=self.job["cell"]["augmentation"], options=self.job["options"],
            cache_dir=Path(self.job["scratch_dir"]),
        )
        started = time.perf_counter()
        fit_input = self.variant.build(request)
        return fit_input, time.perf_counter() - started

    def model(self):
        """The identical model at its initial state, and the hash of its initial weights.

        Built and compiled once per cell; before every later trial its weights and
        optimizer state are restored to the snapshot taken at build time (checked by
        hash), so each trial starts from identical weights without tracing anew.
        """
        from bench.models import build_model, weights_sha256
        from pipelines import augment

        if self.built is None:
            seed = self.settings["seed"]
            aug = self.job["cell"]["augmentation"] == "keras_layers"
            layers = augment.keras_layers(seed) if aug else ()
            model, core_hash = build_model(self.settings["model"], self.spec.image_size,
                                           self.spec.num_classes, seed, layers)
            model.optimizer.build(model.trainable_variables)
            snapshot = ([v.numpy() for v in model.variables], [v.numpy() for v in model.optimizer.variables])
            self.built = (model, core_hash, snapshot, weights_sha256(model))
            return model, core_hash
        model, core_hash, (weights, optimizer_state), full_hash = self.built
        for variable, value in zip(model.variables, weights, strict=True):
            variable.assign(value)
        for variable, value in zip(model.optimizer.variables, optimizer_state, strict=True):
            variable.assign(value)
        if weights_sha256(model) != full_hash:
            raise RuntimeError("restoring the model's initial weights failed")
        return model, core_hash

    def warm_up(self) -> None:
        """One untimed two-epoch fit before the first timed fit of the cell.

        Each timed fit already leaves its first epoch out; this also takes the
        one-time costs that land later in a process's first fit: compiling the
        step for the last, smaller batch at the end of epoch 1 and, under JAX
        with tf.data input, a wait of several seconds with idle CPU at the start
        of epoch 2 (measured; it did not recur in later fits). Trials then
        restore the model's initial weights as usual. A failure is recorded,
        not raised: the timed mode that follows reports its own.
        """
        from bench import modes

        started = time.perf_counter()
        try:
            fit_input, _ = self.pipeline(0)
            modes.fit_and_record(self.model()[0], fit_input, 2, validation=self.val)
            self.warmup = {"fit_s": time.perf_counter() - started, "error": None}
        except Exception as exc:  # the timed run reports it in full
            self.warmup = {"fit_s": time.perf_counter() - started, "error": one_line(exc)}

    def run_mode(self, mode: str, trial: int) -> dict:
        from bench import modes

        if mode == "model_only":  # its speed does not depend on the weights: no restore needed
            model = self.built[0] if self.built else self.model()[0]
            return modes.run_model_only(model, self.model_batch, self.modes)
        fit_input, build_s = self.pipeline(trial)
        if mode == "pipeline":
            return {**modes.run_pipeline(fit_input, self.modes), "build_s": build_s}
        if mode == "simulated":
            return {**modes.run_simulated(fit_input, self.modes), "build_s": build_s}
        model, weights = self.model()
        recorder = modes.fit_and_record(model, fit_input, self.settings["epochs"], validation=self.val,
                                        on_epoch=lambda e: emit("epoch", trial=trial, **e))
        return {**modes.record(recorder), "build_s": build_s, "initial_weights_sha256": weights,
                **shortfall(recorder.epochs, len(self.spec.train_files), self.settings["epochs"])}


def shortfall(epochs: list[dict], num_train: int, asked_epochs: int) -> dict:
    """Images asked for vs delivered, with a note when the input delivered fewer."""
    expected = num_train * asked_epochs
    delivered = sum(e["images"] for e in epochs)
    note = None
    if delivered < expected:
        note = (f"input delivered {delivered} of {expected} images asked for "
                f"({len(epochs)} of {asked_epochs} epochs ran); throughput counts delivered images")
    return {"images_expected": expected, "note": note}


def schedule(modes: list[str], trials: int) -> list[tuple[str, int]]:
    """The (mode, trial) order: every model_only trial first, then the others trial by trial.

    The ingestion-free bound is measured before any pipeline has run in this
    process, so nothing a pipeline leaves behind (threads, allocator state) can
    lower it; such costs land in the pipeline's own modes, where they belong.
    """
    first = [("model_only", t) for t in range(trials) if "model_only" in modes]
    return first + [(m, t) for t in range(trials) for m in modes if m != "model_only"]


def run_cell(job: dict) -> dict:
    """Every mode of every trial; a mode that fails is recorded with its error and not retried.

    A variant that needs tf.data service gets a local cluster around the whole
    cell (its servers are in this process group, so a timeout kill takes them too).
    """
    from bench.service import service_for

    with service_for(job["options"], Path(job["log_path"]).with_suffix(".service")) as (options, cluster):
        if cluster is not None:
            emit("service", target=cluster.target, worker_pids=cluster.worker_pids)
        result = measure_modes(Cell({**job, "options": options}), job, cluster)
    if cluster is not None:
        result["service"] = service_record(cluster)
        result["note"] = service_note(cluster.events)
    return result


def service_record(cluster) -> dict:
    return {"target": cluster.target, "workers": cluster.num_workers, "local": True,
            "worker_deaths": cluster.events}


def service_note(events: list[dict]) -> str | None:
    """A line for the report when service workers died during the cell (the supervisor replaced them)."""
    if not events:
        return None
    deaths = "; ".join(f"pid {e['pid']} (exit status {e['returncode']}) at {e['at_s']:.1f} s" for e in events)
    return (f"{len(events)} tf.data service worker(s) died and were replaced on their port: {deaths}; "
            "rates and images delivered of the modes then running include the disruption")


def measure_modes(cell: Cell, job: dict, cluster=None) -> dict:
    """Every mode of every trial of one cell, with telemetry marks per mode.

    With a local tf.data service, a run during which a service worker died says so.
    """
    from bench.telemetry import Sampler, summarize_phase

    sampler = Sampler(hz=job["settings"]["telemetry_hz"]).start()
    runs, failed_modes = [], set()
    for mode, trial in schedule(job["settings"]["modes"], job["settings"]["trials"]):
        if mode in failed_modes:
            continue
        if mode in ("train", "simulated") and cell.warmup is None:
            with sampler.phase("warmup_fit"):  # its own mark: no timed run's telemetry includes it
                cell.warm_up()
        gc.collect()  # release the previous mode's pipeline (and its threads) before timing
        deaths_before = len(cluster.events) if cluster else 0
        with sampler.phase(mode, trial=trial) as mark:
            try:
                run = {"status": "ok", "error": None, **cell.run_mode(mode, trial)}
            except Exception as exc:  # recorded, not raised: the other modes and cells go on
                traceback.print_exc()
                run = {"status": "failed", "error": one_line(exc), "epochs": []}
                failed_modes.add(mode)
        if cluster and len(cluster.events) > deaths_before:
            run["note"] = (f"{service_note(cluster.events[deaths_before:])} (during this run)"
                           + (f"; {run['note']}" if run.get("note") else ""))
        runs.append({"mode": mode, "trial": trial, **run, "mark": mark})
        emit("mode", mode=mode, trial=trial, status=run["status"])
    sampler.stop()
    telemetry = sampler.to_dict()
    for run in runs:
        run["telemetry"] = summarize_phase(telemetry, run["mark"])
    errors = [r["error"] for r in runs if r["status"] != "ok"]
    return {**job["cell"], "status": "failed" if errors else "ok", "error": errors[0] if errors else None,
            "framework": cell.info, "runs": runs, "telemetry": telemetry, "warmup_fit": cell.warmup}


def run_overhead_check(job: dict) -> dict:
    """Pipeline-mode rate with and without the sampler, in alternating order, same pipeline."""
    import numpy as np

    from bench import modes
    from bench.telemetry import Sampler

    cell = Cell(job)
    warmup = modes.run_pipeline(cell.pipeline(0)[0], cell.modes)  # also sizes the runs: >= 1 s each
    epoch_s = float(np.median([e["train_s"] for e in warmup["epochs"]]))
    settings = replace(cell.modes, probe_epochs=max(2, math.ceil(1.0 / max(epoch_s, 1e-3)) + 1))
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu_s = sampled_s = 0.0
    for repeat in range(job["overhead_repeats"]):
        for enabled in ((False, True) if repeat % 2 == 0 else (True, False)):
            sampler = Sampler(hz=job["settings"]["telemetry_hz"]).start() if enabled else None
            fit_input, _ = cell.pipeline(repeat)
            rates[enabled].append(modes.run_pipeline(fit_input, settings)["images_per_sec"])
            if sampler is not None:
                sampler.stop()
                cpu_s, sampled_s = cpu_s + sampler.cpu_s, sampled_s + sampler.now()
    on, off = float(np.median(rates[True])), float(np.median(rates[False]))
    return {**job["cell"], "status": "ok", "on_images_per_sec": rates[True],
            "off_images_per_sec": rates[False], "ratio": on / off if off else None,
            "epochs_per_run": settings.probe_epochs, "telemetry_hz": job["settings"]["telemetry_hz"],
            "sampler_cpu_percent": 100.0 * cpu_s / sampled_s if sampled_s else None}


def main(argv: list[str]) -> int:
    from bench.errors import UnavailableHere
    from bench.results import atomic_write_text, unmeasured

    job = json.loads(Path(argv[0]).read_text())
    os.environ["KERAS_BACKEND"] = job["cell"].get("backend", "tensorflow")  # before Keras is imported
    try:
        result = run_overhead_check(job) if job.get("overhead_repeats") else run_cell(job)
    except UnavailableHere as exc:  # known before anything is measured: no traceback
        result = unmeasured(job["cell"], "unavailable", str(exc))
    except Exception as exc:
        traceback.print_exc()
        result = unmeasured(job["cell"], "failed", one_line(exc))
    atomic_write_text(Path(job["result_path"]), json.dumps(result, default=str))
    emit("done", status=result["status"])
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv[1:]))
