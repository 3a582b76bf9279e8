"""Small tf.data pieces that several variants share, written once.

TensorFlow is imported inside each function, so importing this module stays cheap.
"""

from __future__ import annotations


def tf_value(value):
    """An option's 'autotune' -> `tf.data.AUTOTUNE`; integers pass through."""
    import tensorflow as tf

    return tf.data.AUTOTUNE if value == "autotune" else value


def file_pairs(spec):
    """The training set as a dataset of (path, label) pairs, in the spec's order."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices((list(spec.train_files), list(spec.train_labels)))


def prefetched(ds, depth):
    """`ds` with the prefetch option applied: 0 (off), an integer depth or 'autotune'."""
    return ds.prefetch(tf_value(depth)) if depth else ds
