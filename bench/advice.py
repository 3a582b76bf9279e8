"""Rules that turn a stage profile into advice, and the measurement that checks each one.

Every piece of advice names a concrete change (option values, an augmentation,
or another variant), predicts its rate from the profile, and is then applied
by the harness and measured beside the unchanged pipeline, so the report shows
the measured gain next to the predicted one. The changes that are option
values are also applied together, as the profile's combined recommendation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import probe
from bench.measure import intervals_overlap, summary_record

TF_OP_STAGES = ("read", "parse", "decode", "resize")
VERIFY_EPOCHS = 5  # timed epochs per measurement (after one warm-up)


@dataclass(frozen=True)
class Advice:
    rule: str
    message: str
    variant: str
    overrides: dict = field(default_factory=dict)
    augmentation: str | None = None  # None: unchanged
    predicted_images_per_sec: float | None = None
    mode: str = "pipeline"  # the mode the prediction is about: pipeline or simulated

    def to_dict(self) -> dict:
        return asdict(self)


def stage(profile: dict, name: str) -> dict | None:
    return next((s for s in profile["stages"] if s["name"] == name), None)


def scaled(profile: dict, factor: float | None) -> float | None:
    """The measured rate times a speed-up factor read off the profile.

    Predictions are ratios of stage costs applied to the pipeline's measured
    rate, so the profile's own overheads (sequential, one prefix at a time)
    cancel out instead of biasing the absolute numbers.
    """
    rate = profile.get("pipeline_images_per_sec")
    return rate * factor if rate and factor else None


def wall(profile: dict, names=None) -> float:
    return sum(s["wall_us_per_image"] for s in profile["stages"] if names is None or s["name"] in names)


def parallel_factor(profile: dict) -> float | None:
    """Sequential time per image over the time on all cores (CPU-bound, Python stages on one)."""
    cpu_on_cores = sum(s["cpu_us_per_image"] for s in profile["stages"]) / profile["cores"]
    python_floor = max([s["wall_us_per_image"] for s in profile["stages"] if s["python"]], default=0.0)
    parallel = max(cpu_on_cores, python_floor)
    return wall(profile) / parallel if parallel > 0 else None


def advise(profile: dict, variant, options: dict, augmentation: str, fits_in_memory: bool,
           target_rate: float) -> list[Advice]:
    """The rules, in the order a user should try them."""
    name, found = variant.name, []
    slowest = stage(profile, profile["bottleneck"])
    all_stages = [s["name"] for s in profile["stages"]]
    if variant.family == "image_data_generator":
        found.append(Advice("replace_image_data_generator", "ImageDataGenerator decodes and augments in "
                            "Python, one image at a time: use image_dataset_from_directory (or tf.data "
                            "with preprocessing layers)", "image_dataset_from_directory"))
    python_loader = variant.family in ("generator", "sequence", "image_data_generator")
    if slowest and slowest["python"] and not python_loader:
        found.append(Advice("gil_bound", f"stage {slowest['name']} runs Python (py_function) and holds the "
                            "GIL: more parallel_calls cannot help", name, {"parallel_calls": "autotune"},
                            predicted_images_per_sec=scaled(profile, 1.0)))
        if augmentation == "numpy_pyfunc":
            rest = wall(profile) - slowest["wall_us_per_image"]
            factor = wall(profile) / rest if rest > 0 else None
            found.append(Advice("vectorise", "move the augmentation to TensorFlow ops (tf_image)", name,
                                augmentation="tf_image", predicted_images_per_sec=scaled(profile, factor)))
    elif slowest and slowest["name"] in TF_OP_STAGES and options.get("parallel_calls") == 1:
        found.append(Advice("parallelise", f"stage {slowest['name']} runs in a sequential map: set "
                            "num_parallel_calls=AUTOTUNE", name, {"parallel_calls": "autotune"},
                            predicted_images_per_sec=scaled(profile, parallel_factor(profile))))
    if (slowest and slowest["name"] in TF_OP_STAGES and options.get("cache") == "none" and fits_in_memory):
        after = wall(profile, [s for s in all_stages if s not in ("list", *TF_OP_STAGES)])
        factor = wall(profile) / after if after else None  # None: what is left is too cheap to measure
        found.append(Advice("cache_after_decode", f"{slowest['name']} dominates and the decoded dataset fits "
                            "in memory: cache after decode", name, {"cache": "memory"},
                            predicted_images_per_sec=scaled(profile, factor)))
    if options.get("prefetch") == 0:
        rate = profile["pipeline_images_per_sec"]
        found.append(Advice("prefetch", "no prefetch: the input waits for each step and each step for the "
                            f"input; prefetch overlaps them (at {target_rate:.0f} images/s simulated)",
                            name, {"prefetch": "autotune"}, mode="simulated",
                            predicted_images_per_sec=min(rate, target_rate) if rate else None))
    return found + au_advice(profile, found, target_rate)


FIXES_BOTTLENECK = ("replace_image_data_generator", "vectorise", "cache_after_decode", "parallelise")


def au_advice(profile: dict, found: list[Advice], target_rate: float) -> list[Advice]:
    """Under 90% AU at the target rate: which stage to fix first, checked in simulated mode."""
    au = profile.get("au")
    if au is None or au >= 0.9:
        return []
    fix = next((a for rule in FIXES_BOTTLENECK for a in found if a.rule == rule), None)
    message = (f"AU is {au:.0%} at {target_rate:.0f} images/s (under 90%): fix stage "
               f"{profile['bottleneck']} first" + (f", by {fix.rule}" if fix else ""))
    if fix is None:
        return [Advice("au_below_target", message, found[0].variant if found else profile["variant"],
                       mode="simulated")]
    predicted = min(fix.predicted_images_per_sec, target_rate) if fix.predicted_images_per_sec else None
    return [Advice("au_below_target", message, fix.variant, fix.overrides, fix.augmentation,
                   predicted, mode="simulated")]


def measure(variant: str, spec, scratch: Path, overrides: dict, augmentation: str, mode: str,
            step_s: float, epochs: int = VERIFY_EPOCHS) -> dict:
    """Images/s per epoch (median and 95% CI) of a pipeline in pipeline-only or simulated mode."""
    from bench.modes import run_pipeline, run_simulated

    with probe.built(variant, spec, scratch, overrides, augmentation=augmentation) as (fit_input, _):
        settings = probe.settings(spec, epochs + 1, step_s=step_s if mode == "simulated" else 0.0)
        record = (run_simulated if mode == "simulated" else run_pipeline)(fit_input, settings)
    return {**summary_record(probe.steady_rates(record)), "au": record.get("au")}


def verify(advice: list[Advice], variant: str, spec, scratch: Path, augmentation: str,
           step_s: float) -> list[dict]:
    """Each piece of advice measured against the unchanged pipeline, in the mode it is about."""
    baselines: dict[str, dict] = {}
    checked = []
    for item in advice:
        if item.mode not in baselines:
            baselines[item.mode] = measure(variant, spec, scratch, {}, augmentation, item.mode, step_s)
        after = measure(item.variant, spec, scratch, item.overrides, item.augmentation or augmentation,
                        item.mode, step_s)
        before = baselines[item.mode]
        overlap = intervals_overlap(before["ci_low"], before["ci_high"], after["ci_low"], after["ci_high"])
        predicted = item.predicted_images_per_sec
        base = before["median"]
        checked.append({**item.to_dict(), "before": before, "after": after,
                        "measured_gain": after["median"] / base if base else None,
                        "predicted_gain": predicted / base if predicted and base else None,
                        "within_noise": overlap})
    return checked


def combined_overrides(advice: list[Advice], variant: str) -> dict:
    """Every option change the advice makes to `variant` itself, applied together."""
    merged: dict = {}
    for item in advice:
        if item.variant == variant and item.rule != "gil_bound":
            merged.update(item.overrides)
    return merged
