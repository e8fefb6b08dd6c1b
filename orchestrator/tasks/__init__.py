"""Celery tasks: thin wrappers that load, call domain code, commit and chain on."""
