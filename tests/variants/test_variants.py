"""What every variant delivers: real batches from real files, checked against the reference.

Each delivered image is matched to the nearest reference image (decoded with
the reference decoder from the same files): it must be near-identical, and its
label must be that file's label. This checks shape, dtype, value range, the
decoder's alignment and the class-to-index map together, for every variant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines import REGISTRY
from tests.helpers.contract import assert_contract, one_epoch, reference_for, request_for


@pytest.fixture(scope="module")
def reference(tiny_spec):
    return reference_for(tiny_spec)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_variant_delivers_the_contract(tiny_spec, reference, tmp_path, name):
    assert_contract(tiny_spec, name, one_epoch(tiny_spec, name, tmp_path), reference)


@pytest.mark.parametrize("augmentation", ["tf_image", "numpy_pyfunc"])
def test_pipeline_augmentations_keep_the_contract_and_change_pixels(tiny_spec, reference, tmp_path,
                                                                    augmentation):
    batches = one_epoch(tiny_spec, "tf_data_naive", tmp_path, augmentation=augmentation)
    plain = one_epoch(tiny_spec, "tf_data_naive", tmp_path)
    images = np.concatenate([b[0] for b in batches])
    assert images.dtype == np.float32 and images.min() >= 0.0 and images.max() <= 1.0
    assert images.shape == np.concatenate([b[0] for b in plain]).shape
    flat = images.reshape(len(images), -1)
    distance = np.abs(flat[:, None, :] - reference[0][0][None, :, :]).mean(axis=2).min(axis=1)
    assert np.median(distance) > 0.005, "augmentation left the images unchanged"


@pytest.mark.parametrize("overrides", [
    ("cache=disk", "prefetch=2", "parallel_calls=2"),
    ("cache=memory", "deterministic=true"),
    ("interleave=3", "parallel_calls=autotune"),
])
def test_tf_data_options_switch_independently(tiny_spec, tmp_path, overrides):
    batches = one_epoch(tiny_spec, "tf_data_naive", tmp_path, overrides=overrides)
    images = np.concatenate([b[0] for b in batches]).reshape(len(tiny_spec.train_files), -1)
    # every file exactly once: the images are pairwise distinct and as many as the files
    assert len(np.unique(images.round(4), axis=0)) == len(tiny_spec.train_files)


def test_tfrecord_shards_are_written_once_and_reused(tiny_spec, tmp_path):
    from pipelines.tfrecord import write_shards

    first = write_shards(tiny_spec, 3)
    stamps = [Path(p).stat().st_mtime_ns for p in first]
    assert write_shards(tiny_spec, 3) == first
    assert [Path(p).stat().st_mtime_ns for p in first] == stamps


def test_sequence_exposes_worker_settings(tiny_spec, tmp_path):
    variant = REGISTRY["sequence"]
    request = request_for(tiny_spec, variant, tmp_path, overrides=("workers=3", "use_multiprocessing=true"))
    dataset = variant.build(request).x
    assert dataset.workers == 3 and dataset.use_multiprocessing is True
