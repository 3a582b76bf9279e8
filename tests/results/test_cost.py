"""CPU cost per image: its statistics, the cost family's verdicts, and what a pipeline needs.

Synthetic samples with known CPU seconds (a fake CPU clock): the bookkeeping, not the machine.
"""

from __future__ import annotations

import pytest

from bench.config import Cell
from bench.results.analysis import analyse
from bench.results.capacity import Capacity, capacity_of, checks, threads_table
from bench.results.records import CellResult
from bench.results.table import CSV_COLUMNS, to_frame

DRIFT = [1.0, 0.7, 1.2, 0.8, 1.1, 0.9, 1.3, 0.6, 1.05]  # the machine's speed in each of 9 rounds
CPU_DRIFT = [1.0, 1.02, 0.99, 1.01, 0.98, 1.0, 1.03, 0.97, 1.0]  # CPU time drifts far less
IMAGES = 1000


def run(mode: str, round_: int, rate: float, cpu_us: float, cores_used: float | None = None) -> dict:
    seconds = IMAGES / rate
    cpu_s = cpu_us * IMAGES / 1e6
    return {"mode": mode, "round": round_, "status": "ok", "images_per_sec": rate, "images": IMAGES,
            "seconds": seconds, "cpu_s": cpu_s if cores_used is None else cores_used * seconds,
            "main_thread_cpu_s": 0.1 * cpu_s, "busiest_thread_cpu_s": 0.5 * cpu_s, "service_cpu_s": None,
            "epochs": [{"epoch": 1, "images": IMAGES, "train_s": seconds, "val_accuracy": 0.9}]}


def cell(variant: str, train_us: float, model_us: float, cores: int | None = None, rate: float = 1000.0,
         options: tuple[str, ...] = ()) -> dict:
    """A cell with train, model-only and pipeline runs in 9 rounds of known CPU cost."""
    runs = []
    for r, (d, c) in enumerate(zip(DRIFT, CPU_DRIFT, strict=True)):
        runs += [run("train", r, rate * d, train_us * c), run("model_only", r, 2 * rate * d, model_us * c),
                 run("pipeline", r, 3 * rate * d, (train_us - model_us) * c)]
    record = Cell(variant, options=options, cores=cores).to_record()
    return {**record, "status": "ok", "runs": runs, "cpu_affinity": list(range(cores or 2))}


def doc(*cells: dict) -> dict:
    return {"cells": list(cells), "target_accuracy": None, "dataset": {"num_val": 240},
            "config": {"batch_size": 32, "step_s": 0.032, "options": []},
            "environment": {"cpu_affinity": 2}}


def test_cost_per_image_has_its_median_interval_and_the_pipelines_own_part():
    analysis = analyse(doc(cell("generator", 3000.0, 1800.0)))
    stats_ = analysis.cells[0]
    assert stats_.cpu["train"].median == pytest.approx(3000.0, rel=0.01)
    assert stats_.cpu["train"].low < 3000.0 < stats_.cpu["train"].high
    assert stats_.cpu["train"].coverage >= 0.95
    assert stats_.pipeline_cpu.median == pytest.approx(1200.0, rel=0.02)  # train - model-only, paired


def test_a_costlier_cell_costs_more_and_an_identical_one_is_within_noise():
    base = cell("image_data_generator", 3000.0, 1800.0)
    costly = cell("generator", 3000.0 * 1.25, 1800.0)
    twin = cell("sequence", 3000.0, 1800.0)
    twin["runs"] = [{**r, "cpu_s": r["cpu_s"] * (1.01 if r["round"] % 2 else 0.99)} for r in twin["runs"]]
    analysis = analyse(doc(base, costly, twin))
    by_name = {c.cell.variant: c for c in analysis.cells}
    assert analysis.baseline.cell.variant == "image_data_generator"
    assert by_name["generator"].vs_baseline_cpu.verdict == "costs more"
    assert by_name["generator"].vs_baseline_cpu.ratio == pytest.approx(1.25)
    assert by_name["sequence"].vs_baseline_cpu.verdict == "within noise"
    assert by_name["image_data_generator"].vs_baseline_cpu is None
    cheap = cell("generator", 3000.0 * 0.8, 1800.0)
    assert analyse(doc(base, cheap)).cells[1].vs_baseline_cpu.verdict == "costs less"


def test_the_csv_carries_the_cost_columns():
    frame = to_frame(doc(cell("image_data_generator", 3000.0, 1800.0), cell("generator", 3600.0, 1800.0)))
    for column in ("cpu_us_per_image_median", "cpu_us_per_image_low", "cpu_us_per_image_high",
                   "cpu_vs_baseline_ratio", "cpu_vs_baseline_verdict", "cpu_s", "cores_needed_for_target"):
        assert column in CSV_COLUMNS and column in frame.columns
    train = frame[(frame["variant"] == "generator") & (frame["mode"] == "train")]
    assert set(train["cpu_vs_baseline_verdict"]) == {"costs more"}
    assert train["cpu_us_per_image"].iloc[0] == pytest.approx(3600.0)
    assert frame[frame["mode"] == "pipeline"]["cpu_vs_baseline_verdict"].isna().all()  # train decides


def test_runs_from_before_cpu_time_have_no_cost_and_do_not_fail():
    old = cell("generator", 3000.0, 1800.0)
    for r in old["runs"]:
        for key in ("cpu_s", "main_thread_cpu_s", "busiest_thread_cpu_s", "service_cpu_s"):
            del r[key]
    stats_ = analyse(doc(old)).cells[0]
    assert stats_.cpu["train"] is None and stats_.capacity is None and stats_.pipeline_cpu is None


def capacity(threads, cores=1, rate=500.0, cpu_us=1800.0, used=0.9) -> Capacity:
    return Capacity(cell=Cell("x", cores=cores), cores=cores, images_per_sec=rate, cpu_us_per_image=cpu_us,
                    service_cpu_us_per_image=None, cores_used=used, threads_at=tuple(threads))


def test_a_parallel_pipeline_scales_with_cores_at_its_utilisation():
    spread = capacity(range(1, 65))
    assert spread.utilisation == pytest.approx(0.9)
    assert spread.predict(1) == pytest.approx(0.9 * 1e6 / 1800.0)  # what it measured: cores used / cost
    assert spread.predict(8) == pytest.approx(8 * spread.predict(1))
    assert spread.ceiling is None
    assert spread.cores_for(2000.0) == 4  # 500 images/s per core
    assert spread.cores_for(2001.0) == 5


def test_a_serial_pipeline_stops_at_one_thread_and_says_cannot():
    serial = capacity([1] * 64)
    assert serial.predict(16) == pytest.approx(serial.predict(1))
    assert serial.ceiling == pytest.approx(serial.predict(1))
    assert serial.cores_for(1000.0) is None  # its one thread alone is slower than 1,000 images/s
    assert serial.cores_for(400.0) == 1


def test_a_waiting_pipeline_says_so():
    assert "waiting" in capacity(range(1, 65), used=0.5).binding
    assert capacity(range(1, 65)).binding == "its cores"
    assert "thread" in capacity([1] * 64, cores=2, used=1.0).binding


def test_service_workers_come_from_the_servers_cost():
    found = Capacity(cell=Cell("tf_data_service"), cores=2, images_per_sec=900.0, cpu_us_per_image=2000.0,
                     service_cpu_us_per_image=1500.0, cores_used=1.8, threads_at=tuple([1] * 64))
    # each 1-core worker makes 0.9 * 1e6 / 1500 = 600 images/s
    assert found.service_workers_for(1000.0) == 2
    assert found.service_workers_for(1800.0, cores_per_worker=2) == 2
    assert "service worker" in found.binding


def test_each_cell_is_predicted_from_the_fewest_core_cell_of_its_settings():
    one = CellResult.from_dict(cell("image_dataset_from_directory", 3000.0, 1800.0, cores=1))
    two = CellResult.from_dict(cell("image_dataset_from_directory", 3000.0, 1800.0, cores=2))
    other = CellResult.from_dict(cell("generator", 3000.0, 1800.0, cores=2))
    found = [capacity_of(r, 2) for r in (one, two, other)]
    done = checks(found)
    assert [(c.cell.cores, c.from_cores) for c in done] == [(2, 1)]  # the generator has no fewer-core cell
    assert done[0].predicted_images_per_sec == pytest.approx(2 * found[0].predict(1))
    pair = doc(*(cell("image_dataset_from_directory", 3000.0, 1800.0, cores=k) for k in (1, 2)))
    by_cores = {c.cell.cores: c for c in analyse(pair).cells}
    assert by_cores[1].predicted_images_per_sec is None
    assert by_cores[2].predicted_images_per_sec == pytest.approx(done[0].predicted_images_per_sec)


@pytest.mark.parametrize(("variant", "options", "on_one", "on_eight"), [
    ("tf_data_naive", (), 1, 1),
    ("tf_data_tuned", (), 1, 8),
    ("tf_data_tuned", ("parallel_calls=2",), 1, 2),
    ("tf_data_naive", ("interleave=3",), 1, 3),
    ("image_dataset_from_directory", (), 1, 8),
    ("generator", (), 1, 1),
    ("sequence", (), 1, 1),  # worker threads share the GIL
    ("sequence", ("use_multiprocessing=true", "workers=3"), 1, 3),
])
def test_each_variant_declares_the_threads_of_its_per_image_work(variant, options, on_one, on_eight):
    table = threads_table(Cell(variant, options=options), ())
    assert (table[0], table[7]) == (on_one, on_eight)


def test_a_variant_that_cannot_be_loaded_is_taken_to_spread():
    table = threads_table(Cell("custom:no_such_module_here:build"), ())
    assert table[15] == 16
