"""Figures for the report, drawn with matplotlib and embedded as SVG data URIs."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "pipebench"  # stable element ids: same results, same file
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def to_svg(fig) -> str:
    """The figure as an SVG `data:` URI: shown by an <img>, so nothing in it can run."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def throughput_bars(summary: pd.DataFrame) -> str | None:
    """Horizontal bars of median images/s per cell, with the interval as error bars; failures at zero."""
    if summary.empty:
        return None
    data = summary.sort_values("images_per_sec", ascending=True, na_position="first")
    medians = data["images_per_sec"].fillna(0.0)
    low = (medians - data["ci_low"].fillna(medians)).clip(lower=0)
    high = (data["ci_high"].fillna(medians) - medians).clip(lower=0)
    colors = ["#3b7dd8" if s == "ok" else "#c0392b" for s in data["status"]]
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(data) + 1.2))
    ax.barh(data["label"], medians, xerr=[low, high], color=colors, capsize=3)
    for y, (value, right, status) in enumerate(zip(medians, medians + high, data["status"], strict=True)):
        text = f"{value:,.0f}" if status == "ok" else status
        ax.text(right, y, f"  {text}", va="center", fontsize=8)  # right of the error bar
    ax.set_xlabel("steady-state throughput (images/s, median of the rounds with its interval)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return to_svg(fig)


MODE_COLORS = {"pipeline": "#8fbf6a", "train": "#3b7dd8", "model_only": "#7a5195", "simulated": "#ef8a3a"}


def modes_bars(rows: list[dict]) -> str | None:
    """Pipeline-only vs train vs model-only images/s per cell, on a log scale."""
    cells = [r for r in rows if r["images_per_sec"]]
    if not cells:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(cells) + 1.4))
    height = 0.26
    for offset, mode in zip((-height, 0.0, height), ("pipeline", "train", "model_only"), strict=True):
        values = [r["images_per_sec"] if mode == "train" else r.get(f"{mode}_images_per_sec") for r in cells]
        ax.barh([i + offset for i in range(len(cells))], [v or 0 for v in values], height=height,
                color=MODE_COLORS[mode], label=mode.replace("_", "-"))
    ax.set_yticks(range(len(cells)), [r["label"] for r in cells])
    ax.set_xscale("log")
    ax.set_xlabel("images/s (median, log scale)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.invert_yaxis()
    return to_svg(fig)


def stall_au_bars(rows: list[dict]) -> str | None:
    """Stall % (lower is better) and AU % (90% passes) side by side per cell."""
    cells = [r for r in rows if r["stall_percent"] is not None or r["au_percent"] is not None]
    if not cells:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 0.42 * len(cells) + 1.4), sharey=True)
    labels = [r["label"] for r in cells]
    left.barh(labels, [r["stall_percent"] or 0 for r in cells], color="#c0392b")
    for limit in (5, 20):
        left.axvline(limit, color="#555", linestyle=":", linewidth=1)
    left.set_xlabel("input stall % (1 − train / model-only)")
    right.barh(labels, [r["au_percent"] or 0 for r in cells], color="#ef8a3a")
    right.axvline(90, color="#555", linestyle="--", linewidth=1)
    right.set_xlabel("AU % at the simulated rate (90% passes)")
    right.set_xlim(0, 100)
    left.invert_yaxis()
    return to_svg(fig)


def telemetry_lines(doc: dict) -> str | None:
    """CPU % (mean over cores), process-tree RSS and GPU % over each cell's run."""
    cells = [c for c in doc.get("cells", []) if c.get("telemetry", {}).get("series", {}).get("t")]
    if not cells:
        return None
    has_gpu = any(g for c in cells for sample in c["telemetry"]["series"]["gpu"] for g in sample)
    fig, axes = plt.subplots(3 if has_gpu else 2, 1, figsize=(9, 7 if has_gpu else 5), sharex=True)
    for cell in cells:
        series, label = cell["telemetry"]["series"], cell_label(cell)
        cpu = [sum(c) / len(c) if c else 0 for c in series["cpu_percent"]]
        axes[0].plot(series["t"], cpu, linewidth=1, label=label)
        axes[1].plot(series["t"], [r / 2**20 for r in series["rss_bytes"]], linewidth=1, label=label)
        if has_gpu:
            util = [sum(g["util_percent"] or 0 for g in s) / max(len(s), 1) for s in series["gpu"]]
            axes[2].plot(series["t"], util, linewidth=1, label=label)
    axes[0].set_ylabel("CPU % (mean of cores)")
    axes[1].set_ylabel("RSS of process tree (MiB)")
    if has_gpu:
        axes[2].set_ylabel("GPU utilisation %")
    axes[-1].set_xlabel("seconds since the cell's process started measuring")
    axes[0].legend(fontsize=7, ncol=2, loc="upper right")
    for ax in axes:
        ax.grid(alpha=0.3)
    return to_svg(fig)


def accuracy_lines(rows: list[dict], target: float | None, band=None) -> str | None:
    """Validation accuracy per epoch, and against training time, with the accuracy band shaded.

    Each cell's accuracy fit; the time axis is the fit's epochs at the cell's median timed
    training rate. Runs from before the accuracy fit: each cell's first training trial.
    """
    curves = []
    for row in rows:
        result = row["stats"].result
        if result.accuracy_fits:
            acc, epoch_s = result.accuracy_fits[0].val_accuracy, row["timed_epoch_s"]
            epochs = list(range(1, len(acc) + 1))
            curves.append((row["label"], epochs, acc, [e * epoch_s for e in epochs] if epoch_s else None))
        elif trials := result.runs_of("train"):
            epochs = trials[0].epochs
            curves.append((row["label"], [e["epoch"] for e in epochs],
                           [e.get("val_accuracy") for e in epochs], [e.get("wall_s") for e in epochs]))
    if not curves:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for label, epochs, acc, seconds in curves:
        left.plot(epochs, acc, marker="o", linewidth=1, label=label)
        if seconds:
            right.plot(seconds, acc, marker="o", linewidth=1, label=label)
    for ax in (left, right):
        if band is not None:
            ax.axhspan(band.low, band.high, color="#2a7", alpha=0.15, linewidth=0)
        if target:
            ax.axhline(target, color="#555", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    left.set_xlabel("epoch")
    left.set_ylabel("validation accuracy")
    right.set_xlabel("training seconds (at the median timed rate)")
    left.legend(fontsize=7)
    return to_svg(fig)


def cell_label(cell: dict) -> str:
    from bench.config import Cell

    return Cell.of(cell).label


def scaling_lines(scaling: dict | None) -> str | None:
    """Measured images/s against local tf.data service workers, and the dashed projection."""
    if not scaling:
        return None
    measured = scaling["measured"]
    fig, ax = plt.subplots(figsize=(8, 4))
    workers = [m["workers"] for m in measured]
    for mode in ("pipeline", "simulated", "train"):
        values = [m[mode] for m in measured]
        if any(v is not None for v in values):
            ax.plot(workers, [v or 0 for v in values], marker="o", color=MODE_COLORS[mode],
                    label=f"measured: {mode}")
    if scaling["projection"]:
        proj = scaling["projection"]
        ax.plot([p["workers"] for p in proj], [p["images_per_sec"] for p in proj], linestyle="--",
                color="#555", label="projection: N hosts x one worker's rate, capped at model-only")
    if scaling["consumer_limit_images_per_sec"]:
        ax.axhline(scaling["consumer_limit_images_per_sec"], color=MODE_COLORS["model_only"], linestyle=":",
                   label="consumer limit (model-only bound)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("tf.data service workers")
    ax.set_ylabel("images/s (median)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return to_svg(fig)


def capacity_lines(capacities: list, target_rate: float | None, max_cores: int = 16) -> str | None:
    """Predicted pipeline images/s against cores, one line per variant and settings (from its
    fewest-core cell), with every measured cell as a point; the target rate dotted."""
    groups: dict[str, list] = {}
    for found in capacities:
        groups.setdefault(found.cell.settings_key, []).append(found)
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    cores = list(range(1, max(max_cores, *(c.cores for c in capacities)) + 1))
    colors = plt.get_cmap("tab10")
    for index, members in enumerate(groups.values()):
        base = min(members, key=lambda c: c.cores)
        color = colors(index % 10)
        name = base.cell.label.replace(f" @{base.cell.cores}c", "") if base.cell.cores else base.cell.label
        ax.plot(cores, [base.predict(n) for n in cores], color=color, linestyle="--",
                label=f"{name} (from {base.cores} core{'s' if base.cores > 1 else ''})")
        ax.scatter([c.cores for c in members], [c.images_per_sec for c in members], color=color, zorder=3)
    if target_rate:
        ax.axhline(target_rate, color="#555", linestyle=":", label=f"target {target_rate:,.0f} images/s")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("cores of this machine's kind")
    ax.set_ylabel("pipeline images/s (dashed: predicted; dots: measured)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return to_svg(fig)
