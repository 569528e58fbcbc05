"""Developer scripts: the demo bucket maker, the synthetic warehouse (importable for tests)."""
