"""The parent side of a run: one child process per cell, results saved after each.

For each cell the runner writes a job file, starts `python -m bench.worker` in a
new process session, reads its progress events, and enforces the per-cell
timeout by killing the whole process group (PyDataset and joblib workers too).
Results are saved atomically after every cell, so an interrupt or a crash keeps
everything already measured; the report is rendered at the end, also when the
run is interrupted (marked incomplete).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bench import environment, memory
from bench.checks import CheckReport
from bench.config import Cell, RunConfig, default_target_accuracy
from bench.data import DataSpec, resolve_spec
from bench.errors import PipebenchError
from bench.results import SCHEMA_VERSION, load_run, mode_summaries, new_run_dir, save_run, unmeasured
from bench.worker import EVENT_PREFIX
from pipelines.base import get_variant, module_available, options_for, split_overrides, tensorflow_available

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ("model", "epochs", "batch_size", "trials", "seed", "modes", "probe_epochs", "step_s",
            "telemetry_hz")
OVERHEAD_VARIANT = "tf_data_naive"  # decodes every epoch: real, steady CPU work to compete with
OVERHEAD_REPEATS = 6


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    report_path: Path | None
    interrupted: bool
    doc: dict


def job_for(cell: Cell, config: RunConfig, spec: DataSpec, run_dir: Path) -> dict:
    slug = cell.key.replace("|", "__").replace(":", "_").replace("/", "_")
    scratch = run_dir / "scratch" / slug
    scratch.mkdir(parents=True, exist_ok=True)
    scoped = split_overrides(config.options)
    own = split_overrides(cell.options).get("*", {})
    scoped[cell.variant] = {**scoped.get(cell.variant, {}), **own}
    return {
        "cell": cell.to_record(),
        "settings": {k: getattr(config, k) for k in SETTINGS},
        "options": options_for(get_variant(cell.variant), scoped),
        "spec": spec.to_json(),
        "scratch_dir": str(scratch),
        "result_path": str(run_dir / "cells" / f"{slug}.json"),
        "log_path": str(run_dir / "logs" / f"{slug}.log"),
    }


def child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.getcwd(), env.get("PYTHONPATH")]))
    return env


def kill_group(proc: subprocess.Popen) -> None:
    """Terminate the child's process group, then kill what is left after a grace period."""
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            if sig == signal.SIGKILL:
                return
        except subprocess.TimeoutExpired:
            continue
    # the leader may be gone while members linger: sweep the group once more
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def read_events(stream, events: queue.Queue) -> None:
    for line in stream:
        if line.startswith(EVENT_PREFIX):
            with contextlib.suppress(json.JSONDecodeError):
                events.put(json.loads(line[len(EVENT_PREFIX):]))
    events.put(None)


def run_child(job: dict, timeout_s: float, on_event) -> dict:
    """Run one cell's worker; return its result, or a failed/timeout record for it."""
    job_path = Path(job["result_path"]).with_suffix(".job.json")
    job_path.parent.mkdir(parents=True, exist_ok=True)
    job_path.write_text(json.dumps(job))
    Path(job["log_path"]).parent.mkdir(parents=True, exist_ok=True)
    with open(job["log_path"], "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", str(job_path)], stdout=subprocess.PIPE,
            stderr=log, text=True, env=child_env(), start_new_session=True, cwd=os.getcwd(),
        )
        events: queue.Queue = queue.Queue()
        threading.Thread(target=read_events, args=(proc.stdout, events), daemon=True).start()
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                try:
                    event = events.get(timeout=0.5)
                except queue.Empty:
                    event = ...
                if event is None:
                    break
                if event is not ...:
                    on_event(event)
                if time.monotonic() > deadline:
                    kill_group(proc)
                    return unmeasured(job["cell"], "timeout",
                                      f"timed out after {timeout_s:g} s (raise it with --timeout)")
            proc.wait()
        finally:
            kill_group(proc)
    return load_child_result(job, proc.returncode)


def load_child_result(job: dict, returncode: int) -> dict:
    result_path = Path(job["result_path"])
    if result_path.exists():
        return json.loads(result_path.read_text())
    tail = Path(job["log_path"]).read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return unmeasured(job["cell"], "failed", f"worker exited with status {returncode}: {tail[0][:300]}")


def cell_line(done: int, total: int, cell: dict) -> str:
    """One line for a finished cell: its rank, name, status and median rate."""
    label = Cell.of(cell).label
    parts = []
    for mode, summary in mode_summaries(cell).items():
        if summary is not None:
            parts.append(f"{mode} {summary.median:,.0f}")
    rates = f"images/s: {', '.join(parts)}" if parts else ""
    return f"[{done}/{total}] {label}: {cell['status']} {rates} {cell.get('error') or ''}".rstrip()


def new_document(config: RunConfig, spec: DataSpec, run_dir: Path) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_dir.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": config.command,
        "label": config.label,
        "baseline": config.baseline,
        "complete": False,
        "config": config.to_dict(),
        "environment": environment.fingerprint(),
        "dataset": spec.fingerprint(),
        "target_accuracy": config.target_accuracy or default_target_accuracy(spec.num_classes),
        "skipped": [{"cell": key, "reason": reason} for key, reason in config.skipped],
        "cells": [],
    }


def show_event(bar, event: dict) -> None:
    """Advance the bar per finished mode; show the running mode and training's progress."""
    if event["event"] == "mode":
        bar.update(1)
    elif event["event"] == "service":
        bar.write(f"  local tf.data service ready at {event['target']}: dispatcher + "
                  f"{len(event['worker_pids'])} worker(s), pids {event['worker_pids']}", file=sys.stderr)
    elif event["event"] == "epoch" and event.get("val_accuracy") is not None:
        bar.set_postfix(trial=event["trial"], epoch=event["epoch"], val_acc=f"{event['val_accuracy']:.2f}")


def overhead_check(config: RunConfig, spec: DataSpec, run_dir: Path) -> dict:
    """Pipeline-mode throughput of one variant with the sampler on and off, alternating."""
    job = job_for(Cell(OVERHEAD_VARIANT), config, spec, run_dir)
    job["overhead_repeats"] = OVERHEAD_REPEATS
    return run_child(job, config.timeout_s, lambda e: None)


def overhead_line(result: dict) -> str:
    ratio = result.get("ratio")
    if ratio is None:
        return f"telemetry overhead check: {result.get('status')} {result.get('error') or ''}"
    return (f"telemetry overhead check ({result['variant']}, pipeline mode): throughput with the "
            f"sampler on / off = {ratio:.4f} ({'>=' if ratio >= 0.99 else '<'} 0.99); the sampler "
            f"itself used {result['sampler_cpu_percent']:.2f}% of one core")


def resume_document(run_dir: Path, spec: DataSpec) -> dict:
    """A saved run's document, checked to be over the same data as now."""
    doc = load_run(run_dir)
    then, now = doc["dataset"].get("sha256"), spec.fingerprint()["sha256"]
    if then != now:
        raise PipebenchError(f"cannot resume {str(run_dir)!r}: its dataset has changed since "
                             f"(fingerprint {then} vs {now})")
    return doc


def unavailable_reason(cell: Cell) -> str | None:
    """Why this machine cannot run the cell at all (a framework missing), or None."""
    variant = get_variant(cell.variant)
    if cell.backend == "tensorflow" and not tensorflow_available():
        return "TensorFlow is not installed (the tensorflow backend needs it; try --backend jax)"
    if cell.backend == "jax" and not module_available("jax"):
        return "JAX is not installed (pip install 'jax[cpu]', or jax[cuda12] on an NVIDIA GPU)"
    if variant.needs_tensorflow and not tensorflow_available():
        return f"TensorFlow is not installed ({cell.variant} is built on tf.data or tf_keras)"
    return None


def measure_cell(cell: Cell, config: RunConfig, spec: DataSpec, run_dir: Path, on_event) -> dict:
    """One cell's result: unavailable, refused (its decoded data would not fit), or its worker's record."""
    reason = unavailable_reason(cell)
    if reason is not None:
        return unmeasured(cell.to_record(), "unavailable", reason)
    job = job_for(cell, config, spec, run_dir)
    copies = get_variant(cell.variant).decoded_copies(job["options"])
    reason = memory.refusal(cell.variant, copies, spec, config.memory_budget_bytes)
    if reason is not None:
        return unmeasured(job["cell"], "refused", reason)
    return run_child(job, config.timeout_s, on_event)


def prepare_data(config: RunConfig) -> tuple[DataSpec, CheckReport]:
    """The run's DataSpec after the data check; its non-bad findings are printed, bad ones stop it."""
    spec, check = resolve_spec(
        Path(config.data_dir) if config.data_dir else None,
        Path(config.val_dir) if config.val_dir else None,
        config.val_split, config.embedded, config.seed, config.on_bad_file,
    )
    if check.findings:
        print("\n".join(check.summary_lines()), file=sys.stderr)
    return spec, check


def run(config: RunConfig, resume: Path | None = None) -> RunOutcome:
    """Measure every cell of `config` (with `resume`, those the saved run lacks)."""
    spec, check = prepare_data(config)
    if resume is not None:
        run_dir, doc = Path(resume), resume_document(Path(resume), spec)
    else:
        run_dir = new_run_dir(Path(config.results_dir))
        doc = new_document(config, spec, run_dir)
        doc["data_check"] = check.record(config.on_bad_file)
    save_run(run_dir, doc)
    done = {Cell.of(c).key for c in doc["cells"]}
    todo = [c for c in config.cells if c.key not in done]
    interrupted = False
    per_cell = config.trials * len(config.modes)
    bar = tqdm(total=len(todo) * per_cell, unit="run", dynamic_ncols=True,
               mininterval=0.5, disable=None)  # a bar on a terminal; one line per cell otherwise
    try:
        for cell in todo:
            bar.set_description(cell.label)
            start = bar.n
            doc["cells"].append(measure_cell(cell, config, spec, run_dir, lambda e: show_event(bar, e)))
            framework = doc["cells"][-1].get("framework")
            if framework:
                doc["environment"].setdefault("framework", framework)
                doc["environment"].setdefault("frameworks", {})[framework["keras_backend"]] = framework
            bar.update(start + per_cell - bar.n)
            save_run(run_dir, doc)
            bar.write(cell_line(len(doc["cells"]), len(config.cells), doc["cells"][-1]), file=sys.stderr)
        if config.overhead_check and unavailable_reason(Cell(OVERHEAD_VARIANT)) is None:
            doc["telemetry_overhead"] = overhead_check(config, spec, run_dir)
            bar.write(overhead_line(doc["telemetry_overhead"]), file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        shutil.rmtree(run_dir / "scratch", ignore_errors=True)
    doc["complete"] = not interrupted
    save_run(run_dir, doc)
    from bench.report import render_report

    report = render_report(run_dir)
    return RunOutcome(run_dir, report, interrupted, doc)
