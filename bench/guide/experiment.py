"""Run the tips as paired experiments and judge each one.

The tips are grouped by the run that measures them (one per mode and page-cache
state); each group is an ordinary `pipebench run` of the tips' cells in interleaved,
shuffled rounds, with calibrated samples, written as a run folder of its own under the
guide's. Each tip is then the paired comparison of its two cells, round by round, and
all the guide's tips are one family for Holm's correction (the CPU costs another).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from bench.config import Cell, RunConfig
from bench.errors import PipebenchError
from bench.guide.autotuned import autotuned_cells, trace_cells
from bench.guide.record import GuideDocument, TipResult, save_guide
from bench.guide.tips import Tip
from bench.results.analysis import CellStats, analyse
from bench.results.document import load_run
from bench.results.records import CellResult
from bench.run.environment import fingerprint
from bench.stats import (
    COST_WORDS,
    PAIRED_TEST,
    TOO_FEW,
    Comparison,
    finish_comparisons,
    median_of,
    min_rounds_for,
    paired,
)
from pipelines.base import reference_variant

MIN_GAIN = 1.05  # a tip whose interval lies wholly below a 5% gain "does not hold"
SET_UP_EPOCHS = 2  # the untimed fit that warms up a cell that is not judged on accuracy


def guide_rounds(asked: int | None, preset_rounds: int, tips: int) -> int:
    """`asked`, else the preset's rounds or, if more, the fewest with which the exact paired test
    can find a difference among `tips` comparisons after Holm's correction."""
    return asked or max(preset_rounds, min_rounds_for(tips))


def group_config(base: RunConfig, tips: list[Tip], results_dir: Path) -> RunConfig:
    """The run that measures `tips` (one mode, one page-cache state): their cells, once each."""
    mode, page_cache = tips[0].group
    training = mode == "train"
    bands = [Cell(reference_variant(), "float32", t.subject.augmentation) for t in tips
             if training and "accuracy" in t.shows]  # what each accuracy is judged against
    cells = tuple(dict.fromkeys([*(c for t in tips for c in (t.subject, t.reference)), *bands]))
    return replace(base, cells=cells, skipped=(), modes=(mode,), page_cache=page_cache,
                   results_dir=str(results_dir), overhead_check=False, baseline=None,
                   accuracy_epochs=base.accuracy_epochs if training else SET_UP_EPOCHS,
                   accuracy_seeds=base.accuracy_seeds if training else 1,
                   label=f"guide: {', '.join(t.id for t in tips)} ({mode}, {page_cache} page cache)")


def groups_of(tips: tuple[Tip, ...]) -> list[list[Tip]]:
    """The tips by the run that measures them, in the order the tips come."""
    found: dict[tuple[str, str], list[Tip]] = {}
    for tip in tips:
        found.setdefault(tip.group, []).append(tip)
    return list(found.values())


def verdict_of(speed: Comparison | None, failed: str | None) -> tuple[str, str]:
    """holds / does not hold / cannot tell, and why, from the Holm-adjusted paired test."""
    if failed:
        return "cannot tell", failed
    if speed is None or speed.ratio is None:
        return "cannot tell", "no round measured both cells"
    if speed.verdict == "faster":
        return "holds", f"faster: {speed.text}, p (Holm) {speed.p_adjusted:.3g}"
    if speed.verdict == "slower":
        return "does not hold", f"slower: {speed.text}, p (Holm) {speed.p_adjusted:.3g}"
    if speed.verdict == TOO_FEW:
        return "cannot tell", f"{speed.n} rounds are too few for the paired test under Holm's correction"
    if speed.high is not None and speed.high < MIN_GAIN:
        return "does not hold", (f"no gain of {MIN_GAIN - 1:.0%} or more: {speed.text} at "
                                 f"{speed.coverage:.0%} coverage")
    return "cannot tell", f"within noise, and the interval {speed.text} still admits a gain"


def cell_figures(stats: CellStats | None, mode: str) -> dict:
    """What the guide shows of one cell beside the ratio: rate, cost, memory, up-front work, accuracy."""
    if stats is None:
        return {}
    runs = stats.result.runs_of(mode)
    telemetry = [r.telemetry or {} for r in runs]
    rate, cost = stats.modes.get(mode), stats.cpu.get(mode)
    storage = stats.storage or {}
    return {
        "status": stats.result.status, "error": stats.result.error,
        "images_per_sec": rate.median if rate else None,
        "cpu_us_per_image": cost.median if cost else None,
        "build_s": stats.build_s,
        "first_batch_s": median_of(r.first_batch_s for r in runs),
        "peak_rss_bytes": max((t["peak_rss_bytes"] for t in telemetry if t.get("peak_rss_bytes")),
                              default=None),
        "au_percent": stats.au.median if stats.au else None,
        "val_accuracy": stats.val_accuracy, "vs_band": stats.vs_band,
        "cold_read_share_min": storage.get("cold_read_share_min"),
    }


def compare_group(tips: list[Tip], run_dir: Path) -> list:
    """Each tip's unadjusted paired parts (speed, cost), its figures and why it failed, if it did."""
    doc = load_run(run_dir)
    analysis = analyse(doc)
    stats = {c.cell.key: c for c in analysis.cells}
    results = {c.cell.key: c.result for c in analysis.cells}
    out = []
    for tip in tips:
        subject, reference = results.get(tip.subject.key), results.get(tip.reference.key)
        failed = not_measured(subject, reference)
        figures = {"subject": cell_figures(stats.get(tip.subject.key), tip.mode),
                   "reference": cell_figures(stats.get(tip.reference.key), tip.mode)}
        judged = band_for(analysis, stats.get(tip.subject.key))
        if judged is not None and "accuracy" in tip.shows:
            figures["accuracy_band"] = {"low": judged.low, "high": judged.high, "coverage": judged.coverage,
                                        "augmentation": getattr(stats.get(tip.subject.key), "band_of", None)}
        speed = paired(tip.id, tip.reference.label, tip.mode, subject.by_round(tip.mode) if subject else {},
                       reference.by_round(tip.mode) if reference else {})
        cost = None
        if subject and reference and subject.cpu_by_round(tip.mode) and reference.cpu_by_round(tip.mode):
            cost = paired(tip.id, tip.reference.label, tip.mode, subject.cpu_by_round(tip.mode),
                          reference.cpu_by_round(tip.mode))
        out.append((tip, speed, cost, figures, failed))
    return out


def band_for(analysis, stats: CellStats | None):
    """The accuracy band a cell is judged against: its augmentation's, where the run fitted one."""
    if stats is None or stats.band_of in (None, "none"):
        return analysis.band
    return analysis.augmented_bands.get(stats.band_of, analysis.band)


def not_measured(subject: CellResult | None, reference: CellResult | None) -> str | None:
    for role, result in (("the changed pipeline", subject), ("the unchanged pipeline", reference)):
        if result is None:
            return f"{role} was not measured"
        if result.status != "ok":
            return f"{role} ({result.cell.label}) {result.status}: {result.error}"
    return None





def judge(measured: list, runs: dict[str, str]) -> list[TipResult]:
    """Holm across every tip of the guide (speed one family, CPU cost another), then each verdict."""
    speeds = finish_comparisons([m[1] for m in measured])
    with_cost = [i for i, m in enumerate(measured) if m[2] is not None]
    costs = dict(zip(with_cost, finish_comparisons([measured[i][2] for i in with_cost], words=COST_WORDS),
                     strict=True))
    results = []
    for i, (tip, _, _, figures, failed) in enumerate(measured):
        verdict, reason = verdict_of(speeds[i], failed)
        results.append(TipResult(
            id=tip.id, claim=tip.claim, source=tip.source, change=tip.change, mode=tip.mode,
            page_cache=tip.page_cache, subject=tip.subject.label, reference=tip.reference.label,
            run=runs.get(tip.id, ""), verdict=verdict, reason=reason,
            speed=speeds[i] if speeds[i].n else None, cost=costs.get(i), figures=figures, shows=tip.shows))
    return results


def measure_group(config: RunConfig) -> Path:
    """One group's run (`bench.run.runner.run`); Ctrl-C ends the guide, not only this run."""
    from bench.run.runner import run as run_cells

    outcome = run_cells(config)
    if outcome.interrupted:
        raise KeyboardInterrupt
    return outcome.run_dir


def swept_cell(tip: Tip, value: str) -> Cell:
    """The tip's reference with its swept option at `value`."""
    return replace(tip.reference, options=(*tip.reference.options, f"{tip.sweep[0]}={value}"))


def sweep_config(base: RunConfig, tip: Tip, results_dir: Path) -> RunConfig:
    """The held-out sweep of `tip.sweep`: the reference at each value, in pipeline mode."""
    option, values = tip.sweep
    cells = tuple(swept_cell(tip, v) for v in values)
    return replace(base, cells=cells, skipped=(), modes=("pipeline",), page_cache=tip.page_cache,
                   results_dir=str(results_dir), overhead_check=False, baseline=None,
                   rounds=max(3, base.rounds // 2), accuracy_epochs=SET_UP_EPOCHS, accuracy_seeds=1,
                   label=f"guide: sweep of {option} for {tip.id}")


def swept(base: RunConfig, tips: tuple[Tip, ...], guide_dir: Path, run, sweeps: dict) -> tuple[Tip, ...]:
    """The tips with each sweeping tip's reference set to its sweep's fastest value; `sweeps`
    gets, per tip, the medians, the choice and the run folder."""
    done = []
    for tip in tips:
        if tip.sweep is None:
            done.append(tip)
            continue
        option, values = tip.sweep
        print(f"guide: sweep of {option} ({', '.join(values)}) for {tip.id}", file=sys.stderr)
        run_dir = run(sweep_config(base, tip, guide_dir / "runs"))
        by_cell = {c.cell.key: c for c in analyse(load_run(run_dir)).cells}
        medians = {}
        for value in values:
            key = swept_cell(tip, value).key
            rate = by_cell[key].modes.get("pipeline") if key in by_cell else None
            medians[value] = rate.median if rate else None
        measured = {v: m for v, m in medians.items() if m is not None}
        if not measured:
            raise PipebenchError(f"the sweep of {option} for {tip.id} measured no value")
        best = max(measured, key=measured.get)
        sweeps[tip.id] = {"option": option, "images_per_sec": medians, "chosen": best,
                          "run": str(run_dir.relative_to(guide_dir))}
        done.append(replace(tip, reference=swept_cell(tip, best)))
    return tuple(done)


def run_guide(base: RunConfig, tips: tuple[Tip, ...], guide_dir: Path, command: str,
              run: Callable[[RunConfig], Path] | None = None) -> GuideDocument:
    """The held-out sweeps, every group's run, then every tip judged; guide.json is saved after
    each run, so an interrupted guide keeps what it measured (each run folder keeps its raw samples)."""
    run = run or measure_group
    started = time.monotonic()
    measured, runs, notes, sweeps = [], {}, [], {}
    try:
        tips = swept(base, tips, guide_dir, run, sweeps)
    except PipebenchError as exc:  # a sweeping tip has no reference then: it cannot tell
        notes.append(f"sweep not measured ({exc})")
        measured += [(t, paired(t.id, t.reference.label, t.mode, {}, {}), None, {},
                      f"its sweep was not measured: {exc}") for t in tips if t.sweep]
        tips = tuple(t for t in tips if t.sweep is None)
    for group in groups_of(tips):
        config = group_config(base, group, guide_dir / "runs")
        mode, page_cache = group[0].group
        print(f"guide: {len(group)} tip(s) in {mode} mode, {page_cache} page cache: "
              f"{', '.join(t.id for t in group)}", file=sys.stderr)
        try:
            run_dir = run(config)
        except PipebenchError as exc:
            notes.append(f"{mode}, {page_cache} page cache: not measured ({exc})")
            measured += [(t, paired(t.id, t.reference.label, t.mode, {}, {}), None, {}, str(exc))
                         for t in group]
        else:
            runs.update({t.id: str(run_dir.relative_to(guide_dir)) for t in group})
            measured += compare_group(group, run_dir)
            for tip, _, _, figures, _ in measured:
                if tip.id in sweeps:
                    figures["sweep"] = sweeps[tip.id]
        guide = document(base, measured, runs, notes, command, started)
        save_guide(guide_dir, guide)
    chosen = autotune_of(base, tips, notes)
    guide = replace(document(base, measured, runs, notes, command, started), autotune=tuple(chosen))
    save_guide(guide_dir, guide)
    return guide


def autotune_of(base: RunConfig, tips: tuple[Tip, ...], notes: list[str]) -> list[dict]:
    """What AUTOTUNE chose in the tips' autotuned pipelines (`bench.guide.autotuned`); a failure
    is a note, never the end of the guide: every tip is measured by then."""
    cells = autotuned_cells(tips, base.options)
    if cells:
        print(f"guide: reading AUTOTUNE's choices from TensorFlow's trace of {len(cells)} pipeline(s)",
              file=sys.stderr)
    try:
        return trace_cells(base, cells)
    except Exception as exc:  # noqa: BLE001  (the measurements are saved; this part only adds to them)
        notes.append(f"AUTOTUNE's choices not read: {type(exc).__name__}: {exc}".splitlines()[0])
        return []


def document(base: RunConfig, measured, runs: dict[str, str], notes: list[str], command: str,
             started: float) -> GuideDocument:
    settings = {"preset": base.preset, "data_dir": base.data_dir, "rounds": base.rounds,
                "min_sample_s": base.min_sample_s, "target_rate": base.batch_size / base.step_s,
                "batch_size": base.batch_size, "accuracy_epochs": base.accuracy_epochs,
                "accuracy_seeds": base.accuracy_seeds,
                "dataset": {**asdict(base.embedded), "long_side": list(base.embedded.long_side)}
                if base.data_dir is None else None,  # the list that JSON reads back
                "min_gain": MIN_GAIN}
    return GuideDocument(created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), command=command, machine=fingerprint(),
                         settings=settings, tips=tuple(judge(measured, runs)),
                         runs=tuple(dict.fromkeys(runs.values())),
                         seconds=round(time.monotonic() - started, 1),
                         test=PAIRED_TEST + ", Holm's correction across the guide's tips", notes=tuple(notes))
