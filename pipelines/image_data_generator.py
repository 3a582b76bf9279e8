"""`ImageDataGenerator.flow_from_directory`, with and without its own augmentation.

Keras 3 dropped ImageDataGenerator from its public API; it is imported from the
`tf_keras` package (public), never from `keras.src`. Aligned with the contract:
`rescale=1/255` (IDG yields 0..255 otherwise), `interpolation="bilinear"` (IDG's
default is nearest), `class_mode="sparse"` with labels cast from float32 to int32,
and `classes=` the spec's sorted class names. Its iterator never ends, so it is
fed as a Python generator with `steps_per_epoch = len(iterator)`: the classic
usage, and the one where Keras stops early with only a warning if a finite
iterator runs dry (the harness counts delivered images, so that shows).
"""

from __future__ import annotations

import numpy as np

from pipelines.base import FitInput, PipelineRequest, Variant, register

IDG_AUGMENTATION = {
    "rotation_range": 15,
    "width_shift_range": 0.1,
    "height_shift_range": 0.1,
    "zoom_range": 0.1,
    "horizontal_flip": True,
    "fill_mode": "nearest",
}


def flow(request: PipelineRequest, augment: bool):
    """The DirectoryIterator over the spec's train files (through the spec's link folder)."""
    from tf_keras.preprocessing.image import ImageDataGenerator

    params = IDG_AUGMENTATION if augment else {}
    datagen = ImageDataGenerator(rescale=1.0 / 255, **params)
    return datagen.flow_from_directory(
        request.spec.train_dir,
        target_size=request.spec.image_size,
        classes=list(request.spec.class_names),
        class_mode="sparse",
        batch_size=request.batch_size,
        shuffle=True,
        seed=request.seed,
        interpolation="bilinear",
    )


def as_generator(iterator):
    """Yield (float32 images, int32 labels) from an IDG iterator, forever."""
    while True:
        images, labels = next(iterator)
        yield images.astype(np.float32, copy=False), labels.astype(np.int32)


class _ImageDataGeneratorBase(Variant):
    family = "image_data_generator"
    python_loader = True
    replaced_by = ("image_dataset_from_directory", "ImageDataGenerator decodes and augments in Python, one "
                   "image at a time: use image_dataset_from_directory (or tf.data with preprocessing layers)")
    augment = False

    def build(self, request: PipelineRequest) -> FitInput:
        iterator = flow(request, self.augment)
        return FitInput(x=as_generator(iterator), steps_per_epoch=len(iterator))

    def stages(self, request: PipelineRequest):
        """Its per-image work as Python stages; the augmenting one adds `random_transform`."""
        from pipelines.stages import python_plan

        if not self.augment:
            return python_plan(request)
        from tf_keras.preprocessing.image import ImageDataGenerator

        return python_plan(request, ImageDataGenerator(**IDG_AUGMENTATION).random_transform)


@register
class ImageDataGeneratorPlain(_ImageDataGeneratorBase):
    """flow_from_directory with rescaling only."""

    name = "image_data_generator"
    baseline_rank = 1
    description = "tf_keras ImageDataGenerator.flow_from_directory, no augmentation"


@register
class ImageDataGeneratorAugmented(_ImageDataGeneratorBase):
    """flow_from_directory with IDG's own random rotation, shift, zoom and flip."""

    name = "image_data_generator_aug"
    augments_itself = True
    description = "ImageDataGenerator.flow_from_directory with its own augmentation"
    augment = True
    augmentations = frozenset({"none"})
