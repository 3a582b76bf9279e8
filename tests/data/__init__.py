"""Tests of `bench/data`."""
