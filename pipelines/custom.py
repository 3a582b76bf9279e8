"""Bring your own pipeline: `--pipeline module:function`.

The function receives the `PipelineRequest` (its `.spec` is the DataSpec: file
lists, labels, class names, image size; plus `.batch_size` and `.seed`) and
returns a `tf.data.Dataset`, anything else `model.fit` accepts as `x` (a
PyDataset, a generator with `steps_per_epoch` in a FitInput), or a `FitInput`.
It runs under the same harness, model and counting as the built-in variants.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from pipelines.base import (
    FACTORIES,
    TF_DATA_AUGMENTATIONS,
    FitInput,
    PipelineRequest,
    Variant,
    tensorflow_available,
)
from pipelines.errors import PipebenchError


def check_target(target: str) -> tuple[str, str]:
    """Check `module:function` names a module that can be found, without running it.

    Called in the parent before a run starts, so a typo fails at once rather
    than after the other variants have been measured.
    """
    module_name, sep, func_name = target.partition(":")
    if not sep or not module_name or not func_name:
        raise PipebenchError(f"--pipeline {target!r} is not in the form module:function")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        found = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise PipebenchError(f"--pipeline {target!r}: no module named {module_name!r} on the path")
    return module_name, func_name


def load_function(target: str):
    """Import `module:function`, with the current directory importable."""
    module_name, func_name = check_target(target)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PipebenchError(f"--pipeline {target!r}: cannot import {module_name!r} ({exc})") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise PipebenchError(f"--pipeline {target!r}: {module_name} has no function {func_name!r}")
    return func


class CustomVariant(Variant):
    """A user function wrapped as a variant named `custom:module:function`."""

    family = "custom"
    augmentations = TF_DATA_AUGMENTATIONS
    needs_tensorflow = False  # the user's function decides: if it imports TensorFlow, that shows as its error

    def stages(self, request: PipelineRequest):
        """The user's stage plan, if the function carries one as `function.stages(request)`."""
        plan = getattr(load_function(self.target), "stages", None)
        return plan(request) if plan is not None else None

    def __init__(self, target: str):
        self.target = target
        self.name = f"custom:{target}"
        self.description = f"user pipeline {target}"

    def build(self, request: PipelineRequest) -> FitInput:
        from pipelines import augment

        result = load_function(self.target)(request)
        if isinstance(result, FitInput):
            return result
        if tensorflow_available():
            import tensorflow as tf

            if isinstance(result, tf.data.Dataset):
                result = augment.apply(result, request.augmentation, request.seed)  # joblib: its defaults
        return FitInput(x=result)


FACTORIES["custom"] = CustomVariant
