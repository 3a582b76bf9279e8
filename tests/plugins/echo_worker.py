"""A stand-in worker for tests/run/test_launch.py: reads one line, reports where it runs, exits 3."""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> int:
    line = sys.stdin.readline().strip()
    print("a line for the log", file=sys.stderr, flush=True)
    print(json.dumps({"argv": argv, "line": line, "pid": os.getpid(), "sid": os.getsid(0),
                      "cwd": os.getcwd(), "variable": os.environ.get("PIPEBENCH_ECHO"),
                      "tensorflow_preloaded": "tensorflow" in sys.modules,
                      "path_first": sys.path[0]}), flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
