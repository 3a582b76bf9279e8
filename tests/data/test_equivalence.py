"""The data-equivalence check on arrays with known faults; real pipelines: tests/run/test_equivalence.py."""

from __future__ import annotations

import numpy as np
import pytest

from bench.data.equivalence import DIFFERS, SAME, SHAPE_ONLY, check, check_augmented, thumbnails

N, SIDE, CLASSES = 60, 16, 3


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(0)
    coarse = rng.random((N, 4, 4, 3))  # smooth, distinct images: a 4x4 pattern blown up
    images = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2).astype(np.float32)
    labels = np.arange(N) % CLASSES
    return images, labels


def run_check(reference, images, labels, dtype="float32"):
    ref_images, ref_labels = reference
    return check(images, labels, dtype, thumbnails(ref_images.astype(np.float64)), ref_labels,
                 lambda idx, method: ref_images[list(idx)], resized=False)


def shuffled(reference):
    ref_images, ref_labels = reference
    order = np.random.default_rng(1).permutation(N)
    return ref_images[order], ref_labels[order]


def test_the_same_images_in_another_order_pass(reference):
    result = run_check(reference, *shuffled(reference))
    assert result.verdict == SAME and result.reasons == ()
    assert result.matched_share == 1.0 and result.label_agreement == 1.0 and result.mae == 0.0


def test_two_classes_swapped_are_named(reference):
    images, labels = shuffled(reference)
    swapped = np.where(labels == 0, 1, np.where(labels == 1, 0, labels))
    result = run_check(reference, images, swapped)
    assert result.verdict == DIFFERS and result.label_agreement == pytest.approx(1 / 3, abs=0.01)
    assert any("labels agree" in r for r in result.reasons)


def test_bgr_is_named_and_the_rest_measured_on_the_channels_put_back(reference):
    images, labels = shuffled(reference)
    result = run_check(reference, images[..., ::-1], labels)
    assert result.differs and result.channels_swapped
    assert [r.split(":")[0] for r in result.reasons] == ["channels swapped (BGR)"]
    assert result.label_agreement == 1.0


def test_0_255_values_are_named_and_still_matched(reference):
    images, labels = shuffled(reference)
    result = run_check(reference, images * 255.0, labels)
    assert result.differs and result.value_max > 200
    assert [r.split(" ")[0] for r in result.reasons] == ["values"]
    assert result.matched_share == 1.0 and result.label_agreement == 1.0


def test_images_of_other_files_are_not_matched(reference):
    images, labels = shuffled(reference)
    noise = np.random.default_rng(2).random(images.shape).astype(np.float32)
    result = run_check(reference, noise, labels)
    assert result.differs and result.matched_share < 0.1


def test_augmented_cells_are_checked_on_labels_range_dtype_and_shape_only(reference):
    images, labels = shuffled(reference)
    assert check_augmented(images, labels, "float32", CLASSES).verdict == SHAPE_ONLY
    bad = check_augmented(images * 255, labels + 1, "float64", CLASSES)
    assert bad.differs and len(bad.reasons) == 3 and bad.augmented
