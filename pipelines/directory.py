"""`keras.utils.image_dataset_from_directory`.

It already decodes with `tf.io.decode_image` and resizes bilinearly without
antialiasing (the reference). Aligned: `class_names=` the spec's sorted names,
`label_mode="int"`, and a `map` scaling 0..255 to [0, 1].
"""

from __future__ import annotations

from pipelines import augment
from pipelines.base import PREFETCH, TF_DATA_AUGMENTATIONS, FitInput, PipelineRequest, Variant, register


@register
class ImageDatasetFromDirectory(Variant):
    """The Keras directory loader over the spec's train files, with optional prefetch."""

    name = "image_dataset_from_directory"
    family = "image_dataset_from_directory"
    description = "keras.utils.image_dataset_from_directory + rescale (+ prefetch)"
    augmentations = TF_DATA_AUGMENTATIONS
    options = (PREFETCH, *augment.JOBLIB_OPTIONS)

    def build(self, request: PipelineRequest) -> FitInput:
        import keras
        import tensorflow as tf

        spec = request.spec
        ds = keras.utils.image_dataset_from_directory(
            spec.train_dir,
            labels="inferred",
            label_mode="int",
            class_names=list(spec.class_names),
            image_size=spec.image_size,
            batch_size=request.batch_size,
            shuffle=True,
            seed=request.seed,
            interpolation="bilinear",
            verbose=False,
        )
        ds = ds.map(lambda x, y: (x / 255.0, tf.cast(y, tf.int32)),
                    num_parallel_calls=tf.data.AUTOTUNE)
        return FitInput(x=augment.tail(ds, request))
