"""Helpers shared by the tests: the CLI runners, the variant contract, the messy image folder."""
