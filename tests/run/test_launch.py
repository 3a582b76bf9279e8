"""Workers forked from the preloaded server (bench.run.launch) behave as spawned ones do."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bench.run import launch
from bench.run.runner import child_env, kill_group
from tests.helpers.cli import TESTS


def with_tests() -> dict:
    """The runner's environment for a worker, with tests/ importable (the stand-in lives there)."""
    env = child_env()
    return {**env, "PYTHONPATH": f"{env['PYTHONPATH']}{os.pathsep}{TESTS}"}


def start(launcher: launch.Launcher, tmp_path, backend: str = "tensorflow", env: dict | None = None):
    log = open(tmp_path / "echo.log", "w")  # noqa: SIM115 - closed below, after the start
    try:
        return launcher.start("plugins.echo_worker", ["first", "second"], log,
                              env or {**with_tests(), "PIPEBENCH_ECHO": "given"}, str(tmp_path), backend)
    finally:
        log.close()


def answer(proc) -> dict:
    proc.stdin.write("hello\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def test_a_forked_worker_has_its_pipes_environment_folder_session_and_exit_status(tmp_path):
    launcher = launch.Launcher()
    proc = start(launcher, tmp_path)
    assert isinstance(proc, launch.ForkedWorker)
    got = answer(proc)
    assert proc.wait(timeout=60) == 3 and proc.returncode == 3
    assert got["argv"] == ["first", "second"] and got["line"] == "hello"
    assert got["variable"] == "given" and got["cwd"] == str(tmp_path) and got["path_first"] == str(tmp_path)
    assert got["sid"] == got["pid"] == proc.pid  # leads its own session: the runner kills its group
    assert got["tensorflow_preloaded"] is True  # the import was the server's, not the child's
    assert "a line for the log" in (tmp_path / "echo.log").read_text()


def test_a_jax_cell_and_a_changed_environment_are_spawned_not_forked(tmp_path):
    launcher = launch.Launcher()
    env = with_tests()
    assert launcher.forkable(env, "tensorflow") and not launcher.forkable(env, "jax")
    launcher.server_env = env  # as if its server had started with `env`
    assert not launcher.forkable({**env, "TF_ENABLE_ONEDNN_OPTS": "0"}, "tensorflow")
    spawned = start(launcher, tmp_path, backend="jax", env={**env, "PIPEBENCH_ECHO": "spawned"})
    assert isinstance(spawned, subprocess.Popen)
    got = answer(spawned)
    assert spawned.wait(timeout=60) == 3 and got["variable"] == "spawned"
    assert got["tensorflow_preloaded"] is False


def test_the_switch_turns_forking_off(monkeypatch):
    monkeypatch.setenv(launch.SWITCH, "0")
    assert not launch.Launcher().forkable(child_env(), "tensorflow")


def test_killing_a_forked_workers_group_ends_it(tmp_path):
    proc = start(launch.Launcher(), tmp_path)  # it waits on stdin until killed
    assert proc.poll() is None
    kill_group(proc)
    assert proc.returncode is not None and proc.returncode < 0
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)


@pytest.mark.slow
def test_a_forked_cell_runs_a_pydataset_with_worker_processes(tmp_path):
    """The forked worker has the platform's start method, not the forkserver's (which pickled the
    PyDataset's local class and failed every `use_multiprocessing=true` cell)."""
    from tests.helpers.cli import TINY_ARGS, run_cli

    result = run_cli("run", "--variants", "sequence", "--opt", "use_multiprocessing=true",
                     "--modes", "pipeline", *TINY_ARGS, "--no-overhead-check", "--results-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    (cell,) = json.loads(next(tmp_path.glob("*/results.json")).read_text())["cells"]
    assert cell["status"] == "ok", cell["error"]
