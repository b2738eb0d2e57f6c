"""Benchmarks: developer tools that measure the product, never imported by it.

- ``python -m benchmarks.pipeline``: one frame through our pipeline and the `fer` package's.
- ``python -m benchmarks.loadtest``: simulated agents streaming frames to real servers.
"""
