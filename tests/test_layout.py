"""The layout holds: `pipelines` stands alone, no import cycle, a new variant is one module.

The throwaway variant (tests/plugins/throwaway_variant.py) is named by nothing in
the code; the test shows that the commands find it through what it declares.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from tests.helpers.cli import ROOT, TINY_ARGS, run_cli

PACKAGES = ("bench", "pipelines")


def module_name(path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its code (lazy imports included)."""
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
             if "asv_benchmarks" not in p.parts}
    graph = {}
    for name, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                           for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in files and t != name}
        graph[name] = deps
    from pipelines import BUILT_IN  # imported by name in pipelines/__init__.py

    graph["pipelines"] |= {f"pipelines.{m}" for m in BUILT_IN}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_bench_or_pipelines():
    graph = import_graph()
    assert "bench.run.runner" in graph and "pipelines.base" in graph
    assert cycles(graph) == []


def package_of(module: str) -> str:
    """The part of the flow a module belongs to: `bench.run.worker` -> `bench.run`, `bench.stats` itself."""
    return ".".join(module.split(".")[:2])


def test_the_flow_between_bench_packages_has_no_loop_lazy_imports_included():
    """config -> data -> run -> results -> report, with tune beside the runner: a package may
    use the ones before it, never one after it, not even inside a function."""
    graph = import_graph()
    packages: dict[str, set[str]] = {}
    for module, deps in graph.items():
        if module.startswith("bench.") and package_of(module) not in ("bench.cli", "bench.__main__"):
            packages.setdefault(package_of(module), set()).update(
                package_of(d) for d in deps if d.startswith("bench.") and package_of(d) != package_of(module))
    for package in {d for deps in packages.values() for d in deps}:
        packages.setdefault(package, set())
    assert {"bench.config", "bench.run", "bench.results", "bench.report"} <= set(packages)
    assert "bench.results" in packages["bench.run"] and "bench.results" in packages["bench.report"]
    assert cycles(packages) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_nothing_in_pipelines_imports_bench():
    graph = import_graph()
    offenders = {m: sorted(d for d in deps if d.startswith("bench"))
                 for m, deps in graph.items() if m.startswith("pipelines")}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_pipelines_imports_in_a_fresh_interpreter_without_bench_or_tensorflow():
    code = ("import json, sys, pipelines; print(json.dumps([len(pipelines.REGISTRY), "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('bench', 'tensorflow', 'keras'))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    count, leaked = json.loads(out.stdout)
    assert count >= 11 and leaked == []


PLUGIN = {"PIPEBENCH_VARIANTS": "plugins.throwaway_variant"}


@pytest.mark.slow
def test_a_new_variant_is_one_module_and_one_registration(tmp_path, tiny_dirs):
    listed = run_cli("list", env=PLUGIN)
    assert listed.returncode == 0, listed.stderr
    assert "throwaway                      [throwaway]" in listed.stdout
    presets = subprocess.run(
        [sys.executable, "-c", "from bench.config import PRESETS; print(PRESETS['quick'].variants)"],
        capture_output=True, text=True, cwd=ROOT, check=True,
        env={**__import__("os").environ, **PLUGIN, "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}"})
    assert "'throwaway'" in presets.stdout  # a family of its own: the one-per-family presets take it
    run = run_cli("run", "--variants", "throwaway", "--modes", "pipeline", *TINY_ARGS,
                  "--results-dir", str(tmp_path / "run"), env=PLUGIN)
    assert run.returncode == 0, run.stderr[-3000:]
    (cell,) = json.loads(next((tmp_path / "run").glob("*/results.json")).read_text())["cells"]
    assert cell["variant"] == "throwaway" and cell["status"] == "ok"
    quick = ("--preset", "quick", *tiny_dirs, "--min-sample-s", "0.05", "--rounds", "3")
    profile = run_cli("profile", "--variant", "throwaway", *quick, "--no-verify",
                      "--results-dir", str(tmp_path / "p"), env=PLUGIN)
    assert profile.returncode == 0, profile.stderr[-3000:]
    assert "bottleneck:" in profile.stdout and "decode" in profile.stdout
    sweep = run_cli("sweep", "--variant", "throwaway", "--knobs", "prefetch", *quick,
                    "--results-dir", str(tmp_path / "s"), env=PLUGIN)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "best prefetch:" in sweep.stdout
    assert run_cli("list").stdout.count("throwaway") == 0  # registered only where it is named
