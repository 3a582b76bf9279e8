"""Pipeline variants, one module per family, all registered in `pipelines.base.REGISTRY`.

Importing this package registers every built-in variant without importing TensorFlow.
A new variant is one module whose class is decorated with `@register`, plus its
module's name in `BUILT_IN` (the order in which `pipebench list` and reports show
them). Modules outside this package register the same way when named in the
environment variable `PIPEBENCH_VARIANTS` (comma-separated, importable from the
path), which every cell's process inherits.
"""

from __future__ import annotations

import importlib

from pipelines.base import REGISTRY, FitInput, PipelineRequest, Variant, get_variant
from pipelines.plugins import load_plugins

BUILT_IN = ("in_memory", "generator", "sequence", "image_data_generator", "directory", "tfdata", "tfrecord",
            "service", "custom")
for _module in BUILT_IN:
    importlib.import_module(f"pipelines.{_module}")

__all__ = ["REGISTRY", "FitInput", "PipelineRequest", "Variant", "get_variant", "load_plugins"]
