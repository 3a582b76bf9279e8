"""What a run's raw samples say: per-cell statistics, comparisons, bands, the recommendation.

Read from the document's typed records (`bench.results.records`) and nothing else;
nothing here writes a file. Every interval is the order-statistic one of
`bench.stats` with its real coverage; every verdict comes from a paired test with
Holm's correction across its family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from bench.config import MODES, Cell, band_cell
from bench.results.capacity import Capacity, capacity_of, checks
from bench.results.records import AccuracyFit, CellResult, ModeRun
from bench.stats import (
    COST_WORDS,
    PAIRED_TEST,
    Band,
    Comparison,
    Summary,
    finish_comparisons,
    median_of,
    paired,
    prediction_band,
    summarize,
)

LOSS_BAND_COVERAGE = 0.98  # 1% above it by chance; the accuracy band's is 95% (bench.stats.CONFIDENCE)


def verdict(stall_percent: float | None) -> str | None:
    """The TensorFlow Profiler's thresholds on the share of step time spent waiting for input."""
    if stall_percent is None:
        return None
    if stall_percent < 5.0:
        return "not input-bound"  # under 5% of step time waiting for input
    return "moderately input-bound" if stall_percent <= 20.0 else "highly input-bound"


def time_to_accuracy(epochs, target: float | None) -> float | None:
    """Training seconds from the start of the fit until validation accuracy first reaches `target`."""
    if target is None:
        return None
    for epoch in epochs:
        if (epoch.get("val_accuracy") or 0.0) >= target:
            return epoch.get("wall_s")
    return None


@dataclass(frozen=True)
class CellStats:
    """What a cell's raw runs say, derived once and read by the CSV, the report and `compare`.

    Every interval is the order-statistic one of `bench.stats` with its real coverage.
    Stall % and AU % are computed per round (train and model-only of the same round;
    each simulated sample's AU) and then summarised, never as ratios of medians; stall
    is not clamped at 0, since a negative value is what noise looks like.
    """

    result: CellResult
    modes: dict[str, Summary | None]
    stall: Summary | None
    au: Summary | None
    val_accuracy: float | None
    val_accuracies: tuple[float, ...]  # each accuracy fit's (the band cell: one per seed)
    time_to_accuracy_s: float | None
    epochs_to_target: int | None  # of the accuracy fit
    timed_epoch_s: float | None  # one epoch of the accuracy fit at the median timed training rate
    vs_band: str | None  # "below", "inside" or "above" the accuracy band; None: no band
    val_loss: float | None  # at the end of the cell's accuracy fit
    loss_vs_band: str | None  # "below", "inside" or "above" the loss band; None: no band
    first_batch_s: float | None
    cpu_percent: float | None
    peak_rss_bytes: int | None
    gpu_util_percent: float | None
    short_samples: int  # samples shorter than the run's --min-sample-s
    band_of: str | None = None  # the augmentation whose band `vs_band` places this cell in
    vs_fastest: Comparison | None = None  # the report's one family of tests
    vs_baseline: Comparison | None = None  # the paired ratio and its interval only
    build_s: float | None = None  # building the pipeline (in-memory variants: decoding every file)
    storage: dict | None = None  # what the file-reading epochs fetched from storage (`storage_figures`)
    cpu: dict[str, Summary | None] = field(default_factory=dict)  # mode -> CPU µs per image
    pipeline_cpu: Summary | None = None  # the pipeline's own CPU µs per image in training
    cores_used: dict[str, float | None] = field(default_factory=dict)  # mode -> median cores busy
    vs_baseline_cpu: Comparison | None = None  # the cost family: CPU µs per image against the baseline
    capacity: Capacity | None = None  # cost and structure in pipeline mode (`bench.results.capacity`)
    predicted_images_per_sec: float | None = None  # from the fewest-core cell of its settings (--cores)
    cores_needed: int | None = None  # cores of this machine's kind that feed the target rate; None: cannot
    service_workers_needed: int | None = None  # tf.data service workers of one core for the target rate
    @property
    def cell(self) -> Cell:
        return self.result.cell

    @property
    def train(self) -> Summary | None:
        return self.modes.get("train")

    @property
    def input_bound(self) -> str | None:
        return verdict(self.stall.median if self.stall else None)

    @property
    def learns_less(self) -> bool:
        """Below the accuracy band, or above the loss band: not as a correct pipeline learns."""
        return self.vs_band == "below" or self.loss_vs_band == "above"


def storage_figures(result: CellResult) -> dict | None:
    """The page cache as the cell's file-reading runs met it: its state, the bytes fetched from
    storage per epoch (median over runs: a cold run's timed epochs; a warm run's every epoch,
    its warm-up included), a cold epoch's least share of its files, and any flags."""
    runs = [r for r in result.runs if r.ok and r.storage.page_cache]
    if not runs:
        return None
    stored = [r.storage for r in runs]
    state = stored[0].page_cache
    pairs = list(zip(runs, stored, strict=True))
    if state == "cold":  # the timed epochs' bytes
        per_epoch = [s.storage_read_bytes / max(len(timed_epochs(r)), 1) for r, s in pairs
                     if s.storage_read_bytes is not None]
    else:  # the whole run's, every epoch
        per_epoch = [s.run_storage_read_bytes / max(len(r.epochs), 1) for r, s in pairs
                     if s.run_storage_read_bytes is not None]
    shares = [s.cold_read_share_min for s in stored if s.cold_read_share_min is not None]
    flags = tuple(dict.fromkeys(s.page_cache_flag for s in stored if s.page_cache_flag))
    return {"page_cache": state, "storage_read_bytes_per_epoch": median_of(per_epoch),
            "cold_read_share_min": min(shares) if shares else None, "flags": flags}


def timed_epochs(run: ModeRun) -> list[dict]:
    """The epochs a run's sample covers (those after the warm-up one, or all of them)."""
    warmup = 0 if run.extra.get("warm_start") else 1
    return [e for e in run.epochs if e.get("epoch", 0) > warmup] or list(run.epochs)


def per_round_stall(result: CellResult) -> list[float]:
    """100 * (1 - train / model_only) of each round that has both."""
    bound = result.by_round("model_only")
    return [100.0 * (1.0 - rate / bound[r]) for r, rate in result.by_round("train").items() if bound.get(r)]


def band_fits(results: list[CellResult], augmentation: str = "none") -> list[AccuracyFit]:
    """The accuracy fits of `augmentation`'s band cell, one per seed."""
    chosen = band_cell([r.cell for r in results], augmentation)
    return next((r.accuracy_fits for r in results if r.cell == chosen), [])


def accuracy_band(results: list[CellResult], num_val: int, augmentation: str = "none") -> Band | None:
    """The band: the prediction interval of the band cell's fits, one per seed (`bench.stats`),
    its spread at least the binomial noise of an accuracy on `num_val` images."""
    accuracies = [f.final_accuracy for f in band_fits(results, augmentation)]
    present = [a for a in accuracies if a is not None]
    mean = float(np.mean(present)) if present else 0.0
    floor = math.sqrt(mean * (1 - mean) / num_val) if num_val else 0.0
    return prediction_band(accuracies, bounds=(0.0, 1.0), sd_floor=floor)


def loss_band(results: list[CellResult], augmentation: str = "none") -> Band | None:
    """The loss band: the same prediction interval of the band cell's final validation losses.

    Accuracy counts only the top class; the cross-entropy also reads how sure the model is of
    the right one, which is what wrong labels in training cost once a fit has converged (with
    10% of them moved, the argmax can still be right on nearly every image). A cell above
    this band learns less from the same files, as one below the accuracy band does. Only its
    upper edge flags a cell; the band is the 98% interval, so a correct cell lands above it 1%
    of the time, and the two checks together flag one about 3.5% of the time (2.5% below the
    accuracy band), not 5%.
    """
    losses = [f.final_loss for f in band_fits(results, augmentation)]
    return prediction_band(losses, coverage=LOSS_BAND_COVERAGE, bounds=(0.0, math.inf))


def accuracy_figures(result: CellResult, target: float | None, train: Summary | None) -> dict:
    """Accuracy, the seeds' accuracies and time to accuracy of a cell.

    From its accuracy fit: the accuracy at the fit's end, and time to accuracy as the epochs the
    fit needed to reach `target` times the epoch's seconds at the cell's median timed training
    rate (the fit itself is untimed). Runs before the accuracy fit existed: each training
    trial's validation accuracy at `--epochs` and its wall time to `target`, as they were.
    """
    fits = result.accuracy_fits
    if fits:
        own = fits[0]
        epochs = own.epochs_to(target)
        epoch_s = own.images_per_epoch / train.median if own.images_per_epoch and train else None
        return {"val_accuracy": own.final_accuracy, "epochs_to_target": epochs, "timed_epoch_s": epoch_s,
                "val_accuracies": tuple(f.final_accuracy for f in fits), "val_loss": own.final_loss,
                "time_to_accuracy_s": epochs * epoch_s if epochs and epoch_s else None}
    runs = result.runs_of("train")
    reached = [time_to_accuracy(r.epochs, target) for r in runs]
    accuracies = tuple(a for a in (r.val_accuracy for r in runs) if a is not None)
    return {"val_accuracy": median_of(accuracies), "val_accuracies": accuracies, "epochs_to_target": None,
            "timed_epoch_s": None, "val_loss": None,
            "time_to_accuracy_s": median_of(reached) if reached and None not in reached else None}


def cell_stats(result: CellResult, target: float | None, min_sample_s: float | None = None,
               band: Band | None = None, losses: Band | None = None, band_of: str | None = None) -> CellStats:
    """The derived figures of one cell (no comparison yet: see `analyse`); `band` and `losses`
    are the bands it is judged against, those of augmentation `band_of`."""
    train = result.runs_of("train")
    telemetry = [r.telemetry or {} for r in train]
    short = sum(1 for r in result.runs if r.ok and min_sample_s and (r.sample.seconds or 0) < min_sample_s)
    modes = summaries_of(result)
    accuracy = accuracy_figures(result, target, modes.get("train"))
    return CellStats(
        result=result,
        modes=modes,
        stall=summarize(per_round_stall(result)),
        au=summarize([100.0 * r.au for r in result.runs_of("simulated") if r.au is not None]),
        **accuracy,
        vs_band=band.place(accuracy["val_accuracy"]) if band else None,
        loss_vs_band=losses.place(accuracy["val_loss"]) if losses else None,
        band_of=band_of if band else None,
        first_batch_s=median_of(r.first_batch_s for r in train),
        cpu_percent=median_of(t.get("cpu_percent") for t in telemetry),
        peak_rss_bytes=max((t["peak_rss_bytes"] for t in telemetry if t.get("peak_rss_bytes")), default=None),
        gpu_util_percent=median_of(t.get("gpu_util_percent") for t in telemetry),
        short_samples=short,
        build_s=median_of(r.build_s for r in result.runs if r.ok),
        storage=storage_figures(result),
        cpu={mode: summarize(result.cpu_by_round(mode).values()) for mode in modes},
        pipeline_cpu=summarize(result.pipeline_cpu_by_round().values()),
        cores_used={mode: median_of(r.sample.cores_used for r in result.runs_of(mode)) for mode in modes},
    )


@dataclass(frozen=True)
class Analysis:
    """Every cell's figures and its paired comparisons, as the CSV and the report show them.

    One family of tests per run, in the deciding mode (training, else the simulated
    accelerator, else the pipeline alone): every cell against the fastest of the cells that
    learn as well as the best (`accurate`; without training, every cell whose data match),
    Holm-corrected together, so that each verdict a report prints comes from the same
    correction. Against the baseline (ImageDataGenerator, say)
    each cell gets its paired ratio with its interval: an effect size, not another test.
    """

    cells: tuple[CellStats, ...]
    baseline: CellStats | None
    fastest: CellStats | None
    accurate: tuple[CellStats, ...] = ()
    best_accuracy: float | None = None
    accuracy_noise: float | None = None
    band: Band | None = None  # the accuracy band, when the run fitted the reference with >= 3 seeds
    loss_band: Band | None = None  # the same seeds' final validation losses (runs that kept them)
    augmented_bands: dict = field(default_factory=dict)  # augmentation -> its band, where fitted
    test: str = PAIRED_TEST
    mode: str = "train"  # what the recommendation and the verdicts rest on (`deciding_mode`)
    predictions: tuple = ()  # `bench.results.capacity.PredictionCheck`s of the --cores cells
    target_rate: float | None = None  # the simulated accelerator's images/s, which cores_needed feeds


def baseline_candidates() -> list[str]:
    """The variants declared usual starting points (`Variant.baseline_rank`), preferred first."""
    from pipelines import REGISTRY

    ranked = [v for v in REGISTRY.values() if v.baseline_rank is not None]
    return [v.name for v in sorted(ranked, key=lambda v: v.baseline_rank)]


DECIDING_MODES = ("train", "simulated", "pipeline")  # the first of these a run measured decides


def deciding_mode(cells: list[CellStats]) -> str | None:
    """The mode the recommendation and the verdicts rest on: training where it was run; without
    it, the simulated accelerator at the target rate (a GPU user on a CPU-only box); else
    the pipeline alone."""
    measured = {mode for c in cells for mode, s in c.modes.items() if s is not None}
    return next((m for m in DECIDING_MODES if m in measured), None)


def pick_baseline(cells: list[CellStats], baseline: str | None, mode: str = "train") -> CellStats | None:
    """`baseline` (a variant name), else the first usual starting point present, in float32, unaugmented."""
    names = [baseline] if baseline else baseline_candidates()
    for name in names:
        for stats_ in cells:
            cell = stats_.cell
            if (cell.variant == name and cell.precision == "float32" and cell.augmentation == "none"
                    and stats_.modes.get(mode) is not None):
                return stats_
    return None


def comparable_cells(cells: list[CellStats], num_val: int,
                     mode: str) -> tuple[list[CellStats], float | None, float]:
    """The cells eligible for the recommendation in `mode`: `accurate_cells` for training; without
    training no cell has an accuracy to check, so every measured cell whose data match."""
    if mode == "train":
        return accurate_cells(cells, num_val)
    return [c for c in cells if c.result.status == "ok" and c.modes.get(mode) is not None
            and not c.result.data_differs], None, 0.0


def accurate_cells(cells: list[CellStats], num_val: int) -> tuple[list[CellStats], float | None, float]:
    """The measured cells that learn as well as they should, the best accuracy and the noise allowed.

    With the bands: every cell that does not learn less (`CellStats.learns_less`). Without
    them (fewer than 3 seeds, or runs from before the band): the cells within the 95%
    binomial half-width on `num_val` images of the best accuracy. A cell whose data differ
    from the reference is never among them: it changes the experiment."""
    ok = [c for c in cells if c.result.status == "ok" and c.train is not None and c.val_accuracy is not None
          and not c.result.data_differs]
    if not ok:
        return [], None, 0.0
    best = max(c.val_accuracy for c in ok)
    if any(c.vs_band is not None or c.loss_vs_band is not None for c in cells):
        return [c for c in ok if not c.learns_less], best, 0.0
    noise = 1.96 * math.sqrt(best * (1 - best) / num_val) if num_val else 0.0
    return [c for c in ok if c.val_accuracy >= best - noise], best, noise


def analyse(doc: dict, baseline: str | None = None) -> Analysis:
    """The run's cells with their statistics, each compared with the fastest accurate cell."""
    target = doc.get("target_accuracy")
    min_sample_s = (doc.get("config") or {}).get("min_sample_s")
    results = [CellResult.from_dict(c) for c in doc.get("cells", [])]
    num_val = (doc.get("dataset") or {}).get("num_val") or 0
    bands = {a: (accuracy_band(results, num_val, a), loss_band(results, a))
             for a in dict.fromkeys(r.cell.augmentation for r in results)}
    band, losses = bands.get("none", (None, None))

    def judged_by(r: CellResult) -> str:  # its own augmentation's band, else the unaugmented one
        return r.cell.augmentation if bands[r.cell.augmentation][0] is not None else "none"

    cells = [cell_stats(r, target, min_sample_s, *bands.get(judged_by(r), (None, None)), band_of=judged_by(r))
             for r in results]
    mode = deciding_mode(cells) or "train"
    accurate, best, noise = comparable_cells(cells, num_val, mode)
    fastest = max(accurate, key=lambda c: c.modes[mode].median) if accurate else None
    base = pick_baseline(cells, baseline or doc.get("baseline"), mode)
    others = [c for c in cells if c is not fastest and c.modes.get(mode) is not None] if fastest else []
    tested = dict(zip([id(c) for c in others], finish_comparisons(
        [paired(c.cell.label, fastest.cell.label, mode, c.result.by_round(mode),
                fastest.result.by_round(mode)) for c in others]), strict=True))

    def ratio_to_base(c: CellStats) -> Comparison | None:
        if base is None or c is base or c.modes.get(mode) is None:
            return None
        part = paired(c.cell.label, base.cell.label, mode, c.result.by_round(mode),
                      base.result.by_round(mode))
        return part.ratio_only() if part.n else None

    costs = cost_comparisons(cells, base, mode)
    needs = capacities(doc, cells)
    done = [replace(c, vs_fastest=tested.get(id(c)), vs_baseline=ratio_to_base(c),
                    vs_baseline_cpu=costs.get(id(c)), **needs.cells.get(id(c), {})) for c in cells]
    find = {id(old): new for old, new in zip(cells, done, strict=True)}
    return Analysis(tuple(done), find.get(id(base)), find.get(id(fastest)),
                    tuple(find[id(c)] for c in accurate), best, noise, band=band, loss_band=losses, mode=mode,
                    augmented_bands={a: b for a, (b, _) in bands.items() if a != "none" and b is not None},
                    predictions=needs.checks, target_rate=needs.target_rate)


@dataclass(frozen=True)
class Needs:
    """What the cells need: per cell (by id of its `CellStats`) its capacity, predicted rate and
    the cores or service workers for the target rate; the prediction checks; the target rate."""

    cells: dict
    checks: tuple
    target_rate: float | None


def capacities(doc: dict, cells: list[CellStats]) -> Needs:
    """Each cell's capacity, its predicted rate (--cores cells) and the cores it needs for the
    target rate, keyed by id of its `CellStats`; the prediction checks; the target rate."""
    config = doc.get("config") or {}
    target = (config["batch_size"] / config["step_s"]
              if config.get("step_s") and config.get("batch_size") else None)
    usable = (doc.get("environment") or {}).get("cpu_affinity") or 1
    found = {id(c): capacity_of(c.result, len(c.result.extra.get("cpu_affinity") or []) or usable,
                                config.get("options") or ()) for c in cells}
    present = [f for f in found.values() if f is not None]
    predicted = {check.cell: check for check in checks(present)}
    per_cell = {}
    for c in cells:
        capacity = found[id(c)]
        if capacity is None:
            continue
        check = predicted.get(c.cell)
        per_cell[id(c)] = {"capacity": capacity,
                           "predicted_images_per_sec": check.predicted_images_per_sec if check else None,
                           "cores_needed": capacity.cores_for(target) if target else None,
                           "service_workers_needed": capacity.service_workers_for(target) if target else None}
    return Needs(cells=per_cell, checks=tuple(predicted.values()), target_rate=target)


def cost_comparisons(cells: list[CellStats], base: CellStats | None, mode: str) -> dict[int, Comparison]:
    """Each cell's CPU µs per image against the baseline's, paired by round, in `mode`: one family,
    Holm-corrected, with the verdicts "costs more", "costs less" or "within noise"."""
    if base is None:
        return {}
    reference = base.result.cpu_by_round(mode)
    parts = [(c, paired(c.cell.label, base.cell.label, mode, c.result.cpu_by_round(mode), reference))
             for c in cells if c is not base]
    kept = [(c, p) for c, p in parts if p.n]
    done = finish_comparisons([p for _, p in kept], words=COST_WORDS)
    return {id(c): comparison for (c, _), comparison in zip(kept, done, strict=True)}


def summaries_of(result: CellResult) -> dict[str, Summary | None]:
    """Median and interval of each mode's per-round rates (successful runs only)."""
    return {mode: summarize(result.by_round(mode).values()) for mode in MODES if result.runs_of(mode)}
