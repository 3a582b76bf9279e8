"""The regression-tracking tools run for real: asv on this checkout, pytest-benchmark save + compare.

No wall-clock assertion: only that each tool measures every variant it is
asked to, in the units the README promises, and that a comparison can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import ROOT

VARIANT = "tf_data_naive"


def run(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: float = 600):
    """A real subprocess; it does not inherit pytest-xdist's worker variables (pytest-benchmark
    reads them as "running under xdist" and disables itself)."""
    own = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**own, **(env or {})})


def test_asv_config_points_where_the_readme_says():
    from asv.config import Config

    conf = Config.load(str(ROOT / "asv.conf.json"))
    assert ROOT / conf.benchmark_dir == ROOT / "bench" / "asv_benchmarks"
    assert ROOT / conf.results_dir == ROOT / "results" / "asv"
    assert ROOT / conf.html_dir == ROOT / "results" / "asv-html"
    assert conf.environment_type == "virtualenv"


def test_asv_benchmarks_discover_one_suite_per_variant_with_code_versions(tmp_path):
    from pipelines import REGISTRY

    out = tmp_path / "benchmarks.json"
    result = run(sys.executable, "-m", "asv.benchmark", "discover", str(ROOT / "bench" / "asv_benchmarks"),
                 str(out), env={"ASV_PYTHONPATH": str(ROOT)})  # asv drops PYTHONPATH, keeps this
    assert result.returncode == 0, result.stderr[-2000:]
    found = {b["name"]: b for b in json.loads(out.read_text())}
    assert len(found) == 5 * len(REGISTRY), sorted(found)
    for name in REGISTRY:
        prefix = f"variants.Variant_{name}."
        assert found[prefix + "track_images_per_sec"]["unit"] == "images/s"
        assert found[prefix + "track_us_per_image"]["unit"] == "us/image"
        assert found[prefix + "track_cpu_us_per_image"]["unit"] == "us/image"
        assert found[prefix + "track_first_batch_s"]["unit"] == "seconds"
        assert found[prefix + "peakmem_pipeline"]["type"] == "peakmemory"
    versions = {found[f"variants.Variant_{n}.track_images_per_sec"]["version"] for n in REGISTRY}
    assert len(versions) == len({type(v).__module__ for v in REGISTRY.values()}), \
        "variants of one family share a version; families differ"


def test_code_version_follows_the_pipeline_module(tmp_path):
    from bench.run.in_process import code_version

    naive = code_version(VARIANT)
    assert code_version("tf_data_tuned") == naive  # same family module
    assert code_version("generator") != naive
    extra = tmp_path / "benchmark.py"
    extra.write_text("a = 1\n")
    before = code_version(VARIANT, (str(extra),))
    extra.write_text("a = 2\n")
    assert code_version(VARIANT, (str(extra),)) != before


@pytest.fixture(scope="module")
def saved_microbench(tmp_path_factory):
    storage = tmp_path_factory.mktemp("pytest-benchmark")
    args = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/benchmarks",
            "-k", VARIANT, "--benchmark-only", "--benchmark-save-data",
            f"--benchmark-storage=file://{storage}")
    first = run(*args, "--benchmark-autosave")
    assert first.returncode == 0, first.stdout[-3000:]
    return storage, args


def test_microbench_saves_rounds_and_extra_info(saved_microbench):
    storage, _ = saved_microbench
    saved = json.loads(next(storage.rglob("*.json")).read_text())
    (bench,) = saved["benchmarks"]
    assert bench["params"] == {"variant": VARIANT}
    assert bench["stats"]["rounds"] == 5 and len(bench["stats"]["data"]) == 5
    assert bench["stats"]["iterations"] == bench["extra_info"]["epochs_per_round"] >= 1
    info = bench["extra_info"]
    assert info["images_per_sec"] > 0 and info["images_per_epoch"] == 256
    assert info["options"]["parallel_calls"] == "1" and info["options"]["cache"] == "none"


def test_microbench_compare_fails_past_the_threshold(saved_microbench):
    storage, args = saved_microbench
    passing = run(*args, "--benchmark-compare", "--benchmark-compare-fail=median:1000%")
    assert passing.returncode == 0, passing.stdout[-3000:]
    # a saved baseline 100x faster than the real one: the next run must count as a regression
    saved_path = next(storage.rglob("0001_*.json"))
    fast = json.loads(saved_path.read_text())
    for bench in fast["benchmarks"]:
        bench["stats"] = {k: v / 100 if k in TIME_STATS else v for k, v in bench["stats"].items()}
    saved_path.with_name("0002_fast.json").write_text(json.dumps(fast))
    failing = run(*args, "--benchmark-compare=0002", "--benchmark-compare-fail=median:25%")
    assert failing.returncode != 0
    assert "Performance has regressed" in failing.stdout + failing.stderr


TIME_STATS = {"min", "max", "mean", "median", "stddev", "iqr", "q1", "q3", "total", "ld15iqr", "hd15iqr"}


def test_the_us_per_image_twin_and_the_cost_read_the_same_measurement(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # asv runs each benchmark in its setup_cache folder
    monkeypatch.setenv("PIPEBENCH_CACHE", str(tmp_path / "cache"))
    from bench.asv_benchmarks import variants

    suite = variants.Variant_in_memory_numpy()
    spec_json = suite.setup_cache()
    suite.setup(spec_json)
    cost = suite.track_cpu_us_per_image(spec_json)  # asv's order: alphabetical; whichever runs first measures
    rate = suite.track_images_per_sec(spec_json)
    assert rate > 0 and cost > 0
    assert suite.track_us_per_image(spec_json) == 1e6 / rate, "the twin is the same sample, inverted"
    # physics: CPU time over a window is at most the window times the cores (its readings bracket it)
    assert cost <= 1e6 / rate * len(os.sched_getaffinity(0)) * 1.1
    assert list((tmp_path / variants.RATES).iterdir()) == [], "handed over to both others, then gone"
    assert suite.track_us_per_image(spec_json) > 0  # alone: measures for itself
    assert list((tmp_path / variants.RATES).iterdir()) != []  # and hands its sample on to the others
