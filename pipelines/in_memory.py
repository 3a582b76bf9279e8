"""In-memory NumPy: every image decoded up front, then fed as arrays or tensor slices."""

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
from pipelines.decode import decode_all


def decode_train(request: PipelineRequest) -> tuple[np.ndarray, np.ndarray]:
    """All train images decoded by the reference decoder, with int32 labels."""
    spec = request.spec
    images = decode_all(spec.train_files, spec.image_size)
    return images, np.asarray(spec.train_labels, dtype=np.int32)


@register
class InMemoryNumpy(Variant):
    """NumPy arrays passed straight to `model.fit(x, y, batch_size, shuffle=True)`.

    Decoding happens before training starts, so its cost appears in the time to
    first batch, not in steady-state throughput. Keras slices and shuffles the arrays.
    Supports only augmentations that need no pipeline (`none`, `keras_layers`).
    """

    name = "in_memory_numpy"
    family = "in_memory"
    description = "decoded NumPy arrays given to model.fit"
    needs_tensorflow = False

    def decoded_copies(self, options) -> int:
        return 2  # the concatenated array, plus the chunks (or Keras' tensor copy) next to it

    def timed_files(self, request: PipelineRequest) -> None:
        return None  # decoded up front: no epoch reads a file

    def build(self, request: PipelineRequest) -> FitInput:
        images, labels = decode_train(request)
        return FitInput(x=images, y=labels, fit_kwargs={"batch_size": request.batch_size, "shuffle": True})


@register
class InMemoryTensorSlices(Variant):
    """Decoded arrays through `tf.data.Dataset.from_tensor_slices`, shuffled, batched, prefetched."""

    name = "in_memory_tensor_slices"
    family_default = True
    family = "in_memory"
    description = "decoded arrays via from_tensor_slices + shuffle + batch + prefetch"
    augmentations = TF_DATA_AUGMENTATIONS
    options = (PREFETCH, DROP_REMAINDER, *augment.JOBLIB_OPTIONS)

    def decoded_copies(self, options) -> int:
        return 2  # the NumPy array and the tensor from_tensor_slices copies it into

    def timed_files(self, request: PipelineRequest) -> None:
        return None  # decoded up front: no epoch reads a file

    def build(self, request: PipelineRequest) -> FitInput:
        import tensorflow as tf

        images, labels = decode_train(request)
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        ds = ds.shuffle(len(labels), seed=request.seed, reshuffle_each_iteration=True)
        batched = ds.batch(request.batch_size, drop_remainder=request.options["drop_remainder"])
        return FitInput(x=augment.tail(batched, request))
