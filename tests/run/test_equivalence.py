"""The equivalence check on real pipelines: four broken `--pipeline` functions are flagged, each
with its own reason, while every built-in variant and a correct user pipeline pass.

The files are 64 px and read at 32 px, so every variant resizes (else nearest-neighbour
resizing could not show in the pixels). Each pipeline is built and read in this process,
as a cell's worker does in its set-up; that the record reaches results.json, the CSV and
the report through a real run is checked on the shared quick run (tests/test_end_to_end.py).
"""

from __future__ import annotations

import pytest

from bench.data.equivalence import DIFFERS, SAME, SHAPE_ONLY, Reference, check, check_augmented, collect
from pipelines import REGISTRY, PipelineRequest
from pipelines.base import iterate_batches
from pipelines.custom import CustomVariant

pytestmark = pytest.mark.slow

BROKEN = {"labels_swapped": "labels agree", "bgr": "channels swapped", "range_255": "values in",
          "nearest_resize": "nearest-neighbour resize", "label_noise_10": "labels agree"}


@pytest.fixture(scope="module")
def resized(isolated_cache):
    """A spec over 64 px files read at 32 px, and the reference decodes of its train files."""
    from bench.data.dataset import EmbeddedDataset, ensure_embedded, resolve_spec

    root = ensure_embedded(EmbeddedDataset(96, 32, 64, 3, seed=5))
    spec = resolve_spec(root / "train", root / "val", 0.2, EmbeddedDataset(0, 0, 32, 3), seed=0)[0]
    reference = Reference(spec)
    assert reference.resized
    return spec, reference


def delivered(spec, reference, variant, tmp_path):
    """Build `variant` as a cell does and check one epoch of its batches."""
    from bench.run import in_process

    if isinstance(variant, str):
        with in_process.built(variant, spec, tmp_path, batch_size=16) as (fit_input, _):
            images, labels, dtype = collect(iterate_batches(fit_input, 16))
        augmented = REGISTRY[variant].augments_itself
    else:
        request = PipelineRequest(spec=spec, batch_size=16, seed=0, augmentation="none", options={},
                                  cache_dir=tmp_path)
        images, labels, dtype = collect(iterate_batches(variant.build(request), 16))
        augmented = False
    if augmented:
        return check_augmented(images, labels, dtype, spec.num_classes)
    return check(images, labels, dtype, reference.thumbs, reference.labels, reference.load, reference.resized)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_pipeline_is_flagged_with_its_reason_only(resized, tmp_path, name):
    found = delivered(*resized, CustomVariant(f"tests.plugins.broken_data:{name}"), tmp_path)
    assert found.verdict == DIFFERS, found
    assert len(found.reasons) == 1 and BROKEN[name] in found.reasons[0], found.reasons


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_built_in_variant_passes_on_files_that_need_resizing(resized, tmp_path, name):
    found = delivered(*resized, name, tmp_path)
    expected = SHAPE_ONLY if REGISTRY[name].augments_itself else SAME
    assert found.verdict == expected, found
    if expected == SAME:
        assert found.matched_share == 1.0 and found.label_agreement == 1.0


def test_a_correct_user_pipeline_passes(resized, tmp_path):
    found = delivered(*resized, CustomVariant("tests.plugins.broken_data:correct"), tmp_path)
    assert found.verdict == SAME and found.mae == 0.0
