"""Tests of `bench/tune`."""
