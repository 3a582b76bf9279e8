"""Counting delivered images and the timed sample taken from the epochs (statistics: test_stats)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bench.run.fit_timing import Epoch, fit_recorder, steady_state
from bench.run.models import build_model


def finite_batches(count: int, batch: int, last: int | None = None):
    rng = np.random.default_rng(0)
    for i in range(count):
        size = last if (last and i == count - 1) else batch
        yield rng.random((size, 16, 16, 3), dtype=np.float32), rng.integers(0, 2, size).astype(np.int32)


def fit_quietly(model, data, **kwargs):
    recorder = fit_recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras only warns that the input ran out of data
        model.fit(data, callbacks=[recorder], verbose=0, **kwargs)
    return recorder


@pytest.mark.slow
def test_counts_delivered_images_when_a_finite_dataset_runs_dry():
    """Keras asks for 10 steps per epoch, gets 4 batches, cuts each epoch short: count what came."""
    import tensorflow as tf

    x, y = zip(*finite_batches(4, 8, last=5), strict=True)
    ds = tf.data.Dataset.from_tensor_slices((np.concatenate(x), np.concatenate(y))).batch(8)
    model, _ = build_model("small_cnn", (16, 16), 2, seed=0)
    recorder = fit_quietly(model, ds, steps_per_epoch=10, epochs=3)
    assert [e.images for e in recorder.epochs] == [3 * 8 + 5] * 3  # not 10 * 8 per epoch
    assert [e.steps for e in recorder.epochs] == [4] * 3
    assert recorder.first_batch_s is not None and recorder.first_batch_s > 0


@pytest.mark.slow
def test_counts_what_a_finite_generator_really_fed_with_steps_per_epoch():
    """The ImageDataGenerator pattern: a generator with steps_per_epoch beyond its data.

    Keras 3 replays the batches it peeked at once the generator is dry, so later
    epochs see a few repeated batches; the count follows what the model trained on.
    """
    model, _ = build_model("small_cnn", (16, 16), 2, seed=0)
    recorder = fit_quietly(model, finite_batches(4, 8, last=5), steps_per_epoch=10, epochs=3)
    images = [e.images for e in recorder.epochs]
    assert images[0] == 3 * 8 + 5
    assert sum(images) < 10 * 3 * 8
    assert all(e.images == e.steps * 8 or e.epoch == 1 for e in recorder.epochs)


@pytest.mark.slow
def test_validation_does_not_disturb_the_train_count():
    model, _ = build_model("small_cnn", (16, 16), 2, seed=0)
    recorder = fit_recorder()
    x = np.zeros((40, 16, 16, 3), np.float32)
    y = np.zeros(40, np.int32)
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x[:12], y[:12]),
              callbacks=[recorder], verbose=0)
    assert [e.images for e in recorder.epochs] == [40, 40]
    assert all(e.val_accuracy is not None for e in recorder.epochs)


def epoch(n, images, seconds, wall=None):
    return Epoch(epoch=n, images=images, train_s=seconds, wall_s=wall)


def test_steady_state_excludes_the_first_epoch():
    result = steady_state([epoch(1, 100, 10.0), epoch(2, 100, 1.0), epoch(3, 100, 1.0)])
    assert result.images_per_sec == pytest.approx(100.0)
    assert not result.warmup_included


def test_steady_state_window_is_continuous_across_epochs():
    """The gap between epochs 2 and 3 (an iterator restarted, say) is inside the window."""
    epochs = [epoch(1, 100, 10.0, wall=10.0), epoch(2, 100, 1.0, wall=11.0), epoch(3, 100, 1.0, wall=12.5)]
    result = steady_state(epochs)
    assert result.seconds == pytest.approx(2.5) and result.images == 200
    assert result.images_per_sec == pytest.approx(80.0)


def test_steady_state_with_one_epoch_is_flagged():
    result = steady_state([epoch(1, 50, 2.0)])
    assert result.images_per_sec == pytest.approx(25.0) and result.warmup_included


def test_steady_state_with_no_images_has_no_rate():
    assert steady_state([epoch(1, 0, 1.0), epoch(2, 0, 1.0)]).images_per_sec is None


def test_an_epoch_goes_to_json_without_what_it_did_not_measure():
    timed = Epoch(epoch=2, images=32, steps=1, train_s=0.5, wall_s=1.0, val_accuracy=None)
    assert timed.to_dict() == {"epoch": 2, "images": 32, "steps": 1, "train_s": 0.5, "wall_s": 1.0}
    cold = timed.with_fields({"storage_read_bytes": 4096, "evicted_bytes": 4096, "page_cache_s": 0.01})
    assert cold.to_dict()["storage_read_bytes"] == 4096 and timed.storage_read_bytes is None
