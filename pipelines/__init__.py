"""Pipeline variants, one module per family, all registered in `pipelines.base.REGISTRY`.

Importing this package registers every built-in variant without importing TensorFlow.
"""

from pipelines import (  # noqa: F401  (imported to register)
    directory,
    generator,
    image_data_generator,
    in_memory,
    sequence,
    service,
    tfdata,
    tfrecord,
)
from pipelines.base import REGISTRY, FitInput, PipelineRequest, Variant, get_variant

__all__ = ["REGISTRY", "FitInput", "PipelineRequest", "Variant", "get_variant"]
