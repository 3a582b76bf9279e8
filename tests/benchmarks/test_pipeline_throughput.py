"""Pipeline-only throughput of every variant under pytest-benchmark (`nox -s microbench`).

Each variant is built once; an iteration reads one epoch through the harness's
own pipeline mode, and a round repeats it until it lasts about MIN_ROUND_S (a
cached epoch takes milliseconds, too short to time on a shared machine). Rounds
and warm-up are explicit (`benchmark.pedantic`): the first epoch fills caches
and starts workers, so it is a warm-up round, not a sample.
`extra_info` carries images/s (from the median round) and the variant's options,
so a saved run says what was measured, not only how long it took.
"""

from __future__ import annotations

import math
import time

import pytest

from bench.run import in_process
from bench.run.modes import run_pipeline
from pipelines import REGISTRY

ROUNDS = 5
WARMUP_ROUNDS = 1
MIN_ROUND_S = 0.25


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    return in_process.small_spec()


@pytest.mark.parametrize("variant", sorted(REGISTRY))
def test_pipeline_throughput(benchmark, spec, tmp_path, variant):
    settings = in_process.settings(spec)
    images: list[int] = []
    with in_process.built(variant, spec, tmp_path) as (fit_input, build_s):

        def one_epoch():
            record = run_pipeline(fit_input, settings, 0)  # one epoch, timed by the benchmark
            images.append(record["epochs"][0]["images"])

        started = time.perf_counter()
        one_epoch()  # also sizes the rounds
        iterations = max(1, math.ceil(MIN_ROUND_S / (time.perf_counter() - started)))
        benchmark.pedantic(one_epoch, rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS, iterations=iterations)
    assert set(images) == {len(spec.train_files)}, f"{variant} delivered {set(images)} images per epoch"
    benchmark.extra_info.update({
        "variant": variant,
        "options": fit_input_options(variant),
        "images_per_epoch": images[0],
        "images_per_sec": images[0] / benchmark.stats.stats.median,  # stats are per iteration (epoch)
        "epochs_per_round": iterations,
        "build_s": build_s,
        "batch_size": in_process.BATCH_SIZE,
        "image_size": list(spec.image_size),
    })


def fit_input_options(variant: str) -> dict:
    from pipelines.base import options_for

    return {k: str(v) for k, v in options_for(REGISTRY[variant], {}).items()}
