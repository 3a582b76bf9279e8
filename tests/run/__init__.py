"""Tests of `bench/run`."""
