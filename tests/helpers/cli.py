"""Running the command line from tests: in this process (fail-fast cases) or as a real subprocess."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
# small files (a long side of 36-56 px, resized to 32) keep the tests' decoding cheap
TINY = {"num_train": 48, "num_val": 24, "image_size": 32, "num_classes": 3, "long_side": (36, 56)}
TINY_ARGS = ("--num-train", "48", "--num-val", "24", "--image-size", "32", "--source-size", "36,56",
             "--num-classes", "3", "--epochs", "2", "--batch-size", "16", "--rounds", "1",
             "--min-sample-s", "0.05",  # short samples: these tests check bookkeeping, not speed
             "--accuracy-epochs", "2", "--accuracy-seeds", "3")  # a 2-epoch accuracy fit, a band of 3
HOSTILE = "<script>alert(1)</script>"
TAG = "PIPEBENCH_TEST_TAG"  # set per test process; the processes its tests start inherit it


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a real subprocess, as a user would run it (`env`: extra variables)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True,
        timeout=timeout, cwd=cwd or ROOT, env=env,
    )


def run_main(*args: str) -> subprocess.CompletedProcess:
    """`bench.cli.main(ARGS)` in this process: the same code path as the command, without
    paying a Python and TensorFlow start-up per case. Output and exit status are captured
    the same way; the signal handlers `main` installs are put back afterwards."""
    from bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(list(args))
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return subprocess.CompletedProcess(["pipebench", *args], status, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Status 2, exactly one line on stderr that starts `pipebench: error:` and names each fragment."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pipebench: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
