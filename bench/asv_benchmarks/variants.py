"""Every variant's pipeline-only throughput, time to first batch and peak memory, for asv.

One benchmark class per variant, so that each has its own `version`: a hash of
the variant's family module and the shared pipeline code (`bench.run.in_process.code_version`),
so results start a new series when the pipeline's code changes, not only when
this file does. The data is the small fixed embedded dataset, made once in
`setup_cache` (asv runs each benchmark in that folder).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

CACHE = "pipebench-cache"
RATES = "pipebench-rates"


def use_cache() -> None:
    """Point pipebench's cache (dataset, TFRecords, links) at asv's setup_cache folder."""
    os.environ["PIPEBENCH_CACHE"] = str(Path(CACHE).absolute())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _VariantSuite:
    """The benchmarks of one variant; subclasses set `variant` and `version`."""

    variant = ""
    processes = 1  # each benchmark runs once in a fresh process: TensorFlow's start-up dominates repeats
    timeout = 300

    def setup_cache(self):
        """Generate the dataset and TFRecord shards once for every benchmark of the run."""
        from bench.run import in_process

        use_cache()
        spec = in_process.small_spec()
        with in_process.built("tfrecord", spec, Path(tempfile.mkdtemp())):  # writes the shards
            pass
        return spec.to_json()

    def setup(self, spec_json):
        import tensorflow  # noqa: F401  (imported here, so no benchmark times TensorFlow's start-up)

        from bench.data.dataset import DataSpec

        use_cache()
        self.spec = DataSpec.from_json(spec_json)
        self.scratch = Path(tempfile.mkdtemp(prefix="pipebench-asv-"))

    def track_images_per_sec(self, spec_json):
        """Steady-state images/s read from the pipeline alone (epochs after the first)."""
        return self.measured()["images_per_sec"]

    track_images_per_sec.unit = "images/s"

    def track_us_per_image(self, spec_json):
        """The same measurement as microseconds per image: lower is better, as asv assumes.

        images/s rises when a pipeline gets faster, so asv files its improvements
        as regressions and misses its regressions; this twin reads right in asv's
        own labels, `asv compare` and the site. It reuses the sample that
        `track_images_per_sec` took in this commit's run (`measured`), so the two never disagree.
        """
        return 1e6 / self.measured()["images_per_sec"]

    track_us_per_image.unit = "us/image"

    def track_cpu_us_per_image(self, spec_json):
        """CPU time per image of the same sample (the process's threads, user + system): what the
        pipeline costs, which drifts several times less than its wall-clock rate on a shared
        machine, so a regression in cost shows where one in speed is lost in noise."""
        return self.measured()["cpu_us_per_image"]

    track_cpu_us_per_image.unit = "us/image"

    READERS = 3  # the track_* benchmarks above, which share one sample per commit

    def measured(self) -> dict:
        """One pipeline-only sample's rate and cost, taken by whichever of the `READERS` benchmarks
        runs first and handed to the others (each in a process of its own) through a file."""
        from bench.run import in_process

        handed = Path(RATES) / f"{self.variant}.json"
        if handed.exists():
            found = json.loads(handed.read_text())
        else:
            record = in_process.pipeline_only(self.variant, self.spec, self.scratch)
            cpu = 1e6 * record["cpu_s"] / record["images"] if record.get("cpu_s") is not None else None
            found = {"images_per_sec": record["images_per_sec"], "cpu_us_per_image": cpu,
                     "left": self.READERS}
        found["left"] -= 1
        if found["left"] > 0:
            handed.parent.mkdir(exist_ok=True)
            handed.write_text(json.dumps(found))
        else:
            handed.unlink(missing_ok=True)
        return found

    def track_first_batch_s(self, spec_json):
        """Seconds from building the pipeline to its first batch (decoding up front included)."""
        from bench.run import in_process

        record = in_process.pipeline_only(self.variant, self.spec, self.scratch, epochs=1)
        return record["build_s"] + record["first_batch_s"]

    track_first_batch_s.unit = "seconds"

    def peakmem_pipeline(self, spec_json):
        """Peak resident memory of the process while it builds and reads the pipeline."""
        from bench.run import in_process

        in_process.pipeline_only(self.variant, self.spec, self.scratch, epochs=2)


def make_suites() -> dict[str, type]:
    import pipelines
    from bench.run.in_process import code_version

    suites = {}
    for name in sorted(pipelines.REGISTRY):
        suites[f"Variant_{name}"] = type(f"Variant_{name}", (_VariantSuite,), {
            "variant": name, "version": code_version(name, (__file__,)),
            "__doc__": f"pipeline-only benchmarks of `{name}`",
        })
    return suites


globals().update(make_suites())
