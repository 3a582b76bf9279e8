"""Tests of `bench/report`."""
