"""Sharded TFRecords: written once per dataset, then read with parallel interleave.

Each record holds the file's encoded bytes as they are on disk (JPEG or PNG)
and its label, so decoding is the reference decoder's and the delivered images
equal those of the file-based variants. Shards live in the cache folder under
the dataset's fingerprint and shard count, and are reused while both are unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.base import FitInput, Option, PipelineRequest, Variant, parallel_calls_threads, register
from pipelines.decode import decode_resize
from pipelines.files import built_atomically, cache_root
from pipelines.spec import DataSpec
from pipelines.tfdata import TF_DATA_AUGMENTATIONS, buffer_of, finish, tuning_options
from pipelines.tfops import tf_value

FEATURES = ("image", "label")


def shard_dir(spec: DataSpec, num_shards: int) -> Path:
    return cache_root() / "tfrecords" / f"{spec.fingerprint()['sha256']}-{num_shards}"


def write_shards(spec: DataSpec, num_shards: int) -> list[str]:
    """Write the train files into `num_shards` TFRecord files, unless already there."""
    folder = shard_dir(spec, num_shards)
    manifest = folder / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text())["shards"]
    names = [f"train-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    with built_atomically(folder) as tmp:
        write_examples(spec, [tmp / n for n in names])
        shards = [str(folder / n) for n in names]
        (tmp / "manifest.json").write_text(json.dumps({"shards": shards, "count": len(spec.train_files)}))
    return shards


def write_examples(spec: DataSpec, paths: list[Path]) -> None:
    """The train files as tf.train.Examples, dealt round-robin into the files at `paths`."""
    import tensorflow as tf

    writers = [tf.io.TFRecordWriter(str(p)) for p in paths]
    for index, (path, label) in enumerate(zip(spec.train_files, spec.train_labels, strict=True)):
        example = tf.train.Example(features=tf.train.Features(feature={
            "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[Path(path).read_bytes()])),
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        }))
        writers[index % len(writers)].write(example.SerializeToString())
    for writer in writers:
        writer.close()


def parse_record(record):
    """A serialized tf.train.Example -> (encoded image bytes, int32 label)."""
    import tensorflow as tf

    parsed = tf.io.parse_single_example(record, {
        "image": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
    })
    return parsed["image"], tf.cast(parsed["label"], tf.int32)


def parse_example(record, image_size):
    contents, label = parse_record(record)
    return decode_resize(contents, image_size), label


@register
class TfRecord(Variant):
    """Parallel interleaved reads of the shards, parallel parse + decode, then the tuned tail."""

    name = "tfrecord"
    family = "tfrecord"
    description = "sharded TFRecords: interleave reads + AUTOTUNE parse/decode + prefetch"
    augmentations = TF_DATA_AUGMENTATIONS
    options = (
        Option("shards", 8, "number of TFRecord shards written", parse=int),
        Option("read_parallelism", "autotune", "interleave cycle over shards: integer or autotune",
               parse=lambda raw: raw if raw == "autotune" else int(raw)),
        *(o for o in tuning_options("autotune", "none", "autotune", deterministic=False)
          if o.name not in ("shuffle", "cache_at")),  # records are shuffled before the parse (below)
    )

    def build(self, request: PipelineRequest) -> FitInput:
        import tensorflow as tf

        spec = request.spec
        opts = request.options
        shards = write_shards(spec, opts["shards"])
        files = tf.data.Dataset.from_tensor_slices(shards)
        files = files.shuffle(len(shards), seed=request.seed, reshuffle_each_iteration=True)
        reads = opts["read_parallelism"]
        ds = files.interleave(
            tf.data.TFRecordDataset,
            cycle_length=len(shards) if reads == "autotune" else reads,
            num_parallel_calls=tf_value(reads),
            deterministic=opts["deterministic"],
        )
        if opts["cache"] == "none":
            ds = ds.shuffle(buffer_of(opts, len(spec.train_files)), seed=request.seed)
        ds = ds.map(lambda r: parse_example(r, spec.image_size),
                    num_parallel_calls=tf_value(opts["parallel_calls"]))
        return FitInput(x=finish(ds, request, len(spec.train_files)))

    def decode_threads(self, options, cores: int) -> int:
        return parallel_calls_threads(options, cores)

    def timed_files(self, request: PipelineRequest) -> tuple[str, ...] | None:
        if request.options["cache"] == "memory":
            return None
        return tuple(write_shards(request.spec, request.options["shards"]))

    def stages(self, request: PipelineRequest):
        """Shard list -> record read -> parse -> decode -> resize -> batch (...), sequentially."""
        import tensorflow as tf

        from pipelines.stages import Stage, tf_drain, tf_image_stages

        source = tf.data.Dataset.from_tensor_slices(write_shards(request.spec, request.options["shards"]))
        return source, [
            Stage("list", lambda ds: ds),
            Stage("read", lambda ds: ds.flat_map(tf.data.TFRecordDataset)),
            Stage("parse", element=parse_record),
            *tf_image_stages(request, with_read=False),
        ], tf_drain
