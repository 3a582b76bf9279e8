"""tf.data from file paths: list -> read -> decode -> resize in `map` -> batch.

Two presets of one builder, every option switchable on its own:

* `tf_data_naive`: sequential map, no cache, no prefetch: what a first tf.data
  pipeline often looks like.
* `tf_data_tuned`: AUTOTUNE parallel map, in-memory cache after decode, shuffle
  after the cache (so the order still changes each epoch), batch, prefetch.

`interleave=K` reads and decodes K disjoint slices of the file list side by side
(`Dataset.interleave`), as one would over several directories or storage shards.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace

from pipelines import augment
from pipelines.base import (
    PREFETCH,
    TF_DATA_AUGMENTATIONS,
    FitInput,
    Option,
    PipelineRequest,
    Variant,
    parallel_calls_threads,
    parse_bool,
    parse_parallelism,
    register,
)
from pipelines.decode import load_path
from pipelines.tfops import file_pairs, tf_value


def tuning_options(parallel, cache, prefetch, deterministic) -> tuple[Option, ...]:
    """The knobs shared by the tf.data-based presets, with one preset's defaults."""
    return (
        Option("parallel_calls", parallel, "num_parallel_calls of the decode map: integer or autotune",
               parse=parse_parallelism),
        Option("cache", cache, "cache after decode: none, memory or disk",
               choices=("none", "memory", "disk")),
        replace(PREFETCH, default=prefetch),
        Option("shuffle_buffer", 1024, "elements in the shuffle buffer after a cache", parse=int),
        Option("deterministic", deterministic, "keep element order in parallel maps", parse=parse_bool),
    )


INTERLEAVE = Option("interleave", 1, "parallel read+decode streams over slices of the files (1: off)",
                    parse=int)


def finish(ds, request: PipelineRequest, num_elements: int):
    """The shared tail: cache, shuffle, batch, augment, prefetch, as the options say."""
    import tensorflow as tf

    opts = request.options
    if opts["cache"] != "none":
        path = "" if opts["cache"] == "memory" else tempfile.mkdtemp(dir=request.cache_dir) + "/cache"
        ds = ds.cache(path)
        buffer = min(num_elements, opts["shuffle_buffer"])
        ds = ds.shuffle(buffer, seed=request.seed, reshuffle_each_iteration=True)
    ds = augment.tail(ds.batch(request.batch_size), request)
    options = tf.data.Options()
    options.deterministic = opts["deterministic"]
    return ds.with_options(options)


def read_decode(files, request: PipelineRequest):
    """Shuffle (unless cached later) and decode a dataset of (path, label) pairs."""

    opts = request.options
    if opts["cache"] == "none":  # with a cache, shuffling files first would freeze the order
        buffer = len(request.spec.train_files)  # paths are small: shuffle them all
        files = files.shuffle(buffer, seed=request.seed, reshuffle_each_iteration=True)
    return files.map(lambda p, y: load_path(p, y, request.spec.image_size),
                     num_parallel_calls=tf_value(opts["parallel_calls"]),
                     deterministic=opts["deterministic"])


class _TfDataBase(Variant):
    family = "tf_data"
    augmentations = TF_DATA_AUGMENTATIONS

    def build(self, request: PipelineRequest) -> FitInput:
        import tensorflow as tf

        spec = request.spec
        streams = request.options["interleave"]
        pairs = file_pairs(spec)
        if streams <= 1:
            ds = read_decode(pairs, request)
        else:  # K disjoint slices of the file list, read and decoded side by side
            ds = tf.data.Dataset.range(streams).interleave(
                lambda k: read_decode(pairs.shard(streams, k), request),
                cycle_length=streams, num_parallel_calls=streams,
                deterministic=request.options["deterministic"],
            )
        return FitInput(x=finish(ds, request, len(spec.train_files)))

    def decode_threads(self, options, cores: int) -> int:
        return parallel_calls_threads(options, cores)

    def stages(self, request: PipelineRequest):
        from pipelines.stages import tf_plan

        return tf_plan(request)


@register
class TfDataNaive(_TfDataBase):
    """Sequential decode map, no cache, no prefetch."""

    name = "tf_data_naive"
    overhead_check = True
    description = "tf.data map(decode) sequential, no cache, no prefetch"
    options = (*tuning_options(parallel=1, cache="none", prefetch=0, deterministic=True), INTERLEAVE)


@register
class TfDataTuned(_TfDataBase):
    """AUTOTUNE parallel decode, cache in memory, shuffle, batch, prefetch(AUTOTUNE)."""

    name = "tf_data_tuned"
    family_default = True
    reference = True
    description = "tf.data AUTOTUNE map + cache + shuffle + batch + prefetch"
    options = (*tuning_options(parallel="autotune", cache="memory", prefetch="autotune", deterministic=False),
               INTERLEAVE)
