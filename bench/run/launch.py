"""How a cell's worker process starts: forked from a server that imported TensorFlow once.

`import tensorflow` costs about 7 s of CPU in every new process on the 2-core VM, and
a run starts one worker per cell, all at once. multiprocessing's `forkserver` imports
it once, in a server process of its own with no thread of ours running, and forks each
worker from there: a fresh process per cell as before (Keras' global state, the
backend, TensorFlow's thread pools and eager context are all made in the child, after
the fork), without the import. The child takes the runner's pipes as its stdin and
stdout and the cell's log as its stderr, leads a session of its own (so the runner
kills its whole group), and then runs `bench.run.worker.main`, exactly as
`python -m bench.run.worker JOB.json` does.

What the server has, every child has: `import tensorflow` also imports Keras, whose
backend is then fixed, so the server imports it as the TensorFlow backend and only a
TensorFlow-backend cell is forked (a JAX cell is spawned). Nor can a child get what the
server lacks: variables that TensorFlow reads when it is imported. So a worker is forked
only while the environment it is given is the one the server started with; otherwise (or
with `PIPEBENCH_FORK_WORKERS=0`, or where the platform has no fork) it is spawned with
`subprocess` as before. Where TensorFlow cannot be imported the server simply lacks it.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import subprocess
import sys
import time
from multiprocessing import reduction
from pathlib import Path

PRELOAD = ("numpy", "tensorflow")
SERVER_BACKEND = "tensorflow"  # the Keras backend that importing TensorFlow fixes in the server
SWITCH = "PIPEBENCH_FORK_WORKERS"
# Python 3.12 warns on every fork from a process with threads, and the server has TensorFlow's two
FORK_WARNING = "ignore:This process:DeprecationWarning"


class PassedFd:
    """A file descriptor that travels to a forkserver child (multiprocessing sends it over its socket)."""

    def __init__(self, fd: int):
        self.fd = fd

    def __reduce__(self):
        return (_received, (reduction.DupFd(self.fd),))


def _received(dup) -> int:
    return dup.detach()


def run_forked(stdin: int, stdout: int, stderr: int, env: dict, cwd: str, module: str,
               argv: list[str]) -> None:
    """The child's body: take the pipes as fds 0-2 and the given environment, then `module.main(argv)`."""
    os.setsid()
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
        os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own stdin, for its lifetime
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    # as `python -m` would have it: the working folder, then PYTHONPATH, then the rest
    first = [cwd, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    sys.path[:] = [*dict.fromkeys(first), *(entry for entry in sys.path if entry not in first)]
    sys.argv = [module, *argv]
    # a forkserver child inherits the server's start method; give it the platform's default, which
    # a spawned worker has (a PyDataset with use_multiprocessing pickled its local class otherwise)
    multiprocessing.set_start_method(None, force=True)
    # imported after the fork: the worker is the child's code, not the server's
    sys.exit(importlib.import_module(module).main(argv))


class ForkedWorker:
    """A forked worker behind the part of `subprocess.Popen` that the runner uses."""

    def __init__(self, context, module: str, argv: list[str], log, env: dict, cwd: str):
        child_stdin, self_stdin = os.pipe()
        self_stdout, child_stdout = os.pipe()
        self.process = context.Process(target=run_forked, name="pipebench-worker", args=(
            PassedFd(child_stdin), PassedFd(child_stdout), PassedFd(log.fileno()), env, cwd, module, argv))
        try:
            self.process.start()
        finally:
            os.close(child_stdin)
            os.close(child_stdout)
        self.pid = self.process.pid
        self.args = argv
        self.await_session()
        self.stdin = open(self_stdin, "w")  # noqa: SIM115 - closed by the runner
        self.stdout = open(self_stdout)  # noqa: SIM115 - read to its end by the runner's reader thread

    def await_session(self, timeout_s: float = 30.0) -> None:
        """Return once the child leads its own session, as `Popen(start_new_session=True)` does, so
        that killing its group right after the start cannot miss it."""
        deadline = time.monotonic() + timeout_s
        while self.process.exitcode is None and time.monotonic() < deadline:
            try:
                if os.getpgid(self.pid) == self.pid:
                    return
            except ProcessLookupError:
                return
            time.sleep(0.002)

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.process.exitcode


class Launcher:
    """Starts workers: forked from the preloaded server where it can, spawned where it cannot."""

    def __init__(self):
        self.context = None
        self.server_env: dict | None = None

    def forkable(self, env: dict, backend: str) -> bool:
        if os.environ.get(SWITCH, "1") == "0" or "forkserver" not in multiprocessing.get_all_start_methods():
            return False
        return backend == SERVER_BACKEND and (self.server_env is None or env == self.server_env)

    def start_server(self, env: dict) -> None:
        """Start the forkserver with `env` as its environment (it imports PRELOAD there)."""
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        warnings = ",".join(filter(None, [env.get("PYTHONWARNINGS"), FORK_WARNING]))
        with environment({**env, "KERAS_BACKEND": SERVER_BACKEND, "PYTHONWARNINGS": warnings}):
            multiprocessing.forkserver.ensure_running()
        self.context, self.server_env = context, env

    def start(self, module: str, argv: list[str], log, env: dict, cwd: str, backend: str):
        """A running `python -m MODULE *argv` (Popen-like; stdin and stdout piped, stderr to `log`)."""
        if self.forkable(env, backend):
            if self.context is None:
                self.start_server(env)
            return ForkedWorker(self.context, module, argv, log, env, cwd)
        return subprocess.Popen([sys.executable, "-m", module, *argv], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                                start_new_session=True, cwd=cwd)


@contextlib.contextmanager
def environment(env: dict):
    """`os.environ` is `env` inside the block (the forkserver inherits it when it starts)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


LAUNCHER = Launcher()


def start_worker(job_path: Path, log, env: dict, cwd: str, backend: str):
    """The worker of one job, whose cell runs Keras on `backend`."""
    return LAUNCHER.start("bench.run.worker", [str(job_path)], log, env, cwd, backend)
