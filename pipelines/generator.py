"""A Python generator wrapped by `tf.data.Dataset.from_generator`.

The generator decodes one file at a time with PIL in the Python interpreter,
which is why this pattern is usually GIL-bound: `from_generator` cannot run it
in parallel. tf.data batches and (optionally) prefetches its output.
"""

from __future__ import annotations

import numpy as np

from pipelines import augment
from pipelines.base import (
    DROP_REMAINDER,
    PREFETCH,
    TF_DATA_AUGMENTATIONS,
    FitInput,
    PipelineRequest,
    Variant,
    register,
)
from pipelines.decode import pil_load


def image_generator(request: PipelineRequest):
    """A generator function: each call walks the train files once in a new shuffled order."""
    spec = request.spec
    files, labels = spec.train_files, spec.train_labels
    epoch = [0]

    def generate():
        rng = np.random.default_rng([request.seed, epoch[0]])
        epoch[0] += 1
        for i in rng.permutation(len(files)):
            yield pil_load(files[i], spec.image_size), np.int32(labels[i])

    return generate


@register
class Generator(Variant):
    """PIL decoding in a Python generator; `from_generator` with an explicit output signature."""

    name = "generator"
    python_loader = True
    baseline_rank = 2
    overhead_check = True
    family = "generator"
    description = "Python generator (PIL decode) via from_generator"
    augmentations = TF_DATA_AUGMENTATIONS
    options = (PREFETCH, DROP_REMAINDER, *augment.JOBLIB_OPTIONS)

    def build(self, request: PipelineRequest) -> FitInput:
        import tensorflow as tf

        height, width = request.spec.image_size
        signature = (
            tf.TensorSpec(shape=(height, width, 3), dtype=tf.float32),
            tf.TensorSpec(shape=(), dtype=tf.int32),
        )
        ds = tf.data.Dataset.from_generator(image_generator(request), output_signature=signature)
        batched = ds.batch(request.batch_size, drop_remainder=request.options["drop_remainder"])
        return FitInput(x=augment.tail(batched, request))

    def stages(self, request: PipelineRequest):
        from pipelines.stages import python_plan

        return python_plan(request)
