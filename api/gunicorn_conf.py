"""gunicorn's settings for the API (`gunicorn -c api/gunicorn_conf.py`): in prometheus-client's
multiprocess mode, a worker that exits has its live gauges dropped from /metrics."""
from __future__ import annotations


def child_exit(server, worker) -> None:
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
