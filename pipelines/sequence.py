"""A `keras.utils.PyDataset` (successor of `keras.utils.Sequence`) that loads files per batch.

Files are decoded with PIL in `__getitem__`. Keras runs `__getitem__` in
`workers` threads, or processes with `use_multiprocessing=True`; both are options.
"""

from __future__ import annotations

import math

import numpy as np

from pipelines.base import DROP_REMAINDER, FitInput, Option, PipelineRequest, Variant, parse_bool, register
from pipelines.decode import pil_load


def make_pydataset(request: PipelineRequest):
    """Build the PyDataset class lazily, so this module imports without Keras."""
    import keras

    class FileBatches(keras.utils.PyDataset):
        """Batches of (images, labels) decoded per batch; reshuffled at each epoch's end."""

        def __init__(self, workers: int, use_multiprocessing: bool, max_queue_size: int):
            super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,
                             max_queue_size=max_queue_size)
            self.files = request.spec.train_files
            self.labels = np.asarray(request.spec.train_labels, dtype=np.int32)
            self.epoch = 0
            self.order = self._shuffled()

        def _shuffled(self) -> np.ndarray:
            return np.random.default_rng([request.seed, self.epoch]).permutation(len(self.files))

        def __len__(self) -> int:
            whole = math.floor if request.options["drop_remainder"] else math.ceil
            return whole(len(self.files) / request.batch_size)

        def __getitem__(self, index: int):
            picked = self.order[index * request.batch_size:(index + 1) * request.batch_size]
            images = np.stack([pil_load(self.files[i], request.spec.image_size) for i in picked])
            return images, self.labels[picked]

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self._shuffled()

    opts = request.options
    return FileBatches(opts["workers"], opts["use_multiprocessing"], opts["max_queue_size"])


@register
class Sequence(Variant):
    """PyDataset with PIL decoding per batch; workers and multiprocessing exposed as options."""

    name = "sequence"
    python_loader = True
    needs_tensorflow = False
    family = "sequence"
    description = "keras.utils.PyDataset loading files per batch"
    options = (
        Option("workers", 2, "PyDataset workers (threads, or processes with multiprocessing)", parse=int),
        Option("use_multiprocessing", False, "run workers as processes", parse=parse_bool),
        Option("max_queue_size", 10, "batches queued ahead by the workers", parse=int),
        DROP_REMAINDER,
    )

    def stages(self, request: PipelineRequest):
        from pipelines.stages import python_plan

        return python_plan(request)

    def decode_threads(self, options, cores: int) -> int:
        """Worker processes each have a GIL of their own; worker threads share one."""
        return min(cores, options["workers"]) if options["use_multiprocessing"] else 1

    def build(self, request: PipelineRequest) -> FitInput:
        return FitInput(x=make_pydataset(request))
