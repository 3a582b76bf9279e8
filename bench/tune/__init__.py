"""Tuning tools beside the runner: stage breakdown, advice, sweeps, in-process rounds."""
