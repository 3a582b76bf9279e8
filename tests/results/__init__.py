"""Tests of `bench/results`."""
