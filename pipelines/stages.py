"""Pipelines described as stages, for the stage profiler (`bench.tune.breakdown`).

A plan is `(source, stages, drainer)`: applying the stages one after the other
to `source` rebuilds the variant's pipeline without parallelism, so that each
prefix can be timed on its own; `drainer(prefix)` gives a function that reads
the prefix to its end once per call. tf.data prefixes are drained inside
TensorFlow (`Dataset.reduce` in a `tf.function` traced once), since a Python
loop over unbatched elements would cost far more per element than most stages.
tf.data plans chain `Dataset` methods;
Python plans chain lazy re-iterable steps over a list of (path, label) pairs,
doing what the Python loaders do per image (read the bytes, decode with PIL,
resize and scale, stack into a batch).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

DRAIN_BATCH = 1024


@dataclass(frozen=True)
class Stage:
    """A step of a pipeline: `apply` transforms the dataset; `element` maps one element.

    Consecutive element-wise stages are fused into one map when a prefix is built,
    as a real pipeline does them in one `map`: a map per stage would add its own
    per-element call overhead (tens of microseconds here) to every stage.
    """

    name: str
    apply: Callable[[Any], Any] | None = None
    python: bool = False  # runs Python per element: bound by the GIL
    element: Callable[..., Any] | None = None


def fuse(ds, fns):
    """One sequential map over `ds` doing `fns` in order (tf.data, or a lazy Python iterable)."""
    def composed(*element):
        for fn in fns:
            element = fn(*element)
        return element

    if hasattr(ds, "map"):
        return ds.map(composed, num_parallel_calls=1, deterministic=True)
    return Lazy(ds, lambda it: (composed(*element) for element in it))


def build_prefix(source, stages):
    """`source` with `stages` applied, consecutive element-wise stages fused."""
    ds, pending = source, []
    for stage in stages:
        if stage.element is not None:
            pending.append(stage.element)
            continue
        if pending:
            ds, pending = fuse(ds, pending), []
        ds = stage.apply(ds)
    return fuse(ds, pending) if pending else ds


def python_drain(items):
    """A function that reads `items` to its end, in Python, and returns how many elements it read."""
    return lambda: sum(1 for _ in items)


def tf_drain(ds):
    """A function that reads `ds` to its end inside TensorFlow (traced once, on its first call).

    Elements are gathered into large batches before the `reduce`: a function call
    per element costs tens of microseconds here, more than many stages.
    """
    import tensorflow as tf

    specs = tf.nest.flatten(ds.element_spec)
    if specs[0].shape.rank is not None and specs[0].shape.rank >= 4:
        gathered = ds  # already batches of images
    elif all(spec.shape.is_fully_defined() for spec in specs):
        gathered = ds.batch(DRAIN_BATCH)
    else:
        gathered = ds.ragged_batch(DRAIN_BATCH)
    return tf.function(lambda: gathered.reduce(tf.constant(0, tf.int64), lambda total, *_: total + 1))


def tf_image_stages(request, with_read: bool = True) -> list[Stage]:
    """read -> decode -> resize -> batch -> augment -> prefetch, each map sequential."""
    import tensorflow as tf

    from pipelines import augment
    from pipelines.decode import decode_bytes, resize_scale
    from pipelines.tfops import prefetched

    size = request.spec.image_size
    read = Stage("read", element=lambda p, y: (tf.io.read_file(p), y))
    stages = [read] if with_read else []
    stages += [
        Stage("decode", element=lambda c, y: (decode_bytes(c), y)),
        Stage("resize", element=lambda i, y: (resize_scale(i, size), y)),
        Stage("batch", lambda ds: ds.batch(request.batch_size)),
    ]
    if request.augmentation in augment.IN_PIPELINE:
        stages.append(Stage("augment",
                            lambda ds: augment.apply(ds, request.augmentation, request.seed, request.options),
                            python=request.augmentation == "numpy_pyfunc"))
    prefetch = request.options.get("prefetch", 0)
    if prefetch:
        stages.append(Stage("prefetch", lambda ds: prefetched(ds, prefetch)))
    return stages


def tf_plan(request):
    """A file-based tf.data pipeline: the (path, label) list, then the image stages."""
    from pipelines.tfops import file_pairs

    return file_pairs(request.spec), [Stage("list", lambda ds: ds), *tf_image_stages(request)], tf_drain


class Lazy:
    """A re-iterable that applies `step` to the iterator of `inner` each time it is iterated."""

    def __init__(self, inner: Iterable, step: Callable[[Iterable], Iterable]):
        self.inner, self.step = inner, step

    def __iter__(self):
        return iter(self.step(iter(self.inner)))


def batched(size: int):
    """Collate (image, label) elements into batches of `size` (the last may be smaller)."""
    def batches(it):
        while chunk := list(itertools.islice(it, size)):
            yield np.stack([c[0] for c in chunk]), np.asarray([c[1] for c in chunk], np.int32)

    return lambda items: Lazy(items, batches)


def python_plan(request, augment_fn=None):
    """What a Python loader does per image: read, PIL decode, resize + scale, then collate."""
    from pipelines.decode import pil_decode, pil_resize_scale

    size = request.spec.image_size

    def read(path, label):
        with open(path, "rb") as handle:
            return handle.read(), label

    def decode(data, label):
        return pil_decode(io.BytesIO(data)), label

    def resize(img, label):
        return pil_resize_scale(img, size), label

    stages = [Stage("list", lambda items: items, python=True),
              Stage("read", element=read, python=True),
              Stage("decode", element=decode, python=True),
              Stage("resize", element=resize, python=True)]
    if augment_fn is not None:
        stages.append(Stage("augment", element=lambda x, y: (augment_fn(x), y), python=True))
    stages.append(Stage("collate", batched(request.batch_size), python=True))
    source = list(zip(request.spec.train_files, request.spec.train_labels, strict=True))
    return source, stages, python_drain
