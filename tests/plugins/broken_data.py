"""`--pipeline` functions that each change the data in one known way (and one that does not).

Each is `tf_data`-like: read, decode, resize, batch, with exactly one fault, so the
equivalence check must name that fault and nothing else.
"""

from __future__ import annotations

from pipelines.decode import decode_resize


def _pipeline(request, method: str = "bilinear", image=None, label=None):
    import tensorflow as tf

    spec = request.spec
    ds = tf.data.Dataset.from_tensor_slices((list(spec.train_files), list(spec.train_labels)))
    ds = ds.shuffle(len(spec.train_files), seed=request.seed)

    def load(path, y):
        x = decode_resize(tf.io.read_file(path), spec.image_size, method)
        y = tf.cast(y, tf.int32)
        return (image(x) if image else x), (label(y) if label else y)

    return ds.map(load, num_parallel_calls=2).batch(request.batch_size)


def correct(request):
    """The reference decode: must pass."""
    return _pipeline(request)


def labels_swapped(request):
    """Classes 0 and 1 trade labels (folders mapped to the wrong class indices)."""
    import tensorflow as tf

    return _pipeline(request, label=lambda y: tf.where(y == 0, 1, tf.where(y == 1, 0, y)))


def bgr(request):
    """Channels in BGR order, as OpenCV decodes."""
    return _pipeline(request, image=lambda x: x[..., ::-1])


def range_255(request):
    """Values in [0, 255]: the rescale forgotten."""
    return _pipeline(request, image=lambda x: x * 255.0)


def nearest_resize(request):
    """Nearest-neighbour resize (ImageDataGenerator's default interpolation)."""
    return _pipeline(request, method="nearest")


def label_noise_10(request):
    """10% of the files carry a wrong label (every tenth file, in a fixed order): noisy labels."""
    import tensorflow as tf

    spec = request.spec
    noisy = [(y + 1) % spec.num_classes if i % 10 == 0 else y for i, y in enumerate(spec.train_labels)]
    ds = tf.data.Dataset.from_tensor_slices((list(spec.train_files), noisy))
    ds = ds.shuffle(len(noisy), seed=request.seed)
    return ds.map(lambda p, y: (decode_resize(tf.io.read_file(p), spec.image_size), tf.cast(y, tf.int32)),
                  num_parallel_calls=2).batch(request.batch_size)
