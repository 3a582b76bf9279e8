"""Tests of the variant library `pipelines/` (a folder not named `pipelines`, which would shadow the package
when `tests/` is on the path for the test plugins)."""
