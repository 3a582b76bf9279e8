"""The parent side of a run: one long-lived child process per cell, measured in interleaved rounds.

Every cell's worker (`python -m bench.run.worker JOB.json`, in a new process session)
sets itself up (all at once), then calibrates (one at a time, on a quiet machine)
and waits. Round r then asks every cell for its trial r, one cell at a time, in an
order shuffled with the run's seed and recorded in `results.json`: machine drift
lands on every cell of a round alike, instead of on whole cells, and comparisons
are made per round (see `bench.stats`). Each command has `--timeout` seconds; a
cell past it is killed with its whole process group (PyDataset, joblib and tf.data
service processes too) and recorded as `timeout`, keeping the rounds it finished.
Results are saved atomically after every trial, so an interrupt or a crash keeps
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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.config import Cell, RunConfig, band_cells, default_target_accuracy
from bench.data.checks import CheckReport
from bench.data.dataset import DataSpec, resolve_spec
from bench.data.equivalence import Equivalence
from bench.errors import PipebenchError
from bench.results.analysis import accuracy_band, summaries_of
from bench.results.document import RoundRecord, RunDocument, load_run, new_run_dir, save_document, unmeasured
from bench.results.records import CellResult, ModeRun
from bench.run import environment, events, memory
from bench.run.job import Job, Settings
from bench.run.launch import start_worker
from pipelines.base import (
    cell_options,
    get_variant,
    module_available,
    tensorflow_available,
    with_capability,
)

EXIT_GRACE_S = 10.0  # how long a finished worker may take to exit before its group is killed
REPO_ROOT = Path(__file__).resolve().parents[2]  # the folder holding bench/ and pipelines/
# a loader on tf.data (decodes every epoch: real, steady CPU work) and one that holds the GIL
OVERHEAD_REPEATS = 6
DONE_STATUSES = ("unavailable", "refused", "timeout", "failed")


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    interrupted: bool
    cells: list[CellResult]


class CellStopped(Exception):
    """A cell's worker ended before answering: status (failed, timeout, unavailable) and why."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def job_for(cell: Cell, config: RunConfig, spec: DataSpec, run_dir: Path) -> Job:
    slug = cell.key.replace("|", "__").replace(":", "_").replace("/", "_")
    scratch = run_dir / "scratch" / slug
    scratch.mkdir(parents=True, exist_ok=True)
    band_seeds = config.accuracy_seeds if cell in band_cells(config.cells) else 1
    return Job(cell=cell, settings=Settings.of(config, band_seeds),
               options=cell_options(get_variant(cell.variant), config.options, cell.options), spec=spec,
               scratch_dir=scratch, result_path=run_dir / "cells" / f"{slug}.json",
               log_path=run_dir / "logs" / f"{slug}.log")


def child_env() -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.getcwd(), env.get("PYTHONPATH")]))
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


def read_events(stream, found: queue.Queue) -> None:
    """Put each event line of the worker's stdout on `found`, typed; None once the stream ends."""
    for line in stream:
        event = events.decode(line)
        if event is not None:
            found.put(event)
    found.put(None)


class CellProcess:
    """The parent's handle on one cell's worker: send a command, wait for its answer."""

    def __init__(self, job: Job, timeout_s: float, on_event=lambda event: None):
        self.job, self.timeout_s, self.on_event = job, timeout_s, on_event
        job_path = job.result_path.with_suffix(".job.json")
        job_path.parent.mkdir(parents=True, exist_ok=True)
        job_path.write_text(json.dumps(job.to_dict()))
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(job.log_path, "w") as log:
            self.proc = start_worker(job_path, log, child_env(), os.getcwd(), job.cell.backend)
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=read_events, args=(self.proc.stdout, self.events), daemon=True).start()

    def send(self, op: str, round_: int | None = None) -> None:
        try:
            self.proc.stdin.write(events.Command(op, round_).to_line())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the worker is gone: `wait_for` reports how it ended

    def wait_for(self, kind: type):
        """The next event of `kind` (others go to `on_event`); CellStopped if the worker stops,
        ends or times out."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                event = ...
            if event is None:
                self.proc.wait()
                raise CellStopped("failed", self.exit_message())
            if event is not ...:
                if isinstance(event, kind):
                    return event
                if isinstance(event, events.Stop):
                    self.kill()
                    raise CellStopped(events.name_of(event), event.error)
                self.on_event(event)
            if time.monotonic() > deadline:
                self.kill()
                message = f"timed out after {self.timeout_s:g} s (raise it with --timeout)"
                raise CellStopped("timeout", message)

    def exit_message(self) -> str:
        tail = self.job.log_path.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        return f"worker exited with status {self.proc.returncode}: {tail[0][:300]}"

    def finish(self) -> dict:
        """Ask the worker to stop; its tail record (telemetry, service), or {} if it has none."""
        self.send("finish")
        try:
            self.wait_for(events.Finished)
            # let it exit on its own first: a forked worker's semaphores are unregistered from the
            # shared resource tracker only by a clean exit (else the tracker warns when the run ends)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=EXIT_GRACE_S)
        except CellStopped:
            return {}
        finally:
            self.kill()
        path = self.job.result_path
        return json.loads(path.read_text()) if path.exists() else {}

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        kill_group(self.proc)


def run_child(job: Job, timeout_s: float) -> dict:
    """A one-shot worker job (the overhead check): its result file, or a failed/timeout record."""
    child = CellProcess(job, timeout_s)
    try:
        child.wait_for(events.Finished)
    except CellStopped as stop:
        return unmeasured(job.cell.to_record(), stop.status, stop.message)
    finally:
        child.kill()
    return json.loads(job.result_path.read_text())


def cell_line(result: CellResult) -> str:
    """One line for a finished cell: its name, status and median rate per mode."""
    parts = [f"{mode} {summary.median:,.0f}" for mode, summary in summaries_of(result).items()
             if summary is not None]
    rates = f"images/s: {', '.join(parts)}" if parts else ""
    return f"{result.cell.label}: {result.status} {rates} {result.error or ''}".rstrip()


def new_document(config: RunConfig, spec: DataSpec, run_dir: Path, check: CheckReport) -> RunDocument:
    return RunDocument(
        run_id=run_dir.name, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), command=config.command,
        label=config.label, baseline=config.baseline, config=config.to_dict(),
        environment=environment.fingerprint(), dataset=spec.fingerprint(),
        target_accuracy=config.target_accuracy or default_target_accuracy(spec.num_classes),
        skipped=tuple({"cell": key, "reason": reason} for key, reason in config.skipped),
        data_check=check.record(config.on_bad_file))


def show_event(bar, event) -> None:
    """Show what a cell is doing: its local service."""
    if isinstance(event, events.Service):
        bar.write(f"  local tf.data service ready at {event.target}: dispatcher + "
                  f"{len(event.worker_pids)} worker(s), pids {event.worker_pids}", file=sys.stderr)


def overhead_check(variant: str, config: RunConfig, spec: DataSpec, run_dir: Path) -> dict:
    """Pipeline-mode throughput of one variant with the sampler on and off, alternating."""
    job = replace(job_for(Cell(variant), config, spec, run_dir), overhead_repeats=OVERHEAD_REPEATS)
    return run_child(job, config.timeout_s)


def overhead_line(result: dict) -> str:
    ratio = result.get("ratio")
    if ratio is None:
        status = f"{result.get('status')} {result.get('error') or ''}"
        return f"telemetry overhead check ({result['variant']}): {status}"
    comparison = result.get("comparison") or {}
    interval = (f" ({comparison['low']:.3f}-{comparison['high']:.3f})"
                if comparison.get("low") is not None else "")
    return (f"telemetry overhead check ({result['variant']}, pipeline mode): throughput with the "
            f"sampler on / off = {ratio:.4f}{interval}, {comparison.get('verdict', '')}; the sampler "
            f"itself used {result['sampler_cpu_percent']:.2f}% of one core")


def resume_document(run_dir: Path, spec: DataSpec) -> tuple[RunDocument, list[CellResult]]:
    """A saved run's document and cells, checked to be over the same data as now."""
    raw = load_run(run_dir)
    doc = RunDocument.from_dict(raw)
    then, now = doc.dataset.get("sha256"), spec.fingerprint().get("sha256")
    if then != now:
        raise PipebenchError(f"cannot resume {str(run_dir)!r}: its dataset has changed since "
                             f"(fingerprint {then} vs {now})")
    return doc, [CellResult.from_dict(c) for c in raw.get("cells", [])]


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


def start_cell(cell: Cell, config: RunConfig, spec: DataSpec, run_dir: Path,
               on_event) -> CellProcess | tuple[str, str]:
    """The cell's worker, started; or the status and reason why it cannot run (unavailable, refused)."""
    reason = unavailable_reason(cell)
    if reason is not None:
        return "unavailable", reason
    job = job_for(cell, config, spec, run_dir)
    copies = get_variant(cell.variant).decoded_copies(job.options)
    reason = memory.refusal(cell.variant, copies, spec, config.memory_budget_bytes)
    if reason is not None:
        return "refused", reason
    return CellProcess(job, config.timeout_s, on_event)


def round_order(cells: list[Cell], seed: int, round_: int) -> list[Cell]:
    """The cells in round `round_`'s order: a permutation drawn from the run's seed and the round."""
    rng = np.random.default_rng([seed, round_])
    return [cells[i] for i in rng.permutation(len(cells))]


def missing_rounds(result: CellResult, rounds: int) -> list[int]:
    """The rounds a cell still lacks (none for a cell that ended: unavailable, refused, ...)."""
    if result.status in DONE_STATUSES:
        return []
    done = {run.round for run in result.runs}
    return [r for r in range(rounds) if r not in done]


class Ledger:
    """The run's cells as typed, frozen `CellResult`s, in the document's order.

    Every change replaces a cell's record (`dataclasses.replace`); `save` writes them into
    the document and the document to `results.json`, so what is on disk is always what
    the records say."""

    def __init__(self, doc: RunDocument, cells: list[CellResult] = ()):
        self.doc = doc
        self.cells = {result.cell.key: result for result in cells}

    def __getitem__(self, key: str) -> CellResult:
        return self.cells[key]

    def values(self):
        return self.cells.values()

    def add(self, cell: Cell) -> None:
        self.cells[cell.key] = CellResult(cell=cell, status="running")

    def update(self, key: str, extra: dict | None = None, **changes) -> None:
        """Replace the cell's record with `changes` to its fields and `extra` merged into its extras."""
        result = self.cells[key]
        self.cells[key] = replace(result, **changes, extra={**result.extra, **(extra or {})})

    def add_runs(self, key: str, runs: list[dict]) -> None:
        self.update(key, runs=self.cells[key].runs + tuple(ModeRun.from_dict(r) for r in runs))

    def stop(self, key: str, stop: CellStopped) -> None:
        self.update(key, status=stop.status, error=stop.message)

    def settle(self, key: str, rounds: int) -> None:
        self.cells[key] = settled(self.cells[key], rounds)

    def amend(self, **changes) -> None:
        """Replace the run's document with `changes` to its fields."""
        self.doc = replace(self.doc, **changes)

    def save(self, run_dir: Path) -> None:
        save_document(run_dir, self.doc, cells=list(self.cells.values()))


def answers(procs: dict[str, CellProcess], records: Ledger, kind: type, command: str | None = None):
    """(key, event) of each worker's next event of `kind`, one worker at a time (sending `command`
    first, if given); a worker that stops instead is recorded as such and dropped."""
    for key, proc in list(procs.items()):
        if command is not None:
            proc.send(command)
        try:
            event = proc.wait_for(kind)
        except CellStopped as stop:
            records.stop(key, stop)
            del procs[key]
            continue
        yield key, event


def set_up(procs: dict[str, CellProcess], records: Ledger) -> None:
    """Wait for every worker's set-up (they run together), then calibrate them one at a time."""
    for key, event in answers(procs, records, events.SetUp):
        framework, checked = event.framework, event.equivalence
        records.update(key, equivalence=Equivalence.from_dict(checked) if checked else None, extra={
            "framework": framework, "warmup_fit": event.warmup_fit, "accuracy_fits": event.accuracy_fits,
            "validation_resize": event.validation_resize, "cpu_affinity": event.cores,
            "threads": event.threads})
        records.doc = records.doc.with_framework(framework)
    for key, event in answers(procs, records, events.Ready, command="calibrate"):
        records.update(key, extra={"calibration": event.calibration, "loops": event.loops})


def choose_target(config: RunConfig, records: Ledger) -> None:
    """Time to accuracy's target: as given, else the accuracy band's lower edge (a level a
    correct pipeline reaches and one that changes the data does not), else, without a band,
    the 1.5 times chance the document started with."""
    if config.target_accuracy is not None:
        records.amend(target_accuracy_source="given")
        return
    band = accuracy_band(list(records.values()), records.doc.dataset.get("num_val", 0))
    if band is not None:
        records.amend(target_accuracy=band.low, target_accuracy_source="accuracy band's lower edge")
    else:
        records.amend(target_accuracy_source="1.5 x chance (no accuracy band)")


def measure_round(round_: int, cells: list[Cell], procs: dict[str, CellProcess], records: Ledger,
                  config: RunConfig, run_dir: Path, bar) -> None:
    """Trial `round_` of every cell that still needs it, in the round's shuffled order."""
    order = [c for c in round_order(cells, config.seed, round_)
             if c.key in procs and round_ in missing_rounds(records[c.key], config.rounds)]
    if not order:
        return
    started = time.time()
    records.doc = records.doc.with_round(RoundRecord(round_, tuple(c.key for c in order), started))
    for cell in order:
        bar.set_description(f"round {round_ + 1}/{config.rounds}: {cell.label}")
        proc = procs[cell.key]
        proc.send("trial", round_)
        try:
            records.add_runs(cell.key, proc.wait_for(events.Trial).runs)
        except CellStopped as stop:
            records.stop(cell.key, stop)
            del procs[cell.key]
        bar.update(1)
        records.save(run_dir)
    bar.write(f"round {round_ + 1}/{config.rounds}: {len(order)} cell(s) in "
              f"{time.time() - started:.0f} s", file=sys.stderr)


def settled(result: CellResult, rounds: int) -> CellResult:
    """A measured cell's final status: failed (with the first error) if any mode failed; incomplete
    if the run stopped before all its rounds (`--resume` measures the rest); else ok."""
    if result.status != "running":
        return result
    errors = [r.error for r in result.runs if r.status != "ok"]
    missing = missing_rounds(result, rounds)
    if errors:
        return replace(result, status="failed", error=errors[0])
    if missing:
        return replace(result, status="incomplete",
                       error=f"measured {rounds - len(missing)} of {rounds} rounds before the run stopped")
    return replace(result, status="ok", error=None)


def finish_cells(procs: dict[str, CellProcess], records: Ledger) -> None:
    """Collect each worker's telemetry series (and service record), then let it go."""
    for key, proc in list(procs.items()):
        tail = proc.finish()
        note = {"note": tail["note"]} if tail.get("note") else {}
        records.update(key, **note, extra={k: v for k, v in tail.items() if k != "note"})
        del procs[key]


def prepare_data(config: RunConfig) -> tuple[DataSpec, CheckReport]:
    """The run's DataSpec after the data check; its non-bad findings are printed, bad ones stop it."""
    spec, check = resolve_spec(
        Path(config.data_dir) if config.data_dir else None,
        Path(config.val_dir) if config.val_dir else None,
        config.val_split, config.embedded, config.seed, config.on_bad_file, subset=config.subset,
    )
    if check.findings:
        print("\n".join(check.summary_lines()), file=sys.stderr)
    return spec, check


def cold_page_cache_possible(config: RunConfig, spec: DataSpec) -> None:
    """Refuse `--page-cache cold` before measuring where evicting a data file has no effect."""
    from bench.run.page_cache import probe

    if config.page_cache != "cold":
        return
    reason = probe(spec.train_files)
    if reason:
        raise PipebenchError(f"--page-cache cold cannot work here: {reason}; valid: --page-cache warm, "
                             "or data on local storage")


def cell_records(config: RunConfig, doc: RunDocument, cells: list[CellResult]) -> Ledger:
    """Each cell's record, added (status running, no runs) where the run lacks it."""
    records = Ledger(doc, cells)
    for cell in config.cells:
        if cell.key not in records.cells:
            records.add(cell)
        elif records[cell.key].status == "incomplete":
            records.update(cell.key, status="running", error=None)  # resumed: its missing rounds come now
    return records


def measure(config: RunConfig, spec: DataSpec, run_dir: Path, records: Ledger) -> None:
    """Start the workers of every cell that lacks rounds, measure the rounds, collect the tails."""
    todo = [c for c in config.cells if missing_rounds(records[c.key], config.rounds)]
    bar = tqdm(total=sum(len(missing_rounds(records[c.key], config.rounds)) for c in todo), unit="round",
               dynamic_ncols=True, mininterval=0.5, disable=None)  # a bar on a terminal only
    procs: dict[str, CellProcess] = {}
    try:
        for cell in todo:
            started = start_cell(cell, config, spec, run_dir, lambda e: show_event(bar, e))
            if isinstance(started, CellProcess):
                procs[cell.key] = started
            else:
                status, reason = started
                records.update(cell.key, status=status, error=reason)
        bar.set_description(f"setting up {len(procs)} cell(s)")
        set_up(procs, records)
        choose_target(config, records)
        records.save(run_dir)
        for round_ in range(config.rounds):
            measure_round(round_, todo, procs, records, config, run_dir, bar)
        finish_cells(procs, records)
    finally:
        for proc in procs.values():
            proc.kill()
        bar.close()
        for cell in todo:
            records.settle(cell.key, config.rounds)
            bar.write(cell_line(records[cell.key]), file=sys.stderr)
        records.save(run_dir)


def run(config: RunConfig, resume: Path | None = None) -> RunOutcome:
    """Measure every cell of `config` in interleaved rounds (with `resume`, what the saved run lacks)."""
    spec, check = prepare_data(config)
    cold_page_cache_possible(config, spec)
    if resume is not None:
        run_dir, (doc, cells) = Path(resume), resume_document(Path(resume), spec)
    else:
        run_dir = new_run_dir(Path(config.results_dir))
        doc, cells = new_document(config, spec, run_dir, check), []
    records = cell_records(config, doc, cells)
    records.save(run_dir)
    interrupted = False
    try:
        measure(config, spec, run_dir, records)
        if config.overhead_check:
            checked = [v for v in with_capability("overhead_check") if unavailable_reason(Cell(v)) is None]
            records.amend(telemetry_overhead=tuple(overhead_check(v, config, spec, run_dir) for v in checked))
            for result in records.doc.telemetry_overhead:
                print(overhead_line(result), file=sys.stderr)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        shutil.rmtree(run_dir / "scratch", ignore_errors=True)
    records.amend(complete=not interrupted)
    records.save(run_dir)
    return RunOutcome(run_dir, interrupted, list(records.values()))
