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
    DROP_REMAINDER,
    PREFETCH,
    TF_DATA_AUGMENTATIONS,
    FitInput,
    Option,
    PipelineRequest,
    Variant,
    keyword_or_positive,
    parallel_calls_threads,
    parse_bool,
    parse_parallelism,
    register,
)
from pipelines.decode import decode_resize, load_path
from pipelines.tfops import file_pairs, tf_value

SHUFFLES = ("auto", "files", "decoded", "batches", "none")


def parse_buffer(raw: str) -> int | str:
    """A shuffle buffer: a positive integer, or 'full' (the whole training set)."""
    return keyword_or_positive(raw, "full", " (1: no shuffling)")


def tuning_options(parallel, cache, prefetch, deterministic) -> tuple[Option, ...]:
    """The knobs shared by the tf.data-based presets, with one preset's defaults."""
    return (
        Option("parallel_calls", parallel, "num_parallel_calls of the decode map: integer or autotune",
               parse=parse_parallelism),
        Option("cache", cache, "cache after decode: none, memory or disk",
               choices=("none", "memory", "disk")),
        Option("cache_at", "decoded", "what the cache holds: decoded images, or the files' bytes "
               "(decoded again every epoch)", choices=("decoded", "bytes")),
        replace(PREFETCH, default=prefetch),
        Option("shuffle", "auto", "files (paths, every epoch, before decode), decoded (images after decode "
               "or the cache, through shuffle_buffer), batches (after batch), none; auto: files without a "
               "cache, decoded with one", choices=SHUFFLES),
        Option("shuffle_buffer", 1024, "elements (batches, for shuffle=batches) in the shuffle buffer: an "
               "integer or full", parse=parse_buffer),
        Option("deterministic", deterministic, "keep element order in parallel maps", parse=parse_bool),
        DROP_REMAINDER,
        Option("batch_size", 0, "images per batch; 0: the run's --batch-size", parse=int),
        Option("augment_batched", True, "augment whole batches (vectorised) or each image before batch",
               parse=parse_bool),
        *augment.JOBLIB_OPTIONS,
    )


INTERLEAVE = Option("interleave", 1, "parallel read+decode streams over slices of the files (1: off)",
                    parse=int)


def shuffle_of(options) -> str:
    """The shuffle option with `auto` resolved: paths without a cache, decoded images with one."""
    chosen = options.get("shuffle", "auto")
    if chosen == "auto":
        return "files" if options.get("cache", "none") == "none" else "decoded"
    return chosen


def buffer_of(options, num_elements: int) -> int:
    buffer = options.get("shuffle_buffer", 1024)
    return num_elements if buffer == "full" else min(num_elements, buffer)


def finish(ds, request: PipelineRequest, num_elements: int):
    """The shared tail: cache, shuffle, (augment,) batch, augment, prefetch, as the options say."""
    import tensorflow as tf

    opts = request.options
    if opts["cache"] != "none":
        path = "" if opts["cache"] == "memory" else tempfile.mkdtemp(dir=request.cache_dir) + "/cache"
        ds = ds.cache(path)
        if opts.get("cache_at") == "bytes":
            ds = ds.map(lambda contents, y: (decode_resize(contents, request.spec.image_size), y),
                        num_parallel_calls=tf_value(opts["parallel_calls"]),
                        deterministic=opts["deterministic"])
    shuffle = shuffle_of(opts)
    if shuffle == "decoded":
        ds = ds.shuffle(buffer_of(opts, num_elements), seed=request.seed, reshuffle_each_iteration=True)
    per_image = not opts.get("augment_batched", True) and request.augmentation in augment.IN_PIPELINE
    if per_image:  # the augmentation on each image, then batch: the unvectorised map
        ds = augment.apply(ds.map(lambda x, y: (x[tf.newaxis], y)), request.augmentation, request.seed, opts)
        ds = ds.map(lambda x, y: (x[0], y))
    batch_size = opts.get("batch_size") or request.batch_size
    ds = ds.batch(batch_size, drop_remainder=bool(opts.get("drop_remainder", False)))
    if shuffle == "batches":
        ds = ds.shuffle(buffer_of(opts, -(-num_elements // batch_size)), seed=request.seed,
                        reshuffle_each_iteration=True)
    ds = augment.tail(ds, replace(request, augmentation="none") if per_image else request)
    options = tf.data.Options()
    options.deterministic = opts["deterministic"]
    return ds.with_options(options)


def read_decode(files, request: PipelineRequest):
    """Order and decode a dataset of (path, label) pairs (`shuffle_of`); with `cache_at=bytes`,
    read the bytes only: `finish` decodes them after the cache."""
    import tensorflow as tf

    opts = request.options
    shuffle, cached = shuffle_of(opts), opts["cache"] != "none"
    buffer = len(request.spec.train_files)  # paths are small: shuffle them all
    if shuffle == "files":  # with a cache after it, the first epoch's order is replayed
        files = files.shuffle(buffer, seed=request.seed, reshuffle_each_iteration=True)
    elif shuffle in ("decoded", "batches") and not cached:  # once, as seed 001's random.shuffle(filenames)
        files = files.shuffle(buffer, seed=request.seed, reshuffle_each_iteration=False)
    if cached and opts.get("cache_at") == "bytes":
        return files.map(lambda p, y: (tf.io.read_file(p), tf.cast(y, tf.int32)),
                         num_parallel_calls=tf_value(opts["parallel_calls"]),
                         deterministic=opts["deterministic"])
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
