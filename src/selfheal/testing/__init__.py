"""Test support that ships with the package: local servers speaking LLM wire protocols."""
