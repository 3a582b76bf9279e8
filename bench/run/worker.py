"""The child process that measures one cell: `python -m bench.run.worker JOB.json`.

One process per cell, so that Keras' global state (dtype policy, backend),
TensorFlow's thread pools and any worker processes a pipeline starts cannot
leak from one cell into another, and so the parent can enforce a timeout and
clean up by killing the process group. A TensorFlow-backend cell's process is
forked from a server that has imported TensorFlow once (`bench.run.launch`), so it
does not pay the import's 7 s of CPU again; it then runs `main` as a spawned one does.

The process lives for the whole run. It pays once what a cell costs to set up
(importing TensorFlow, decoding the validation set, building and tracing the
model, an untimed warm-up fit, the data-equivalence check of what its pipeline
delivers, freezing its long-lived heap, calibrating each mode's sample length), says
`ready`, and then waits on stdin for the runner's commands, one JSON per line:

* `{"op": "trial", "round": R}`: one trial, every mode in `TRIAL_ORDER` on freshly
  built pipelines; answered by a `trial` event carrying the raw runs;
* `{"op": "finish"}`: writes the cell's telemetry series (and local tf.data
  service record) to the job's `result_path`, says `finished` and exits.

Events are `@pipebench {json}` lines on stdout; everything else goes to the log.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from bench.errors import UnavailableHere
from bench.results.records import ModeRun
from bench.run import events, modes
from bench.run.cell_setup import AccuracyFits, InitialModel, calibrate, check_data, one_line
from bench.run.cluster import service_for
from bench.run.cpu_clock import CpuClock
from bench.run.job import Job
from bench.run.models import set_precision
from bench.run.modes import TRIAL_ORDER, ModeSettings
from bench.run.page_cache import EpochIO, storage_read_bytes
from bench.run.telemetry import Sampler, summarize_phase
from pipelines.base import (
    PipelineRequest,
    get_variant,
    module_available,
    tensorflow_available,
)
from pipelines.decode import decode_all
from pipelines.files import atomic_write_text


def emit(event) -> None:
    """Tell the runner (`bench.run.events`): one line on stdout."""
    print(events.encode(event), flush=True)


def framework_info() -> dict:
    """Versions and the accelerators the cell's Keras backend sees (TensorFlow only if installed)."""
    import keras
    import numpy as np

    backend, tf_version, jax_version, gpus = keras.backend.backend(), None, None, []
    if tensorflow_available():
        import tensorflow as tf

        tf_version = tf.__version__
        if backend == "tensorflow":
            gpus = [gpu.name for gpu in tf.config.list_physical_devices("GPU")]
    if module_available("jax") and backend == "jax":
        import jax

        jax_version = jax.__version__
        gpus = [str(d) for d in jax.devices() if d.platform == "gpu"]
    return {"tensorflow": tf_version, "jax": jax_version, "keras": keras.__version__,
            "keras_backend": backend, "numpy": np.__version__, "gpus": gpus}


@dataclass(frozen=True)
class MachineLoad:
    """What the rest of the machine is doing at one moment: load average and CPU time counters."""

    loadavg_1m: float | None
    cpu_times: tuple  # psutil's named tuple of the machine's CPU seconds by kind

    @classmethod
    def now(cls) -> MachineLoad:
        return cls(os.getloadavg()[0] if hasattr(os, "getloadavg") else None, psutil.cpu_times())


def restrict_cores(count: int | None) -> list[int]:
    """Run this process, and every thread and child it starts, on the first `count` of the cores it
    may use (`--cores`; None: all of them); returns the cores. Done before TensorFlow is
    imported: its thread pools and tf.data's autotuner size themselves from the affinity."""
    if not hasattr(os, "sched_setaffinity"):
        return list(range(os.cpu_count() or 1))
    allowed = sorted(os.sched_getaffinity(0))
    if count is not None:
        # sched_setaffinity sets one thread's; threads started already (NumPy's BLAS pool, found
        # by tests/run/test_cores.py) keep theirs, so every thread of the process is set
        for thread in thread_ids():
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(thread, allowed[:count])
    return sorted(os.sched_getaffinity(0))


def thread_ids() -> list[int]:
    """This process's threads (Linux /proc; else the calling thread, 0)."""
    task = Path("/proc/self/task")
    return [int(entry.name) for entry in task.iterdir()] if task.exists() else [0]


def thread_affinity() -> dict:
    """This process's threads by name, and the distinct core sets they may run on (Linux /proc):
    how a `--cores` cell shows that TensorFlow's pools follow its affinity."""
    names: dict[str, int] = {}
    core_sets: set[tuple[int, ...]] = set()
    if not Path("/proc/self/task").exists():
        return {}
    for thread in thread_ids():
        try:
            name = Path(f"/proc/self/task/{thread}/comm").read_text().strip()
            core_sets.add(tuple(sorted(os.sched_getaffinity(thread))))
        except OSError:  # the thread ended meanwhile
            continue
        names[name] = names.get(name, 0) + 1
    return {"threads_by_name": dict(sorted(names.items())), "thread_core_sets": sorted(core_sets)}


def steal_percent(before: MachineLoad, after: MachineLoad) -> float | None:
    """Share of all CPU time stolen by the hypervisor between two readings."""
    if not hasattr(before.cpu_times, "steal"):
        return None  # not a Linux guest: psutil has no steal counter here
    total = sum(after.cpu_times) - sum(before.cpu_times)
    return 100.0 * (after.cpu_times.steal - before.cpu_times.steal) / total if total > 0 else None


class CellWorker:
    """One cell's job, with what every mode of it needs built, warmed and calibrated once."""

    def __init__(self, job: Job):
        import numpy as np

        self.job, self.settings = job, job.settings
        self.spec = job.spec
        self.variant = get_variant(job.cell.variant)
        self.info = framework_info()
        set_precision(job.cell.precision, has_gpu=bool(self.info["gpus"]))
        batch = self.settings.batch_size
        self.model_batch = (decode_all(self.spec.train_files[:batch], self.spec.image_size),
                            np.asarray(self.spec.train_labels[:batch], np.int32))
        self.modes = ModeSettings(
            image_size=self.spec.image_size, num_classes=self.spec.num_classes, batch_size=batch,
            num_train=len(self.spec.train_files), step_s=self.settings.step_s,
            min_sample_s=self.settings.min_sample_s,
        )
        self.initial = InitialModel(job, max(self.settings.accuracy_epochs, 2))
        self.fits = AccuracyFits(job, self.pipeline, self.initial)
        self.read = None  # the pipeline mode's input of this round, reused warm by simulated mode
        self.loops = None
        self.calibration: modes.Calibration | None = None
        self.clock = None  # a `bench.run.cpu_clock.CpuClock`: every timed sample's CPU time

    def use_clock(self, cluster=None) -> None:
        """Read each timed sample's CPU time, the local tf.data service's servers apart."""
        servers = (lambda: [p.pid for p in cluster.procs]) if cluster is not None else None
        self.clock = CpuClock(servers)

    def request(self, trial: int):
        return PipelineRequest(
            spec=self.spec, batch_size=self.settings.batch_size, seed=self.settings.seed + trial,
            augmentation=self.job.cell.augmentation, options=self.job.options,
            cache_dir=self.job.scratch_dir,
        )

    def pipeline(self, trial: int):
        """A freshly built pipeline for this trial, and how long building took."""
        started = time.perf_counter()
        fit_input = self.variant.build(self.request(trial))
        return fit_input, time.perf_counter() - started

    def epoch_io(self):
        """What brackets each epoch of a file-reading mode: the eviction (cold) and the storage count."""
        request = self.request(0)
        return EpochIO(self.settings.page_cache, self.variant.timed_files(request),
                       request.cache_dir)

    def model(self):
        """The identical model at its initial state, and the hash of its initial weights."""
        return self.initial.restored()

    def check_data(self) -> dict:
        """What this cell's pipeline delivers against the reference decode (`cell_setup.check_data`)."""
        return check_data(self.job, self.variant.augments_itself, self.pipeline)

    def calibrate(self) -> None:
        """Each mode's sample length (`cell_setup.calibrate`), and the loops that it implies."""
        self.calibration = calibrate(self.settings.modes, self.modes, self.settings.epochs,
                                     lambda: self.model()[0], self.model_batch, self.pipeline)
        self.loops = self.calibration.loops(max(self.settings.epochs, 2))

    def run_mode(self, mode: str, trial: int) -> dict:
        """One mode's run, with the bytes its process tree fetched from storage meanwhile
        (`run_storage_read_bytes`: warm-up epoch and set-up of the run included)."""
        before = storage_read_bytes()
        run = self.run_mode_only(mode, trial)
        after = storage_read_bytes()
        if mode != "model_only" and before is not None and after is not None:
            run["run_storage_read_bytes"] = after - before
        return run

    def run_mode_only(self, mode: str, trial: int) -> dict:
        loops = self.loops
        if mode == "model_only":  # its speed does not depend on the weights: no restore needed
            model = self.initial.model if self.initial.model is not None else self.model()[0]
            return modes.run_model_only(model, self.model_batch, self.modes, loops.model_only_steps,
                                        clock=self.clock)
        io = self.epoch_io()
        if mode == "simulated" and self.read is not None:  # the pipeline mode's, read just now: warm
            fit_input, self.read = self.read, None
            return {**modes.run_simulated(fit_input, self.modes, loops.simulated_epochs, warm=True, io=io,
                                          clock=self.clock), "build_s": None}
        fit_input, build_s = self.pipeline(trial)
        if mode == "pipeline":
            result = modes.run_pipeline(fit_input, self.modes, loops.pipeline_epochs, io=io, clock=self.clock)
            reusable = not isinstance(fit_input.x, Iterator)  # a generator object is read once only
            self.read = fit_input if reusable and "simulated" in self.settings.modes else None
            return {**result, "build_s": build_s}
        if mode == "simulated":
            return {**modes.run_simulated(fit_input, self.modes, loops.simulated_epochs, io=io,
                                          clock=self.clock), "build_s": build_s}
        model, weights = self.model()
        result = modes.run_train(model, fit_input, loops.train_epochs, io=io, clock=self.clock)
        return {**result, "build_s": build_s, "initial_weights_sha256": weights,
                **shortfall(result["epochs"], len(self.spec.train_files), loops.train_epochs)}

    def trial(self, round_: int, sampler, cluster=None) -> list[ModeRun]:
        """One round of this cell: every chosen mode once, each marked in the telemetry.

        Each run keeps its round, when it started (Unix time), the 1-minute load
        average then and the CPU steal during it. A mode that fails is recorded with
        its error; the other modes still run. Each run is a typed, frozen `ModeRun` from
        here on (`bench.results.records`), as the runner and the analysis read it.
        """
        runs, self.read = [], None
        sampler.resume()
        for mode in [m for m in TRIAL_ORDER if m in self.settings.modes]:
            gc.collect()  # release the previous mode's pipeline (and its threads) before timing
            deaths_before = len(cluster.events) if cluster else 0
            before, started_unix = MachineLoad.now(), time.time()
            with sampler.phase(mode, trial=round_) as mark, GcPauses() as pauses:
                try:
                    run = {"status": "ok", "error": None, **self.run_mode(mode, round_)}
                except Exception as exc:  # recorded, not raised: the other modes and cells go on
                    traceback.print_exc()
                    run = {"status": "failed", "error": one_line(exc), "epochs": []}
            run.update(gc_s=pauses.seconds, gc_collections=pauses.collections)
            after = MachineLoad.now()
            if cluster and len(cluster.events) > deaths_before:
                run["note"] = (f"{service_note(cluster.events[deaths_before:])} (during this run)"
                               + (f"; {run['note']}" if run.get("note") else ""))
            runs.append(ModeRun.from_dict({
                "mode": mode, "round": round_, "trial": round_, **run, "started_unix": started_unix,
                "loadavg_1m": before.loadavg_1m, "steal_percent": steal_percent(before, after),
                "mark": mark.to_dict(), "telemetry": summarize_phase(sampler.snapshot(), mark).to_dict()}))
        sampler.pause()
        return runs


def freeze_heap() -> None:
    """Collect, then move what survives (TensorFlow, Keras, the model, the data) out of the
    collector's reach (`gc.freeze`): a collection during a sample then scans what the
    sample itself made, not the whole long-lived heap of the harness. The pipeline's own
    garbage is still collected, and timed, as before."""
    gc.collect()
    gc.freeze()


class GcPauses:
    """Seconds Python's garbage collector ran during a block, and how many collections.

    A collection holds the GIL, so Python code in every thread (Keras' loop, a
    generator) waits for it; a sample that a long collection lands in is slower for
    a reason that is not the pipeline's. Recorded per sample (`gc_s`), read from
    `gc.callbacks`, so that spikes can be told apart from the pipeline's own cost.
    """

    def __enter__(self) -> GcPauses:
        self.seconds, self.collections, self.started = 0.0, 0, None
        gc.callbacks.append(self.on_gc)
        return self

    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        elif self.started is not None:
            self.seconds += time.perf_counter() - self.started
            self.collections += 1
            self.started = None

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self.on_gc)


def shortfall(epochs: list[dict], num_train: int, asked_epochs: int) -> dict:
    """Images asked for vs delivered, with a note when the input delivered fewer."""
    expected = num_train * asked_epochs
    delivered = sum(e["images"] for e in epochs)
    note = None
    if delivered < expected:
        note = (f"input delivered {delivered} of {expected} images asked for "
                f"({len(epochs)} of {asked_epochs} epochs ran); throughput counts delivered images")
    return {"images_expected": expected, "note": note}


def serve(job: Job, cores: list[int]) -> None:
    """Set the cell up, then answer the runner's commands until `finish` (or stdin closes).

    Set-up (imports, data, model, warm-up fit) may run while other cells set up too;
    calibration times the modes, so the runner asks for it one cell at a time.
    A variant that needs tf.data service gets a local cluster around the whole
    cell (its servers are in this process group, so a timeout kill takes them too).
    """
    with service_for(job.options, job.log_path.with_suffix(".service")) as (options, cluster):
        if cluster is not None:
            emit(events.Service(target=cluster.target, worker_pids=cluster.worker_pids))
        sampler = Sampler(hz=job.settings.telemetry_hz).start()
        with sampler.phase("setup"):  # its own mark: no timed run's telemetry includes it
            cell = CellWorker(job.with_options(options))
            cell.use_clock(cluster)
            equivalence = cell.check_data()
            cell.fits.validate_like(equivalence)
            if "train" in job.settings.modes:
                cell.fits.warm_up()
        freeze_heap()
        sampler.pause()
        emit(events.SetUp(framework=cell.info, warmup_fit=cell.fits.warmup, equivalence=equivalence,
                          accuracy_fits=[f.to_dict() for f in cell.fits.fits],
                          validation_resize=cell.fits.resize, cores=cores, threads=thread_affinity()))
        for line in sys.stdin:
            command = events.Command.from_line(line)
            if command.op == "calibrate":
                sampler.resume()
                with sampler.phase("calibration"):
                    cell.calibrate()
                freeze_heap()
                sampler.pause()
                emit(events.Ready(calibration=cell.calibration.to_dict(), loops=cell.loops.to_dict()))
            elif command.op == "trial":
                runs = cell.trial(command.round, sampler, cluster)
                emit(events.Trial(round=command.round, runs=[r.to_dict() for r in runs]))
            else:
                break
        sampler.stop()
        tail = {"telemetry": sampler.to_dict()}
        if cluster is not None:
            tail["service"] = service_record(cluster)
            tail["note"] = service_note(cluster.events)
    atomic_write_text(job.result_path, json.dumps(tail, default=str))
    emit(events.Finished())


def service_record(cluster) -> dict:
    return {"target": cluster.target, "workers": cluster.num_workers, "local": True,
            "worker_deaths": cluster.events}


def service_note(died: list[dict]) -> str | None:
    """A line for the report when service workers died during the cell (the supervisor replaced them)."""
    if not died:
        return None
    deaths = "; ".join(f"pid {e['pid']} (exit status {e['returncode']}) at {e['at_s']:.1f} s" for e in died)
    return (f"{len(died)} tf.data service worker(s) died and were replaced on their port: {deaths}; "
            "rates and images delivered of the modes then running include the disruption")


@dataclass(frozen=True)
class OverheadRates:
    """Pipeline-mode rates with the sampler on and off (paired by repeat), and the sampler's own CPU."""

    on: tuple[float, ...]
    off: tuple[float, ...]
    sampler_cpu_percent: float | None


def overhead_rates(cell: CellWorker, repeats: int, hz: float, epochs: int) -> OverheadRates:
    """Pipeline-mode rates with the sampler on and off, alternating which goes first."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    cpu_s = sampled_s = 0.0
    for repeat in range(repeats):
        for enabled in ((False, True) if repeat % 2 == 0 else (True, False)):
            sampler = Sampler(hz=hz).start() if enabled else None
            fit_input, _ = cell.pipeline(repeat)
            rates[enabled].append(modes.run_pipeline(fit_input, cell.modes, epochs)["images_per_sec"])
            if sampler is not None:
                sampler.stop()
                cpu_s, sampled_s = cpu_s + sampler.cpu_s, sampled_s + sampler.now()
    return OverheadRates(on=tuple(rates[True]), off=tuple(rates[False]),
                         sampler_cpu_percent=100.0 * cpu_s / sampled_s if sampled_s else None)


def run_overhead_check(job: Job) -> dict:
    """Pipeline-mode rate with and without the sampler, in alternating order, same pipeline.

    Each run is a calibrated sample (at least `min_sample_s`); the ratio is the median of
    the paired on/off ratios of each repeat, with its interval and the paired test.
    """
    from bench import stats

    cell = CellWorker(job)
    # long enough for the sampler to take several samples in each run, whatever --min-sample-s
    hz = job.settings.telemetry_hz
    cell.modes = replace(cell.modes, min_sample_s=max(cell.modes.min_sample_s, 5.0 / hz))
    epochs = modes.calibrate_epochs(lambda: cell.pipeline(0)[0], cell.modes)[0]
    measured = overhead_rates(cell, job.overhead_repeats, hz, epochs)
    paired = stats.finish_comparisons([stats.paired("sampler on", "sampler off", "pipeline",
                                                    dict(enumerate(measured.on)),
                                                    dict(enumerate(measured.off)))])[0]
    return {**job.cell.to_record(), "status": "ok", "on_images_per_sec": list(measured.on),
            "off_images_per_sec": list(measured.off), "ratio": paired.ratio, "comparison": paired.to_dict(),
            "epochs_per_run": epochs, "telemetry_hz": hz, "sampler_cpu_percent": measured.sampler_cpu_percent}


def main(argv: list[str]) -> int:
    job = Job.from_dict(json.loads(Path(argv[0]).read_text()))
    os.environ["KERAS_BACKEND"] = job.cell.backend  # before Keras is imported
    cores = restrict_cores(job.cell.cores)
    try:
        if job.overhead_repeats:
            result = run_overhead_check(job)
            atomic_write_text(job.result_path, json.dumps(result, default=str))
            emit(events.Finished())
        else:
            serve(job, cores)
    except UnavailableHere as exc:  # known before anything is measured: no traceback
        emit(events.Unavailable(error=str(exc)))
    except Exception as exc:
        traceback.print_exc()
        emit(events.Failed(error=one_line(exc)))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main(sys.argv[1:]))
