"""`profile.html` for a `pipebench profile` / `sweep` folder: stages, advice, sweeps, trace."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from bench.report import ENV, format_number
from bench.report.figures import to_svg
from bench.results.tune_records import load_tune_record
from pipelines.files import atomic_write_text


def stage_bars(profile: dict) -> str:
    """Wall and CPU microseconds per image of each stage; the bottleneck in red."""
    stages = profile["stages"]
    names = [s["name"] for s in stages]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(stages) + 1.2))
    ys = range(len(stages))
    colors = ["#c0392b" if n == profile["bottleneck"] else "#3b7dd8" for n in names]
    ax.barh([y - 0.2 for y in ys], [s["wall_us_per_image"] for s in stages], height=0.4, color=colors,
            label="wall µs / image")
    ax.barh([y + 0.2 for y in ys], [s["cpu_us_per_image"] for s in stages], height=0.4, color="#aaaaaa",
            label="CPU µs / image")
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xlabel("cost each stage adds per image (sequential, measured by prefixes)")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return to_svg(fig)


def sweep_lines(sweep: dict) -> str:
    """One panel per knob: median images/s per value with its order-statistic interval."""
    knobs = list(dict.fromkeys(p["knob"] for p in sweep["points"]))
    fig, axes = plt.subplots(1, len(knobs), figsize=(3.2 * len(knobs), 3.2), squeeze=False)
    for ax, knob in zip(axes[0], knobs, strict=True):
        points = [p for p in sweep["points"] if p["knob"] == knob]
        medians = [p["median"] or 0 for p in points]
        low = [max(m - (p["low"] or m), 0) for m, p in zip(medians, points, strict=True)]
        high = [max((p["high"] or m) - m, 0) for m, p in zip(medians, points, strict=True)]
        ax.errorbar(range(len(points)), medians, yerr=[low, high], marker="o", capsize=3)
        ax.set_xticks(range(len(points)), [p["value"] for p in points], fontsize=8)
        ax.set_title(f"{knob} ({points[0]['mode']})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("images/s (median and interval of the rounds)")
    return to_svg(fig)


def render_profile(out_dir: Path) -> Path:
    """Write profile.html from whichever of profile.json and sweep.json the folder holds."""
    out_dir = Path(out_dir)
    profile = load(out_dir / "profile.json")
    sweep = load(out_dir / "sweep.json")
    html = ENV.get_template("tune.html.j2").render(
        profile=profile, sweep=sweep, fmt=format_number,
        stage_figure=stage_bars(profile) if profile else None,
        sweep_figure=sweep_lines(sweep) if sweep and sweep["points"] else None,
    )
    path = out_dir / "profile.html"
    atomic_write_text(path, html)
    return path


def load(path: Path) -> dict | None:
    """The record at `path` as the page reads it (checked and upgraded), or None."""
    record = load_tune_record(path)
    return record.to_dict() if record is not None else None
