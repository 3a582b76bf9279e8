"""asv benchmarks for pipebench (see asv.conf.json at the repository root)."""
