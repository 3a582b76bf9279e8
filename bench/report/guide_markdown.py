"""A saved guide as markdown (the README's guide table), from its guide.json alone.

`pipebench report results/guide-<time> --markdown` prints it: one row per tip with its
verdict, the paired ratio with its interval, the CPU cost ratio, the mode and the reason;
then what AUTOTUNE chose.
"""

from __future__ import annotations

from pathlib import Path

from bench.guide.record import load_guide


def guide_markdown(folder: Path) -> str:
    guide = load_guide(folder)
    lines = ["| tip | verdict | with / without | CPU cost | mode | why |", "|---|---|---:|---:|---|---|"]
    for t in guide.tips:
        mode = t.mode + (", cold" if t.page_cache == "cold" else "")
        cost = t.cost.text + (f" {t.cost.verdict}" if t.cost.verdict else "") if t.cost else "–"
        speed = t.speed.text if t.speed else "–"
        lines.append(f"| `{t.id}`: {t.claim} | **{t.verdict}** | {speed} | {cost} | {mode} | "
                     f"{t.reason.replace('|', '/')} |")
    chosen = [(a["cell"], c) for a in guide.autotune for c in a.get("choices", ())]
    if chosen:
        lines += ["", "| pipeline | autotuned op | setting | median (range) |", "|---|---|---|---:|"]
        lines += [f"| {cell} | `{c['op']}` | {c['setting']} | {c['median']:g} ({c['low']:g}–{c['high']:g}) |"
                  for cell, c in chosen]
    return "\n".join(lines)
