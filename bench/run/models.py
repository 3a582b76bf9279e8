"""The identical models every variant feeds.

One function builds each model from one seed, so every variant starts from the
same initial weights (checked through `weights_sha256`). The output layer is
kept in float32 under mixed precision, as Keras recommends.
"""

from __future__ import annotations

import hashlib

from bench.config import PRECISIONS
from bench.errors import UnavailableHere, unknown_choice

MODELS = ("small_cnn", "mobilenet_v2")
# Adam's rate, decayed to 0 along a cosine over the accuracy fit's steps: on the embedded
# dataset (shapes-v2) 12 epochs so reached 0.78-0.91, a constant 1e-3 0.60-0.78 (docs/method.md).
PEAK_LEARNING_RATE = 3e-3


def set_precision(precision: str, has_gpu: bool) -> None:
    """Set Keras' global dtype policy; mixed_float16 only makes sense on a GPU."""
    import keras

    if precision not in PRECISIONS:
        raise unknown_choice("precision", precision, PRECISIONS)
    if precision == "mixed_float16" and not has_gpu:
        raise UnavailableHere("precision mixed_float16 needs a GPU; on a CPU use mixed_bfloat16")
    keras.mixed_precision.set_global_policy(precision)


def build_core(name: str, image_size: tuple[int, int], num_classes: int, seed: int):
    """The model without augmentation layers, its weights drawn from `seed`."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(*image_size, 3), name="images")
    if name == "small_cnn":
        x = inputs
        for filters in (16, 32, 64):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = keras.layers.BatchNormalization(momentum=0.9)(x)
            x = keras.layers.Activation("relu")(x)
            x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(64, activation="relu")(x)
    elif name == "mobilenet_v2":
        base = keras.applications.MobileNetV2(
            input_shape=(*image_size, 3), include_top=False, weights=None, pooling="avg"
        )
        x = base(inputs)
    else:
        raise unknown_choice("model", name, MODELS)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name=name)


def weights_sha256(model) -> str:
    """A hash of every weight's shape, dtype and bytes, in order: equal hashes, identical weights.

    Names are left out: Keras numbers auto-named layers per process, so they differ
    between two builds of the same model in one process.
    """
    import keras

    digest = hashlib.sha256()
    for weight in model.weights:
        value = keras.ops.convert_to_numpy(weight)
        digest.update(f"{value.shape}:{value.dtype}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def learning_rate(decay_steps: int | None):
    """Cosine decay from `PEAK_LEARNING_RATE` to 0 over `decay_steps` (constant when None).

    The timed fits restore the optimizer's step counter with its other state, so each of
    them starts at the peak; only the accuracy fit runs the whole schedule.
    """
    import keras

    if not decay_steps:
        return PEAK_LEARNING_RATE
    return keras.optimizers.schedules.CosineDecay(PEAK_LEARNING_RATE, decay_steps)


def build_model(
    name: str, image_size: tuple[int, int], num_classes: int, seed: int, augmentation_layers=(),
    decay_steps: int | None = None,
):
    """The compiled model (augmentation layers in front, if any) and its core's weight hash."""
    import keras

    from bench.run.fit_timing import images_seen_metric

    core = build_core(name, image_size, num_classes, seed)
    initial_hash = weights_sha256(core)
    model = core
    if augmentation_layers:
        inputs = keras.Input(shape=(*image_size, 3), name="images")
        x = inputs
        for layer in augmentation_layers:
            x = layer(x)
        model = keras.Model(inputs, core(x), name=f"{name}_augmented")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate(decay_steps)),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy", images_seen_metric()],
    )
    return model, initial_hash
