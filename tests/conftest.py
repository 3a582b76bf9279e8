"""Shared fixtures: an isolated cache folder, a tiny embedded dataset, one real quick run.

Plain helpers live in `tests.helpers`, not here. Tests that run real training (a
`pipebench run`, `profile` or `sweep`, or a fit) are marked `slow`: explicitly, or by
using one of the shared real runs below, so `pytest -m "not slow"` is a developer's
inner loop while `nox -s tests` runs everything. Tests marked `timing` measure a speed
against a known answer or race a wall-clock limit: `nox -s tests` runs them alone, after
the others have run two at a time.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers.cli import HOSTILE, TAG, TINY, TINY_ARGS, run_cli

# module- or session-scoped fixtures that each hold one real run shared by the tests reading it
REAL_RUNS = {"quick_run", "skipped_run", "scaling_run", "both_backends", "naive_profile", "slow_profile",
             "saved_microbench", "small_run", "cores_run", "tiny_guide"}
# the tiny guide: a held-out sweep, then a pipeline-mode run, and a training run with its band
GUIDE_TIPS = ("autotune_over_sweep", "mixed_precision")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    """Mark `slow` every test that reads a shared real run, and keep the tests of one shared run
    in one group, so that `pytest -n 2 --dist loadgroup` makes each run once, not once per process."""
    for item in items:
        shared = sorted(REAL_RUNS & set(getattr(item, "fixturenames", ())))
        if shared:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group(shared[0]))


def pytest_configure(config):
    """Refuse `--dist loadgroup` where pytest-xdist cannot group: 3.8 groups by rewriting node ids,
    which pytest 9.2 no longer reads (pytest-xdist issue 1386), and each shared run would then
    silently be made once per process."""
    from packaging.version import Version

    if config.getoption("dist", "no") == "loadgroup" and Version(pytest.__version__) >= Version("9.2"):
        raise pytest.UsageError(f"pytest-xdist's --dist loadgroup does not group under pytest "
                                f"{pytest.__version__}; install the `test` extra (pytest < 9.2)")


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every test session generates its data (and TFRecords, links) in a fresh folder."""
    cache = tmp_path_factory.mktemp("pipebench-cache")
    os.environ["PIPEBENCH_CACHE"] = str(cache)
    os.environ[TAG] = str(os.getpid())  # inherited by every process a test starts: see tests.helpers.cli.TAG
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return cache


@pytest.fixture(scope="session")
def tiny_spec(isolated_cache):
    from bench.data.dataset import EmbeddedDataset, resolve_spec

    return resolve_spec(None, None, 0.2, EmbeddedDataset(**TINY), seed=0)[0]


@pytest.fixture(scope="session")
def tiny_dirs(tiny_spec):
    """`--data-dir` and `--val-dir` of the tiny embedded dataset, for commands that take folders."""
    from bench.data.dataset import EmbeddedDataset

    root = EmbeddedDataset(**TINY).root()
    return "--data-dir", str(root / "train"), "--val-dir", str(root / "val")


@pytest.fixture(scope="session")
def naive_profile(tmp_path_factory, isolated_cache):
    """One real `pipebench profile` of tf_data_naive with its advice verified in 8 rounds, shared by
    the profile tests and the browser test of its page: (profile.json, the process, its folder)."""
    import json

    results = tmp_path_factory.mktemp("profile")
    result = run_cli("profile", "--variant", "tf_data_naive", "--preset", "quick",
                     "--min-sample-s", "0.1", "--rounds", "8", "--results-dir", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    out_dir = next(results.iterdir())
    return json.loads((out_dir / "profile.json").read_text()), result, out_dir


@pytest.fixture(scope="session")
def small_run(tmp_path_factory, isolated_cache):
    """One real train-mode run holding a pipeline that fails, one that runs dry before its
    `steps_per_epoch`, and a precision this machine may lack: (the process, its results folder)."""
    results = tmp_path_factory.mktemp("small-run")
    result = run_cli("run", "--variants", "in_memory_numpy", "--pipeline", "plugins.pipelines:broken",
                     "--pipeline", "plugins.pipelines:runs_dry", "--precisions", "float32,mixed_float16",
                     "--modes", "train", *TINY_ARGS, "--results-dir", str(results))
    return result, results


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, isolated_cache):
    """One real quick-preset run (every family, a user pipeline, and one that delivers BGR),
    shared by several test modules."""
    results = tmp_path_factory.mktemp("results")
    result = run_cli("run", "--preset", "quick", "--pipeline", "plugins.pipelines:good",
                     "--pipeline", "plugins.broken_data:bgr",
                     *TINY_ARGS, "--results-dir", str(results), "--label", HOSTILE)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, next(results.iterdir())


@pytest.fixture(scope="session")
def tiny_guide(tmp_path_factory, isolated_cache):
    """One real `pipebench guide` of two tips with tiny settings: (guide.json as a dict, its folder)."""
    results = tmp_path_factory.mktemp("guide")
    args = list(TINY_ARGS)
    args[args.index("--rounds") + 1] = "7"  # the fewest with which Holm over two tips can find a difference
    result = run_cli("guide", "--preset", "quick", "--tips", ",".join(GUIDE_TIPS), *args,
                     "--results-dir", str(results))
    assert result.returncode == 0, result.stderr[-3000:]
    folder = next(results.glob("guide-*"))
    return json.loads((folder / "guide.json").read_text()), folder, result
