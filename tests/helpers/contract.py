"""The variant contract, shared by the pipeline tests and the data-check tests.

Each delivered image is matched to the nearest reference image (decoded with the
reference decoder from the same files): it must be near-identical, and its label
must be that file's label. This checks shape, dtype, value range, the decoder's
alignment and the class-to-index map together.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines import REGISTRY, PipelineRequest
from pipelines.base import iterate_batches, options_for, split_overrides
from pipelines.decode import decode_all


class Batches(list):
    """One epoch's batches; `infinite`: the input repeats and is read for `steps_per_epoch` batches."""

    infinite: bool = False


ACCEPTED_RESIZES = ("bilinear", "bilinear_antialias")  # as bench.data.equivalence accepts them


def reference_for(spec) -> tuple[list[np.ndarray], np.ndarray]:
    """Every train image decoded by the reference decoder (flattened) under each accepted resize
    (TensorFlow's, and PIL's antialiased bilinear when shrinking), and the labels."""
    decoded = [decode_all(spec.train_files, spec.image_size, method=m) for m in ACCEPTED_RESIZES]
    return [images.reshape(len(images), -1) for images in decoded], np.asarray(spec.train_labels)


def request_for(spec, variant, tmp_path: Path, augmentation="none", overrides=()):
    options = options_for(variant, split_overrides(overrides))
    return PipelineRequest(spec=spec, batch_size=16, seed=3, augmentation=augmentation,
                           options=options, cache_dir=tmp_path)


def one_epoch(spec, name, tmp_path, **kwargs):
    """One epoch of the variant's batches (a tf_data_service variant on a local 1-worker cluster)."""
    from dataclasses import replace

    from bench.run.cluster import service_for

    variant = REGISTRY[name]
    request = request_for(spec, variant, tmp_path, **kwargs)
    with service_for(request.options, tmp_path / "service") as (options, _):
        fit_input = variant.build(replace(request, options=options))
        batches = Batches(iterate_batches(fit_input, 16))
        batches.infinite = fit_input.steps_per_epoch is not None
        return batches


def assert_contract(spec, name: str, batches, reference, tolerance: float = 0.01) -> None:
    """One epoch of `name`'s batches: right shapes and types, every image matches its file
    (under the closer of the accepted resizes)."""
    ref_images, ref_labels = reference
    height, width = spec.image_size
    seen = 0
    for images, labels in batches:
        assert images.dtype == np.float32, name
        assert images.shape[1:] == (height, width, 3), name
        assert images.min() >= 0.0 and images.max() <= 1.0, name
        assert labels.dtype == np.int32 and labels.shape == (len(images),), name
        assert set(labels.tolist()) <= set(range(spec.num_classes))
        seen += len(images)
        if REGISTRY[name].augments_itself:
            continue
        flat = images.reshape(len(images), -1)
        distance = np.min([np.abs(flat[:, None, :] - ref[None, :, :]).mean(axis=2) for ref in ref_images],
                          axis=0)
        nearest = distance.argmin(axis=1)
        assert distance.min(axis=1).max() < tolerance, f"{name} delivers images unlike the reference"
        np.testing.assert_array_equal(labels, ref_labels[nearest], err_msg=name)
    if getattr(batches, "infinite", False):  # an infinite input read for ceil(N / batch) batches
        assert len(spec.train_files) <= seen < len(spec.train_files) + 16, f"{name} delivered {seen}"
    else:
        assert seen == len(spec.train_files), f"{name} delivered {seen} images in one epoch"
