"""tf.data service: the tuned tf.data pipeline, preprocessed by a dispatcher's workers.

`tf.data.Dataset.distribute` sends the dataset graph (list -> read -> decode ->
batch -> augment) to the service's workers and streams their batches back. The
harness starts a local cluster (one dispatcher, `workers` worker processes on
loopback) around the cell, or uses a dispatcher the user runs (`service=grpc://
HOST:PORT`, from `--service`), whose workers must see the same file paths.

The dataset repeats and is read as one named job for the pipeline's life, with
`steps_per_epoch` batches per epoch (as Keras reads an infinite input): a new
job per epoch would cost about a second of task set-up each time, which on
short epochs would measure the service's start-up, not its throughput.

* `processing_mode=distributed_epoch` (default): the files are split among the
  workers (dynamic sharding), each read once per pass over the data.
* `processing_mode=parallel_epochs`: every worker produces the whole dataset;
  an epoch is `steps_per_epoch` batches drawn from all of them.
* `sharding`: a `tf.data.experimental.service.ShardingPolicy` name overriding
  the mode (`off`, `dynamic`, `file`, `data`, `file_or_data`, `hint`); static
  policies need the worker list, which the local cluster gives its dispatcher.

Python code (`py_function`, so the `numpy_pyfunc` augmentation) cannot run on
service workers, hence the smaller set of augmentations.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import replace

from pipelines.base import FitInput, Option, PipelineRequest, Variant, register
from pipelines.tfdata import finish, read_decode, tuning_options
from pipelines.tfops import file_pairs

SHARDING = ("auto", "off", "dynamic", "file", "data", "file_or_data", "hint")


def parse_service(raw: str) -> str:
    if raw == "local" or raw.startswith("grpc://"):
        return raw
    raise ValueError(f"{raw!r} is not 'local' or grpc://HOST:PORT")


def parse_workers(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(f"{value} is out of range; valid: >= 1")
    return value


def processing_mode(options: dict):
    """What `distribute` takes: the mode's name, or the ShardingPolicy the options name."""
    import tensorflow as tf

    if options["sharding"] == "auto":
        return options["processing_mode"]
    return tf.data.experimental.service.ShardingPolicy[options["sharding"].upper()]


# a worker's cache lives for one job only (nothing to reuse); its epochs are counted in whole
# batches; numpy_pyfunc does not run on its servers
SERVICE_LACKS = ("cache", "cache_at", "drop_remainder", "batch_size", "joblib", "n_jobs")


@register
class TfDataService(Variant):
    """The tuned tf.data pipeline, distributed over tf.data service workers."""

    name = "tf_data_service"
    local_cluster = True
    family = "tf_data_service"
    description = "tf_data_tuned's pipeline run by tf.data service workers (local cluster or --service)"
    augmentations = frozenset({"none", "tf_image", "keras_layers"})
    options = (
        Option("workers", 1, "worker processes of the local cluster", parse=parse_workers),
        Option("processing_mode", "distributed_epoch", "distributed_epoch or parallel_epochs",
               choices=("distributed_epoch", "parallel_epochs")),
        Option("sharding", "auto", "ShardingPolicy: " + ", ".join(SHARDING) + " (auto: from the mode)",
               choices=SHARDING),
        Option("service", "local", "local (a cluster started per cell) or grpc://HOST:PORT",
               parse=parse_service),
        *(o for o in tuning_options("autotune", "none", "autotune", deterministic=False)
          if o.name not in SERVICE_LACKS),
    )

    def decode_threads(self, options, cores: int) -> int:
        """The servers do the per-image work: one process per local worker."""
        return min(cores, int(options.get("workers", 1) or 1))

    def build(self, request: PipelineRequest) -> FitInput:
        import tensorflow as tf

        spec, opts = request.spec, {**request.options, "cache": "none"}
        if opts["service"] == "local":
            raise RuntimeError("tf_data_service needs a running service: the harness starts one per cell")
        request = replace(request, options=opts)
        ds = finish(read_decode(file_pairs(spec), request).repeat(), request, len(spec.train_files))
        distributed = ds.apply(tf.data.experimental.service.distribute(
            processing_mode=processing_mode(opts), service=opts["service"],
            job_name=f"pipebench-{uuid.uuid4().hex}"))
        return FitInput(x=distributed, steps_per_epoch=math.ceil(len(spec.train_files) / request.batch_size))
