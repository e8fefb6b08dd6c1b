"""Real services for the tests and benchmarks: redis-server and PostgreSQL on free ports."""
