"""pipebench's versions of the tutorials' systems do what the tutorials' do (issue 24's fidelity items).

One augmentation recipe for every implementation; joblib's backends; shuffling after the
decode without a cache; drop_remainder; the cache before the decode; ImageDataGenerator with
workers; and the data check's exactly-once count, which must flag a PyDataset that repeats
or drops files, read through Keras' `fit` with its workers and processes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.data.equivalence import DIFFERS, SAME, check_delivery
from bench.run.modes import delivered_by_fit
from pipelines import REGISTRY, augment
from tests.helpers.contract import assert_contract, one_epoch, reference_for, request_for


@pytest.fixture(scope="module")
def reference(tiny_spec):
    return reference_for(tiny_spec)


def smooth_batch(n: int = 96, size: int = 32) -> np.ndarray:
    """Gradients and a slow wave: an image whose change under a transform measures the transform."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    image = np.stack([xx, yy, 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy)], axis=-1).astype(np.float32)
    return np.repeat(image[None], n, axis=0)


def implementations(images: np.ndarray) -> dict[str, np.ndarray]:
    import tensorflow as tf
    from tf_keras.preprocessing.image import ImageDataGenerator

    ds = tf.data.Dataset.from_tensor_slices((images, np.zeros(len(images)))).batch(32)
    out = {name: np.concatenate([b[0].numpy() for b in augment.apply(ds, name, 0, {"joblib": "off"})])
           for name in ("tf_image", "keras_layers_map", "numpy_pyfunc")}
    layers = augment.keras_layers(0)  # the in-model layers, as the model applies them when training
    out["keras_layers"] = np.asarray(augment.in_layers(layers, tf.constant(images)))
    idg = ImageDataGenerator(**augment.idg_arguments())
    out["image_data_generator_aug"] = np.stack([np.clip(idg.random_transform(im * 255) / 255, 0, 1)
                                                for im in images])
    return out


def test_one_recipe_does_the_same_work_in_every_implementation():
    """Flip, rotation, zoom and brightness: each implementation changes a smooth image by as much
    as the others (mean absolute change within a factor of 1.6 of tf_image's), flips about half
    of the images, and draws per image (not one transform per batch)."""
    images = smooth_batch()
    found = implementations(images)
    mean_change = {name: float(np.abs(out - images).mean()) for name, out in found.items()}
    for name, out in found.items():
        assert out.shape == images.shape and out.min() >= 0.0 and out.max() <= 1.0, name
        change = np.abs(out - images).mean(axis=(1, 2, 3))
        flipped = np.abs(out - images[:, :, ::-1]).mean(axis=(1, 2, 3)) < change
        assert 0.25 < flipped.mean() < 0.75, (name, flipped.mean())
        per_image = np.abs(out - images).mean(axis=(1, 2, 3))
        assert np.unique(per_image.round(5)).size > len(images) // 2, f"{name}: one transform per batch"
        assert 1 / 1.6 < mean_change[name] / mean_change["tf_image"] < 1.6, mean_change


@pytest.mark.parametrize("backend", augment.JOBLIB_BACKENDS)
def test_numpy_pyfunc_runs_on_each_joblib_backend(backend):
    images = smooth_batch(8)
    out = augment.numpy_augment_batch(images, backend, n_jobs=2)
    assert out.shape == images.shape and out.dtype == np.float32
    assert np.abs(out - images).mean() > 0.005, "the recipe left the images unchanged"


def test_joblib_options_reach_the_augmentation(tiny_spec, tmp_path):
    variant = REGISTRY["tf_data_tuned"]
    request = request_for(tiny_spec, variant, tmp_path, augmentation="numpy_pyfunc",
                          overrides=("joblib=off", "n_jobs=1"))
    assert request.options["joblib"] == "off" and request.options["n_jobs"] == 1
    batch = next(iter(variant.build(request).x))
    assert batch[0].shape[1:] == (*tiny_spec.image_size, 3)


def epochs_of(tiny_spec, tmp_path, overrides, epochs: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """`epochs` passes over one build of tf_data_naive, as (images, labels) per pass, in order."""
    variant = REGISTRY["tf_data_naive"]
    ds = variant.build(request_for(tiny_spec, variant, tmp_path, overrides=overrides)).x
    passes = []
    for _ in range(epochs):
        batches = [(x.numpy(), y.numpy()) for x, y in ds]
        passes.append((np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])))
    return passes


def file_order(images: np.ndarray, reference) -> np.ndarray:
    flat = images.reshape(len(images), -1)
    return np.abs(flat[:, None, :] - reference[0][0][None, :, :]).mean(axis=2).argmin(axis=1)


def test_shuffle_buffer_acts_after_the_decode_without_a_cache(tiny_spec, reference, tmp_path):
    """Seed 001's order: paths shuffled once, then decoded images through a shuffle buffer. A buffer
    of 1 shuffles nothing (every epoch the same order); a full one reshuffles every epoch."""
    n = len(tiny_spec.train_files)
    still = [file_order(x, reference) for x, _ in epochs_of(tiny_spec, tmp_path,
                                                           ("shuffle=decoded", "shuffle_buffer=1"))]
    assert (still[0] == still[1]).all() and sorted(still[0]) == list(range(n))
    assert (still[0] != np.arange(n)).any(), "the paths are shuffled once, as the seed does"
    full = [file_order(x, reference) for x, _ in epochs_of(tiny_spec, tmp_path,
                                                          ("shuffle=decoded", "shuffle_buffer=full"))]
    assert (full[0] != full[1]).any() and sorted(full[1]) == list(range(n))
    listed = file_order(epochs_of(tiny_spec, tmp_path, ("shuffle=none",), epochs=1)[0][0], reference)
    assert (listed == np.arange(n)).all()


def test_shuffle_after_batch_moves_whole_batches(tiny_spec, reference, tmp_path):
    first, second = (file_order(x, reference).reshape(-1, 16)
                     for x, _ in epochs_of(tiny_spec, tmp_path, ("shuffle=batches", "shuffle_buffer=full")))
    assert {frozenset(b) for b in first} == {frozenset(b) for b in second}, "batches keep their files"


@pytest.mark.parametrize("overrides", [("cache=memory", "cache_at=bytes"), ("cache=disk", "cache_at=bytes"),
                                       ("shuffle=files",)])
def test_cached_bytes_and_explicit_shuffles_keep_the_contract(tiny_spec, reference, tmp_path, overrides):
    assert_contract(tiny_spec, "tf_data_naive", one_epoch(tiny_spec, "tf_data_naive", tmp_path,
                                                         overrides=overrides), reference)


def test_per_image_augmentation_is_the_unvectorised_map(tiny_spec, tmp_path):
    batches = one_epoch(tiny_spec, "tf_data_naive", tmp_path, augmentation="tf_image",
                        overrides=("augment_batched=false",))
    images = np.concatenate([b[0] for b in batches])
    assert images.shape == (len(tiny_spec.train_files), *tiny_spec.image_size, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0


@pytest.mark.parametrize("name", ["tf_data_naive", "generator", "in_memory_tensor_slices", "sequence"])
def test_drop_remainder_drops_the_last_partial_batch(tiny_spec, tmp_path, name):
    batches = one_epoch(tiny_spec, name, tmp_path, overrides=("drop_remainder=true",))
    whole = math.floor(len(tiny_spec.train_files) / 16)
    assert len(batches) == whole and all(len(b[0]) == 16 for b in batches)


def test_image_data_generator_with_workers_keeps_the_contract(tiny_spec, reference, tmp_path):
    from pipelines.base import is_pydataset

    variant = REGISTRY["image_data_generator"]
    fit_input = variant.build(request_for(tiny_spec, variant, tmp_path, overrides=("workers=2",)))
    assert is_pydataset(fit_input.x) and fit_input.x.workers == 2
    found = check_delivery(delivered_by_fit(fit_input), tiny_spec, augmented=False, batch_size=16)
    assert found.verdict == SAME and found.extra_deliveries == 0 and found.files_missing == 0


@pytest.mark.parametrize("processes", [False, True])
def test_a_pydataset_with_workers_delivers_each_file_once_per_epoch(tiny_spec, tmp_path, processes):
    """Seed 004's claim, checked as `fit` receives the batches: with threads and with processes."""
    variant = REGISTRY["sequence"]
    overrides = ("workers=2", f"use_multiprocessing={str(processes).lower()}")
    fit_input = variant.build(request_for(tiny_spec, variant, tmp_path, overrides=overrides))
    found = check_delivery(delivered_by_fit(fit_input), tiny_spec, augmented=False, batch_size=16)
    assert found.verdict == SAME, found.reasons
    assert found.images_checked == len(tiny_spec.train_files)
    assert found.extra_deliveries == 0 and found.files_missing == 0


def faulty_pydataset(spec, fault: str):
    """A PyDataset with a classic indexing bug: batch 1 repeats batch 0, or the last batch is lost."""
    import keras

    from pipelines.decode import pil_load

    class Faulty(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=2)
            self.order = np.random.default_rng(0).permutation(len(spec.train_files))

        def __len__(self):
            batches = math.ceil(len(spec.train_files) / 16)
            return batches - 1 if fault == "drops" else batches

        def __getitem__(self, index):
            index = 0 if fault == "repeats" and index == 1 else index
            picked = self.order[index * 16:(index + 1) * 16]
            images = np.stack([pil_load(spec.train_files[i], spec.image_size) for i in picked])
            return images, np.asarray(spec.train_labels, np.int32)[picked]

    return Faulty()


@pytest.mark.parametrize("fault", ["repeats", "drops"])
def test_the_exactly_once_check_flags_a_pydataset_that_repeats_or_drops_files(tiny_spec, fault):
    from pipelines.base import FitInput

    found = check_delivery(delivered_by_fit(FitInput(x=faulty_pydataset(tiny_spec, fault))), tiny_spec,
                           augmented=False, batch_size=16)
    assert found.verdict == DIFFERS
    assert any("not exactly once per epoch" in r for r in found.reasons), found.reasons
    if fault == "repeats":
        assert found.extra_deliveries == 16 and found.files_missing == 16
    else:
        assert found.extra_deliveries == 0 and found.files_missing == 16


def test_a_cell_can_batch_other_than_the_run(tiny_spec, tmp_path):
    """The batch-size tip's option: the pipeline's batches, not the run's --batch-size (16 here)."""
    batches = one_epoch(tiny_spec, "tf_data_naive", tmp_path, overrides=("batch_size=8",))
    assert [len(b[0]) for b in batches] == [8] * (len(tiny_spec.train_files) // 8)
