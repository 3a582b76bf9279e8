"""Results: typed records, results.json (schema, store, analysis) and comparisons of runs."""
