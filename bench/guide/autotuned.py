"""What AUTOTUNE chose for the guide's autotuned pipelines, from TensorFlow's trace.

After the guide's runs, each distinct autotuned cell of its tips (an option left at
`autotune`: a map's `parallel_calls`, `prefetch`, TFRecord's `read_parallelism`) is built
once more in this process, read for one epoch so that the autotuner settles, then for one
epoch under TensorFlow's profiler (`bench.run.autotune_trace`; a cached pipeline's first
epoch, the only one its map runs in). The guide records the
parallelism and buffer sizes its iterators reported, beside the tip's own comparison.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.config import Cell, RunConfig
from bench.guide.tips import Tip
from bench.run.autotune_trace import traced_choices
from pipelines.base import PipelineRequest, cell_options, get_variant

MAX_CELLS = 4  # traces per guide: each costs a build and two epochs


def autotuned_cells(tips: tuple[Tip, ...], run_options: tuple[str, ...] = ()) -> list[Cell]:
    """The distinct cells of `tips` with an option at autotune, unaugmented, warm page cache."""
    found = []
    for tip in tips:
        if tip.page_cache != "warm":
            continue
        for cell in (tip.subject, tip.reference):
            options = cell_options(get_variant(cell.variant), run_options, cell.options)
            plain = Cell(cell.variant, options=cell.options)  # precision does not change the pipeline
            if cell.augmentation == "none" and "autotune" in options.values() and plain not in found:
                found.append(plain)
    return found[:MAX_CELLS]


def trace_cells(base: RunConfig, cells: list[Cell]) -> list[dict]:
    """Each cell's autotuned settings, as `{"cell", "choices": [...]}`, or `{"cell", "error"}`."""
    from bench.run.runner import prepare_data  # as measure_group: the runner only when measuring

    if not cells:
        return []
    spec, _ = prepare_data(base)
    traced = []
    for cell in cells:
        variant = get_variant(cell.variant)
        request = PipelineRequest(spec=spec, batch_size=base.batch_size, seed=base.seed, augmentation="none",
                                  options=cell_options(variant, base.options, cell.options),
                                  cache_dir=Path(tempfile.mkdtemp(prefix="pipebench-autotune-")))
        # after a cache the map no longer runs: a cached pipeline's first epoch is the one traced
        warm = 0 if request.options.get("cache", "none") != "none" else 1
        try:
            choices = traced_choices(variant.build(request).x, warm_epochs=warm)
        except Exception as exc:  # noqa: BLE001  (a cell that cannot be traced says why; the guide goes on)
            traced.append({"cell": cell.label, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
            continue
        traced.append({"cell": cell.label, "choices": [c.to_dict() for c in choices]})
    return traced
