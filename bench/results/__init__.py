"""Results: typed records, the run document (results.json: schema, upgrades), the analysis, the
CSV table, and comparisons of saved runs."""
