"""Rules that turn a stage profile into advice, and the measurement that checks each one.

Every piece of advice names a concrete change (option values, an augmentation,
or another variant), predicts its rate from the profile, and is then applied
by the harness and measured beside the unchanged pipeline, so the report shows
the measured gain next to the predicted one. The changes that are option
values are also applied together, as the profile's combined recommendation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

TF_OP_STAGES = ("read", "parse", "decode", "resize")


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
    if variant.replaced_by:
        replacement, why = variant.replaced_by
        found.append(Advice("replace_variant", why, replacement))
    if slowest and slowest["python"] and not variant.python_loader:
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


FIXES_BOTTLENECK = ("replace_variant", "vectorise", "cache_after_decode", "parallelise")


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


def verification_plan(advice: list[Advice], variant: str, augmentation: str, base: dict,
                      combined: dict | None, reference: str | None) -> tuple[dict, list]:
    """What to measure (name -> configuration) and which pairs to compare, for `verify`.

    The unchanged pipeline once per mode the advice is about; each piece of advice;
    the option changes together; the reference preset. Compared: each piece of advice
    with the unchanged pipeline in its mode, the combination with the unchanged
    pipeline and with the reference.
    """
    configs = {f"unchanged:{m}": {"variant": variant, "overrides": base, "augmentation": augmentation,
                                  "mode": m} for m in dict.fromkeys(["pipeline", *(a.mode for a in advice)])}
    pairs = []
    for i, item in enumerate(advice):
        configs[f"advice:{i}"] = {"variant": item.variant, "overrides": item.overrides,
                                  "augmentation": item.augmentation or augmentation, "mode": item.mode}
        pairs.append((f"advice:{i}", f"unchanged:{item.mode}", item.mode))
    if combined:
        configs["combined"] = {"variant": variant, "overrides": combined, "augmentation": augmentation,
                               "mode": "pipeline"}
        pairs.append(("combined", "unchanged:pipeline", "pipeline"))
    if reference:
        configs["reference"] = {"variant": reference, "overrides": {}, "augmentation": augmentation,
                                "mode": "pipeline"}
        if combined:
            pairs.append(("combined", "reference", "pipeline"))
    return configs, pairs


def verify(advice: list[Advice], configs: dict, pairs: list, samples: dict) -> dict:
    """Each piece of advice with its measured gain: the paired ratio to the unchanged pipeline,
    its interval and the test's verdict (Holm across every comparison of the profile)."""
    from bench.tune.rounds import compare_pairs, summary_record

    compared = {(c.subject, c.reference): c for c in compare_pairs(samples, pairs)}
    checked = []
    for i, item in enumerate(advice):
        before = summary_record(samples[f"unchanged:{item.mode}"])
        after = summary_record(samples[f"advice:{i}"])
        gain = compared[(f"advice:{i}", f"unchanged:{item.mode}")]
        predicted, base = item.predicted_images_per_sec, before["median"]
        checked.append({**item.to_dict(), "before": before, "after": after, "comparison": gain.to_dict(),
                        "measured_gain": gain.ratio, "within_noise": gain.verdict == "within noise",
                        "predicted_gain": predicted / base if predicted and base else None})
    return {"verified": checked, "comparisons": [c.to_dict() for c in compared.values()]}


def combined_overrides(advice: list[Advice], variant: str) -> dict:
    """Every option change the advice makes to `variant` itself, applied together."""
    merged: dict = {}
    for item in advice:
        if item.variant == variant and item.rule != "gil_bound":
            merged.update(item.overrides)
    return merged
