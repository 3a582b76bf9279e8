"""The identical models: same seed, same weights; output in float32 under mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from bench.errors import PipebenchError
from bench.run.models import build_core, build_model, set_precision, weights_sha256
from pipelines import augment


@pytest.fixture(autouse=True)
def float32_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", ["small_cnn", "mobilenet_v2"])
def test_same_seed_same_initial_weights(name):
    first = weights_sha256(build_core(name, (32, 32), 3, seed=7))
    assert weights_sha256(build_core(name, (32, 32), 3, seed=7)) == first
    assert weights_sha256(build_core(name, (32, 32), 3, seed=8)) != first


def test_augmentation_layers_do_not_change_the_initial_weights():
    _, plain = build_model("small_cnn", (32, 32), 3, seed=1)
    model, augmented = build_model("small_cnn", (32, 32), 3, seed=1,
                                   augmentation_layers=augment.keras_layers(1))
    assert augmented == plain
    assert any(isinstance(layer, keras.layers.RandomFlip) for layer in model.layers)


def test_mixed_bfloat16_keeps_the_output_in_float32():
    set_precision("mixed_bfloat16", has_gpu=False)
    model, _ = build_model("small_cnn", (32, 32), 3, seed=0)
    assert model.get_layer("logits").compute_dtype == "bfloat16"
    output = model(np.zeros((2, 32, 32, 3), np.float32))
    assert keras.backend.standardize_dtype(output.dtype) == "float32"


def test_mixed_float16_needs_a_gpu():
    with pytest.raises(PipebenchError, match="needs a GPU"):
        set_precision("mixed_float16", has_gpu=False)
