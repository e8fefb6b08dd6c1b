"""The agent beside a Ganeti cluster: turns job-queue changes into Celery tasks.

It imports nothing from the orchestrator and never opens its database: it only sends
tasks by name to the events queue.
"""
