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
    """Horizontal bars of median images/s per cell, with the CI as error bars; failures at zero."""
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
    ax.set_xlabel("steady-state throughput (images/s, median with 95% CI)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return to_svg(fig)
