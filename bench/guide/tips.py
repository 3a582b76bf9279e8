"""The tips that the tutorials and TensorFlow's tf.data guide give, each as a paired experiment.

A tip is a claim that one change makes a pipeline faster. It is measured as two cells of
one run (`bench.run.runner`), the pipeline with the change (`subject`) and the same
pipeline without it (`reference`), in the mode where the claim matters: overlap on the
simulated accelerator, read and decode in pipeline mode, precision in training; and on a
cold page cache where the tip is about storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.config import Cell
from bench.errors import PipebenchError

SEED_TRAINING = "001_4054260e8768e0ad.txt"  # mixed precision, loaders compared, TFRecords
SEED_TF_DATA = "002_f3ae9662ef471c4d.txt"  # tf.data order: map, shuffle, batch, prefetch, cache
SEED_SEQUENCE = "004_1399aaa17c0bc732.txt"  # a DataLoader built on keras.utils.Sequence
SEED_GENERATORS = "000_4de453d3009498ba.txt"  # in-memory data, generators, ImageDataGenerator
TF_GUIDE = "TensorFlow guide 'Better performance with the tf.data API'"
MIXED_GUIDE = "TensorFlow guide 'Mixed precision'"

UNCACHED = ("cache=none",)  # decode on every epoch: what the tips about decoding act on


@dataclass(frozen=True)
class Tip:
    """One claim and its experiment: `subject` (with the change) against `reference` (without).

    `claim` says, in one line, what users are told; the tip holds where the subject is
    faster in `mode` after Holm's correction across the guide. `page_cache` is the run's
    (cold: every timed epoch reads from storage).
    """

    id: str
    claim: str
    source: str
    change: str
    mode: str
    subject: Cell
    reference: Cell
    page_cache: str = "warm"
    shows: tuple[str, ...] = ()  # figures beside the ratio: "accuracy", "memory" (up-front build, peak RSS)
    # (option, values): the reference takes the fastest value of a sweep run of its own beforehand, so
    # the choice is made on rounds that the comparison does not reuse (held out)
    sweep: tuple[str, tuple[str, ...]] | None = None

    @property
    def group(self) -> tuple[str, str]:
        """The run that measures this tip: one per mode and page-cache state."""
        return self.mode, self.page_cache


def tuned(*options: str, precision: str = "float32", augmentation: str = "none") -> Cell:
    return Cell("tf_data_tuned", precision, augmentation, options=tuple(options))


SEED_JOBLIB = "003_1b1e2fb883534263.txt"  # joblib Parallel(n_jobs=-1) inside tf.py_function
PREPROCESSING_GUIDE = "Keras guide 'Working with preprocessing layers'"
SEED_SHUFFLED = (*UNCACHED, "shuffle=decoded")  # seed 001: paths shuffled once, decoded images buffered


def tips(mixed_policy: str = "mixed_bfloat16") -> tuple[Tip, ...]:
    """Every tip the guide knows, in the order that the guide reports them."""
    return (
        Tip("prefetch", "prefetch overlaps preparing the next batch with the training step",
            f"{TF_GUIDE}, 'Prefetching'; {SEED_TF_DATA}", "prefetch=autotune against prefetch=0",
            "simulated", tuned(*UNCACHED), tuned(*UNCACHED, "prefetch=0")),
        Tip("parallel_map", "a parallel map (num_parallel_calls=AUTOTUNE) decodes faster than a sequential",
            f"{TF_GUIDE}, 'Parallelizing data transformation'; {SEED_TF_DATA}",
            "parallel_calls=autotune against parallel_calls=1", "pipeline",
            tuned(*UNCACHED), tuned(*UNCACHED, "parallel_calls=1")),
        Tip("cache", "caching after the decode makes every later epoch faster",
            f"{TF_GUIDE}, 'Caching'; {SEED_TF_DATA}", "cache=memory against cache=none", "pipeline",
            tuned(), tuned(*UNCACHED)),
        Tip("interleave_files", "reading and decoding several slices of the files side by side is faster",
            f"{TF_GUIDE}, 'Parallelizing data extraction'", "interleave=2 against interleave=1", "pipeline",
            tuned(*UNCACHED, "interleave=2"), tuned(*UNCACHED)),
        Tip("tfrecord_interleave", "interleaved reads of TFRecord shards are faster than sequential reads",
            f"{TF_GUIDE}, 'Parallelizing data extraction'; {SEED_TF_DATA}",
            "read_parallelism=autotune against read_parallelism=1", "pipeline",
            Cell("tfrecord"), Cell("tfrecord", options=("read_parallelism=1",))),
        Tip("tfrecord_shards", "more TFRecord shards read faster than one file",
            f"{TF_GUIDE}, 'Parallelizing data extraction'", "shards=8 against shards=1", "pipeline",
            Cell("tfrecord"), Cell("tfrecord", options=("shards=1",))),
        Tip("tfrecord_warm", "TFRecords read faster than loose image files",
            f"{SEED_TRAINING}; {SEED_TF_DATA}", "tfrecord against tf_data_tuned cache=none, warm page cache",
            "pipeline", Cell("tfrecord"), tuned(*UNCACHED)),
        Tip("tfrecord_cold", "TFRecords read faster than loose image files from storage",
            f"{SEED_TRAINING}; {SEED_TF_DATA}", "tfrecord against tf_data_tuned cache=none, cold page cache",
            "pipeline", Cell("tfrecord"), tuned(*UNCACHED), page_cache="cold"),
        Tip("tf_data_over_idg", "tf.data feeds a model faster than ImageDataGenerator",
            SEED_TRAINING, "tf_data_tuned cache=none against image_data_generator", "pipeline",
            tuned(*UNCACHED), Cell("image_data_generator")),
        Tip("directory_over_idg", "image_dataset_from_directory is faster than ImageDataGenerator",
            SEED_TRAINING, "image_dataset_from_directory against image_data_generator", "pipeline",
            Cell("image_dataset_from_directory"), Cell("image_data_generator")),
        Tip("pydataset_workers", "PyDataset workers load batches in parallel",
            SEED_SEQUENCE, "sequence workers=2 against workers=1", "pipeline",
            Cell("sequence", options=("workers=2",)), Cell("sequence", options=("workers=1",))),
        Tip("pydataset_processes", "use_multiprocessing escapes the GIL and loads faster than threads",
            SEED_SEQUENCE, "sequence use_multiprocessing=true against false (workers=2)", "pipeline",
            Cell("sequence", options=("workers=2", "use_multiprocessing=true")),
            Cell("sequence", options=("workers=2",))),
        Tip("in_memory", "data held in memory is read faster than a generator that loads files",
            SEED_GENERATORS, "in_memory_numpy (decoded up front) against generator", "pipeline",
            Cell("in_memory_numpy"), Cell("generator"), shows=("memory",)),
        Tip("mixed_precision", "mixed precision trains faster (up to 3x)", MIXED_GUIDE + f"; {SEED_TRAINING}",
            f"{mixed_policy} against float32", "train", tuned(precision=mixed_policy), tuned(),
            shows=("accuracy",)),
        Tip("autotune_over_sweep", "AUTOTUNE's parallelism is faster than the best fixed one a sweep finds",
            f"{TF_GUIDE}, 'Parallelizing data transformation'",
            "parallel_calls=autotune against the fastest fixed parallel_calls of a sweep (its own rounds)",
            "pipeline", tuned(*UNCACHED), tuned(*UNCACHED), sweep=("parallel_calls", ("1", "2", "4", "8"))),
        *more_tips(),
    )


def more_tips() -> tuple[Tip, ...]:
    """Caching's place, vectorising, joblib, ImageDataGenerator's workers, shuffling and augmentation."""
    aug = "numpy_pyfunc"
    return (
        Tip("cache_after_decode", "cache after the expensive map (the decode), not before it",
            f"{TF_GUIDE}, 'Caching'", "cache=memory of decoded images against cache_at=bytes (decoded "
            "every epoch)", "pipeline", tuned(), tuned("cache_at=bytes")),
        Tip("vectorised_map", "a cheap function mapped over whole batches is faster than over each element",
            f"{TF_GUIDE}, 'Vectorizing mapping'", "tf_image augmentation per batch against per image",
            "pipeline", tuned(augmentation="tf_image"),
            tuned("augment_batched=false", augmentation="tf_image")),
        Tip("joblib_processes", "joblib's worker processes (its default) escape the GIL: faster than threads",
            SEED_JOBLIB, f"{aug} with joblib=processes against joblib=threads", "pipeline",
            tuned(augmentation=aug), tuned("joblib=threads", augmentation=aug)),
        Tip("joblib_parallel", "joblib Parallel(n_jobs=-1) inside py_function augments faster than a loop",
            SEED_JOBLIB, f"{aug} with joblib=processes against joblib=off", "pipeline",
            tuned(augmentation=aug), tuned("joblib=off", augmentation=aug)),
        Tip("joblib_n_jobs", "more joblib jobs augment faster: n_jobs=-1 (one per core) against 1",
            SEED_JOBLIB, f"{aug}, joblib=processes, n_jobs=-1 against n_jobs=1", "pipeline",
            tuned(augmentation=aug), tuned("n_jobs=1", augmentation=aug)),
        Tip("idg_workers", "ImageDataGenerator loads faster with workers (as a PyDataset)", SEED_SEQUENCE,
            "image_data_generator workers=2 against a generator (workers=0)", "pipeline",
            Cell("image_data_generator", options=("workers=2",)), Cell("image_data_generator")),
        Tip("shuffle_buffer", "a shuffle buffer of 1,000 is faster than a full one, and as good",
            SEED_TRAINING, "shuffle_buffer=1000 against full (decoded images, no cache)", "train",
            tuned(*SEED_SHUFFLED, "shuffle_buffer=1000"), tuned(*SEED_SHUFFLED, "shuffle_buffer=full"),
            shows=("accuracy",)),
        Tip("shuffle_buffer_1", "no shuffling (a buffer of 1) trains faster", SEED_TRAINING,
            "shuffle_buffer=1 against full (decoded images, no cache)", "train",
            tuned(*SEED_SHUFFLED, "shuffle_buffer=1"), tuned(*SEED_SHUFFLED, "shuffle_buffer=full"),
            shows=("accuracy",)),
        Tip("shuffle_batches", "shuffling whole batches (after batch) is faster than shuffling images "
            "(before batch)", f"{SEED_TF_DATA}; {TF_GUIDE}", "shuffle=batches against shuffle=decoded, full "
            "buffers, no cache", "train", tuned(*UNCACHED, "shuffle=batches", "shuffle_buffer=full"),
            tuned(*SEED_SHUFFLED, "shuffle_buffer=full"), shows=("accuracy",)),
        Tip("augment_layers_in_map", "Keras preprocessing layers augment faster in a tf.data map than in the "
            "model", PREPROCESSING_GUIDE, "keras_layers_map against keras_layers (the same recipe)", "train",
            tuned(augmentation="keras_layers_map"), tuned(augmentation="keras_layers"), shows=("accuracy",)),
        Tip("augment_tf_image", "tf.image ops in map augment faster than NumPy in py_function",
            f"{TF_GUIDE}; {SEED_JOBLIB}", "tf_image against numpy_pyfunc (the same recipe)", "train",
            tuned(augmentation="tf_image"), tuned(augmentation=aug), shows=("accuracy",)),
        Tip("batch_size", "a larger batch trains faster (fewer, larger steps)", SEED_TRAINING,
            "batch_size=128 against the run's batch size (32 by default)", "train", tuned("batch_size=128"),
            tuned(), shows=("accuracy",)),
        Tip("augment_tf_image_over_layers", "tf.image ops augment faster than Keras layers in the same map",
            PREPROCESSING_GUIDE, "tf_image against keras_layers_map (the same recipe)", "train",
            tuned(augmentation="tf_image"), tuned(augmentation="keras_layers_map"), shows=("accuracy",)),
    )


def check_cells(chosen: tuple[Tip, ...], run_options: tuple[str, ...] = ()) -> None:
    """Every tip's cells exist and take their options, before anything is measured."""
    from pipelines.base import cell_options, get_variant

    for tip in chosen:
        for cell in (tip.subject, tip.reference):
            cell_options(get_variant(cell.variant), run_options, cell.options)


def select(catalogue: tuple[Tip, ...], ids: list[str] | None) -> tuple[Tip, ...]:
    """The tips named (all of them when None), in the catalogue's order."""
    if not ids:
        return catalogue
    known = {t.id for t in catalogue}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise PipebenchError(f"unknown tip {unknown[0]!r}; valid: {', '.join(t.id for t in catalogue)}")
    return tuple(t for t in catalogue if t.id in ids)
