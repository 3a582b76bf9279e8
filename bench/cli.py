"""The command line: `python -m bench run|list|report` (also installed as `pipebench`).

This is the only place that prints errors and chooses exit statuses:
`PipebenchError` -> its one-line message and status 2; Ctrl-C -> status 130.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
from pathlib import Path

from bench.config import PRESETS
from bench.data.checks import ON_BAD_FILE, DataCheckFailed
from bench.errors import PipebenchError
from bench.run.page_cache import PAGE_CACHE
from bench.validate import listing as validate_listing
from bench.validate import main as validate_main
from pipelines import load_plugins


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr and exit status 2."""

    def error(self, message: str):
        raise PipebenchError(message)


def comma_list(raw: str) -> list[str]:
    items = [item.strip() for item in raw.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected a comma-separated list")
    return items


def positive(kind: type, lowest: float, what: str):
    """An argparse type: `kind(raw)` and at least `lowest`, else a message naming the range."""

    def convert(raw: str):
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not {what}") from None
        if value < lowest:
            raise argparse.ArgumentTypeError(f"{value} is out of range; valid: {what} >= {lowest}")
        return value

    return convert


positive_int = positive(int, 1, "an integer")
positive_float = positive(float, 1e-3, "a number")


def side_range(raw: str) -> tuple[int, int]:
    """`LOW,HIGH` in px, 8 <= LOW <= HIGH <= 4096."""
    parts = raw.split(",")
    try:
        low, high = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not LOW,HIGH (two integers, px)") from None
    if not 8 <= low <= high <= 4096:
        raise argparse.ArgumentTypeError(f"{raw!r} is out of range; valid: 8 <= LOW <= HIGH <= 4096")
    return low, high


def add_run_parser(sub) -> None:
    p = sub.add_parser("run", help="measure pipeline variants (each cell in a child process)")
    add_preset_argument(p, "quick, default or full: dataset size, rounds, sample length, extra rows")
    p.add_argument("--data-dir", type=Path, help="folder with one subfolder of images per class")
    p.add_argument("--val-dir", type=Path, help="separate validation folder, same layout")
    p.add_argument("--val-split", type=float, default=0.2, help="validation fraction when no --val-dir")
    p.add_argument("--variants", type=comma_list, help="variants or families, comma-separated")
    p.add_argument("--precisions", type=comma_list, help="float32, mixed_float16 (GPU), mixed_bfloat16")
    p.add_argument("--augmentations", type=comma_list,
                   help="none, tf_image, keras_layers, keras_layers_map, numpy_pyfunc")
    p.add_argument("--opt", action="append", default=[], metavar="[VARIANT.]NAME=VALUE",
                   help="set a variant option (see `list`); repeatable")
    p.add_argument("--pipeline", metavar="MODULE:FUNCTION", action="append",
                   help="add your own pipeline as a variant; repeatable")
    p.add_argument("--service-workers", type=comma_list, metavar="K,K",
                   help="tf_data_service: local worker counts (default: 1, 2, 4, ... up to the cores)")
    p.add_argument("--service", metavar="grpc://HOST:PORT",
                   help="tf_data_service: use this dispatcher instead of a local cluster")
    p.add_argument("--cores", type=comma_list, metavar="K,K",
                   help="run each cell on K cores (CPU affinity), one cell per K; the report predicts "
                   "each cell's rate on K cores from the fewest (default: every core, one cell)")
    p.add_argument("--backend", type=comma_list, metavar="tensorflow|jax",
                   help="Keras backend(s) of the model; several: side-by-side cells (default: tensorflow)")
    p.add_argument("--model", default="small_cnn", help="small_cnn or mobilenet_v2 (weights=None)")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--rounds", type=positive_int, help="every cell is measured once per round, shuffled")
    p.add_argument("--trials", type=positive_int, dest="old_trials_flag", help=argparse.SUPPRESS)  # old name
    p.add_argument("--min-sample-s", type=positive_float, metavar="SECONDS",
                   help="every timed sample lasts at least this long (default: the preset's, 0.25-1)")
    p.add_argument("--image-size", type=positive_int, help="square side the images are resized to")
    p.add_argument("--num-train", type=positive_int, help="embedded dataset: training images")
    p.add_argument("--num-val", type=positive_int, help="embedded dataset: validation images")
    p.add_argument("--num-classes", type=positive_int, help="embedded dataset: classes (2..10)")
    p.add_argument("--source-size", type=side_range, metavar="LOW,HIGH",
                   help="embedded dataset: range of the files' long side in px (default: the preset's; "
                   "256,512 for default and full)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=positive_float, help="seconds per cell before it is marked timeout")
    p.add_argument("--modes", type=comma_list, help="pipeline, train, model_only, simulated (default: all)")
    p.add_argument("--step-ms", type=positive_float, help="simulated accelerator step per batch, in ms")
    p.add_argument("--target-rate", type=positive_float,
                   help="simulated accelerator rate in images/s (default 1000); sets the step")
    p.add_argument("--target-accuracy", type=float,
                   help="validation accuracy for time-to-accuracy (default: the accuracy band's lower "
                   "edge; 1.5 / classes without a band)")
    p.add_argument("--accuracy-epochs", type=positive_int, metavar="N",
                   help="epochs of each cell's untimed accuracy fit (default: the preset's, 8-16)")
    p.add_argument("--accuracy-seeds", type=positive_int, metavar="N",
                   help="seeds the reference variant is fitted with for the accuracy band; 3 or more "
                   "give a band (default: the preset's, 3-5)")
    p.add_argument("--telemetry-hz", type=positive_float, default=5.0, help="telemetry samples per second")
    p.add_argument("--overhead-check", action=argparse.BooleanOptionalAction, default=False,
                   help="also measure the telemetry sampler's overhead (about 2 minutes; default: off)")
    p.add_argument("--on-bad-file", default="stop", choices=ON_BAD_FILE,
                   help="stop (default): a data check that finds bad files ends the run before measuring; "
                   "skip: leave them out for every variant and record them")
    add_subset_argument(p)
    p.add_argument("--page-cache", default="warm", choices=PAGE_CACHE,
                   help="warm (default): files as the page cache holds them; cold: evict each file-reading "
                   "epoch's files first, so every timed epoch reads from storage (a dataset larger than RAM)")
    p.add_argument("--memory-budget", metavar="SIZE",
                   help="memory in-memory/cached variants may fill, e.g. 4G (default: what is available)")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--label", default="", help="a name for this run, shown in its report")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="finish an interrupted run: measure the cells it lacks, with its configuration")
    p.add_argument("--baseline", help="variant the report computes speedups against "
                   "(default: the usual starting point, image_data_generator, else generator)")


def add_subset_argument(p) -> None:
    p.add_argument("--subset", type=positive_int, metavar="N",
                   help="use a seeded sample of N training files, stratified by class (and the same share "
                   "of the validation files); only those are checked and read")


def add_preset_argument(p, text: str) -> None:
    """`--preset`, and `--profile`, its earlier name, kept working with a deprecation message."""
    p.add_argument("--preset", default="default", help=text)
    p.add_argument("--profile", dest="old_profile_flag", help=argparse.SUPPRESS)


def renamed_flags(args: argparse.Namespace) -> None:
    """Apply the deprecated spellings, saying so once on stderr."""
    if getattr(args, "old_profile_flag", None) is not None:
        print("pipebench: --profile is deprecated, use --preset (same values); `pipebench profile` is the "
              "stage-breakdown command", file=sys.stderr)
        args.preset = args.old_profile_flag
    if getattr(args, "old_trials_flag", None) is not None:
        print("pipebench: --trials is deprecated, use --rounds (same value)", file=sys.stderr)
        args.rounds = args.old_trials_flag


def add_tuning_parser(p, kind: str) -> None:
    p.add_argument("--variant", required=True, help="the variant (see `list`), or custom:MODULE:FUNCTION")
    add_preset_argument(p, "quick, default or full: the embedded dataset's size")
    p.add_argument("--data-dir", type=Path, help="your images instead of the embedded dataset")
    p.add_argument("--val-dir", type=Path)
    p.add_argument("--opt", action="append", default=[], metavar="[VARIANT.]NAME=VALUE")
    p.add_argument("--augmentation", default="none",
                   help="none, tf_image, numpy_pyfunc, keras_layers, keras_layers_map")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--target-rate", type=positive_float, help="simulated accelerator images/s (default 1000)")
    p.add_argument("--results-dir", type=Path, default=Path("results"))
    p.add_argument("--seed", type=int, default=0, help="dataset seed; also shuffles each round's order")
    p.add_argument("--min-sample-s", type=positive_float, default=1.0, metavar="SECONDS",
                   help="every timed sample lasts at least this long (default 1)")
    p.add_argument("--rounds", type=positive_int,
                   help="rounds of the interleaved measurements (default: the fewest with which the paired "
                   "test can find a difference among the comparisons made)")
    if kind == "profile":
        p.add_argument("--no-verify", action="store_true", help="advise without measuring the advice")
        p.add_argument("--trace", action="store_true",
                       help="also capture a TensorBoard profile of a few training steps")
        p.add_argument("--sweep", action="store_true", help="also sweep every knob, on the same page")
    else:
        p.add_argument("--knobs", type=comma_list, help="knobs to sweep (default: all that apply)")


def add_guide_parser(p) -> None:
    add_preset_argument(p, "quick, default or full: dataset size, rounds, sample length")
    p.add_argument("--data-dir", type=Path, help="folder with one subfolder of images per class")
    p.add_argument("--val-dir", type=Path, help="separate validation folder, same layout")
    p.add_argument("--tips", type=comma_list, help="the tips to measure, comma-separated (default: all; see "
                   "`pipebench guide --list`)")
    p.add_argument("--list", action="store_true", help="list the tips and exit")
    p.add_argument("--target-rate", type=positive_float,
                   help="simulated accelerator rate in images/s for the overlap tips (default 1000)")
    p.add_argument("--rounds", type=positive_int, help="rounds of each run (default: the preset's, or the "
                   "fewest with which Holm's correction across the tips can find a difference)")
    p.add_argument("--min-sample-s", type=positive_float, metavar="SECONDS",
                   help="every timed sample lasts at least this long (default: the preset's)")
    p.add_argument("--accuracy-epochs", type=positive_int, metavar="N",
                   help="epochs of the accuracy fits of the training tips (default: the preset's)")
    p.add_argument("--accuracy-seeds", type=positive_int, metavar="N",
                   help="seeds of the reference's fits for the accuracy band (default: the preset's)")
    for flag, text in (("--num-train", "embedded dataset: training images"),
                       ("--num-val", "embedded dataset: validation images"),
                       ("--num-classes", "embedded dataset: classes (2..10)"),
                       ("--image-size", "square side the images are resized to"),
                       ("--batch-size", None), ("--epochs", None)):
        p.add_argument(flag, type=positive_int, help=text)
    p.add_argument("--source-size", type=side_range, metavar="LOW,HIGH",
                   help="embedded dataset: range of the files' long side in px")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=positive_float, help="seconds per cell before it is marked timeout")
    p.add_argument("--results-dir", type=Path, default=Path("results"))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="pipebench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    add_run_parser(sub)
    sub.add_parser("list", help="list the variants, their options and capabilities, and the presets")
    chk = sub.add_parser("check", help="check an image folder for files that would break or skew a run")
    chk.add_argument("--data-dir", type=Path, required=True, help="folder with one subfolder per class")
    chk.add_argument("--val-dir", type=Path, help="separate validation folder, same layout")
    chk.add_argument("--val-split", type=float, default=0.2, help="validation fraction when no --val-dir")
    chk.add_argument("--image-size", type=positive_int, default=PRESETS["default"].image_size,
                     help="target side the run would resize to (for the too-small check)")
    chk.add_argument("--seed", type=int, default=0)
    add_subset_argument(chk)
    for name, text in (("profile", "find the stage that limits one variant, advise, and verify the advice"),
                       ("sweep", "throughput of one variant against each of its knobs")):
        add_tuning_parser(sub.add_parser(name, help=text), name)
    rep = sub.add_parser("report", help="re-render the HTML report of a saved run")
    rep.add_argument("run", type=Path, help="a results/<run-id> folder")
    rep.add_argument("--baseline", help="variant to compute speedups against")
    rep.add_argument("--markdown", action="store_true", help="print the results as a markdown table instead")
    val = sub.add_parser("validate", help="check the method against known answers (A/A, A/B, a peer, ...)",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         epilog="checks:\n" + validate_listing() + "\n\n`pipebench validate CHECK --help` "
                                "says what a check measures and what it holds against.")
    val.add_argument("check", help="which check (listed below)")
    val.add_argument("arguments", nargs=argparse.REMAINDER, help="the check's own options")
    add_guide_parser(sub.add_parser("guide", help="measure each tip of the tutorials and tf.data's guide "
                                    "as a paired experiment on your data"))
    cmp = sub.add_parser("compare", help="compare saved runs against the first one")
    cmp.add_argument("runs", type=Path, nargs="+", help="two or more results/<run-id> folders")
    cmp.add_argument("--out", type=Path, help="folder for compare.html (default: results/compare-<time>)")
    return parser


def config_from_args(args: argparse.Namespace, argv: list[str]):
    from bench.config import (
        RunConfig,
        build_cells,
        check_modes,
        check_range,
        get_preset,
        step_seconds,
    )
    from bench.errors import unknown_choice
    from bench.run.memory import parse_size
    from bench.run.models import MODELS
    from pipelines.base import split_overrides, validate_overrides

    preset = get_preset(args.preset)
    if args.model not in MODELS:
        raise unknown_choice("model", args.model, MODELS)
    check_range("--val-split", args.val_split, 0.0, 1.0)
    if args.target_accuracy is not None:
        check_range("--target-accuracy", args.target_accuracy, 0.0, 1.0)
    batch_size = args.batch_size or preset.batch_size
    embedded = preset.dataset(args.seed, num_train=args.num_train, num_val=args.num_val,
                              image_size=args.image_size, num_classes=args.num_classes,
                              long_side=args.source_size)
    if args.model == "mobilenet_v2" and embedded.image_size < 32:
        raise PipebenchError("--model mobilenet_v2 needs --image-size >= 32")
    try:
        workers = [positive_int(k) for k in args.service_workers] if args.service_workers else None
    except argparse.ArgumentTypeError as exc:
        raise PipebenchError(f"--service-workers: {exc}") from None
    if workers is None and args.variants is None and args.service is None and preset.service_workers:
        workers = list(preset.service_workers)
    try:
        cores = [positive_int(k) for k in args.cores] if args.cores else None
    except argparse.ArgumentTypeError as exc:
        raise PipebenchError(f"--cores: {exc}") from None
    cells, skipped = build_cells(preset, args.variants, args.precisions, args.augmentations, args.pipeline,
                                 workers, args.service, args.backend, cores)
    if args.baseline and args.baseline not in {c.variant for c in cells}:
        raise PipebenchError(f"--baseline {args.baseline!r} is not among the variants run; valid: "
                             f"{', '.join(sorted({c.variant for c in cells}))}")
    validate_overrides(sorted({c.variant for c in cells}), split_overrides(args.opt))
    return RunConfig(
        preset=preset.name, embedded=embedded,
        data_dir=str(args.data_dir) if args.data_dir else None,
        val_dir=str(args.val_dir) if args.val_dir else None, val_split=args.val_split,
        model=args.model, epochs=args.epochs or preset.epochs,
        batch_size=batch_size, rounds=args.rounds or preset.rounds,
        seed=args.seed, cells=cells, skipped=skipped, options=tuple(args.opt),
        timeout_s=args.timeout or preset.timeout_s, modes=check_modes(args.modes),
        min_sample_s=args.min_sample_s or preset.min_sample_s,
        step_s=step_seconds(batch_size, args.step_ms, args.target_rate),
        telemetry_hz=args.telemetry_hz, target_accuracy=args.target_accuracy,
        accuracy_epochs=args.accuracy_epochs or preset.accuracy_epochs,
        accuracy_seeds=args.accuracy_seeds or preset.accuracy_seeds,
        overhead_check=args.overhead_check,
        on_bad_file=args.on_bad_file, subset=args.subset, page_cache=args.page_cache,
        memory_budget_bytes=parse_size(args.memory_budget) if args.memory_budget else None,
        results_dir=str(args.results_dir),
        label=args.label, baseline=args.baseline, command="pipebench " + shlex.join(argv),
    )


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from bench.config import RunConfig
    from bench.results.document import load_run
    from bench.run.runner import run

    if args.resume is not None:
        config = RunConfig.from_dict(load_run(args.resume)["config"])
    else:
        config = config_from_args(args, argv)
    for key, reason in config.skipped:
        print(f"not run: {key} ({reason})", file=sys.stderr)
    outcome = run(config, resume=args.resume)
    for result in [r for r in outcome.cells if r.status != "ok"]:
        cell = result.cell
        print(f"{result.status}: {cell.variant} {cell.precision} {cell.augmentation}: {result.error}",
              file=sys.stderr)
    table, report = publish(outcome.run_dir)
    print(f"results: {table}")
    print(f"report: {report}")
    if outcome.interrupted:
        print("interrupted: the results above are incomplete", file=sys.stderr)
        return 130
    return 0


def publish(run_dir: Path, baseline: str | None = None) -> tuple[Path, Path]:
    """What is derived from a run's results.json: results.csv and report.html, in that order.

    The document was saved after every trial, so an analysis that fails here loses no
    measurement: the error says so, and `pipebench report DIR` derives them again."""
    from bench.report import render_report
    from bench.results.document import load_run
    from bench.results.table import write_table

    try:
        return write_table(run_dir, load_run(run_dir)), render_report(run_dir, baseline)
    except PipebenchError:
        raise
    except Exception as exc:  # noqa: BLE001  (a fault in the analysis, not in the measurements)
        raise PipebenchError(f"the analysis of {str(run_dir)!r} failed ({type(exc).__name__}: {exc}); "
                             f"every measurement is kept in its results.json; `pipebench report {run_dir}` "
                             "derives the table and the report again") from exc


def cmd_list() -> int:
    from bench.config import PRESETS
    from pipelines import REGISTRY

    for variant in REGISTRY.values():
        augs = ",".join(sorted(variant.augmentations))
        tf_free = "" if variant.needs_tensorflow else "; runs without TensorFlow"
        print(f"{variant.name:30s} [{variant.family}] {variant.description} (augmentations: {augs}{tf_free})")
        if variant.capabilities():
            print(f"    ({'; '.join(variant.capabilities())})")
        for opt in variant.options:
            print(f"    {opt.name}={opt.default!s:10s} {opt.help}")
    print("presets (--preset):")
    for p in PRESETS.values():
        print(f"    {p.name:8s} {p.num_train} train / {p.num_val} val images, {p.image_size}px, "
              f"{p.num_classes} classes, {p.epochs} epochs, batch {p.batch_size}, {p.rounds} round(s) "
              f"of samples >= {p.min_sample_s:g} s; accuracy fit {p.accuracy_epochs} epochs, band of "
              f"{p.accuracy_seeds} seeds")
    return 0


def cmd_compare(runs: list[Path], out: Path | None) -> int:
    import time

    from bench.report.compare_page import render_comparison
    from bench.results.compare import DRIFT_NOTE, compare_runs
    from bench.stats import UNPAIRED_TEST

    if len(runs) < 2:
        raise PipebenchError("compare needs two or more run folders")
    compared = compare_runs(runs)
    warnings, frames, _ = compared
    print(f"note: {DRIFT_NOTE}", file=sys.stderr)
    print(f"verdicts: {UNPAIRED_TEST}", file=sys.stderr)
    for warning in warnings:
        print(f"WARNING: {warning}; differences below may come from that, not the pipelines",
              file=sys.stderr)
    for path, frame in zip(runs[1:], frames, strict=True):
        print(f"{path} vs {runs[0]} (ratio = other / base, images/s medians):")
        columns = ["variant", "precision", "augmentation", "mode", "base_images_per_sec",
                   "other_images_per_sec", "ratio", "ratio_low", "ratio_high", "p_adjusted", "verdict"]
        print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:,.2f}")
              if not frame.empty else "  no cell in common")
    out = out or Path("results") / time.strftime("compare-%Y%m%d-%H%M%S")
    print(f"report: {render_comparison(runs, out, compared)}")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    """`profile` or `sweep` of one variant; prints the findings and the page's path."""
    import time

    from bench.config import DEFAULT_TARGET_RATE, get_preset
    from bench.data.dataset import resolve_spec
    from bench.errors import unknown_choice
    from bench.tune.commands import ProfileJob, run_profile, run_sweep_job
    from pipelines.base import AUGMENTATIONS, get_variant

    if args.variant.startswith("custom:"):
        from pipelines.custom import load_function

        load_function(args.variant.removeprefix("custom:"))  # a bad target: one line, before measuring
    get_variant(args.variant)
    if args.augmentation not in AUGMENTATIONS:
        raise unknown_choice("augmentation", args.augmentation, AUGMENTATIONS)
    prof = get_preset(args.preset)
    embedded = prof.dataset(args.seed)
    spec, _ = resolve_spec(args.data_dir, args.val_dir, 0.2, embedded, args.seed)
    batch_size = args.batch_size or prof.batch_size
    target = args.target_rate or DEFAULT_TARGET_RATE
    out_dir = args.results_dir / time.strftime(f"{args.command}-%Y%m%d-%H%M%S")
    job = ProfileJob(args.variant, spec, tuple(args.opt), args.augmentation, batch_size,
                     batch_size / target, target, out_dir, args.min_sample_s, args.rounds, args.seed)
    if args.command == "profile":
        record = run_profile(job, verify=not args.no_verify, trace=args.trace)
        print_profile(record)
        if args.sweep:
            record = run_sweep_job(job)
    else:
        record = run_sweep_job(job, args.knobs)
        print(f"verdicts: {record['test']}, each value against the variant as configured")
        for knob, best in record["best"].items():
            versus = best["comparison"]
            against = ""
            if versus and versus["ratio"]:
                against = f"; vs current {versus['ratio']:.2f}x, {versus['verdict']}"
            print(f"best {knob}: {best['value']} ({best['median']:,.0f} images/s, {best['mode']}{against})")
    print(f"report: {record['report']}")
    return 0


def print_profile(record: dict) -> None:
    import pandas as pd

    frame = pd.DataFrame(record["stages"])[["name", "wall_us_per_image", "cpu_us_per_image",
                                             "rate_images_per_sec", "python"]]
    print(frame.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    print(f"bottleneck: {record['bottleneck']} ({record['bottleneck_rate_images_per_sec'] or 0:,.0f} "
          f"images/s alone on {record['cores']} cores); pipeline as configured: "
          f"{record['pipeline_images_per_sec']:,.0f} images/s, AU {record['au'] or 0:.0%} at the target")
    if record.get("verified"):
        print(f"advice measured in {len(record['rounds'])} interleaved rounds; verdicts: {record['test']}")
    for item in record.get("verified") or record["advice"]:
        gain = item.get("comparison") or {}
        interval = f" ({gain['low']:.2f}-{gain['high']:.2f})" if gain.get("low") is not None else ""
        measured = (f"; measured {item['before']['median']:,.0f} -> {item['after']['median']:,.0f} images/s, "
                    f"{item['measured_gain']:.2f}x{interval}, {gain.get('verdict')}"
                    if "after" in item else "")
        predicted = f"predicted {item['predicted_images_per_sec']:,.0f} images/s" \
            if item["predicted_images_per_sec"] else "no prediction"
        print(f"advice [{item['rule']}]: {item['message']} ({predicted}{measured})")
    if record.get("combined"):
        ref = record.get("reference")
        print(f"all option changes together: {record['combined']['median']:,.0f} images/s"
              + (f"; {ref['variant']}: {ref['median']:,.0f}" if ref else ""))


def cmd_guide(args: argparse.Namespace, argv: list[str]) -> int:
    """Every chosen tip as a paired experiment; guide.json and guide.html under results/guide-<time>/."""
    from bench.config import get_preset, mixed_precision
    from bench.guide.experiment import guide_rounds, run_guide
    from bench.guide.tips import check_cells, select, tips
    from bench.report.guide_page import render_guide
    from bench.results.document import new_run_dir

    catalogue = tips(mixed_precision())
    if args.list:
        for tip in catalogue:
            print(f"{tip.id:22s} {tip.claim} [{tip.mode}{', cold' if tip.page_cache == 'cold' else ''}]")
        return 0
    chosen = select(catalogue, args.tips)
    check_cells(chosen)
    preset = get_preset(args.preset)
    run_args = build_parser().parse_args(["run"])  # every run flag at its default, then the guide's
    for key, value in vars(args).items():
        if hasattr(run_args, key) and key not in ("command",):
            setattr(run_args, key, value)
    run_args.rounds = guide_rounds(args.rounds, preset.rounds, len(chosen))
    base = config_from_args(run_args, ["run", *argv[1:]])
    folder = new_run_dir(Path(args.results_dir), prefix="guide-")
    guide = run_guide(base, chosen, folder, command="pipebench " + shlex.join(argv))
    for tip in guide.tips:
        ratio = f"{tip.ratio:.2f}x" if tip.ratio else "-"
        print(f"{tip.id:22s} {ratio:>7s}  {tip.verdict:13s}  {tip.reason}")
    print(f"guide: {folder / 'guide.json'}")
    print(f"page: {render_guide(folder)}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Print every finding of the data check; status 2 when a run would stop on them."""
    from bench.config import check_range
    from bench.data.dataset import EmbeddedDataset, resolve_spec

    check_range("--val-split", args.val_split, 0.0, 1.0)
    embedded = EmbeddedDataset(0, 0, args.image_size, 2)  # only its image size matters here
    spec, report = resolve_spec(args.data_dir, args.val_dir, args.val_split, embedded, args.seed, "skip",
                                subset=args.subset)
    print("\n".join(report.summary_lines(limit=10**6)))
    bad = report.by_severity("bad")
    print(f"usable: {len(spec.train_files)} train and {len(spec.val_files)} validation images in "
          f"{spec.num_classes} classes ({len(report.to_convert)} converted to 8-bit RGB)")
    if bad:
        raise PipebenchError(f"{len(bad)} bad file(s) or folder(s) found; a run stops on them unless "
                             "--on-bad-file skip, which leaves them out for every variant")
    return 0


def cmd_guide_report(folder: Path, markdown: bool) -> int:
    """`pipebench report GUIDE`: guide.html rendered again, or (`--markdown`) the guide's table."""
    if markdown:
        from bench.report.guide_markdown import guide_markdown

        print(guide_markdown(folder))
        return 0
    from bench.report.guide_page import render_guide

    print(f"guide: {render_guide(folder)}")
    return 0


def interrupt(signum, frame):
    """SIGTERM ends a run like Ctrl-C: results kept, report marked incomplete, status 130."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, interrupt)
    # Ctrl-C must end a run cleanly even when started from a shell that ignores SIGINT
    # for background jobs (Python leaves an inherited SIG_IGN in place otherwise)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        args = build_parser().parse_args(argv)
        renamed_flags(args)
        load_plugins()
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command == "list":
            return cmd_list()
        if args.command == "check":
            return cmd_check(args)
        if args.command in ("profile", "sweep"):
            return cmd_profile(args)
        if args.command == "guide":
            return cmd_guide(args, argv)
        if args.command == "compare":
            return cmd_compare(args.runs, args.out)
        if args.command == "validate":
            return validate_main(args.check, args.arguments, OneLineParser)
        if (Path(args.run) / "guide.json").is_file():  # a guide's folder: its table, or its page again
            return cmd_guide_report(Path(args.run), args.markdown)
        if args.markdown:
            # the analysis imports SciPy (2 s): only when a table is asked for
            from bench.report.markdown import markdown_table

            print(markdown_table(Path(args.run)))
            return 0
        table, report = publish(Path(args.run), args.baseline)
        print(f"results: {table}")
        print(f"report: {report}")
        return 0
    except PipebenchError as exc:
        if isinstance(exc, DataCheckFailed):
            print("\n".join(exc.report.summary_lines()), file=sys.stderr)
        print(f"pipebench: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("pipebench: interrupted", file=sys.stderr)
        return 130
