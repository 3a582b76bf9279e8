"""A throwaway variant, registered the way every variant is: one module, one `@register` line.

Loaded only when `PIPEBENCH_VARIANTS=plugins.throwaway_variant` (tests/test_layout.py):
nothing else names it, so the presets, `list`, `profile` and `sweep` find it through
what it declares (a family of its own, its stages, an option with sweep values).
"""

from __future__ import annotations

from pipelines.base import PREFETCH, TF_DATA_AUGMENTATIONS, FitInput, PipelineRequest, Variant, register


@register
class Throwaway(Variant):
    name = "throwaway"
    family = "throwaway"
    description = "a tf.data pipeline registered by a test plugin"
    augmentations = TF_DATA_AUGMENTATIONS
    options = (PREFETCH,)

    def stages(self, request: PipelineRequest):
        from pipelines.stages import tf_plan

        return tf_plan(request)

    def build(self, request: PipelineRequest) -> FitInput:
        from pipelines.stages import build_prefix

        source, stages, _ = self.stages(request)
        shuffled = source.shuffle(len(request.spec.train_files), seed=request.seed)
        return FitInput(x=build_prefix(shuffled, stages))
