"""Shared fixtures: an isolated cache folder, a tiny embedded dataset, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = {"num_train": 48, "num_val": 24, "image_size": 32, "num_classes": 3}


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every test session generates its data (and TFRecords, links) in a fresh folder."""
    cache = tmp_path_factory.mktemp("pipebench-cache")
    os.environ["PIPEBENCH_CACHE"] = str(cache)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return cache


@pytest.fixture(scope="session")
def tiny_spec(isolated_cache):
    from bench.data import EmbeddedDataset, resolve_spec

    return resolve_spec(None, None, 0.2, EmbeddedDataset(**TINY), seed=0)[0]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a real subprocess, as a user would run it."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True,
        timeout=timeout, cwd=cwd or ROOT, env=env,
    )


HOSTILE = "<script>alert(1)</script>"


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, isolated_cache):
    """One real quick-profile run (every family + a user pipeline), shared by several test modules."""
    results = tmp_path_factory.mktemp("results")
    result = run_cli("run", "--profile", "quick", "--pipeline", "plugins.pipelines:good",
                     *TINY_ARGS, "--results-dir", str(results), "--label", HOSTILE)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, next(results.iterdir())


TINY_ARGS = ("--num-train", "48", "--num-val", "24", "--image-size", "32",
             "--num-classes", "3", "--epochs", "2", "--batch-size", "16", "--trials", "1",
             "--min-sample-s", "0.05")  # short samples: these tests check bookkeeping, not speed
