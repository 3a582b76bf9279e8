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

from pipelines import augment
from pipelines.base import FitInput, Option, PipelineRequest, Variant, parse_bool, register

IDG_AUGMENTATION = augment.idg_arguments()  # the augmentation axis' recipe (pipelines.augment)


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


def as_pydataset(iterator, workers: int, use_multiprocessing: bool):
    """The IDG iterator (a tf_keras `Sequence`) as a Keras 3 `PyDataset`, whose batches Keras
    loads in `workers` threads or processes: Keras 3's `fit` has no `workers` argument for a
    generator, so this is how ImageDataGenerator gets them."""
    import keras

    class IdgBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=workers, use_multiprocessing=use_multiprocessing)

        def __len__(self) -> int:
            return len(iterator)

        def __getitem__(self, index: int):
            images, labels = iterator[index]
            return images.astype(np.float32, copy=False), labels.astype(np.int32)

        def on_epoch_end(self) -> None:
            iterator.on_epoch_end()

    return IdgBatches()


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
    options = (
        Option("workers", 0, "0: a Python generator, as the tutorials feed it; N: a PyDataset that Keras "
               "loads with N workers", parse=int),
        Option("use_multiprocessing", False, "with workers: run them as processes", parse=parse_bool),
    )

    def build(self, request: PipelineRequest) -> FitInput:
        iterator = flow(request, self.augment)
        workers = request.options["workers"]
        if workers > 0:
            return FitInput(x=as_pydataset(iterator, workers, request.options["use_multiprocessing"]))
        return FitInput(x=as_generator(iterator), steps_per_epoch=len(iterator))

    def decode_threads(self, options, cores: int) -> int:
        """Worker processes each have a GIL of their own; worker threads share one."""
        workers = options.get("workers", 0)
        return min(cores, workers) if workers and options.get("use_multiprocessing") else 1

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
    """flow_from_directory with IDG's own random flip, rotation, zoom and brightness (the axis' recipe)."""

    name = "image_data_generator_aug"
    augments_itself = True
    description = "ImageDataGenerator.flow_from_directory with its own augmentation"
    augment = True
    augmentations = frozenset({"none"})
