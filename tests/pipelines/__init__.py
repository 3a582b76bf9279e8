"""Tests of the variant library `pipelines/`."""
