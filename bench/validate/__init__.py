"""`pipebench validate CHECK`: the method against known answers, one command per check.

Each check measures this machine against an answer known without pipebench: a
difference that is not there (A/A), one of a stated size (A/B), a peer's reading
(tfds.benchmark), a planted label fault, real photographs. It prints what it found,
writes `validate.json` (the raw figures) under `results/validate-<check>-<time>/`, and
exits 0 where the known answer held (or the check states no answer), 1 where it did not.
CI runs every check with tiny settings (`tests/test_validate.py`): there they show that
the check works, not what this machine's figures are. docs/method.md has the figures.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

# name -> (module, one line); a module is imported only when its check runs
CHECKS = {
    "aa": ("bench.validate.speed", "A/A runs find no speed difference; an A/B pair of known ratio is"
                                   " found"),
    "cost": ("bench.validate.cost", "A/A cost comparisons find no difference; a stated extra CPU cost"
                                     " is found"),
    "peer": ("bench.validate.peer", "pipeline mode against tfds.benchmark on pipelines of known cost"),
    "band": ("bench.validate.band", "a pipeline with 10% wrong labels falls outside the accuracy and"
                                     " loss bands"),
    "sample-length": ("bench.validate.sample_length", "how stable a sample of each length is here"),
    "realism": ("bench.validate.realism", "the embedded dataset's decode cost against real photographs"),
    "check-scale": ("bench.validate.check_scale", "the data check on a folder of ImageNet size, twice"),
    "agreement": ("bench.validate.agreement", "how well two saved runs of one preset agree"),
    "tradeoff": ("bench.validate.tradeoff", "interval width against sample length and rounds, from one run"),
}


def listing() -> str:
    """The checks, one per line, for `pipebench validate --help`."""
    return "\n".join(f"  {name:14s} {line}" for name, (_, line) in CHECKS.items())


def main(check: str, argv: list[str], parser_class) -> int:
    """Run one check with its arguments: print its lines, save validate.json; 0 held, 1 not held."""
    # the project's modules only here: this one stays light, since `pipebench --help` imports it
    from bench.errors import unknown_choice
    from bench.results.document import new_run_dir
    from bench.validate.common import save

    if check not in CHECKS:
        raise unknown_choice("check", check, CHECKS)
    module_name, line = CHECKS[check]
    module = importlib.import_module(module_name)  # a check imports what it measures (TensorFlow, SciPy)
    parser = parser_class(prog=f"pipebench validate {check}", description=line,
                          formatter_class=argparse.RawDescriptionHelpFormatter, epilog=module.__doc__)
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help="where validate-* goes")
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    started = time.monotonic()
    folder = new_run_dir(args.results_dir, prefix=f"validate-{check}-")
    finding = module.run(args, folder)
    print("\n".join(finding.lines))
    path = save(folder, finding, vars(args), started)
    word = {True: "held", False: "did not hold", None: "states no known answer"}[finding.held]
    print(f"{check}: {word}; {path}")
    return 1 if finding.held is False else 0
