"""Data: the embedded dataset, user folders scanned into a DataSpec, and the checks on their files."""
