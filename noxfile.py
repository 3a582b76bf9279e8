"""Sessions: `bench` (the default preset), `tests`, `lint`, `report`, `asv`, `microbench`.

TensorFlow's build is chosen per machine: the GPU build (`tensorflow[and-cuda]`)
where `nvidia-smi` lists a GPU, the CPU build (`tensorflow-cpu`) elsewhere.
Override with PIPEBENCH_TF=cpu, PIPEBENCH_TF=gpu or any pip requirement
(PIPEBENCH_TF="tensorflow==2.17.1").
"""

from __future__ import annotations

import os
import sys

import nox

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench.machine import nvidia_gpu_present  # noqa: E402  (standard library only; before any install)

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

TF_BUILDS = {"cpu": "tensorflow-cpu>=2.16", "gpu": "tensorflow[and-cuda]>=2.16"}


def tensorflow_requirement() -> str:
    choice = os.environ.get("PIPEBENCH_TF", "auto").strip()
    if choice == "auto":
        return TF_BUILDS["gpu" if nvidia_gpu_present() else "cpu"]
    return TF_BUILDS.get(choice, choice)


def install(session: nox.Session, *extras: str) -> None:
    """TensorFlow for this machine, tf_keras to match it, then pipebench itself."""
    session.install(tensorflow_requirement())
    printed = session.run_install(  # run_install: also under `nox --install-only`
        "python", "-c", "import tensorflow as tf; print(tf.__version__)", silent=True
    )
    if printed is None:  # installs skipped (`nox -R`, `--no-install`): the environment is as it was
        return
    version = printed.strip().splitlines()[-1]
    major_minor = ".".join(version.split(".")[:2])
    # tf_keras (for ImageDataGenerator) depends on the `tensorflow` name, which would pull
    # a second TensorFlow build next to tensorflow-cpu: install it without dependencies.
    session.install("--no-deps", f"tf-keras~={major_minor}.0")
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (real pipelines, real child processes), on the CPU build by default.

    Two at a time (pytest-xdist; the tests of one shared real run stay in one process), then
    the `timing` tests alone, since they measure speeds against known answers or race a
    wall-clock limit. Arguments after `--` replace both: `nox -s tests -- -q tests/test_stats.py`.
    """
    install(session, "test", "jax")  # both Keras backends on the CPU
    if session.posargs:
        session.run("pytest", *session.posargs)
        return
    session.run("pytest", "-q", "-n", "2", "--dist", "loadgroup", "-m", "not timing", "tests")
    session.run("pytest", "-q", "-m", "timing", "tests")


@nox.session
def bench(session: nox.Session) -> None:
    """The default preset; what follows `--` goes to `pipebench run`."""
    install(session)
    session.run("python", "-m", "bench", "run", "--preset", "default", *session.posargs)


@nox.session
def guide(session: nox.Session) -> None:
    """`pipebench guide` on the default preset: every tip measured; what follows `--` goes to it."""
    install(session)
    session.run("python", "-m", "bench", "guide", "--preset", "default", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Re-render a saved run's report, or compare several: `nox -s report -- RUN [RUN ...]`."""
    session.install("-e", ".")
    if not session.posargs:
        session.error("give one run folder to re-render, or several to compare")
    command = "report" if len(session.posargs) == 1 else "compare"
    session.run("python", "-m", "bench", command, *session.posargs)


@nox.session
def asv(session: nox.Session) -> None:
    """asv over HEAD, or over the commits after `--` (e.g. `HEAD~2..HEAD`), then publish the site.

    `nox -s asv -- compare A B` prints what changed between two measured commits.
    """
    session.install("asv>=0.6.4", "virtualenv>=20")
    session.run("asv", "machine", "--yes")
    if session.posargs[:1] == ["compare"]:
        session.run("asv", "compare", "--split", "--factor", "1.1", *session.posargs[1:])
        return
    session.run("asv", "run", "--show-stderr", *(session.posargs or ["HEAD^!"]))
    session.run("asv", "publish")


@nox.session
def microbench(session: nox.Session) -> None:
    """pytest-benchmark over tests/benchmarks; results saved under results/pytest-benchmark.

    Compare with the last saved run and fail on a regression:
    `nox -s microbench -- --benchmark-compare --benchmark-compare-fail=median:25%`.
    """
    install(session, "test")
    session.run("pytest", "tests/benchmarks", "--benchmark-only", "--benchmark-autosave",
                "--benchmark-save-data", "--benchmark-storage=file://results/pytest-benchmark",
                *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
