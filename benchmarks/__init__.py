"""The difychat benchmark harness: ``python -m benchmarks --help``."""
