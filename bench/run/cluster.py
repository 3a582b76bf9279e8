"""A local tf.data service cluster: one dispatcher and K worker processes on loopback.

`LocalCluster` is started by the cell's worker process for the `tf_data_service`
variant. Its servers are child processes in the cell's process group, so the
runner's timeout and Ctrl-C handling (which kill that group) also take the
cluster down; on a normal exit `LocalCluster.__exit__` stops them itself.

The servers run as `python -m bench.run.cluster dispatcher|worker ...` (also how to
start them by hand on other hosts; see docs/variants.md). The dispatcher reports
ready only once all K workers answer: it counts them with a `parallel_epochs`
job over a one-element dataset, in which every registered worker yields once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.errors import PipebenchError

REPO_ROOT = str(Path(__file__).resolve().parents[2])  # the folder holding bench/ and pipelines/
READY = "@pipebench-service ready"
WORKER_TIMEOUT_MS = 3000  # how soon the dispatcher gives up on a silent worker
HEARTBEAT_MS = 500
START_TIMEOUT_S = 120.0


def free_ports(count: int) -> list[int]:
    """Ports the OS says are free on loopback now (held open together, so all distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("localhost", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def count_workers(target: str) -> int:
    """How many workers serve a fresh `parallel_epochs` job on `target` (each yields once)."""
    import tensorflow as tf

    service = tf.data.experimental.service
    distribute = service.distribute(processing_mode="parallel_epochs", service=target)
    probe = tf.data.Dataset.range(1).apply(distribute)
    return sum(1 for _ in probe)


def serve_dispatcher(port: int, worker_ports: list[int], expect: int) -> None:
    import tensorflow as tf

    service = tf.data.experimental.service
    server = service.DispatchServer(service.DispatcherConfig(
        port=port, worker_addresses=[f"localhost:{p}" for p in worker_ports] or None,
        worker_timeout_ms=WORKER_TIMEOUT_MS,
    ))
    while expect and count_workers(server.target) < expect:
        time.sleep(0.2)
    print(READY, flush=True)
    server.join()


def serve_worker(dispatcher: str, port: int, host: str) -> None:
    import tensorflow as tf

    service = tf.data.experimental.service
    server = service.WorkerServer(service.WorkerConfig(
        dispatcher_address=dispatcher, port=port, worker_address=f"{host}:{port}" if port else None,
        heartbeat_interval_ms=HEARTBEAT_MS,
    ))
    server.join()


class LocalCluster:
    """A dispatcher and `num_workers` worker processes on free loopback ports.

    Use as a context manager: entering starts the servers and waits until every
    worker has registered (or raises, with the servers' own last words); leaving
    stops them all, whatever ended the block.
    """

    def __init__(self, num_workers: int, log_dir: Path):
        if num_workers < 1:
            raise PipebenchError(f"tf.data service workers {num_workers} is out of range; valid: >= 1")
        self.num_workers, self.log_dir = num_workers, Path(log_dir)
        self.procs: list[subprocess.Popen] = []
        self.target = ""
        self.worker_args: list[tuple[str, ...]] = []
        self.events: list[dict] = []  # workers that died, and their replacements
        self.started_s = 0.0
        self.stopping = threading.Event()

    def __enter__(self) -> LocalCluster:
        dispatcher_port, *worker_ports = free_ports(1 + self.num_workers)
        self.target = f"grpc://localhost:{dispatcher_port}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        dispatcher = self.spawn("dispatcher", "--port", str(dispatcher_port), "--expect",
                                str(self.num_workers), "--worker-ports", ",".join(map(str, worker_ports)))
        for port in worker_ports:
            self.worker_args.append(("--dispatcher", f"localhost:{dispatcher_port}", "--port", str(port)))
            self.spawn("worker", *self.worker_args[-1])
        try:
            self.wait_ready(dispatcher)
        except BaseException:
            self.stop()
            raise
        self.started_s = time.monotonic()
        threading.Thread(target=self.supervise, daemon=True).start()
        return self

    def supervise(self) -> None:
        """Replace a worker that dies (on its port, as a cluster manager would) and record it."""
        while not self.stopping.wait(0.2):
            for index in range(1, len(self.procs)):
                proc = self.procs[index]
                if proc.poll() is None or self.stopping.is_set():
                    continue
                self.procs[index] = self.spawn("worker", *self.worker_args[index - 1], keep=False)
                self.events.append({"at_s": round(time.monotonic() - self.started_s, 2), "pid": proc.pid,
                                    "returncode": proc.returncode, "replacement_pid": self.procs[index].pid})

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.procs[1:]]

    def spawn(self, role: str, *args: str, keep: bool = True) -> subprocess.Popen:
        log = open(self.log_dir / f"{role}-{len(self.procs)}.log", "w")  # noqa: SIM115 (closed in stop)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
               "PYTHONPATH": os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))}
        proc = subprocess.Popen([sys.executable, "-m", "bench.run.cluster", role, *args],
                                stdout=subprocess.PIPE if role == "dispatcher" else log, stderr=log,
                                text=True, env=env)
        proc.log = log
        if keep:
            self.procs.append(proc)
        return proc

    def wait_ready(self, dispatcher: subprocess.Popen) -> None:
        ready = threading.Event()

        def watch():
            for line in dispatcher.stdout:
                if line.startswith(READY):
                    ready.set()

        threading.Thread(target=watch, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.wait(0.2):
            dead = [p for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"exited ({dead[0].returncode})" if dead else f"not ready in {START_TIMEOUT_S:g} s"
                raise PipebenchError(
                    f"local tf.data service {why}; logs in {self.log_dir}: {self.last_words()}")

    def last_words(self) -> str:
        for path in sorted(self.log_dir.glob("*.log")):
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
            if lines:
                return f"{path.name}: {lines[-1][:200]}"
        return "(no output)"

    def stop(self) -> None:
        self.stopping.set()
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.log.close()


@contextlib.contextmanager
def service_for(options: dict, log_dir: Path):
    """`options` with `service=local` replaced by a running local cluster's address (else as given).

    Yields (options, cluster); the cluster is None for variants without a
    service, or for an external one.
    """
    if options.get("service") != "local":
        yield options, None
        return
    with LocalCluster(options["workers"], log_dir) as cluster:
        yield {**options, "service": cluster.target}, cluster


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run.cluster",
                                     description="run one tf.data service server until killed")
    sub = parser.add_subparsers(dest="role", required=True)
    disp = sub.add_parser("dispatcher", help="a dispatcher (the address clients and workers use)")
    disp.add_argument("--port", type=int, required=True)
    disp.add_argument("--expect", type=int, default=0,
                      help="print the ready line once this many workers serve")
    disp.add_argument("--worker-ports", default="", help="loopback worker ports, for static sharding")
    work = sub.add_parser("worker", help="a worker that registers with a dispatcher")
    work.add_argument("--dispatcher", required=True, help="HOST:PORT of the dispatcher")
    work.add_argument("--port", type=int, default=0)
    work.add_argument("--host", default="localhost", help="the name clients reach this worker by")
    args = parser.parse_args(argv)
    if args.role == "dispatcher":
        ports = [int(p) for p in args.worker_ports.split(",") if p]
        serve_dispatcher(args.port, ports, args.expect)
    else:
        serve_worker(args.dispatcher, args.port, args.host)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
