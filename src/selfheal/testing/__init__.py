"""Test support that ships with the package: local servers speaking LLM wire protocols,
and the healing scenario (bad prompts, the task split) tests and benchmarks share."""
