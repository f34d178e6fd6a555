"""Small games that the algorithm tests and benchmarks use (``docs/algorithms.md``)."""
