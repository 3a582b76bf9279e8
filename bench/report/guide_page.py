"""`guide.html`: the guide's tips as a table and a figure, rendered from guide.json alone."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from bench.guide.record import GuideDocument, TipResult, load_guide
from bench.report import ENV, format_number
from bench.report.figures import to_svg
from pipelines.files import atomic_write_text

COLOURS = {"holds": "#1e7b34", "does not hold": "#c0392b", "cannot tell": "#888888"}


def ratio_figure(tips: tuple[TipResult, ...]) -> str | None:
    """Each tip's paired speed ratio with its interval, on a log axis, coloured by verdict."""
    shown = [t for t in tips if t.ratio]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(shown) + 1.3))
    for y, tip in enumerate(shown):
        low, high = tip.ratio_low or tip.ratio, tip.ratio_high or tip.ratio
        ax.errorbar([tip.ratio], [y], xerr=[[tip.ratio - low], [high - tip.ratio]], fmt="o", capsize=3,
                    color=COLOURS[tip.verdict])
    ax.axvline(1.0, color="#444", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(shown)), [t.id for t in shown], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("with the tip / without it (images/s, paired per round; median and interval)")
    spans = [v for t in shown for v in (t.ratio_low or t.ratio, t.ratio_high or t.ratio)]
    ax.set_xlim(min(0.8, min(spans) / 1.1), max(1.25, max(spans) * 1.1))
    ax.grid(axis="x", alpha=0.3, which="both")
    return to_svg(fig)


def megabytes(value) -> str:
    return format_number(None if value is None else value / 2**20)


def render_guide(folder: Path) -> Path:
    """Write guide.html beside guide.json."""
    folder = Path(folder)
    guide: GuideDocument = load_guide(folder)
    html = ENV.get_template("guide.html.j2").render(
        guide=guide, fmt=format_number, mb=megabytes, colours=COLOURS, figure=ratio_figure(guide.tips),
        counts={v: sum(t.verdict == v for t in guide.tips) for v in COLOURS},
    )
    path = folder / "guide.html"
    atomic_write_text(path, html)
    return path
